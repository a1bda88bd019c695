"""GPU benchmark of metric updates: ``python -m benchmarks.gpu --metrics``.

    python -m benchmarks.gpu --metrics                         # torch CUDA and JAX GPU, whichever exist
    python -m benchmarks.gpu --metrics --allow-cpu --log2 16   # exercise the code paths on a CPU

On 2^26 elements per input, ``update_state`` + ``result`` of three metrics
whose updates are more than a sum (issue 19): ``MeanIoU(num_classes=21)`` on
int32 class ids (a confusion matrix), ``AUC()`` with its 200 thresholds on
float32 scores and 0/1 labels (bucketed counts), ``F1Score(average="macro")``
on ``(2^26 / 16, 16)`` float32 probabilities and one-hot labels (Keras' row
maximum rule). Variants: the lossbridge metric eager (``lb``), the same with
``metric.compile = True`` (``lb_compile``: the update as one
``torch.compile`` / ``jax.jit`` step), and on torch torchmetrics' equivalent
on the same device (``tm``: ``MulticlassJaccardIndex(num_classes=21,
average="macro")``, ``BinaryAUROC(thresholds=200)``,
``MulticlassF1Score(num_classes=16, average="macro")``, given the class ids
of the one-hot labels, made outside the timed region).

The floor is lossbridge's two inputs read once (``2 * 4 * 2^26`` bytes);
achieved bandwidth is those bytes over the time per call, as a fraction of
the run's copy bandwidth (as ``benchmarks.gpu`` does for losses). Each
metric keeps accumulating over the timed calls, as in an evaluation loop.
Before timing, each variant's result after one update of a fresh metric is
compared with lossbridge's eager one (relative 1e-4).
"""

from __future__ import annotations

CASES = ("mean_iou", "auc", "f1")
IOU_CLASSES = 21
F1_CLASSES = 16
THRESHOLDS = 200


def inputs(case, n, rng):
    """``(y_true, y_pred)`` as NumPy arrays of ``n`` elements each."""
    import numpy as np

    if case == "mean_iou":
        return (rng.integers(0, IOU_CLASSES, n).astype(np.int32), rng.integers(0, IOU_CLASSES, n).astype(np.int32))
    if case == "auc":
        return (rng.random(n) < 0.5).astype(np.float32), rng.random(n, dtype=np.float32)
    rows = n // F1_CLASSES
    onehot = np.zeros((rows, F1_CLASSES), np.float32)
    onehot[np.arange(rows), rng.integers(0, F1_CLASSES, rows)] = 1.0
    return onehot, rng.random((rows, F1_CLASSES), dtype=np.float32)


def lossbridge_metric(case, compiled=False):
    import lossbridge.metrics as lm

    metric = {
        "mean_iou": lambda: lm.MeanIoU(num_classes=IOU_CLASSES),
        "auc": lambda: lm.AUC(num_thresholds=THRESHOLDS),
        "f1": lambda: lm.F1Score(average="macro"),
    }[case]()
    if compiled:
        metric.compile = True
    return metric


def torchmetrics_call(case, y_true, y_pred):
    """A fresh torchmetrics metric and its inputs: ``(metric, preds, target)``."""
    import torch
    from torchmetrics import classification as tc

    if case == "mean_iou":
        metric = tc.MulticlassJaccardIndex(num_classes=IOU_CLASSES, average="macro")
        preds, target = y_pred, y_true
    elif case == "auc":
        metric = tc.BinaryAUROC(thresholds=THRESHOLDS)
        preds, target = y_pred, y_true.to(torch.int64)
    else:
        metric = tc.MulticlassF1Score(num_classes=F1_CLASSES, average="macro")
        preds, target = y_pred, torch.argmax(y_true, dim=-1)
    return metric.to(y_pred.device), preds, target


def run_metrics(framework, log2, repeats, compiled=True):
    """Child side: every case and variant on this framework's first device,
    as one JSON-able dict (``benchmarks.gpu`` prints it)."""
    import numpy as np

    from . import metric_libs as L
    from .frameworks import installed
    from .gpu import _copy_time, _measure, device_kit

    n = 1 << log2
    rng = np.random.default_rng(0)
    device_name, put, _, sync, copy = device_kit(framework)
    copy_bandwidth = 2 * 4 * n / _copy_time(put(rng.random(n, dtype=np.float32)), copy, sync, repeats)
    result = {
        "framework": framework,
        "device": device_name,
        "elements": n,
        "suite": "metrics",
        "copy_bandwidth_GBps": copy_bandwidth / 1e9,
        "cases": {},
    }
    for case in CASES:
        y_true, y_pred = (put(a) for a in inputs(case, n, rng))
        variants = _variants(case, y_true, y_pred, compiled, framework == "torch" and installed("torchmetrics"))
        call, feed = variants["lb"]()
        reference = float(L.to_numpy(call(feed)))  # one update of a fresh metric
        rows = {}
        for name, make in variants.items():
            call, feed = make()
            rows[name] = _measure(call, (feed,), sync, repeats, 2 * 4 * n, copy_bandwidth)
            if "error" not in rows[name]:
                fresh, feed = make()
                value = float(L.to_numpy(fresh(feed)))
                rows[name].update(value=value, agrees=bool(np.isclose(value, reference, rtol=1e-4, atol=1e-6)))
        result["cases"][case] = rows
    return result


def _variants(case, y_true, y_pred, compiled, with_torchmetrics):
    """Variant name -> a function making a fresh metric's call and its inputs:
    ``(call, inputs)``, ``call(inputs)`` being one update and one result
    (``benchmarks.metric_libs``' call shapes)."""
    from . import metric_libs as L

    variants = {"lb": lambda: (L.update_and_result(lossbridge_metric(case)), (y_true, y_pred))}
    if compiled:
        variants["lb_compile"] = lambda: (
            L.update_and_result(lossbridge_metric(case, compiled=True)),
            (y_true, y_pred),
        )
    if with_torchmetrics:

        def tm():
            metric, preds, target = torchmetrics_call(case, y_true, y_pred)
            return L.update_and_compute(metric), (preds, target)

        variants["tm"] = tm
    return variants
