"""merge_state: metrics updated on disjoint shards, merged, equal one metric
updated on all the data (a hypothesis property, for every metric); merging
metrics of another type or config is an error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lossbridge
from lossbridge import losses, metrics
from tests.helpers import precision

C = 4


def _inputs(kind, rng, n):
    """``n`` samples of the inputs a metric of ``kind`` takes."""
    real = lambda: rng.normal(size=(n, C)).astype(np.float32)  # noqa: E731
    if kind == "values":
        return (rng.normal(size=(n, 2)).astype(np.float32),)
    if kind == "real":
        return real(), real()
    if kind == "positive":
        return rng.uniform(0, 3, (n, C)).astype(np.float32), rng.uniform(0.01, 3, (n, C)).astype(np.float32)
    if kind == "probabilities":
        p = rng.dirichlet(np.ones(C), n).astype(np.float32)
        return rng.dirichlet(np.ones(C), n).astype(np.float32), p
    if kind == "binary":
        return (rng.random((n, C)) > 0.5).astype(np.float32), rng.random((n, C)).astype(np.float32)
    if kind == "one_hot":
        return np.eye(C, dtype=np.float32)[rng.integers(0, C, n)], rng.random((n, C)).astype(np.float32)
    if kind == "sparse":
        return rng.integers(0, C, n), rng.random((n, C)).astype(np.float32)
    if kind == "sorted_ids":
        return rng.integers(0, C, n), np.argsort(-rng.random((n, C)), axis=-1)
    if kind == "exact":
        return rng.integers(0, 2, (n, 2)).astype(np.float32), rng.integers(0, 2, (n, 2)).astype(np.float32)
    raise AssertionError(kind)


# (factory, kind of inputs)
METRICS = {
    "Mean": (metrics.Mean, "values"),
    "Sum": (metrics.Sum, "values"),
    "MeanMetricWrapper": (lambda: metrics.MeanMetricWrapper(losses.mean_squared_error), "real"),
    "MeanSquaredError": (metrics.MeanSquaredError, "real"),
    "MeanAbsoluteError": (metrics.MeanAbsoluteError, "real"),
    "MeanAbsolutePercentageError": (metrics.MeanAbsolutePercentageError, "positive"),
    "MeanSquaredLogarithmicError": (metrics.MeanSquaredLogarithmicError, "positive"),
    "CosineSimilarity": (metrics.CosineSimilarity, "real"),
    "LogCoshError": (metrics.LogCoshError, "real"),
    "Hinge": (metrics.Hinge, "binary"),
    "SquaredHinge": (metrics.SquaredHinge, "binary"),
    "CategoricalHinge": (metrics.CategoricalHinge, "one_hot"),
    "KLDivergence": (metrics.KLDivergence, "probabilities"),
    "Poisson": (metrics.Poisson, "positive"),
    "BinaryCrossentropy": (metrics.BinaryCrossentropy, "binary"),
    "CategoricalCrossentropy": (metrics.CategoricalCrossentropy, "probabilities"),
    "SparseCategoricalCrossentropy": (lambda: metrics.SparseCategoricalCrossentropy(ignore_class=0), "sparse"),
    "RootMeanSquaredError": (metrics.RootMeanSquaredError, "real"),
    "R2Score": (lambda: metrics.R2Score(class_aggregation=None), "real"),
    "PearsonCorrelation": (metrics.PearsonCorrelation, "real"),
    "ConcordanceCorrelation": (metrics.ConcordanceCorrelation, "real"),
    "Accuracy": (metrics.Accuracy, "exact"),
    "BinaryAccuracy": (metrics.BinaryAccuracy, "binary"),
    "CategoricalAccuracy": (metrics.CategoricalAccuracy, "one_hot"),
    "SparseCategoricalAccuracy": (metrics.SparseCategoricalAccuracy, "sparse"),
    "TopKCategoricalAccuracy": (lambda: metrics.TopKCategoricalAccuracy(k=2), "one_hot"),
    "SparseTopKCategoricalAccuracy": (lambda: metrics.SparseTopKCategoricalAccuracy(k=2), "sparse"),
    "SparseTopKCategoricalAccuracy-sorted": (
        lambda: metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True),
        "sorted_ids",
    ),
}

# a fixed sample count keeps the set of shard shapes small: JAX compiles every
# op once per shape, so free sizes would make this file slow
N = 8
SHARDS = st.tuples(
    st.integers(0, 2**32 - 1),  # data seed
    st.lists(st.integers(0, N), min_size=0, max_size=3),  # cut points
    st.booleans(),  # weighted
)


def _update(backend, metric, inputs, weight):
    metric.update_state(*(backend.convert_to_tensor(x) for x in inputs), sample_weight=weight)


@pytest.mark.parametrize("name", METRICS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shards=SHARDS)
def test_merged_shards_equal_one_metric_on_all_data(backend, name, shards):
    seed, cuts, weighted = shards
    n = N
    make, kind = METRICS[name]
    rng = np.random.default_rng(seed)
    inputs = _inputs(kind, rng, n)
    weight = rng.uniform(0, 2, n).astype(np.float32) if weighted else None

    whole = make()
    _update(backend, whole, inputs, weight)
    bounds = [0, *sorted(cuts), n]
    parts = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        part = make()
        if stop > start:  # an empty shard is a metric that saw nothing
            _update(backend, part, [x[start:stop] for x in inputs], None if weight is None else weight[start:stop])
        parts.append(part)
    merged = parts[0]
    merged.merge_state(parts[1:])

    expected = backend.to_numpy(whole.result()).astype(np.float64)
    actual = backend.to_numpy(merged.result()).astype(np.float64)
    np.testing.assert_allclose(actual, expected, rtol=2e-6, atol=1e-6, equal_nan=True)


def test_merging_into_a_fresh_metric_and_from_fresh_metrics(backend):
    data = backend.convert_to_tensor(np.array([1.0, 2.0, 6.0], np.float32))
    seen = metrics.Mean()
    seen.update_state(data)
    fresh = metrics.Mean(name="other_name")  # names may differ
    fresh.merge_state([seen, metrics.Mean()])
    assert float(backend.to_numpy(fresh.result())) == 3.0
    seen.merge_state([metrics.Mean()])
    assert float(backend.to_numpy(seen.result())) == 3.0


def test_merging_state_from_another_framework_converts_it(backend):
    torch = pytest.importorskip("torch")
    mine = metrics.Sum()
    mine.update_state(backend.convert_to_tensor(np.array([1.0, 2.0], np.float32)))
    theirs = metrics.Sum()
    theirs.update_state(torch.tensor([4.0]))
    mine.merge_state([theirs])
    assert backend.is_tensor(mine.result())
    assert float(backend.to_numpy(mine.result())) == 7.0


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [
        (metrics.Mean(), metrics.Sum()),
        (metrics.MeanSquaredError(), metrics.MeanAbsoluteError()),
        (metrics.BinaryAccuracy(threshold=0.5), metrics.BinaryAccuracy(threshold=0.7)),
        (metrics.BinaryCrossentropy(), metrics.BinaryCrossentropy(from_logits=True)),
        (metrics.R2Score(), metrics.R2Score(class_aggregation=None)),
        (metrics.TopKCategoricalAccuracy(k=2), metrics.TopKCategoricalAccuracy(k=3)),
        (metrics.MeanMetricWrapper(losses.hinge), metrics.MeanMetricWrapper(losses.squared_hinge)),
        (metrics.Mean(dtype="float32"), metrics.Mean(dtype="float64")),
    ],
    ids=lambda m: repr(m)[:40],
)
def test_merging_another_type_or_config_is_an_error(mine, theirs):
    with pytest.raises(ValueError, match="merge_state needs metrics of the same type and config"):
        mine.merge_state([theirs])


def test_merging_r2_of_different_widths_is_an_error(backend):
    two, three = metrics.R2Score(), metrics.R2Score()
    two.update_state(*(backend.convert_to_tensor(np.ones((3, 2), np.float32)) for _ in range(2)))
    three.update_state(*(backend.convert_to_tensor(np.ones((3, 3), np.float32)) for _ in range(2)))
    with pytest.raises(ValueError, match=r"state 'sum' has shape \(3,\) there and \(2,\) here"):
        two.merge_state([three])


def test_merge_is_exact_for_compensated_float32_state(backend):
    # the jax path (float32 state): shards whose sums cancel badly in float32
    with lossbridge.use_backend(backend.name):
        big, small = metrics.Sum(), metrics.Sum()
        big.update_state(np.array([1e8], np.float32))
        for _ in range(100):
            small.update_state(np.array([1.0], np.float32))
        big.merge_state([small])
    # read in float64: 1e8 + 100 is no float32 (the state's value is hi + lo; a float64 sum has no lo)
    total = sum(float(backend.to_numpy(big.state[k])) for k in ("total", "total_compensation") if k in big.state)
    assert total == 1e8 + 100


def test_merged_float64_shards_are_within_the_documented_bound_of_fsum(backend):
    """metrics/_state.py: a float64 sum adds plainly, and so does a merge, so
    B updates and M merged shards err by at most (B + M) roundings of 2**-53
    of the sum of magnitudes. One value per update keeps each batch's own sum
    exact; magnitudes over 16 decades with both signs make rounding happen."""
    rng = np.random.default_rng(19)
    shards, updates = 40, 25
    data = rng.choice([-1.0, 1.0], (shards, updates)) * 10.0 ** rng.uniform(-8, 8, (shards, updates))
    with precision(backend, "float64"), lossbridge.use_backend(backend.name):
        parts = []
        for row in data:
            part = metrics.Sum()
            for value in row:
                part.update_state(backend.convert_to_tensor(np.array([value])))
            parts.append(part)
        merged = parts[0]
        merged.merge_state(parts[1:])
        state = {k: float(backend.to_numpy(v)) for k, v in merged.state.items()}
    assert set(state) == {"total"}  # float64: no compensation twin
    exact = math.fsum(data.ravel().tolist())
    bound = (data.size + shards) * 2.0**-53 * float(np.abs(data).sum())
    assert abs(state["total"] - exact) <= bound
    # the bound is tight enough to tell: float32 accumulation would miss it by ~1e8
    assert bound < 1e-9 * float(np.abs(data).sum())
