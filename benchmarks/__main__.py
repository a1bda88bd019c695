"""``python -m benchmarks``: run the suite, write JSON, print the ratio tables.

Examples::

    python -m benchmarks                      # everything, ~12 min on 2 cores
    python -m benchmarks --quick              # small inputs, 3 losses, ~2 min
    python -m benchmarks --backend torch --size small --no-keras
    python -m benchmarks --report benchmarks/results/<file>.json   # tables only
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

from . import cases as C
from . import frameworks as fw
from . import machine, metric_suite, probes, report, suite

QUICK_CASES = ("mse", "bce_logits", "cce_logits")


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, three losses, fewer samples")
    parser.add_argument("--backend", action="append", choices=fw.FRAMEWORKS, help="repeatable; default: all installed")
    parser.add_argument("--size", choices=("small", "large", "both"), default=None, help="default: both (quick: small)")
    parser.add_argument("--cases", help=f"comma-separated loss ids: {','.join(c.id for c in C.LOSSES)}")
    parser.add_argument("--samples", type=int, help="samples per variant (default 9 small / 7 large)")
    parser.add_argument("--json", help="results path (default benchmarks/results/<date>-<host>.json)")
    parser.add_argument("--no-keras", action="store_true")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument(
        "--full", action="store_true", help="compiled variants for every loss (default: mse, bce_logits, cce_logits)"
    )
    parser.add_argument("--no-metrics", action="store_true")
    parser.add_argument(
        "--all-metrics",
        action="store_true",
        help="then run every catalogue metric (python -m benchmarks.metric_suite, ~8 min; its own JSON)",
    )
    parser.add_argument("--no-probes", action="store_true", help="skip import-time and first-call probes")
    parser.add_argument("--import-runs", type=int, help="fresh interpreters per import-time program (default 21)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        help="torch intra-op threads at every size (default: 1 on <=2 cores, else 1 small / all large)",
    )
    parser.add_argument("--report", metavar="JSON", help="print the tables of an earlier run and exit")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    if args.report:
        with open(args.report) as handle:
            print(report.full_report(json.load(handle)))
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    fw.TORCH_THREADS = args.torch_threads or fw.TORCH_THREADS
    backends = args.backend or [name for name in fw.FRAMEWORKS if fw.installed(name)]
    size = args.size or ("small" if args.quick else "both")
    sizes = ["small", "large"] if size == "both" else [size]
    selected = set(args.cases.split(",")) if args.cases else (set(QUICK_CASES) if args.quick else None)
    settings = suite.Settings(quick=args.quick, samples=args.samples)
    env, root = suite.environment_for_subprocess()
    started = time.time()
    phases = {}
    doc = {
        "machine": machine.describe(),
        "config": {
            "backends": backends,
            "sizes": sizes,
            "sizes_shapes": {s: C.SIZES[s] for s in sizes},
            "cases": sorted(selected) if selected else [c.id for c in C.LOSSES],
            "compiled_cases": "all" if args.full else list(QUICK_CASES),
            "metric_shapes": {s: C.METRIC_SIZES[s] for s in sizes},
            "quick": args.quick,
            "torch_threads": fw.TORCH_THREADS or "1 for small inputs, all cores for large",
            "samples_small": settings.small_samples,
            "samples_large": settings.large_samples,
            "argv": sys.argv[1:] if argv is None else argv,
        },
        "rows": [],
        "notes": [],
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    log = _log

    def phase(name, run):
        began = time.time()
        log(f"{name} ...")
        out = run()
        phases[name] = round(time.time() - began, 1)
        return out

    if not args.no_probes:
        runs = args.import_runs or (7 if args.quick else 21)
        doc["import_time"] = phase("import time", lambda: probes.import_time(runs, env, root))
        doc["first_call"] = phase("first-call latency", lambda: probes.first_call_latency(backends, env, root))
    compiled = None if args.full else set(QUICK_CASES)
    metric_sizes = sizes if not args.quick else ["small"]
    for backend in backends:
        parts = [
            (
                f"[{backend}] losses",
                lambda b=backend: suite.run_losses(
                    b, sizes, settings, selected, compile_=not args.no_compile, compiled_cases=compiled, log=log
                ),
            )
        ]
        if not args.no_metrics:
            parts.append(
                (f"[{backend}] metrics", lambda b=backend: suite.run_metrics(b, metric_sizes, settings, log=log))
            )
        if not args.no_keras:
            parts.append(
                (
                    f"[{backend}] keras 3 (KERAS_BACKEND={backend}, subprocess)",
                    lambda b=backend: run_keras(b, sizes, selected, args, env, root),
                )
            )
        for name, run in parts:
            rows, notes = phase(name, run)
            doc["rows"] += rows
            doc["notes"] += notes
    doc["phase_seconds"] = phases
    doc["elapsed_s"] = time.time() - started
    doc["notes"].append(
        "timings on a machine shared with other jobs are noisy: compare ratios (variants are interleaved), "
        "not absolute times; load average at start is in machine"
    )
    path = args.json or default_path()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(doc, handle, indent=1)
    print(report.full_report(doc))
    print(f"\nresults: {path} ({doc['elapsed_s']:.0f} s)")
    if args.all_metrics:
        metric_args = [arg for name in backends for arg in ("--backend", name)] + ["--size", size]
        metric_suite.main(metric_args + (["--quick"] if args.quick else []) + (["--no-keras"] if args.no_keras else []))


def run_keras(backend, sizes, selected, args, env, root):
    cmd = [sys.executable, "-m", "benchmarks.keras_runner", "--backend", backend, "--sizes", *sizes]
    if selected:
        cmd += ["--cases", *sorted(selected)]
    if args.quick:
        cmd.append("--quick")
    if args.samples:
        cmd += ["--samples", str(args.samples)]
    if args.torch_threads:
        cmd += ["--torch-threads", str(args.torch_threads)]
    if not args.no_metrics:
        cmd.append("--metrics")
    child_env = dict(env, KERAS_BACKEND=backend)
    proc = subprocess.run(cmd, env=child_env, cwd=root, capture_output=True, text=True)
    for line in proc.stderr.splitlines():
        if line.startswith("  keras["):
            _log(line)
    if proc.returncode:
        return [], [f"{backend}: keras runner failed: {proc.stderr.strip()[-400:]}"]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for row in out["rows"]:
        if row["variant"] in ("lb_obj", "lb_metric"):
            row["variant"] += "@keras"  # lossbridge timed in the Keras process, next to Keras
    return out["rows"], out["notes"]


def default_path():
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    host = platform.node().split(".")[0] or "host"
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"{stamp}-{host}.json")


def _log(message):
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
