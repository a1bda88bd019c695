"""Bounded metric state: size options (``num_thresholds``, ``thresholds``,
``num_labels``, ``num_classes``) that would need more than
``lossbridge.metrics.state_limit()`` bytes raise a ValueError when the metric
is built, before anything is allocated; the limit can be raised; normal sizes
work on every backend."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from lossbridge import metrics
from tests.helpers import to_backend, to_numpy


@pytest.fixture
def limit():
    """The state limit is restored after the test."""
    previous = metrics.state_limit()
    yield
    metrics.set_state_limit(previous)


# 8 bytes a running count (the state layout of lossbridge/metrics/_state.py: a
# float64 sum with no twin, or a float32 sum and its compensation twin), 32 a
# kept threshold; the byte counts below are derived by hand from that layout
HOSTILE = [
    (
        lambda: metrics.deserialize({"class_name": "AUC", "config": {"num_thresholds": 10**9}}),
        "num_thresholds",
        "64,000,000,000",  # 10**9 * (4 counts * 8 + 32)
    ),
    (lambda: metrics.MeanIoU(num_classes=10**6), "num_classes", "8,000,000,000,000"),  # 10**12 cells * 8
    (lambda: metrics.MeanIoU(num_classes=20000), "num_classes", "3,200,000,000"),  # 4 * 10**8 cells * 8
    (lambda: metrics.OneHotIoU(num_classes=10**5, target_class_ids=[0]), "num_classes", "80,000,000,000"),
    (
        lambda: metrics.deserialize(
            {"class_name": "PrecisionAtRecall", "config": {"recall": 0.5, "num_thresholds": 10**9}}
        ),
        "num_thresholds",
        "64,000,000,000",  # 10**9 * (4 counts * 8 + 32)
    ),
    (
        lambda: metrics.AUC(multi_label=True, num_labels=10**7),
        "num_thresholds x num_labels",
        "64,000,006,400",  # 200 * (4 * 8 * 10**7 + 32)
    ),
]


@pytest.mark.parametrize(("make", "argument", "nbytes"), HOSTILE)
def test_oversized_options_raise_before_allocating(make, argument, nbytes):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ValueError) as info:
            make()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 2**20, f"{peak} bytes allocated before the error"
    message = str(info.value)
    assert f"`{argument}`" in message and f"{nbytes} bytes" in message
    assert "1,073,741,824 bytes" in message and "set_state_limit" in message


def test_the_default_limit_is_one_gib():
    assert metrics.state_limit() == 2**30


def test_raising_the_limit_lets_a_size_through(backend, limit):
    # MeanIoU(num_classes=30): 900 cells * 8 bytes = 7,200 bytes
    metrics.set_state_limit(7_199)
    with pytest.raises(ValueError, match=r"`num_classes`=30 needs 7,200 bytes.*limit of 7,199 bytes"):
        metrics.MeanIoU(num_classes=30)
    assert metrics.set_state_limit(7_200) == 7_199
    metric = metrics.MeanIoU(num_classes=30)
    labels = np.arange(60) % 30
    predicted = labels.copy()
    predicted[:30] = (predicted[:30] + 1) % 30  # half the pixels one class off
    metric.update_state(to_backend(backend, labels), to_backend(backend, predicted))
    # every class: 2 pixels labelled, 1 right; predicted twice, 1 right -> IoU 1 / 3
    np.testing.assert_allclose(to_numpy(backend, metric.result()), 1 / 3, rtol=1e-6)


def test_a_lower_limit_also_bounds_explicit_thresholds(limit):
    metrics.set_state_limit(900)
    # Precision keeps 2 counts: 20 thresholds * (2 * 8 + 32) = 960 bytes
    with pytest.raises(ValueError, match=r"Precision: `thresholds`=<20 values> needs 960 bytes"):
        metrics.Precision(thresholds=[i / 20 for i in range(20)])
    # AUC: 20 thresholds * (4 * 8 + 32) = 1,280 bytes
    with pytest.raises(ValueError, match=r"AUC: `thresholds`=<18 values> needs 1,280 bytes"):
        metrics.AUC(thresholds=[(i + 1) / 19 for i in range(18)])  # 20 with the end points, 4 counts


def test_labels_read_from_the_data_are_checked_at_the_first_update(backend, limit):
    metrics.set_state_limit(5_000)
    metric = metrics.AUC(num_thresholds=3, multi_label=True)  # 3 * (4 * 8 + 32) = 192 bytes so far
    y = np.zeros((2, 60), np.float32)  # 60 labels: 3 * (4 * 8 * 60 + 32) = 5,856 bytes
    with pytest.raises(ValueError, match=r"`num_thresholds x num_labels`=3 x 60 needs 5,856 bytes"):
        metric.update_state(to_backend(backend, y), to_backend(backend, y))


@pytest.mark.parametrize(
    "make",
    [
        lambda: metrics.AUC(),
        lambda: metrics.AUC(num_thresholds=10_000, curve="PR"),
        lambda: metrics.MeanIoU(num_classes=256),
        lambda: metrics.SensitivityAtSpecificity(0.5, num_thresholds=1000),
        lambda: metrics.Recall(thresholds=[0.1, 0.5, 0.9]),
    ],
)
def test_normal_sizes_are_accepted(make):
    assert make() is not None


def test_normal_sizes_compute_on_every_backend(backend):
    y_true, y_pred = np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.1, 0.6, 0.4, 0.9])
    auc = metrics.AUC(num_thresholds=1000)
    auc.update_state(to_backend(backend, y_true), to_backend(backend, y_pred))
    # 3 of the 4 (positive, negative) pairs are ordered right; 1000 thresholds
    # separate the four scores, so the thresholded area is exact
    np.testing.assert_allclose(to_numpy(backend, auc.result()), 0.75, atol=1e-6)


@pytest.mark.parametrize("bad", [0, -5, 1.5, "1GiB", None, True])
def test_the_limit_must_be_a_positive_number_of_bytes(bad):
    with pytest.raises(ValueError, match=r"`nbytes` must be a positive int"):
        metrics.set_state_limit(bad)
    assert metrics.state_limit() == 2**30
