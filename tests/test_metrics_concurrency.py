"""Concurrent ``update_state`` calls on one metric give the state serial calls
give: 4 threads x N batches against a float64 NumPy formula of all the data.

The interpreter's switch interval is cut to a microsecond while the threads
run, so that a thread is interrupted inside nearly every read-modify-write of
the state (with the default 5 ms the threads would barely interleave and a
missing lock could go unnoticed).
"""

from __future__ import annotations

import contextlib
import sys
import threading

import numpy as np
import pytest

from lossbridge import metrics
from tests.helpers import to_numpy

THREADS, UPDATES, BATCH, CLASSES = 4, 40, 8, 3
#: a float32 result against a float64 formula
TOL = {"rtol": 1e-5, "atol": 1e-6}


@contextlib.contextmanager
def frequent_thread_switches():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def update_from_threads(metric, batches_per_thread, backend):
    """Each thread feeds its own list of input tuples to ``metric.update_state``."""
    tensors = [[[backend.convert_to_tensor(a) for a in batch] for batch in batches] for batches in batches_per_thread]
    start = threading.Barrier(len(tensors))
    errors = []

    def work(batches):
        start.wait()
        try:
            for batch in batches:
                metric.update_state(*batch)
        except Exception as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(batches,)) for batches in tensors]
    with frequent_thread_switches():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    return to_numpy(backend, metric.result())


# ---------------------------------------------------------------- data and float64 references
def _values(rng):
    return (rng.normal(2.0, 1.0, BATCH).astype(np.float32),)


def _class_ids(rng):
    return rng.integers(0, CLASSES, BATCH).astype(np.int32), rng.integers(0, CLASSES, BATCH).astype(np.int32)


def _scores(rng):
    """Binary labels and scores at the centres of 20 of AUC's 199 threshold
    buckets: every threshold between two distinct scores is then a point of
    the exact ROC curve, so the thresholded AUC is the exact one."""
    buckets = rng.integers(0, 199, 20)
    scores = ((rng.choice(buckets, BATCH) + 0.5) / 199).astype(np.float32)
    return rng.integers(0, 2, BATCH).astype(np.float32), scores


def _one_hot_and_probs(rng):
    labels = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, BATCH)]
    return labels, rng.uniform(0.0, 1.0, (BATCH, CLASSES)).astype(np.float32)


def _mean(values):
    return np.mean(values.astype(np.float64))


def _sum(values):
    return np.sum(values.astype(np.float64))


def _accuracy(y_true, y_pred):
    return np.mean(y_true == y_pred)


def _mean_iou(y_true, y_pred):
    matrix = np.zeros((CLASSES, CLASSES))
    np.add.at(matrix, (y_true, y_pred), 1.0)
    tp = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - tp
    present = union > 0
    return np.mean(tp[present] / union[present])


def _roc_auc(labels, scores):
    """Probability that a positive outscores a negative, ties counting half."""
    positive, negative = scores[labels == 1].astype(np.float64), scores[labels == 0].astype(np.float64)
    above = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    return above / (positive.size * negative.size)


def _f1_per_class(y_true, y_pred, eps=1e-7):
    """Keras' F1Score(threshold=0.5) formula, in float64."""
    predicted = (y_pred > 0.5).astype(np.float64)
    tp = (predicted * y_true).sum(0)
    fp = (predicted * (1 - y_true)).sum(0)
    fn = ((1 - predicted) * y_true).sum(0)
    precision, recall = tp / (tp + fp + eps), tp / (tp + fn + eps)
    return 2 * precision * recall / (precision + recall + eps)


CASES = {
    "Mean": (metrics.Mean, _values, _mean),
    "Sum": (metrics.Sum, _values, _sum),
    "Accuracy": (metrics.Accuracy, _class_ids, _accuracy),
    "MeanIoU": (lambda: metrics.MeanIoU(num_classes=CLASSES), _class_ids, _mean_iou),
    "AUC": (metrics.AUC, _scores, _roc_auc),
    "F1Score": (lambda: metrics.F1Score(threshold=0.5), _one_hot_and_probs, _f1_per_class),
}


@pytest.mark.parametrize("name", list(CASES))
def test_concurrent_updates_equal_serial_updates(backend, name):
    make, example, reference = CASES[name]
    rng = np.random.default_rng(sorted(CASES).index(name))
    batches = [[example(rng) for _ in range(UPDATES)] for _ in range(THREADS)]
    everything = [np.concatenate(parts) for parts in zip(*(b for thread in batches for b in thread), strict=True)]
    expected = reference(*everything)

    concurrent = update_from_threads(make(), batches, backend)
    np.testing.assert_allclose(concurrent, expected, **TOL)

    serial = make()
    for thread in batches:
        for batch in thread:
            serial.update_state(*(backend.convert_to_tensor(a) for a in batch))
    np.testing.assert_allclose(concurrent, to_numpy(backend, serial.result()), **TOL)


def test_concurrent_updates_lose_no_count(backend):
    """The issue's example: 4 threads x 1000 updates of ``np.ones(10)``; every
    value and every count is in the state (0.25 before the lock)."""
    metric = metrics.Mean()
    ones = np.ones(10, np.float32)
    result = update_from_threads(metric, [[(ones,)] * 1000] * THREADS, backend)
    assert result == 1.0
    state = {key: float(to_numpy(backend, value)) for key, value in metric.state.items()}
    # a float32 sum reads with its compensation twin; a float64 one has none (metrics/_state.py)
    assert state["total"] + state.get("total_compensation", 0.0) == 40_000.0
    assert state["count"] + state.get("count_compensation", 0.0) == 40_000.0


def test_concurrent_result_and_reset_do_not_corrupt_the_state(backend):
    """``result`` and ``reset_state`` from other threads while updates run:
    no error, and after a final reset and one update the state is exact."""
    metric = metrics.Mean()
    ones = backend.convert_to_tensor(np.ones(4, np.float32))
    stop = threading.Event()
    errors = []

    def read_and_reset():
        try:
            while not stop.is_set():
                # before the first update, the result is on the default backend (NumPy)
                value = float(np.asarray(metric.result()))
                assert value in (0.0, 1.0), value
                metric.reset_state()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    reader = threading.Thread(target=read_and_reset)
    with frequent_thread_switches():
        reader.start()
        for _ in range(300):
            metric.update_state(ones)
        stop.set()
        reader.join()
    assert not errors, errors
    metric.reset_state()
    metric.update_state(backend.convert_to_tensor(np.array([3.0, 5.0], np.float32)))
    assert float(to_numpy(backend, metric.result())) == 4.0
