"""What the plan of a running-sum metric's update is worth, at small sizes.

    python -m benchmarks.running_sum_plan [--backend torch ...] [--samples 9] [--json PATH]

``Mean``, ``Sum`` and the loss-averaging metrics keep a plan of their last
plain update (``lossbridge.metrics.running_sums._Plan``) and run it for the
next inputs of the same types. Here each metric's ``update_state`` +
``result`` on 32x10 float32 inputs (one such tensor for ``Mean``) is timed with the
plan and without it (the plan dropped and never made again: the general route
every update takes otherwise), interleaved in one process, and on torch
against torchmetrics' equivalent in the same run. ``plan/none`` above 1: the
plan is faster. Before timing, the variants' results are compared (a
benchmark of different computations is worthless). Both routes reach the same state bit for bit
(``tests/test_metrics_update_path.py``).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from . import frameworks as fw
from .machine import describe
from .metric_libs import to_numpy
from .timing import interleaved

#: (lossbridge class, torchmetrics class or None, inputs: "pair" or "values")
CASES = {
    "mean": ("Mean", "MeanMetric", "values"),
    "mse": ("MeanSquaredError", "MeanSquaredError", "pair"),
    "mae": ("MeanAbsoluteError", "MeanAbsoluteError", "pair"),
    "mape": ("MeanAbsolutePercentageError", "MeanAbsolutePercentageError", "pair"),
    "msle": ("MeanSquaredLogarithmicError", "MeanSquaredLogError", "pair"),
    "rmse": ("RootMeanSquaredError", None, "pair"),
    "bce": ("BinaryCrossentropy", None, "pair"),
}

#: torchmetrics' MAPE is a fraction, Keras' a percentage: its value is compared x 100
_TM_SCALE = {("tm", "mape"): 100.0}


def _without_plan(metric):
    """``metric`` taking the general route on every update (no plan is made)."""
    from lossbridge.metrics.base import Metric

    metric._plan = None
    metric.__dict__["_fold_in"] = lambda inputs, weight: Metric._fold_in(metric, inputs, weight)
    return metric


def _variants(backend, case, arrays):
    import lossbridge.metrics as lb_metrics

    cls, tm_cls, kind = CASES[case]
    tensors = [fw.to_tensor(backend, a) for a in arrays]
    inputs = tensors[1:] if kind == "values" else tensors

    def stateful(metric):
        metric.update_state(*inputs)  # the first update makes the plan

        def run():
            metric.update_state(*inputs)
            return metric.result()

        return run

    variants = {
        "plan": stateful(getattr(lb_metrics, cls)()),
        "none": stateful(_without_plan(getattr(lb_metrics, cls)())),
    }
    if backend == "torch" and tm_cls is not None:
        import torchmetrics

        tm = getattr(torchmetrics, tm_cls)()
        tm_inputs = inputs if kind == "values" else (inputs[1], inputs[0])

        def torchmetrics_run():
            tm.update(*tm_inputs)
            return tm.compute()

        variants["tm"] = torchmetrics_run
    return variants


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.running_sum_plan", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=["numpy", "torch", "jax", "tensorflow"])
    parser.add_argument("--samples", type=int, default=9)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    backends = args.backend or [b for b in ("numpy", "torch", "jax", "tensorflow") if fw.installed(b)]
    if "torch" in backends:
        import torch

        torch.set_num_threads(1)  # as the metric suite
    rng = np.random.default_rng(0)
    arrays = (rng.uniform(0.1, 1.0, (32, 10)).astype(np.float32), rng.uniform(0.1, 1.0, (32, 10)).astype(np.float32))
    rows = []
    print(
        f"{'backend':11s}{'metric':8s}{'plan us':>10s}{'none us':>10s}{'tm us':>10s}{'plan/none':>11s}{'TM/plan':>9s}"
    )
    for backend in backends:
        for case in CASES:
            variants = _variants(backend, case, arrays)
            # every variant sees the same batch again and again: each result is that batch's value
            values = {name: float(to_numpy(run())) * _TM_SCALE.get((name, case), 1.0) for name, run in variants.items()}
            agree = all(np.isclose(v, values["plan"], rtol=1e-5, atol=1e-6) for v in values.values())
            stats = interleaved(variants, args.samples, 0.005)
            us = {name: s.median * 1e6 for name, s in stats.items() if not isinstance(s, str)}
            row = {"backend": backend, "case": case, "agree": agree, "values": values}
            row.update({f"{k}_us": round(v, 2) for k, v in us.items()})
            rows.append(row)
            tm = us.get("tm")
            print(
                f"{backend:11s}{case:8s}{us['plan']:10.1f}{us['none']:10.1f}"
                + (f"{tm:10.1f}" if tm else f"{'-':>10s}")
                + f"{us['none'] / us['plan']:11.2f}"
                + (f"{tm / us['plan']:9.2f}" if tm else f"{'-':>9s}")
                + ("" if agree else f"  DIFFER {values}")
            )
            sys.stdout.flush()
    if not all(row["agree"] for row in rows):
        print("values differ between variants: the timings compare different computations", file=sys.stderr)
        return 1
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": describe(), "rows": rows}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
