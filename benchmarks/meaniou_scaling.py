"""MeanIoU update cost on every backend: 1e6 pixels, 21 classes.

``python -m benchmarks.meaniou_scaling [--pixels N] [--classes C] [--samples S] [--keras]``

Times ``MeanIoU.update_state`` (eager, the stateful API) on each installed
backend for class-id predictions (``sparse``) and per-class scores reduced by
argmax (``dense``, ``sparse_y_pred=False``), plus the stateless update under
jax.jit / tf.function, and prints each median with its ratio to the fastest
eager backend. The confusion matrix is one ``segment_sum`` per update on
every backend, so the ratios should stay within a small constant; Keras 3's
own MeanIoU (``--keras``, TensorFlow) is shown for reference. Samples are
interleaved across variants (``benchmarks.timing``) so load from other
processes hits every variant alike. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from . import frameworks as fw
from . import timing


def parse(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.meaniou_scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--pixels", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--samples", type=int, default=9)
    parser.add_argument("--target-s", type=float, default=0.2, help="seconds per sample")
    parser.add_argument("--backend", action="append", choices=fw.FRAMEWORKS, help="repeatable; default: all installed")
    parser.add_argument("--keras", action="store_true", help="also time keras.metrics.MeanIoU (TensorFlow backend)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="intra-op threads of every framework (default: theirs). On a small machine shared with other "
        "work, torch's OpenMP threads stall waiting for each other; 1 gives stable numbers there",
    )
    return parser.parse_args(argv)


def limit_threads(count):
    """Give every framework ``count`` intra-op threads (before any is imported)."""
    eigen = "true" if count > 1 else "false"
    flags = f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={count}"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(count)
    os.environ["OMP_NUM_THREADS"] = str(count)
    if fw.installed("torch"):
        import torch

        torch.set_num_threads(count)


def make_inputs(pixels, classes, seed=0):
    """Seeded NumPy data: class ids of both inputs and per-class scores."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, pixels).astype(np.int32)
    predicted = rng.integers(0, classes, pixels).astype(np.int32)
    scores = rng.random((pixels, classes), dtype=np.float32)
    return labels, predicted, scores


def variants_for(name, inputs, classes):
    """``{label: zero-argument callable}`` timing one update on backend ``name``."""
    from lossbridge import backends, metrics

    backend = backends.get(name)
    sync = fw.sync_for(name)
    labels, predicted, scores = (backend.convert_to_tensor(x) for x in inputs)
    out = {}
    for kind, y_pred, sparse in (("sparse", predicted, True), ("dense", scores, False)):
        metric = metrics.MeanIoU(classes, sparse_y_pred=sparse)

        def eager(metric=metric, y_pred=y_pred):
            metric.update_state(labels, y_pred)
            return metric.state["total_confusion_matrix"]

        out[f"{name} {kind}"] = timing.synced(eager, sync)
        if name in ("jax", "tensorflow"):
            step = backend.compile(lambda state, t, p, metric=metric: metric.stateless_update_state(state, t, p))
            state = metric.stateless_initial_state(y_pred)

            def compiled(step=step, state=state, y_pred=y_pred):
                return step(state, labels, y_pred)["total_confusion_matrix"]

            out[f"{name} {kind} compiled"] = timing.synced(compiled, sync)
    return out


def keras_variants(inputs, classes):
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import tensorflow as tf

    labels, predicted, scores = (tf.constant(x) for x in inputs)
    out = {}
    for kind, y_pred, sparse in (("sparse", predicted, True), ("dense", scores, False)):
        metric = keras.metrics.MeanIoU(classes, sparse_y_pred=sparse)
        out[f"keras-tensorflow {kind}"] = lambda metric=metric, y_pred=y_pred: metric.update_state(labels, y_pred)
    return out


def table(stats, pixels, classes):
    """Rows of median ms per update and the ratio to the fastest eager
    lossbridge backend of the same input kind."""
    lines = [f"MeanIoU update, {pixels:,} pixels x {classes} classes (median of interleaved samples)", ""]
    lines.append(f"{'variant':<34}{'median ms':>11}{'IQR ms':>9}{'x fastest eager':>17}")
    for kind in ("sparse", "dense"):
        eager = {
            n: s
            for n, s in stats.items()
            if n.endswith(f" {kind}") and not n.startswith("keras") and not isinstance(s, str)
        }
        fastest = min(s.median for s in eager.values()) if eager else float("nan")
        for name, s in stats.items():
            if f" {kind}" not in name:
                continue
            if isinstance(s, str):
                lines.append(f"{name:<34}{'error: ' + s}")
                continue
            lines.append(f"{name:<34}{s.median * 1e3:>11.2f}{s.iqr * 1e3:>9.2f}{s.median / fastest:>17.2f}")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.threads:
        limit_threads(args.threads)
    names = args.backend or [name for name in fw.FRAMEWORKS if fw.installed(name)]
    inputs = make_inputs(args.pixels, args.classes)
    variants = {}
    for name in names:
        variants.update(variants_for(name, inputs, args.classes))
    if args.keras:
        variants.update(keras_variants(inputs, args.classes))
    stats = timing.interleaved(variants, samples=args.samples, target_s=args.target_s)
    threads = f"{args.threads} intra-op thread(s) per framework" if args.threads else "frameworks' default threads"
    print(f"{threads}, {os.cpu_count()} CPUs")
    print(table(stats, args.pixels, args.classes))


if __name__ == "__main__":
    main()
