"""Costs paid once per process: ``import lossbridge`` and the first call on
each backend. Each runs in fresh subprocesses so nothing is cached.

``python -m benchmarks.probes first-call NAME`` is the child side of
:func:`first_call_latency`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

FRAMEWORK_MODULES = ("torch", "jax", "tensorflow", "keras")


def _run(code, env, cwd):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def import_time(runs, env, cwd):
    """Median wall time of fresh interpreters running ``pass``, ``import
    numpy`` and ``import lossbridge`` (interleaved), and which frameworks
    ``import lossbridge`` loaded."""
    programs = {"python": "pass", "numpy": "import numpy", "lossbridge": "import lossbridge"}
    times = {name: [] for name in programs}
    for code in programs.values():  # warm the file cache once
        _run(code, env, cwd)
    for _ in range(runs):
        for name, code in programs.items():
            times[name].append(_run(code, env, cwd))
    check = f"import sys, json, lossbridge; print(json.dumps([m for m in {FRAMEWORK_MODULES!r} if m in sys.modules]))"
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", check], env=env, cwd=cwd, check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    spreads = {
        name: statistics.quantiles(values, n=4)[2] - statistics.quantiles(values, n=4)[0] if len(values) >= 4 else None
        for name, values in times.items()
    }
    return {
        "runs": runs,
        "median_s": medians,
        "iqr_s": spreads,
        "lossbridge_over_numpy_s": medians["lossbridge"] - medians["numpy"],
        "frameworks_loaded_by_import": loaded,
    }


def first_call_latency(backends, env, cwd):
    """Per backend: framework import, first and second call of a loss
    function and of a Loss object, measured in a fresh process each."""
    out = {}
    for name in backends:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.probes", "first-call", name],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            out[name] = {"error": proc.stderr.strip()[-500:]}
        else:
            out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _child_first_call(name):
    import numpy as np

    clock = time.perf_counter
    start = clock()
    from .frameworks import sync_for, to_tensor

    to_tensor(name, np.zeros(1, np.float32))  # imports the framework
    framework_s = clock() - start
    start = clock()
    import lossbridge.losses as losses

    lossbridge_s = clock() - start
    rng = np.random.default_rng(0)
    t = to_tensor(name, rng.standard_normal((32, 10), np.float32))
    p = to_tensor(name, rng.standard_normal((32, 10), np.float32))
    sync = sync_for(name) or (lambda r: r)

    def timed(fn):
        start = clock()
        sync(fn())
        return clock() - start

    result = {"framework_import_s": framework_s, "lossbridge_import_s": lossbridge_s}
    result["function_first_s"] = timed(lambda: losses.mean_squared_error(t, p))
    result["function_second_s"] = timed(lambda: losses.mean_squared_error(t, p))
    if hasattr(losses, "MeanSquaredError"):
        obj = losses.MeanSquaredError()
        result["object_first_s"] = timed(lambda: obj(t, p))
        result["object_second_s"] = timed(lambda: obj(t, p))
    result["other_loss_first_s"] = timed(lambda: losses.categorical_crossentropy(t, p, from_logits=True))
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "first-call":
        _child_first_call(sys.argv[2])
    else:
        raise SystemExit("usage: python -m benchmarks.probes first-call BACKEND")
