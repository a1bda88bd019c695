"""``python -m benchmarks.metric_suite``: every catalogue metric against Keras 3
and torchmetrics, ``update_state`` + ``result`` per call.

Each backend runs in its own process (``--worker``), with ``KERAS_BACKEND``
set to it where Keras has that backend (jax, torch, tensorflow; NumPy runs
lossbridge alone). There, for each case and size, the lossbridge metric, the
Keras metric, torchmetrics' equivalent (torch), lossbridge with
``compile=True`` (``lbc``, not on NumPy) and, at the large size, the
"one pass" floor (a plain sum of every input tensor) are timed interleaved on
the same tensors, so their ratios come from one process under one load.
Before timing, each library's result after one update is compared (the
``check`` column), and the state size and the peak allocation of one large
update are recorded.

    python -m benchmarks.metric_suite                      # all, ~8 min on 2 cores
    python -m benchmarks.metric_suite --backend torch --size small --quick
    python -m benchmarks.metric_suite --cases mean,auc --backend numpy
    python -m benchmarks.metric_suite --report benchmarks/results/metrics-cpu-2core.json
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import subprocess
import sys
import time
import traceback

from . import frameworks as fw
from . import machine, metric_report
from . import metric_cases as MC
from . import metric_libs as L

#: a worker (one backend) that runs longer than this is stopped
WORKER_TIMEOUT_S = 600
KERAS_BACKENDS = ("jax", "torch", "tensorflow")
#: a library whose first call takes longer than this is timed by one more call only
ONE_CALL_S = 2.0


def default_path():
    """``results/metrics-<machine kind>.json``, the kind named as the other
    results are: ``cpu-2core``, or ``gpu-<model>`` where there is a GPU."""
    gpus = machine.gpus()
    if gpus:
        model = gpus[0].split(",")[0].lower().replace("nvidia", "").strip().split()[-1]
        kind = f"gpu-{model}"
    else:
        kind = f"cpu-{os.cpu_count()}core"
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"metrics-{kind}.json")


class Settings:
    """Samples per variant, seconds per small sample, warm-up calls. Calibrated
    on the shared 2-core machine: Keras' eager metrics at 10^6 elements take
    10-300 ms a call, so the large size gets 3 samples of one call each."""

    def __init__(self, quick=False):
        self.small_samples = 3 if quick else 5
        self.small_target_s = 0.002 if quick else 0.005
        self.large_samples = 2 if quick else 3
        self.large_warmup = 1 if quick else 2

    def for_size(self, size):
        if size == "small":
            return self.small_samples, self.small_target_s, 3
        return self.large_samples, 0.0, self.large_warmup


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metric_suite", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=fw.FRAMEWORKS, help="repeatable; default: all installed")
    parser.add_argument("--size", choices=("small", "large", "both"), default="both")
    parser.add_argument("--cases", help="comma-separated case ids: " + ",".join(c.id for c in MC.METRICS))
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--no-keras", action="store_true")
    parser.add_argument(
        "--no-compiled", action="store_true", help="skip lossbridge with compile=True (the LBc columns)"
    )
    parser.add_argument("--json", help="results path (default benchmarks/results/metrics-<machine kind>.json)")
    parser.add_argument("--report", metavar="JSON", help="print the tables of an earlier run and exit")
    parser.add_argument("--mapping", action="store_true", help="print the torchmetrics mapping (Markdown) and exit")
    parser.add_argument("--markdown", action="store_true", help="with --report: the targets as a Markdown table")
    parser.add_argument("--torch-threads", type=int)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    if args.mapping:
        print(metric_report.mapping_markdown())
        return
    if args.report:
        with open(args.report) as handle:
            doc = json.load(handle)
        print(metric_report.targets_markdown(doc) if args.markdown else metric_report.full_report(doc))
        return
    sizes = ["small", "large"] if args.size == "both" else [args.size]
    selected = args.cases.split(",") if args.cases else None
    unknown = set(selected or ()) - {c.id for c in MC.METRICS}
    if unknown:
        raise SystemExit(f"--cases: unknown {sorted(unknown)}; expected ids of {[c.id for c in MC.METRICS]}")
    if args.worker:
        fw.TORCH_THREADS = args.torch_threads or fw.TORCH_THREADS
        # one JSON line per case, so a worker killed midway (out of memory on a
        # shared machine) loses only the case it was running
        work(
            args.backend[0], sizes, Settings(args.quick), selected, not args.no_keras, not args.no_compiled, emit=_emit
        )
        return
    backends = args.backend or [name for name in fw.FRAMEWORKS if fw.installed(name)]
    started = time.time()
    doc = {
        "machine": machine.describe(),
        "config": {
            "backends": backends,
            "sizes": sizes,
            "shapes": {s: MC.METRIC_SIZES[s] for s in sizes},
            "class_score_shapes": {s: MC.CLASS_SCORE_SIZES[s] for s in sizes},
            "cases": selected or [c.id for c in MC.METRICS],
            "quick": args.quick,
            "keras": not args.no_keras,
            "compiled": not args.no_compiled,
            "torch_threads": args.torch_threads or fw.TORCH_THREADS or "1 for small inputs, all cores for large",
            "argv": sys.argv[1:] if argv is None else argv,
        },
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "rows": [],
        "checks": [],
        "memory": [],
        "notes": [],
        "phase_seconds": {},
    }
    for backend in backends:
        began = time.time()
        _log(f"[{backend}] metrics (worker process{', KERAS_BACKEND=' + backend if backend in KERAS_BACKENDS else ''})")
        out = run_worker(backend, sizes, selected, args)
        for key in ("rows", "checks", "memory", "notes"):
            doc[key] += out.get(key, [])
        doc.setdefault("versions", {}).update(out.get("versions", {}))
        doc["phase_seconds"][backend] = round(time.time() - began, 1)
    doc["elapsed_s"] = round(time.time() - started, 1)
    path = args.json or default_path()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(doc, handle, indent=1)
    print(metric_report.full_report(doc))
    print(f"\nresults: {path} ({doc['elapsed_s']:.0f} s)")


def run_worker(backend, sizes, selected, args):
    """One backend's cases in a child process; its JSON, or a note on failure."""
    from .suite import environment_for_subprocess

    cmd = [sys.executable, "-m", "benchmarks.metric_suite", "--worker", "--backend", backend, "--size"]
    cmd.append(sizes[0] if len(sizes) == 1 else "both")
    if selected:
        cmd += ["--cases", ",".join(selected)]
    if args.quick:
        cmd.append("--quick")
    if args.torch_threads:
        cmd += ["--torch-threads", str(args.torch_threads)]
    if args.no_compiled:
        cmd.append("--no-compiled")
    with_keras = backend in KERAS_BACKENDS and not args.no_keras
    if not with_keras:
        cmd.append("--no-keras")
    env, root = environment_for_subprocess({"KERAS_BACKEND": backend} if with_keras else None)
    try:
        proc = subprocess.run(cmd, env=env, cwd=root, stdout=subprocess.PIPE, text=True, timeout=WORKER_TIMEOUT_S)
        stdout, failure = proc.stdout, proc.returncode and f"failed with exit status {proc.returncode}"
    except subprocess.TimeoutExpired as stopped:  # subprocess.run has killed it
        stdout, failure = stopped.stdout or "", f"stopped after {WORKER_TIMEOUT_S} s"
    if isinstance(stdout, bytes):
        stdout = stdout.decode(errors="replace")
    out = {"rows": [], "checks": [], "memory": [], "notes": [], "versions": {}}
    for line in stdout.splitlines():
        if line.startswith('{"part"'):
            part = json.loads(line)["part"]
            for key in ("rows", "checks", "memory", "notes"):
                out[key] += part.get(key, [])
            out["versions"].update(part.get("versions", {}))
    if failure:
        out["notes"].append(f"{backend}: worker {failure}; the cases it finished are kept (its stderr is above)")
    return out


