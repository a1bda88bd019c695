"""Where does ``compile=True`` pay? Eager vs compiled Loss and Metric objects over input sizes.

    python -m benchmarks.compile_sweep [--backend torch ...] [--metrics-only] [--json PATH]

For MSE and CCE from logits, a Loss object with ``compile=False`` and one
with ``compile=True`` are timed interleaved on ``(n / 64, 64)`` float32
inputs for n = 2^10 ... 2^22, with the first compiled call (the cold compile)
recorded per size. Metrics likewise, ``update_state`` + ``result`` per call
(``metric.compile = True`` against the eager default): Mean over ``n``
values, binary AUC (200 thresholds) over ``n`` probabilities, MeanIoU over
``n`` class ids of 10 classes, macro F1 and categorical accuracy over
``(n / 10, 10)`` probabilities, Hinge over ``(n / 10, 10)`` scores.
The speedup column is eager / compiled; the break-even size is where it first
stays above 1. These numbers set ``lossbridge.compiling``'s "auto" rule.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from . import frameworks as fw
from .machine import describe
from .timing import first_call, interleaved, synced

LOG2_SIZES = (10, 12, 14, 16, 18, 20, 22)
CASES = {"mse": ("MeanSquaredError", {}), "cce_logits": ("CategoricalCrossentropy", {"from_logits": True})}
METRIC_CASES = {
    "metric_mean": ("Mean", {}),
    "metric_auc": ("AUC", {"num_thresholds": 200}),
    "metric_mean_iou": ("MeanIoU", {"num_classes": 10}),
    "metric_f1_macro": ("F1Score", {"average": "macro", "threshold": 0.5}),
    # running sums of a per-sample function: an argmax pair, and a one-pass loss
    "metric_categorical_accuracy": ("CategoricalAccuracy", {}),
    "metric_hinge": ("Hinge", {}),
}


def _inputs(case, n, rng):
    """NumPy inputs of ``n`` elements for a case of CASES or METRIC_CASES."""
    if case == "mse":
        shape = (n // 64, 64)
        return rng.standard_normal(shape, np.float32), rng.standard_normal(shape, np.float32)
    if case == "cce_logits":
        shape = (n // 64, 64)
        return np.eye(64, dtype=np.float32)[rng.integers(0, 64, shape[0])], rng.standard_normal(shape, np.float32)
    if case == "metric_mean":
        return (rng.standard_normal(n, np.float32),)
    if case == "metric_auc":
        return rng.integers(0, 2, n).astype(np.float32), rng.uniform(size=n).astype(np.float32)
    if case == "metric_mean_iou":
        return rng.integers(0, 10, n), rng.integers(0, 10, n)
    if case == "metric_hinge":
        shape = (n // 10, 10)
        return rng.choice(np.float32([-1, 1]), shape), rng.standard_normal(shape, np.float32)
    rows = n // 10
    return np.eye(10, dtype=np.float32)[rng.integers(0, 10, rows)], rng.uniform(size=(rows, 10)).astype(np.float32)


def _objects(case):
    """``(eager, compiled)`` callables' factories for a case: a call runs the
    Loss, or a metric's ``update_state`` + ``result``."""
    import lossbridge.losses as losses
    import lossbridge.metrics as metrics

    if case in CASES:
        cls_name, options = CASES[case]
        cls = getattr(losses, cls_name)
        return cls(**options), cls(**options, compile=True)
    cls_name, options = METRIC_CASES[case]
    eager, compiled = getattr(metrics, cls_name)(**options), getattr(metrics, cls_name)(**options)
    compiled.compile = True

    def call(metric):
        def run(*inputs):
            metric.update_state(*inputs)
            return metric.result()

        return run

    return call(eager), call(compiled)


def sweep(backend, log2_sizes=LOG2_SIZES, samples=7, log=print, cases=(*CASES, *METRIC_CASES)):
    rows = []
    sync = fw.sync_for(backend)
    for case in cases:
        eager, compiled = _objects(case)
        for log2 in log2_sizes:
            n = 1 << log2
            tensors = tuple(fw.to_tensor(backend, a) for a in _inputs(case, n, np.random.default_rng(log2)))
            size = "small" if n <= 1 << 12 else "large"
            calls = {
                "eager": synced(lambda o=eager, x=tensors: o(*x), sync),
                "compiled": synced(lambda o=compiled, x=tensors: o(*x), sync),
            }
            with fw.threads_for_size(backend, size):
                cold = first_call(calls["compiled"])
                if case in METRIC_CASES:  # torch compiles a metric at its second update (compiling.WARM_UP_EAGERLY)
                    cold += first_call(calls["compiled"])
                stats = interleaved(calls, samples, 0.01 if n <= 1 << 16 else 0.0)
            row = {
                "backend": backend,
                "case": case,
                "elements": n,
                "first_compiled_call_s": cold,
                "eager_s": stats["eager"].median,
                "compiled_s": stats["compiled"].median,
                "speedup": stats["eager"].median / stats["compiled"].median,
            }
            rows.append(row)
            log(
                f"  {backend:10s} {case:16s} 2^{log2:<2d} eager {row['eager_s'] * 1e6:9.1f} us  compiled "
                f"{row['compiled_s'] * 1e6:9.1f} us  speedup {row['speedup']:5.2f}  first call {cold * 1e3:8.1f} ms"
            )
        fw.reset_compiler(backend)
    return rows


def break_even(rows):
    """Per (backend, case): the smallest size from which compiled stays faster."""
    out = {}
    for key in sorted({(r["backend"], r["case"]) for r in rows}):
        series = sorted((r for r in rows if (r["backend"], r["case"]) == key), key=lambda r: r["elements"])
        even = None
        for i, row in enumerate(series):
            if all(r["speedup"] > 1.0 for r in series[i:]):
                even = row["elements"]
                break
        out[f"{key[0]}/{key[1]}"] = even
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compile_sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=("torch", "jax", "tensorflow"))
    parser.add_argument("--max-log2", type=int, default=22)
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--torch-threads", type=int, help="torch intra-op threads at every size")
    parser.add_argument("--metrics-only", action="store_true", help="only the metric cases")
    parser.add_argument("--cases", help="comma-separated: " + ",".join((*CASES, *METRIC_CASES)))
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    fw.TORCH_THREADS = args.torch_threads or fw.TORCH_THREADS
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    backends = args.backend or [b for b in ("jax", "torch", "tensorflow") if fw.installed(b)]
    sizes = tuple(s for s in LOG2_SIZES if s <= args.max_log2)
    rows = []
    for backend in backends:
        chosen = tuple(METRIC_CASES) if args.metrics_only else (*CASES, *METRIC_CASES)
        if args.cases:
            chosen = tuple(c for c in chosen if c in args.cases.split(","))
        rows += sweep(backend, sizes, args.samples, log=lambda m: print(m, file=sys.stderr, flush=True), cases=chosen)
    doc = {
        "machine": describe(),
        "torch_threads": args.torch_threads,
        "rows": rows,
        "break_even_elements": break_even(rows),
    }
    path = args.json or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results", f"compile-sweep-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(doc, handle, indent=1)
    print("break-even (elements from which compile=True stays faster):")
    for key, value in doc["break_even_elements"].items():
        print(f"  {key:24s} {'never' if value is None else f'2^{value.bit_length() - 1}'}")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
