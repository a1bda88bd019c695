"""GPU benchmark: compiled losses against the device's own copy bandwidth.

    python -m benchmarks.gpu                 # torch CUDA and JAX GPU, whichever exist
    python -m benchmarks.gpu --json out.json
    python -m benchmarks.gpu --allow-cpu --log2 16   # exercise the code paths on a CPU
    python -m benchmarks.gpu --metrics       # metric updates instead (benchmarks/gpu_metrics.py)

On 2^26 float32 elements per input, MSE, BCE from logits and CCE from logits
are timed compiled (``torch.compile`` / ``jax.jit``) in four forms: the
lossbridge Loss object compiled by the framework, the Loss object built with
``compile=True``, the hand-written formula and the framework's native loss.
A loss must read both inputs once, so its floor is ``2 * 4 * 2^26`` bytes;
achieved bandwidth = those bytes / time, reported as a fraction of the copy
bandwidth measured in the same run (``clone`` / ``jnp.copy`` of one input:
one read and one write). 1.0 means the loss runs as fast as the device can
read its inputs. Each framework runs in its own process (JAX would otherwise
reserve most of the GPU's memory). Without a GPU it prints why and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

from .frameworks import installed

CASES = ("mse", "bce_logits", "cce_logits")
CLASSES = 64


def _has_gpu(framework):
    code = {
        "torch": "import torch; print(torch.cuda.is_available())",
        "jax": "import jax; print(any(d.platform == 'gpu' for d in jax.devices()))",
    }[framework]
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip().endswith("True")


def _inputs(case, n, rng, classes=CLASSES):
    import numpy as np

    rows = n // classes
    if case == "mse":
        return rng.standard_normal((rows, classes), np.float32), rng.standard_normal((rows, classes), np.float32)
    if case == "bce_logits":
        return (rng.random((rows, classes)) < 0.5).astype(np.float32), rng.standard_normal((rows, classes), np.float32)
    labels = rng.integers(0, classes, rows)
    onehot = np.zeros((rows, classes), np.float32)
    onehot[np.arange(rows), labels] = 1.0
    return onehot, rng.standard_normal((rows, classes), np.float32)


def _time(fn, sync, repeats, inner=10):
    """Median and best seconds per call over ``repeats`` samples of ``inner``
    back-to-back calls and one sync: the device's throughput, with the host's
    launch cost hidden behind the kernels as in a training loop (a sync per
    call would add the whole launch latency to every 0.2 ms kernel)."""
    for _ in range(3):
        sync(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner - 1):
            fn()
        sync(fn())
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times), min(times)


def device_kit(framework):
    """``(device name, put, compile, sync, copy)`` for the framework's first
    device: ``put`` moves a NumPy array there, ``sync`` waits for a result,
    ``copy`` is the one-read-one-write reference of the bandwidth floor."""
    if framework == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"

        def sync(x):
            if device == "cuda":
                torch.cuda.synchronize()
            return x

        name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
        return name, lambda a: torch.as_tensor(a, device=device), torch.compile, sync, lambda x: x.clone()
    import jax
    import jax.numpy as jnp

    return str(jax.devices()[0]), jnp.asarray, jax.jit, lambda x: x.block_until_ready(), jax.jit(jnp.copy)


def run_framework(framework, log2, repeats, classes=CLASSES):
    """Child side: time every case and variant on this framework's device."""
    import numpy as np

    import lossbridge.losses as lb

    from .formulas import hand_reduced, native

    n = 1 << log2
    rng = np.random.default_rng(0)
    device_name, put, compile_, sync, copy = device_kit(framework)
    loss_classes = {
        "mse": lb.MeanSquaredError,
        "bce_logits": lb.BinaryCrossentropy,
        "cce_logits": lb.CategoricalCrossentropy,
    }
    options = {"mse": {}, "bce_logits": {"from_logits": True}, "cce_logits": {"from_logits": True}}
    bytes_per_input = 4 * n
    result = {"framework": framework, "device": device_name, "elements": n, "classes": classes, "cases": {}}
    copy_s = _copy_time(put(_inputs("mse", n, rng)[0]), copy, sync, repeats)
    copy_bandwidth = 2 * bytes_per_input / copy_s  # one read, one write
    result["copy_bandwidth_GBps"] = copy_bandwidth / 1e9
    for case in CASES:
        inputs = [put(a) for a in _inputs(case, n, rng, classes)]
        obj = loss_classes[case](**options[case])
        compiled_obj = loss_classes[case](**options[case], compile=True)
        variants = {
            "lb_jit": compile_(lambda a, b, obj=obj: obj(a, b)),
            "lb_compile": lambda a, b, obj=compiled_obj: obj(a, b),
            "hand_jit": compile_(hand_reduced(framework, case)),
        }
        if native(framework, case) is not None:
            variants["native_jit"] = compile_(native(framework, case))
        result["cases"][case] = {
            name: _measure(fn, inputs, sync, repeats, 2 * bytes_per_input, copy_bandwidth)
            for name, fn in variants.items()
        }
    print(json.dumps(result))