def work(backend, sizes, settings, selected, with_keras, with_compiled=True, emit=None):
    """Every case on ``backend``: rows (timings), checks (values), memory;
    ``emit`` gets each case's part as soon as it is measured. ``with_compiled``:
    also lossbridge with ``compile=True`` (``lbc``) where the backend has a
    compiler (not NumPy)."""
    from .timing import interleaved, synced

    keras = None
    if with_keras:
        import keras
    out = {"rows": [], "checks": [], "memory": [], "notes": [], "versions": {}}
    if keras is not None:
        out["versions"]["keras"] = keras.__version__
    if backend == "torch" and fw.installed("torchmetrics"):
        out["versions"]["torchmetrics"] = fw.version("torchmetrics")
    sync = fw.sync_for(backend)
    # interleaved() collects garbage after every round; with Keras, TensorFlow or torch imported a
    # full collection scans ~0.6 s of long-lived objects, which took most of a small case's time
    gc.freeze()
    for size in sizes:
        samples, target, warmup = settings.for_size(size)
        for case in MC.METRICS:
            if selected and case.id not in selected:
                continue
            began = time.time()
            arrays = MC.metric_inputs(case.inputs, size)
            inputs = [fw.to_tensor(backend, a) for a in arrays]
            feeds = {"lb": inputs}
            if with_compiled and backend != "numpy":
                feeds["lbc"] = inputs
            if keras is not None:
                feeds["keras"] = inputs
            if backend == "torch" and case.tm and fw.installed("torchmetrics"):
                feeds["tm"] = L.tm_inputs(case, arrays, backend)
            key = {"backend": backend, "case": case.id, "cls": case.cls, "size": size}
            variants, slow, values = {}, {}, {}
            memory = dict(key, input_bytes=int(sum(a.nbytes for a in arrays)))
            with fw.threads_for_size(backend, size):
                for lib, feed in feeds.items():
                    try:
                        metric = L.make(lib, case, keras)
                        call = L.caller(lib)(metric)
                        if lib == "lbc":  # its first call compiles, which is not what a step costs
                            sync(call(feed)) if sync else call(feed)
                            metric.reset_state()  # so that its value checked below is of one update
                        began_call = time.perf_counter()
                        result = sync(call(feed)) if sync else call(feed)
                        first_s = time.perf_counter() - began_call
                        values[lib] = L.tm_read(case, result) if lib == "tm" else L.to_numpy(result)
                        memory[f"{lib}_state_bytes"] = L.state_bytes(lib, metric)
                        if size == "large" and lib == "lb":
                            # lossbridge's only: Keras' IoU on torch, recorded by the profiler, ran
                            # for minutes and the worker was killed (twice, at 10^6 class ids)
                            peak, how = L.peak_bytes(backend, lambda m=metric, f=feed: m.update_state(*f))
                            if peak is not None:
                                memory[f"{lib}_peak_bytes"] = peak
                                memory["peak_measured_by"] = how
                        if first_s > ONE_CALL_S:
                            # one more (warm) call is its only sample: Keras' IoUs on torch take ~12 s
                            # a call at 10^6 ids, and 5 calls each would add 4 minutes to the run
                            slow[lib] = _one_call(lambda c=call, f=feed: c(f), sync)
                        else:
                            variants[lib] = lambda c=call, f=feed: c(f)
                    except Exception as error:  # noqa: BLE001 - reported, the suite goes on
                        message = f"{backend}/{case.id}/{size}: {lib}: {type(error).__name__}: {error}"[:400]
                        out["notes"].append(message)
                        _log("  " + message + "\n" + traceback.format_exc(limit=3)[-600:])
                if size == "large":
                    variants["floor"] = L.floor(backend, inputs)
                stats = interleaved({k: synced(v, sync) for k, v in variants.items()}, samples, target, warmup)
                stats.update(slow)
            for variant, value in stats.items():
                row = dict(key, variant=variant)
                row.update({"error": value} if isinstance(value, str) else value.as_dict())
                out["rows"].append(row)
            check = dict(key, lb=_listed(values.get("lb")))
            for other in ("lbc", "keras", "tm"):
                if "lb" in values and other in values:
                    ok, rel = L.compare(values["lb"], values[other])
                    check[other] = _listed(values[other])
                    check[f"{other}_ok"], check[f"{other}_rel_diff"] = ok, rel
            out["checks"].append(check)
            out["memory"].append(memory)
            _log(metric_report.progress_line(key, stats, check, time.time() - began))
            if emit is not None:
                emit(out, len(out["rows"]) - len(stats))
            del inputs, feeds, variants
    return out


def _emit(out, first_row):
    """Print the latest case of ``out`` as one JSON line (the worker's protocol)."""
    part = {
        "rows": out["rows"][first_row:],
        "checks": out["checks"][-1:],
        "memory": out["memory"][-1:],
        "notes": out["notes"],
        "versions": out["versions"],
    }
    out["notes"] = []
    print(json.dumps({"part": part}), flush=True)


def _one_call(fn, sync):
    """Stats of a single timed call (the variant's one sample)."""
    from .timing import Stats

    began = time.perf_counter()
    if sync:
        sync(fn())
    else:
        fn()
    seconds = time.perf_counter() - began
    return Stats(seconds, seconds, seconds, seconds, 1, 1)


def _listed(value):
    if value is None:
        return None
    if isinstance(value, list):
        return [_listed(v) for v in value]
    return value.tolist()


def _log(message):
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
