"""How metric state combines (Metric.state_reductions), in one process: every
built-in metric declares each state entry; merge follows sum, min, max and
concatenate declarations; sync in a world of one changes nothing; bad groups
and undeclared overrides raise clear errors. The replicas themselves are in
tests/test_distributed_sync.py."""

from __future__ import annotations

import numpy as np
import pytest

from lossbridge import metrics
from lossbridge.metrics.base import SUM, Metric, declare, sum_state
from lossbridge.testing import catalogue
from tests.extremes_metric import Extremes, ref_extremes
from tests.helpers import beyond_numpy, precision, to_backend, to_numpy

TOL = {"rtol": 1e-12, "atol": 1e-12}


CASES = [
    (case.id, entry.obj, case.options)
    for entry in catalogue.metrics()
    if isinstance(entry.obj, type)
    for case in entry.cases
]


@pytest.mark.parametrize("cls, options", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_builtin_metric_declares_each_state_entry(cls, options):
    metric = cls(**options)
    declared = metric._declared()
    assert declared, f"{cls.__name__}: initial_state(None) could not be read"
    assert [key for key, how in declared.items() if how is None] == []
    assert set(metric.state_reductions().values()) <= {"sum", "min", "max", "concatenate"}


def test_extremes_declares_each_reduction(backend):
    expected = {"smallest": "min", "largest": "max", "seen": "concatenate", "ids": "concatenate", "count": "sum"}
    if backend.accumulator_dtype != "float64":  # a float32 sum's compensation twin (metrics/_state.py)
        expected["count_compensation"] = "sum"
    assert Extremes().state_reductions(backend) == expected


def test_merge_follows_min_max_and_concatenate(backend):
    rng = np.random.default_rng(3)
    first, second = rng.normal(size=(5, 2)), rng.normal(size=(3, 2))
    with precision(backend, "float64"):
        a, b, empty = Extremes(dtype="float64"), Extremes(dtype="float64"), Extremes(dtype="float64")
        a.update_state(to_backend(backend, first))
        b.update_state(to_backend(backend, second))
        a.merge_state([b, empty])
        got = to_numpy(backend, a.result())
    np.testing.assert_allclose(got, ref_extremes(np.concatenate([first, second])), **TOL)


def test_sync_in_a_world_of_one_changes_nothing(backend):
    values = np.array([1.0, 2.0, 4.0])
    mean = metrics.Mean(dtype="float64")
    with precision(backend, "float64"):
        mean.update_state(to_backend(backend, values))
        mean.sync()
        synced = to_numpy(backend, mean.result())
        once = to_numpy(backend, mean.result(sync=True))
        mean.unsync()
        local = to_numpy(backend, mean.result())
    np.testing.assert_allclose([synced, once, local], [7.0 / 3.0] * 3, **TOL)


def test_sync_before_any_update_is_the_empty_result():
    mean = metrics.Mean()
    mean.sync()
    assert float(np.asarray(mean.result())) == 0.0


def test_numpy_state_with_a_group_names_the_group():
    mean = metrics.Mean()
    mean.update_state(np.array([1.0]))
    with pytest.raises(ValueError, match=r"NumPy state has no replicas to sync over `group`='batch'"):
        mean.stateless_sync_state(mean.state, "batch")


@beyond_numpy  # NumPy: test_numpy_state_with_a_group_names_the_group
def test_a_group_of_an_unusable_kind_names_it(backend):
    with pytest.raises(ValueError, match=r"`group`"):
        backend.replica_group(12345)


def test_declare_rejects_an_unknown_reduction():
    with pytest.raises(ValueError, match=r"`reduction` must be one of .*received 'mean'"):
        declare("mean", {})


class _Undeclared(Metric):
    """Overrides merge and makes an entry by hand without declaring it."""

    def initial_state(self, like):
        return {**sum_state(("total",), like=like), "peak": np.zeros(())}

    def update(self, state, values, sample_weight=None):
        return state

    def compute(self, state):
        return state["total"]

    def merge(self, state, other):
        return state


def test_an_override_of_merge_must_declare_every_entry():
    with pytest.raises(TypeError, match=r"_Undeclared overrides merge .* \['peak'\]"):
        _Undeclared().state_reductions()


def test_declared_entries_of_an_override_are_read():
    class Declared(_Undeclared):
        def initial_state(self, like):
            return {**sum_state(("total",), like=like), **declare(SUM, {"peak": np.zeros(())})}

    assert Declared().state_reductions() == {"total": "sum", "peak": "sum"}  # NumPy's float64: no twin
