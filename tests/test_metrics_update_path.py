"""The stateful update path of metrics of scalar running sums (Mean, Sum,
every MeanMetricWrapper): it must reach the same state as the pure
``update`` that the stateless API and the compilers run, whatever route it
takes (TwoSum or a fused kernel for the compensated step, batch sizes counted
on the host until the state is read)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import lossbridge
from lossbridge import K, dispatch, metrics, weights
from lossbridge.metrics import base, running_sums
from tests.helpers import beyond_numpy, holds_float64, on

RNG = np.random.default_rng(23)


def _f32(*shape, scale=1.0, loc=0.0):
    return (loc + scale * RNG.normal(size=shape)).astype(np.float32)


def _read(backend, state, name):
    """Running sum ``name`` of ``state`` in float64: the sum plus its
    compensation twin where it has one (float32 sums)."""
    return sum(float(backend.to_numpy(state[k])) for k in (name, name + "_compensation") if k in state)


def _state_numpy(backend, state):
    return {k: np.asarray(backend.to_numpy(v), np.float64) for k, v in state.items()}


def _stateless(backend, metric, batches):
    """The state the pure update reaches (stateless API, run eagerly)."""
    state = None
    for inputs, weight in batches:
        xs = [backend.convert_to_tensor(x) for x in inputs]
        w = None if weight is None else backend.convert_to_tensor(weight)
        if state is None:
            state = metric.stateless_initial_state(xs[-1])
        state = metric.stateless_update_state(state, *xs, sample_weight=w)
    return state


def _stateful(backend, metric, batches):
    for inputs, weight in batches:
        xs = [backend.convert_to_tensor(x) for x in inputs]
        w = None if weight is None else backend.convert_to_tensor(weight)
        metric.update_state(*xs, sample_weight=w)
    return metric


# near 1e4 with unit noise: every compensated step loses low-order bits
UNWEIGHTED = [((_f32(64, loc=1e4),), None) for _ in range(20)]
WEIGHTED = [((_f32(16, 3, loc=1e3),), RNG.uniform(0, 2, 16).astype(np.float32)) for _ in range(12)]
# errors of 2**11 first (a batch sum of 2**25, exact in any summation order), then errors near 1: every later
# batch sum (~10-20, with fraction bits) meets a total whose float32 spacing is 4, so each step loses a part. On
# random batches alone the final twin was 0 by chance under one XLA emitter's summation order
PAIRS = [((np.zeros((8, 5), np.float32), np.full((8, 5), 2.0**11, np.float32)), None)]
PAIRS += [((_f32(8, 5), _f32(8, 5)), None) for _ in range(6)]
# errors near 100: squared, near 1e4 again
FAR_PAIRS = [((_f32(8, 5), _f32(8, 5, loc=100.0)), None) for _ in range(6)]
# float64 batch sums have every bit of float64: each plain float64 addition rounds
FLOAT64 = [((np.float64(1e4) + RNG.normal(size=64) / 3,), None) for _ in range(20)]


@pytest.mark.parametrize(
    ("make", "batches"),
    [
        (metrics.Mean, UNWEIGHTED),
        (metrics.Mean, WEIGHTED),
        (metrics.Sum, UNWEIGHTED),
        (metrics.Sum, WEIGHTED),
        (metrics.MeanSquaredError, PAIRS),
        (metrics.RootMeanSquaredError, FAR_PAIRS),
        (metrics.Mean, FLOAT64),
    ],
    ids=["mean", "mean-weighted", "sum", "sum-weighted", "mse-wrapper", "rmse", "mean-float64"],
)
@pytest.mark.exists_if(lambda p: p["batches"] is not FLOAT64 or holds_float64(p["backend"]))
def test_stateful_state_equals_the_pure_update_bit_for_bit(backend, make, batches):
    eager = _stateful(backend, make(), batches)
    pure = _stateless(backend, make(), batches)
    got, want = _state_numpy(backend, eager.state), _state_numpy(backend, pure)
    assert set(got) == set(want)
    for key in want:
        assert got[key] == want[key], key  # exact: the compensated steps agree to the bit
    if backend.accumulator_dtype == "float32":
        assert got["total_compensation"] != 0  # the compensated step had work to do
    else:  # a float64 sum is added plainly and has no twin (metrics/_state.py): its error bound, against fsum
        assert "total_compensation" not in got and "count_compensation" not in got
    if batches is FLOAT64:
        exact = math.fsum(v for (values,), _ in batches for v in values) / sum(len(v) for (v,), _ in batches)
        mean = got["total"] / got["count"]
        assert abs(float(mean) - exact) <= 1e-14 * exact  # the state's mean; result() rounds it to float32
    np.testing.assert_array_equal(
        np.asarray(backend.to_numpy(eager.result())), np.asarray(backend.to_numpy(make().stateless_result(pure)))
    )


@pytest.mark.parametrize(
    ("total", "value"),
    [
        (1e4, 1e-4),
        (1e-4, 1e4),
        (-3.0, 3.0),
        (0.1, 0.2),
        (2.0**60, 1.0),
        (1.0, -(2.0**-60)),
        (np.inf, 1.0),
        (1.0, np.nan),
        (np.inf, -np.inf),
        (-np.inf, -1.0),
        (1.7e308, 1.7e308),
    ],
)
def test_compensated_add_equals_neumaier_add(backend, total, value):
    dtype = backend.accumulator_dtype
    if dtype == "float32" and abs(total) == 1.7e308:
        total = value = 3.0e38  # the overflow case in float32
    t, c, v = (backend.convert_to_tensor(np.array(x, dtype)) for x in (total, 0.25 * 2.0**-40, value))
    with np.errstate(invalid="ignore", over="ignore"):
        want = dispatch.run_on(backend, base.neumaier_add, t, c, v)
        got = dispatch.run_on(backend, base.compensated_add, t, c, v)
    want, got = ([float(backend.to_numpy(x)) for x in pair] for pair in (want, got))
    np.testing.assert_array_equal(got, want)
    assert np.isfinite(got[1])  # a non-finite sum keeps a finite correction


@on("jax")
def test_the_fused_adder_follows_each_states_layout_as_x64_toggles(backend):
    """JAX's fused step is cached per backend and names; whether a sum has a
    twin follows its state's dtype (float32 without x64: twins; float64 with
    x64: none), so states of both layouts update side by side."""
    import jax

    x = np.array([1.0, 2.0, 4.0], np.float32)
    weight = np.array([1.0, 0.5, 0.25], np.float32)  # a weighted count goes through the adder too
    narrow = metrics.Mean()
    narrow.update_state(backend.convert_to_tensor(x), sample_weight=backend.convert_to_tensor(weight))
    with jax.enable_x64(True):
        wide = metrics.Mean()
        for _ in range(2):
            wide.update_state(backend.convert_to_tensor(x), sample_weight=backend.convert_to_tensor(weight))
            narrow.update_state(backend.convert_to_tensor(x), sample_weight=backend.convert_to_tensor(weight))
        wide_state = _state_numpy(backend, wide.state)
        assert {k: str(v.dtype) for k, v in wide.state.items()} == {"total": "float64", "count": "float64"}
    narrow.update_state(backend.convert_to_tensor(x), sample_weight=backend.convert_to_tensor(weight))
    assert {k: str(v.dtype) for k, v in narrow.state.items()} == dict.fromkeys(
        ("total", "total_compensation", "count", "count_compensation"), "float32"
    )
    # per update: total 1 + 1 + 1 = 3, count 1.75 (all exact in float32)
    assert wide_state == {"total": 6.0, "count": 3.5}
    assert _read(backend, narrow.state, "total") == 12.0 and _read(backend, narrow.state, "count") == 7.0


def test_host_counts_are_exact_and_survive_reads_merges_and_resets(backend):
    x = backend.convert_to_tensor(np.full(3, 2.0, np.float32))
    m = metrics.Mean()
    m.update_state(backend.convert_to_tensor(np.array([0.0], np.float32)), sample_weight=[2.0**24])
    for _ in range(5):
        m.update_state(x)
    assert float(backend.to_numpy(m.result())) == pytest.approx(30 / (2.0**24 + 15), rel=1e-6)
    state = m.state  # the state read includes the host count
    count = _read(backend, state, "count")
    assert count == 2.0**24 + 15
    m.update_state(x)
    other = metrics.Mean()
    other.update_state(x)
    other.update_state(x)
    m.merge_state([other])
    count = _read(backend, m.state, "count")
    assert count == 2.0**24 + 24
    assert float(backend.to_numpy(m.result())) == pytest.approx(48 / (2.0**24 + 24), rel=1e-6)
    m.reset_state()
    m.update_state(x)
    assert float(backend.to_numpy(m.result())) == 2.0
    assert _read(backend, m.state, "count") == 3


def test_a_count_known_on_the_host_is_read_without_a_zero_safe_division(backend, monkeypatch):
    """While Mean's count tensor is still the zero it started from, ``result()``
    divides by the exact host count (no ``where``: made to raise here), to the
    same bits as the stateless result of the same batches; a weighted update
    puts a count into the tensor and the zero-safe division is back."""
    batches = [((_f32(37, loc=3.0),), None), ((_f32(5, 2, loc=-1.0),), None), ((np.zeros((0,), np.float32),), None)]
    m = _stateful(backend, metrics.Mean(), batches)
    assert _read(backend, m.state, "count") == 42  # a read of the state includes the count, and keeps the zeros
    with monkeypatch.context() as patch:
        patch.setattr(backend, "where", _raises)
        fast = m.result()
    values = [np.asarray(v[0], np.float64) for v, _ in batches]
    values = [v if v.ndim == 1 else v.mean(-1) for v in values]  # Keras: per-sample means first
    expected = np.concatenate(values).sum() / 42
    assert float(backend.to_numpy(fast)) == pytest.approx(expected, rel=1e-6)
    pure = metrics.Mean().stateless_result(_stateless(backend, metrics.Mean(), batches))
    assert np.asarray(backend.to_numpy(fast)).tobytes() == np.asarray(backend.to_numpy(pure)).tobytes()

    weight = np.array([0.5, 1.5, 0.0], np.float32)
    m.update_state(backend.convert_to_tensor(np.array([4.0, 2.0, 9.0], np.float32)), sample_weight=weight)
    m.update_state(backend.convert_to_tensor(np.array([1.0, 1.0], np.float32)))
    expected = (np.concatenate(values).sum() + 2.0 + 3.0 + 2.0) / (42 + 2.0 + 2)
    assert float(backend.to_numpy(m.result())) == pytest.approx(expected, rel=1e-6)

    empty = metrics.Mean()  # only an empty batch: a count of 0 on the host reads 0, as Keras' division does
    empty.update_state(backend.convert_to_tensor(np.zeros((0,), np.float32)))
    with monkeypatch.context() as patch:
        patch.setattr(backend, "where", _raises)
        assert float(backend.to_numpy(empty.result())) == 0.0
    assert "_zeros" not in m.__getstate__()  # tensor identities mean nothing in a copy


def test_reading_an_exact_host_count_rounds_as_folding_it_in(backend):
    """A count past 2**24 reads as the same accumulator-dtype number whether
    ``result()`` takes it from the host or from the state it is folded into."""
    m = metrics.Mean()
    m.update_state(backend.convert_to_tensor(np.array([5.0, 6.0, 7.0], np.float32)))
    m._host["count"] = 2**24 + 3  # as after ~5.6 million such batches
    from_host = m.result()
    m.merge_state([metrics.Mean()])  # merging folds the count into the state's tensors
    assert m._host is None
    folded = m.result()
    assert np.asarray(backend.to_numpy(from_host)).tobytes() == np.asarray(backend.to_numpy(folded)).tobytes()


#: what a Mean's user may do between two results; fixed shapes, so JAX compiles each op once
_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["rows", "values", "weighted", "empty", "read state", "merge", "reset"]),
        st.floats(-50, 50, width=32),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_STEPS)
@example(steps=[("read state", 0.0)])  # nothing seen: the default backend answers
@example(steps=[("rows", 1.0), ("merge", 2.0), ("rows", 3.0), ("reset", 0.0), ("values", -4.0)])
def test_any_sequence_of_updates_reads_merges_and_resets_gives_keras_mean(backend, steps):
    """Whichever route ``result()`` takes (the exact host count while the
    count tensor is untouched, the zero-safe division once a weight, a merge
    or a fold put a count there), it reads Keras' weighted mean of per-sample
    means, against a float64 model of every step."""
    metric, total, count = metrics.Mean(), 0.0, 0.0
    for kind, value in steps:
        rows = (value + np.arange(12, dtype=np.float32).reshape(4, 3)).astype(np.float32)
        if kind == "rows":
            metric.update_state(backend.convert_to_tensor(rows))
            total, count = total + rows.astype(np.float64).mean(-1).sum(), count + 4
        elif kind == "values":
            metric.update_state(backend.convert_to_tensor(rows[:, 0]))
            total, count = total + rows[:, 0].astype(np.float64).sum(), count + 4
        elif kind == "weighted":
            weight = np.array([0.5, 0.0, 2.0, 1.0], np.float32)
            metric.update_state(backend.convert_to_tensor(rows[:, 0]), sample_weight=weight)
            total, count = total + (rows[:, 0].astype(np.float64) * weight).sum(), count + weight.sum()
        elif kind == "empty":
            metric.update_state(backend.convert_to_tensor(np.zeros((0,), np.float32)))
        elif kind == "read state":
            metric.state  # noqa: B018 - a read, which must change nothing
        elif kind == "merge":
            other = metrics.Mean()
            other.update_state(backend.convert_to_tensor(rows[:2, 1]))
            metric.merge_state([other])
            total, count = total + rows[:2, 1].astype(np.float64).sum(), count + 2
        else:
            metric.reset_state()
            total, count = 0.0, 0.0
        expected = total / count if count else 0.0
        # a metric that has seen nothing (or was reset before its first update) answers on the default backend
        got = float(np.asarray(metric.result()))
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-5 * (1 + abs(expected))), (kind, steps)


def _raises(*args, **kwargs):
    raise AssertionError("a zero-safe division ran where the count was known on the host")


def test_host_counts_follow_a_change_of_backend(backend):
    m = metrics.Mean()
    m.update_state(np.array([1.0, 3.0], np.float32))  # NumPy state, count on the host
    with lossbridge.use_backend(backend.name):
        m.update_state(np.array([5.0, 7.0, 9.0], np.float32))
    assert backend.is_tensor(m.result()) or backend.name == "numpy"
    assert float(backend.to_numpy(m.result())) == 5.0
    assert float(backend.to_numpy(m.state["count"])) == 5.0


def test_weak_weights_with_strong_values(backend):
    m = metrics.Mean()
    values = [np.array([1.0, 2.0, 3.0], np.float32), np.array([4.0, 5.0], np.float32)]
    weights = [np.array([1.0, 0.0, 2.0], np.float32), [0.5, 0.5]]
    for v, w in zip(values, weights, strict=True):
        m.update_state(backend.convert_to_tensor(v), sample_weight=w)
    assert float(backend.to_numpy(m.result())) == pytest.approx((1 + 6 + 4.5) / 4.0, rel=1e-7)


def test_a_non_finite_sum_keeps_finite_corrections(backend):
    m = metrics.Mean()
    m.update_state(backend.convert_to_tensor(np.array([1.0, np.inf], np.float32)))
    m.update_state(backend.convert_to_tensor(np.array([2.0], np.float32)))
    assert float(backend.to_numpy(m.result())) == np.inf
    if "total_compensation" in m.state:  # a float32 sum's twin (float64 sums have none)
        assert np.isfinite(float(backend.to_numpy(m.state["total_compensation"])))


# ---------------------------------------------------------------- subclasses
class _PlusOneMean(metrics.Mean):
    """A Mean of values + 1, written with the ``increments`` hook only."""

    def increments(self, values, sample_weight=None):
        return metrics.Mean.increments(self, K.cast(values, "float32") + 1.0, sample_weight=sample_weight)


class _DoubledWrapper(metrics.MeanMetricWrapper):
    """The pattern of a subclass written before ``increments`` existed: its
    own ``update`` calling ``Mean.update`` with per-sample values."""

    def update(self, state, y_true, y_pred, sample_weight=None):
        return metrics.Mean.update(self, state, 2.0 * self.values(y_true, y_pred), sample_weight=sample_weight)


class _HalvedMse(metrics.MeanSquaredError):
    """A loss metric whose subclass rewrites the increments of the one-pass route."""

    def increments(self, y_true, y_pred, sample_weight=None):
        found = super().increments(y_true, y_pred, sample_weight=sample_weight)
        return {**found, "total": found["total"] * 0.5}


def test_subclass_overriding_increments_takes_effect_on_both_paths(backend):
    # three batches: the third runs through the plan the second left (beyond NumPy)
    batches = [((np.array([1.0, 3.0], np.float32),), None), ((np.array([5.0], np.float32),), None)] * 2
    eager = _stateful(backend, _PlusOneMean(), batches)
    assert float(backend.to_numpy(eager.result())) == 4.0
    pure = _stateless(backend, _PlusOneMean(), batches)
    assert float(backend.to_numpy(_PlusOneMean().stateless_result(pure))) == 4.0
    pairs = [((np.zeros((2, 2), np.float32), np.full((2, 2), 2.0, np.float32)), None)] * 3
    assert float(backend.to_numpy(_stateful(backend, _HalvedMse(), pairs).result())) == 2.0  # (2**2) / 2


def test_subclass_with_its_own_update_keeps_it(backend):
    def gap(y_true, y_pred):
        return K.abs(y_true - y_pred)

    batches = [((np.zeros(4, np.float32), np.array([1.0, 2.0, 3.0, 4.0], np.float32)), None)]
    eager = _stateful(backend, _DoubledWrapper(gap), batches)
    assert float(backend.to_numpy(eager.result())) == 5.0
    pure = _stateless(backend, _DoubledWrapper(gap), batches)
    assert float(backend.to_numpy(_DoubledWrapper(gap).stateless_result(pure))) == 5.0
    # the library's own subclasses derive update from their increments: the fast route
    assert running_sums.takes_fast_route(metrics.RootMeanSquaredError)
    assert running_sums.takes_fast_route(metrics.MeanSquaredError)
    rmse = metrics.RootMeanSquaredError()
    rmse.update_state(*(backend.convert_to_tensor(a) for a in batches[0][0]))
    assert float(backend.to_numpy(rmse.result())) == pytest.approx(np.sqrt(7.5), rel=1e-6)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [([3.0, 0.0, -2.0, 1.0], [2.0, 0.0, 0.0, -4.0], [1.5, 0.0, 0.0, -0.25]), ([np.nan], [0.0], [0.0])],
)
def test_divide_no_nan(backend, numerator, denominator, expected):
    n, d = (
        backend.convert_to_tensor(np.array(x, np.float64 if backend.accumulator_dtype == "float64" else np.float32))
        for x in (numerator, denominator)
    )
    out = weights.divide_no_nan(backend, n, d)
    np.testing.assert_array_equal(np.asarray(backend.to_numpy(out), np.float64), expected)


@pytest.mark.parametrize(("denominator", "expected"), [(4.0, [0.75, 0.0, -0.5, np.inf]), (0.0, [0.0, 0.0, 0.0, 0.0])])
def test_divide_no_nan_by_a_host_number(backend, denominator, expected):
    n = backend.convert_to_tensor(np.array([3.0, 0.0, -2.0, np.inf], np.float32))
    out = weights.divide_no_nan(backend, n, denominator)
    assert backend.dtype(out) == "float32"
    np.testing.assert_array_equal(np.asarray(backend.to_numpy(out), np.float64), expected)


@pytest.mark.parametrize(
    ("count", "dtype"), [(2**53 + 1, "float64"), (2**24 + 3, "float32"), (7, "float32"), (0, "float64")]
)
def test_host_counts_fold_in_exact_parts(count, dtype):
    parts = running_sums._host_parts(count, dtype)
    assert all(float(np.dtype(dtype).type(p)) == p for p in parts)  # each exact in dtype
    assert sum(int(p) for p in parts) == count
    assert len(parts) <= 2


#: (label, how it is passed, whether the plan made by the first plain (8, 5) update runs it)
_PLAN_STEPS = [
    ("plain", "tensor", True),
    ("plain", "tensor", True),
    ("weighted", "tensor", False),  # a weight: the general route
    ("plain", "numpy", False),  # NumPy data is converted to the state's framework first
    ("steps", "tensor", True),  # (8, 2, 5): no one pass over the loss's terms; per-sample values, in the plan
    ("empty", "tensor", True),  # (0, 5): no one-pass total (0 rows); adds 0 and counts 0, in the plan
    ("plain", "tensor", True),
    ("forced", "tensor", False),  # a forced backend (use_backend) always resolves
    ("plain", "tensor", True),
]


def _plan_batch(kind, rng):
    shape = {"steps": (8, 2, 5), "empty": (0, 5)}.get(kind, (8, 5))
    return _f32(*shape, loc=3.0), _f32(*shape, loc=3.0) + rng.normal(size=shape).astype(np.float32)


@beyond_numpy
@pytest.mark.parametrize("make", [metrics.MeanSquaredError, metrics.RootMeanSquaredError, metrics.Mean])
def test_a_planned_update_reaches_the_general_routes_state_and_steps_aside(backend, make, monkeypatch):
    """After a plain update (no weight, the state's framework), the next
    ones with inputs of the same types skip the general route (counted
    here), other shapes included, and reach the state the pure update
    reaches, bit for bit; a weight, NumPy data, a forced backend take the
    general route."""
    rng = np.random.default_rng(5)
    general = []
    fold_in = base.Metric._fold_in
    monkeypatch.setattr(base.Metric, "_fold_in", lambda self, *args: general.append(1) or fold_in(self, *args))
    metric, batches, squares, counts = make(), [], [], []
    for step, (kind, passed, planned) in enumerate(_PLAN_STEPS):
        y_true, y_pred = _plan_batch(kind, rng)
        inputs = (y_pred,) if make is metrics.Mean else (y_true, y_pred)
        weight = rng.uniform(0.5, 2.0, 8).astype(np.float32) if kind == "weighted" else None
        batches.append((inputs, weight))
        converted = [x if passed == "numpy" else backend.convert_to_tensor(x) for x in inputs]
        before = len(general)
        if kind == "forced":
            with lossbridge.use_backend(backend.name):
                metric.update_state(*converted)
        else:
            metric.update_state(*converted, sample_weight=weight)
        if step:
            assert (len(general) == before) is planned, (step, kind, passed)
        # the float64 reference: per-sample values (means over the last axes), weighted
        values = y_pred.astype(np.float64) if make is metrics.Mean else (y_pred.astype(np.float64) - y_true) ** 2
        per_sample = values.reshape(values.shape[0], -1).mean(axis=1) if values.size else np.zeros(0)
        w = np.ones(len(per_sample)) if weight is None else weight.astype(np.float64)
        squares.append(np.sum(per_sample * w))
        counts.append(np.sum(w))
    pure = _stateless(backend, make(), batches)
    got, want = _state_numpy(backend, metric.state), _state_numpy(backend, pure)
    assert set(got) == set(want)
    for key in want:
        assert got[key] == want[key], key  # exact: the same increments and compensated steps
    expected = math.fsum(squares) / math.fsum(counts)
    expected = math.sqrt(expected) if make is metrics.RootMeanSquaredError else expected
    np.testing.assert_allclose(float(backend.to_numpy(metric.result())), expected, rtol=2e-6)


@beyond_numpy
def test_a_planned_metric_copies_pickles_and_resets_without_its_plan(backend):
    """The plan holds functions bound to a backend: a copy or an unpickled
    metric starts without one, makes its own at its next update, and both
    continue from the state they carried; after a reset the plan keeps
    serving the next plain updates."""
    import copy
    import pickle

    rng = np.random.default_rng(9)
    pairs = [_plan_batch("plain", rng) for _ in range(6)]
    tensors = [tuple(backend.convert_to_tensor(x) for x in pair) for pair in pairs]
    metric = metrics.MeanSquaredError()
    for pair in tensors[:3]:
        metric.update_state(*pair)
    copies = [copy.deepcopy(metric), pickle.loads(pickle.dumps(metric))]
    for other in copies:
        assert other._plan is None
    expected = np.mean([np.mean((p.astype(np.float64) - t) ** 2) for t, p in pairs])
    for other in (metric, *copies):
        for pair in tensors[3:]:
            other.update_state(*(backend.convert_to_tensor(backend.to_numpy(x)) for x in pair))
        np.testing.assert_allclose(float(backend.to_numpy(other.result())), expected, rtol=2e-6)
    metric.reset_state()
    for pair in tensors[:2]:
        metric.update_state(*pair)
    first_two = np.mean([np.mean((p.astype(np.float64) - t) ** 2) for t, p in pairs[:2]])
    np.testing.assert_allclose(float(backend.to_numpy(metric.result())), first_two, rtol=2e-6)


def _xlogy(a, b):
    return np.where(a == 0, 0.0, a * np.log(np.where(a == 0, 1.0, b)))


#: (metric, its float64 NumPy per-sample formula of (batch, features) inputs)
ONE_PASS = {
    "mse": (metrics.MeanSquaredError, lambda t, p: np.mean((t - p) ** 2, axis=-1)),
    "mape": (metrics.MeanAbsolutePercentageError, lambda t, p: 100 * np.mean(np.abs((t - p) / np.abs(t)), axis=-1)),
    "kld": (metrics.KLDivergence, lambda t, p: np.sum(_xlogy(t, t / p), axis=-1)),
    "cce": (metrics.CategoricalCrossentropy, lambda t, p: -np.sum(t * np.log(p / p.sum(-1, keepdims=True)), axis=-1)),
}


@pytest.mark.parametrize("case", sorted(ONE_PASS))
def test_a_loss_mean_sums_all_terms_of_an_unweighted_batch_in_one_pass(backend, case, monkeypatch):
    """A loss metric's unweighted (batch, features) update sums the loss's
    terms in one reduction (no per-sample values: that route is made to
    raise here), and reads the float64 formula's mean to float32 rounding;
    a weighted update, and (batch, steps, features) inputs, keep the
    per-sample route with the same values."""
    from lossbridge.losses.definition import PerSample

    make, formula = ONE_PASS[case]
    rng = np.random.default_rng(7)
    batches = [rng.uniform(0.1, 1.0, size=(6, 4)).astype(np.float32) for _ in range(6)]
    pairs = [(batches[i], batches[i + 1]) for i in range(0, 6, 2)]
    expected = np.mean(np.concatenate([formula(t.astype(np.float64), p.astype(np.float64)) for t, p in pairs]))
    metric = make()
    with monkeypatch.context() as patched:
        patched.setattr(PerSample, "__call__", lambda *args: pytest.fail("per-sample values made"))
        for t, p in pairs:
            metric.update_state(backend.convert_to_tensor(t), backend.convert_to_tensor(p))
    np.testing.assert_allclose(float(backend.to_numpy(metric.result())), expected, rtol=2e-6)
    weighted = make()
    for t, p in pairs:
        weighted.update_state(backend.convert_to_tensor(t), backend.convert_to_tensor(p), sample_weight=np.ones(6))
    np.testing.assert_allclose(float(backend.to_numpy(weighted.result())), expected, rtol=2e-6)
    steps = make()
    for t, p in pairs:
        steps.update_state(backend.convert_to_tensor(t.reshape(3, 2, 4)), backend.convert_to_tensor(p.reshape(3, 2, 4)))
    np.testing.assert_allclose(float(backend.to_numpy(steps.result())), expected, rtol=2e-6)
