"""Keras 3 side of the benchmark, run in its own process per backend.

``KERAS_BACKEND`` must be set before keras is imported, so the suite starts
``python -m benchmarks.keras_runner --backend NAME ...`` with it set to the
same backend. Here each ``keras.losses`` / ``keras.metrics`` object is timed
interleaved with the lossbridge object on the very same tensors, so the
Keras / lossbridge ratio comes from one process under one load. Prints one
JSON document on the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", required=True)
    parser.add_argument("--sizes", nargs="+", default=["small"])
    parser.add_argument("--cases", nargs="*", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--metrics", action="store_true")
    parser.add_argument("--torch-threads", type=int)
    args = parser.parse_args(argv)
    if os.environ.get("KERAS_BACKEND") != args.backend:
        raise SystemExit(f"KERAS_BACKEND must be {args.backend!r} (is {os.environ.get('KERAS_BACKEND')!r})")

    import keras

    import lossbridge.losses as lb_losses

    from . import cases as C
    from . import frameworks as fw
    from .suite import Settings
    from .timing import interleaved, synced

    fw.TORCH_THREADS = args.torch_threads or fw.TORCH_THREADS
    settings = Settings(quick=args.quick, samples=args.samples)
    sync = fw.sync_for(args.backend)
    rows, notes = [], []
    for size in args.sizes:
        samples, target = settings.for_size(size)
        for case in C.LOSSES:
            if args.cases and case.id not in args.cases:
                continue
            y_true, y_pred = C.loss_inputs(case.inputs, size)
            t, p = fw.to_tensor(args.backend, y_true), fw.to_tensor(args.backend, y_pred)
            variants = {}
            keras_cls, lb_cls = getattr(keras.losses, case.cls, None), getattr(lb_losses, case.cls, None)
            if keras_cls is not None:
                keras_obj = keras_cls(**case.options)
                variants["keras_obj"] = lambda k=keras_obj, t=t, p=p: k(t, p)
            if lb_cls is not None:
                lb_obj = lb_cls(**case.options)
                variants["lb_obj"] = lambda o=lb_obj, t=t, p=p: o(t, p)
            else:
                notes.append(f"{args.backend}/{case.id}: lossbridge.losses.{case.cls} missing")
            with fw.threads_for_size(args.backend, size):
                stats = interleaved({k: synced(v, sync) for k, v in variants.items()}, samples, target)
            rows += _rows(args.backend, case.id, size, "keras", stats)
            print(f"  keras[{args.backend}] {case.id} {size}", _brief(stats), file=sys.stderr, flush=True)
        if args.metrics:
            rows += _metrics(args.backend, size, settings, sync, notes, keras)
    print(json.dumps({"rows": rows, "notes": notes, "keras": keras.__version__}))


def _metrics(backend, size, settings, sync, notes, keras):
    from . import cases as C
    from . import frameworks as fw
    from .timing import interleaved, synced

    try:
        import lossbridge.metrics as lb_metrics
    except ImportError:
        lb_metrics = None
    rows = []
    samples, target = settings.for_size(size)
    for case in (c for c in C.METRICS if c.id in C.SUITE_METRICS):
        inputs = [fw.to_tensor(backend, x) for x in C.metric_inputs(case.inputs, size)]
        variants = {}
        for label, module in (("keras_metric", keras.metrics), ("lb_metric", lb_metrics)):
            cls = getattr(module, case.cls, None) if module is not None else None
            if cls is None:
                notes.append(f"{backend}/{case.id}: {label} {case.cls} missing")
                continue
            metric = cls(**case.options)

            def update_and_result(metric=metric, inputs=inputs):
                metric.update_state(*inputs)
                return metric.result()

            variants[label] = update_and_result
        with fw.threads_for_size(backend, size):
            stats = interleaved({k: synced(v, sync) for k, v in variants.items()}, samples, target)
        rows += _rows(backend, case.id, size, "keras_metric", stats)
        print(f"  keras[{backend}] {case.id} {size}", _brief(stats), file=sys.stderr, flush=True)
    return rows


def _rows(backend, case, size, group, stats):
    rows = []
    for variant, value in stats.items():
        row = {"backend": backend, "case": case, "size": size, "group": group, "variant": variant}
        row.update({"error": value} if isinstance(value, str) else value.as_dict())
        rows.append(row)
    return rows


def _brief(stats):
    return " ".join(f"{k}={v.median * 1e6:.1f}us" if not isinstance(v, str) else f"{k}=ERROR" for k, v in stats.items())


if __name__ == "__main__":
    main()