def _copy_time(x, copy, sync, repeats):
    return _time(lambda: copy(x), sync, repeats)[0]


def _measure(fn, inputs, sync, repeats, floor_bytes, copy_bandwidth):
    """First call (the compile) and steady per-call time of ``fn(*inputs)``."""
    try:
        with warnings.catch_warnings(record=True) as caught:  # a compile that fell back to eager warns
            warnings.simplefilter("always")
            start = time.perf_counter()
            sync(fn(*inputs))
            cold = time.perf_counter() - start
            median, best = _time(lambda: fn(*inputs), sync, repeats)
    except Exception as error:  # noqa: BLE001 - reported
        return {"error": f"{type(error).__name__}: {error}"[:300]}
    achieved = floor_bytes / median
    row = {
        "median_s": median,
        "min_s": best,
        "first_call_s": cold,
        "achieved_GBps": achieved / 1e9,
        "fraction_of_copy": achieved / copy_bandwidth,
    }
    messages = sorted({str(w.message)[:300] for w in caught if issubclass(w.category, RuntimeWarning)})
    if messages:
        row["warnings"] = messages
    return row


def table(results):
    lines = []
    for res in results:
        what = "metric updates" if res.get("suite") == "metrics" else f"({res.get('classes', CLASSES)} per row)"
        lines.append(
            f"{res['framework']} on {res['device']}: {res['elements']} elements per input {what}, "
            f"copy bandwidth {res['copy_bandwidth_GBps']:.0f} GB/s"
        )
        lines.append(f"  {'case':12s} {'variant':11s} {'ms':>8s} {'GB/s':>8s} {'of copy':>8s} {'cold s':>7s}")
        for case, rows in res["cases"].items():
            for name, row in rows.items():
                if "error" in row:
                    lines.append(f"  {case:12s} {name:11s} error: {row['error'][:80]}")
                    continue
                agrees = {True: "", False: "  VALUE DIFFERS from lossbridge eager"}.get(row.get("agrees"), "")
                lines.append(
                    f"  {case:12s} {name:11s} {row['median_s'] * 1e3:8.3f} {row['achieved_GBps']:8.1f} "
                    f"{row['fraction_of_copy']:8.2f} {row['first_call_s']:7.2f}{agrees}"
                )
                lines += [f"  {'':12s} {'':11s} warning: {message[:100]}" for message in row.get("warnings", ())]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=("torch", "jax"), help=argparse.SUPPRESS)
    parser.add_argument("--log2", type=int, default=26, help="elements per input = 2**LOG2 (default 26)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--classes", type=int, default=CLASSES, help=f"row length (default {CLASSES})")
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU when there is no GPU (a dry run)")
    parser.add_argument("--metrics", action="store_true", help="metric updates (benchmarks/gpu_metrics.py)")
    parser.add_argument("--json", help="write the results here (default benchmarks/results/gpu-<date>.json)")
    args = parser.parse_args(argv)
    if args.framework:
        if args.metrics:
            from .gpu_metrics import run_metrics

            print(json.dumps(run_metrics(args.framework, args.log2, args.repeats)))
        else:
            run_framework(args.framework, args.log2, args.repeats, args.classes)
        return 0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    results, skipped = [], []
    for framework in ("torch", "jax"):
        if not installed(framework):
            skipped.append(f"{framework}: not installed")
            continue
        if not args.allow_cpu and not _has_gpu(framework):
            skipped.append(f"{framework}: no GPU visible")
            continue
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.gpu",
            "--framework",
            framework,
            "--log2",
            str(args.log2),
            "--repeats",
            str(args.repeats),
            "--classes",
            str(args.classes),
            *(["--metrics"] if args.metrics else []),
        ]
        proc = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True)
        if proc.returncode:
            skipped.append(f"{framework}: failed: {proc.stderr.strip()[-500:]}")
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    for line in skipped:
        print(f"skipped {line}")
    if not results:
        print("no GPU benchmark ran (needs torch with CUDA or jax with a GPU; --allow-cpu for a dry run)")
        return 0
    print(table(results))
    kind = "gpu-metrics" if args.metrics else "gpu"
    path = args.json or os.path.join(root, "benchmarks", "results", f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump({"results": results, "skipped": skipped}, handle, indent=1)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
