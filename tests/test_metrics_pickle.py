"""Every metric pickles and deep-copies with its state: built-ins (the whole
registered catalogue), ``MeanMetricWrapper`` of a loss function, and a
user-registered class, with state on every backend. The copy has the same
type, config and state (equal as numbers, on the same backend), the same
result, and keeps updating like the original."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import lossbridge
from lossbridge import K, losses, metrics
from lossbridge.metrics.base import accumulate, read_sum, sum_state
from lossbridge.testing import catalogue
from lossbridge.testing.cases import random_example
from tests.helpers import to_numpy

CLASS_CASES = [
    pytest.param(entry.obj, case, id=case.id)
    for entry in catalogue.metrics()
    if isinstance(entry.obj, type)
    for case in entry.cases
]


def catalogue_batch(backend, case, seed):
    """Seeded inputs of ``case``'s kind as tensors of ``backend`` (floats in float32)."""
    arrays = random_example(case.kind, np.random.default_rng(seed))
    return [backend.convert_to_tensor(a.astype(np.float32) if a.dtype.kind == "f" else a) for a in arrays]


def assert_same_state(backend, original, clone):
    """Same keys, equal numbers, and the clone's state on ``backend`` too."""
    mine, theirs = original.state, clone.state
    assert (mine is None) == (theirs is None)
    if mine is None:
        return
    assert set(mine) == set(theirs)
    for key, value in mine.items():
        assert backend.is_tensor(theirs[key]) or backend.name == "numpy", (key, type(theirs[key]))
        np.testing.assert_array_equal(to_numpy(backend, theirs[key]), to_numpy(backend, value), err_msg=key)


def assert_same_metric(backend, original, clone):
    assert type(clone) is type(original) and clone is not original
    assert clone.get_config() == original.get_config()
    assert_same_state(backend, original, clone)
    np.testing.assert_array_equal(np.asarray(clone.result()), np.asarray(original.result()))


COPIES = {
    "pickle": lambda metric: pickle.loads(pickle.dumps(metric)),
    "deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize(("cls", "case"), CLASS_CASES)
def test_catalogue_metric_copies_with_its_state(backend, cls, case, how):
    metric = cls(**case.options)
    fresh = COPIES[how](metric)  # no state yet
    assert_same_metric(backend, metric, fresh)
    for seed in (1, 2):
        metric.update_state(*catalogue_batch(backend, case, seed))
    clone = COPIES[how](metric)
    assert_same_metric(backend, metric, clone)
    # both keep counting alike (the clone has a working lock of its own)
    for target in (metric, clone):
        target.update_state(*catalogue_batch(backend, case, 3))
    assert_same_metric(backend, metric, clone)
    metric.reset_state()
    assert_same_metric(backend, metric, COPIES[how](metric))


@pytest.mark.parametrize("how", list(COPIES))
def test_wrapper_of_a_loss_function_copies(backend, how):
    metric = metrics.MeanMetricWrapper(fn=losses.mean_squared_error, name="mse_mean")
    y_true = np.array([[0.0, 1.0], [2.0, 2.0]], np.float32)
    y_pred = np.array([[1.0, 1.0], [2.0, 5.0]], np.float32)
    metric.update_state(backend.convert_to_tensor(y_true), backend.convert_to_tensor(y_pred))
    clone = COPIES[how](metric)
    assert clone.fn is losses.mean_squared_error  # pickled by reference
    assert_same_metric(backend, metric, clone)
    expected = np.mean(np.mean((y_true.astype(np.float64) - y_pred) ** 2, axis=-1))  # (0.5 + 4.5) / 2
    assert float(to_numpy(backend, clone.result())) == pytest.approx(expected, rel=1e-7)


class LargestSeen(metrics.Metric):
    """A user metric with a non-sum state: the running maximum. Registered by
    its test, not at import: the catalogue other modules collect stays the
    built-ins."""

    input_names = ("values",)

    def initial_state(self, like):
        return {"largest": K.zeros((), K.accumulator_dtype, like=like) - np.inf, **sum_state(("count",), like=like)}

    def update(self, state, values, sample_weight=None):
        largest = K.maximum(state["largest"], K.max(K.cast(values, K.accumulator_dtype)))
        return {**accumulate(state, count=float(K.shape(values)[0])), "largest": largest}

    def compute(self, state):
        return K.where(read_sum(state, "count") > 0, state["largest"], 0.0)

    def merge(self, state, other):
        return {**super().merge(state, other), "largest": K.maximum(state["largest"], other["largest"])}


@pytest.mark.parametrize("how", list(COPIES))
def test_user_registered_metric_copies(backend, how):
    if "test_pickle_largest" not in metrics.registry.names():
        lossbridge.register_metric("test_pickle_largest")(LargestSeen)
    metric = metrics.get("test_pickle_largest")
    metric.update_state(backend.convert_to_tensor(np.array([1.0, 7.5, -2.0], np.float32)))
    metric.update_state(backend.convert_to_tensor(np.array([3.0], np.float32)))
    clone = COPIES[how](metric)
    assert_same_metric(backend, metric, clone)
    assert float(to_numpy(backend, clone.result())) == 7.5
    assert float(to_numpy(backend, read_sum(clone.state, "count"))) == 4.0


def test_pickled_state_carries_no_framework_objects(backend):
    """The bytes hold NumPy arrays and the backend's name: they load where
    the framework is imported afresh (and, for NumPy state, without it)."""
    metric = metrics.Mean()
    metric.update_state(backend.convert_to_tensor(np.array([1.0, 2.0], np.float32)))
    attributes = metric.__getstate__()
    assert attributes["_backend"] == backend.name and "_lock" not in attributes
    for value in attributes["_state"].values():
        assert isinstance(value, np.ndarray | np.generic), type(value)


def test_every_catalogue_class_has_a_case_here():
    classes = {
        entry.obj
        for entry in catalogue.metrics()
        if isinstance(entry.obj, type) and entry.obj.__module__.startswith("lossbridge.")
    }
    covered = {param.values[0] for param in CLASS_CASES}
    assert classes and classes == covered, sorted(c.__name__ for c in classes - covered)
