"""Loss objects that reduce all elementwise terms in one pass.

A loss declared with ``@loss_function(reduce=...)`` lets an unweighted,
unmasked Loss object skip the per-sample reduction (``TermReduction``). These
tests pin that shortcut to the two-step definition: float64 NumPy references
of the per-sample losses (tests/reference.py), reduced as Keras does, on every
backend, for every reduction, for the loss's own ``axis``, for ranks that
differ by a trailing 1, and for the shapes where it must not be taken.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lossbridge import losses
from tests import reference as R
from tests.helpers import to_backend, to_numpy
from tests.reference import (
    F32,
    ref_binary_focal_crossentropy,
    ref_categorical_focal_crossentropy,
    ref_huber,
)

REDUCTIONS = ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight"]


def _probabilities(rng, shape):
    p = rng.uniform(0.05, 1.0, size=shape)
    return p / p.sum(-1, keepdims=True)


def _binary(rng, shape):
    return (rng.uniform(size=shape) > 0.5).astype(np.float64)


def _real(rng, shape):
    return rng.normal(size=shape)


def _positive(rng, shape):
    return rng.uniform(0.1, 3.0, size=shape)


# (class, options, y_true maker, y_pred maker, float64 per-sample reference)
CASES = [
    (losses.MeanSquaredError, {}, _real, _real, R.ref_mean_squared_error),
    (losses.MeanAbsoluteError, {}, _real, _real, R.ref_mean_absolute_error),
    (losses.MeanAbsolutePercentageError, {}, _positive, _real, R.ref_mean_absolute_percentage_error),
    (losses.MeanSquaredLogarithmicError, {}, _positive, _positive, R.ref_mean_squared_logarithmic_error),
    (losses.LogCosh, {}, _real, _real, R.ref_log_cosh),
    (losses.Huber, {"delta": 0.7}, _real, _real, lambda t, p: ref_huber(t, p, delta=0.7)),
    (losses.Hinge, {}, _binary, _real, R.ref_hinge),
    (losses.SquaredHinge, {}, _binary, _real, R.ref_squared_hinge),
    (losses.Poisson, {}, _positive, _positive, R.ref_poisson),
    (losses.KLDivergence, {}, _probabilities, _probabilities, R.ref_kl_divergence),
    (losses.CosineSimilarity, {}, _real, _real, R.ref_cosine_similarity),
    (
        losses.BinaryCrossentropy,
        {"from_logits": True},
        _binary,
        _real,
        lambda t, p: R.ref_binary_crossentropy(t, p, from_logits=True),
    ),
    (losses.BinaryCrossentropy, {}, _binary, _probabilities, R.ref_binary_crossentropy),
    (
        losses.CategoricalCrossentropy,
        {"from_logits": True},
        _probabilities,
        _real,
        lambda t, p: R.ref_categorical_crossentropy(t, p, from_logits=True),
    ),
    (
        losses.BinaryFocalCrossentropy,
        {"from_logits": True, "gamma": 2.0},
        _binary,
        _real,
        lambda t, p: ref_binary_focal_crossentropy(t, p, from_logits=True, gamma=2.0),
    ),
    (
        losses.CategoricalFocalCrossentropy,
        {},
        _probabilities,
        _probabilities,
        ref_categorical_focal_crossentropy,
    ),
]
IDS = [f"{c[0].__name__}{'-logits' if c[1].get('from_logits') else ''}" for c in CASES]


def keras_reduce(values, reduction):
    """Keras 3's reduction of unweighted per-sample values (float64)."""
    return np.sum(values) if reduction == "sum" else np.mean(values)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_one_pass_reduction_equals_the_two_step_definition(backend, case, reduction):
    cls, options, make_true, make_pred, ref = case
    rng = np.random.default_rng(7)
    y_true, y_pred = make_true(rng, (6, 5)), make_pred(rng, (6, 5))
    out = cls(reduction=reduction, **options)(
        to_backend(backend, y_true, "float32"), to_backend(backend, y_pred, "float32")
    )
    expected = keras_reduce(ref(y_true.astype(np.float32), y_pred.astype(np.float32)), reduction)
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_the_loss_own_axis_sets_the_row_length(backend, axis, reduction):
    rng = np.random.default_rng(3)
    y_true, y_pred = rng.normal(size=(4, 7)), rng.normal(size=(4, 7))
    loss = losses.CosineSimilarity(axis=axis, reduction=reduction)
    out = loss(to_backend(backend, y_true, "float32"), to_backend(backend, y_pred, "float32"))
    expected = keras_reduce(R.ref_cosine_similarity(y_true, y_pred, axis=axis), reduction)
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


def test_ranks_that_differ_by_a_trailing_one(backend):
    y_true, y_pred = np.array([1.0, 0.0, 1.0, 1.0]), np.array([[0.5], [-2.0], [3.0], [0.1]])
    out = losses.BinaryCrossentropy(from_logits=True)(
        to_backend(backend, y_true, "float32"), to_backend(backend, y_pred, "float32")
    )
    expected = np.mean(R.ref_binary_crossentropy(y_true[:, None], y_pred, from_logits=True))
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


def test_sequences_reduce_over_every_timestep(backend):
    rng = np.random.default_rng(5)
    y_true, y_pred = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2))
    for reduction in ("sum_over_batch_size", "sum"):
        out = losses.MeanSquaredError(reduction=reduction)(
            to_backend(backend, y_true, "float32"), to_backend(backend, y_pred, "float32")
        )
        expected = keras_reduce(R.ref_mean_squared_error(y_true, y_pred), reduction)
        np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
    reduction=st.sampled_from(REDUCTIONS),
    seed=st.integers(0, 2**16),
)
def test_one_pass_property(backend, shape, reduction, seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = _probabilities(rng, shape), _real(rng, shape)
    loss = losses.CategoricalCrossentropy(from_logits=True, reduction=reduction)
    out = loss(to_backend(backend, y_true, "float32"), to_backend(backend, y_pred, "float32"))
    expected = keras_reduce(
        R.ref_categorical_crossentropy(y_true, y_pred.astype(np.float32), from_logits=True), reduction
    )
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


# ---------------------------------------------------------------- when it is (not) taken
class _CountingReductions:
    """Counts the reductions the NumPy adapter runs, by axis."""

    def __init__(self, monkeypatch):
        from lossbridge import backends

        self.calls = []
        numpy_backend = backends.get("numpy")
        for name in ("mean", "sum"):
            original = getattr(numpy_backend, name)

            def counted(x, axis=None, keepdims=False, _original=original, _name=name):
                self.calls.append((_name, axis))
                return _original(x, axis=axis, keepdims=keepdims)

            monkeypatch.setattr(numpy_backend, name, counted)


def test_an_unweighted_default_call_reduces_once(monkeypatch):
    y = np.ones((4, 3), np.float32)
    counter = _CountingReductions(monkeypatch)
    losses.MeanSquaredError()(y, y * 2)
    assert counter.calls == [("mean", None)]
    counter.calls.clear()
    losses.CategoricalCrossentropy(from_logits=True)(y, y)
    assert [call for call in counter.calls if call[1] is None] == [("sum", None)]


def test_weights_and_none_keep_the_per_sample_values(monkeypatch):
    y = np.ones((4, 3), np.float32)
    counter = _CountingReductions(monkeypatch)
    losses.MeanSquaredError(reduction="none")(y, y * 2)
    assert counter.calls == [("mean", -1)]
    counter.calls.clear()
    out = losses.MeanSquaredError()(y, y * 2, sample_weight=np.array([1.0, 0.0, 1.0, 0.0], np.float32))
    assert counter.calls[0] == ("mean", -1)
    np.testing.assert_allclose(out, 0.5, **F32)


def test_a_subclass_mask_is_honoured(backend):
    class MaskedMSE(losses.MeanSquaredError):
        def compute_mask(self, y_true, y_pred, values):
            return values < 2.0  # drops the second sample

    y_true = to_backend(backend, np.zeros((2, 2)), "float32")
    y_pred = to_backend(backend, [[1.0, 1.0], [3.0, 3.0]], "float32")
    # per-sample MSE [1, 9]; the mask keeps the first: 1.0 (the unmasked mean would be 5.0)
    np.testing.assert_allclose(to_numpy(backend, MaskedMSE()(y_true, y_pred)), 1.0, **F32)


def test_empty_and_scalar_inputs_take_the_two_step_path(backend):
    empty = to_backend(backend, np.zeros((0, 3), np.float32))
    assert to_numpy(backend, losses.KLDivergence()(empty, empty)) == 0.0
    assert to_numpy(backend, losses.CosineSimilarity(reduction="sum")(empty, empty)) == 0.0


def test_half_precision_kl_divergence_rounds_back(backend):
    rng = np.random.default_rng(11)
    y_true, y_pred = _probabilities(rng, (4, 6)), _probabilities(rng, (4, 6))
    for dtype in ("float16", "bfloat16"):
        if backend.name == "numpy" and dtype == "bfloat16":
            pytest.importorskip("ml_dtypes")
        out = losses.kl_divergence(to_backend(backend, y_true, dtype), to_backend(backend, y_pred, dtype))
        assert backend.dtype(out) == dtype
        rounded = [to_numpy(backend, to_backend(backend, a, dtype)) for a in (y_true, y_pred)]
        np.testing.assert_allclose(to_numpy(backend, out), R.ref_kl_divergence(*rounded), rtol=1e-2, atol=1e-2)
        total = losses.KLDivergence(dtype=dtype)(to_backend(backend, y_true, dtype), to_backend(backend, y_pred, dtype))
        assert backend.dtype(total) == dtype
        np.testing.assert_allclose(
            to_numpy(backend, total), np.mean(R.ref_kl_divergence(*rounded)), rtol=1e-2, atol=1e-2
        )


def test_a_registered_loss_may_declare_its_term_reduction(backend):
    from lossbridge import K, register_loss

    @register_loss("test_fusion_half_squared_error", reduce="mean", scale=0.5)
    def half_squared_error(y_true, y_pred):
        """0.5 * mean((y_true - y_pred)**2, axis=-1)"""
        return K.square(y_true - y_pred)

    rng = np.random.default_rng(2)
    y_true, y_pred = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    t, p = to_backend(backend, y_true, "float32"), to_backend(backend, y_pred, "float32")
    per_sample = 0.5 * np.mean((y_true - y_pred) ** 2, axis=-1)
    np.testing.assert_allclose(to_numpy(backend, half_squared_error(t, p)), per_sample, **F32)
    loss = losses.LossFunctionWrapper("test_fusion_half_squared_error")
    np.testing.assert_allclose(to_numpy(backend, loss(t, p)), np.mean(per_sample), **F32)
    summed = losses.LossFunctionWrapper(half_squared_error, reduction="sum")
    np.testing.assert_allclose(to_numpy(backend, summed(t, p)), np.sum(per_sample), **F32)


#: CCE from logits and cosine: their terms normalize each row (log_softmax, a norm)
ROW_NORMALIZED = [
    c
    for c in CASES
    if c[0] is losses.CosineSimilarity or (c[0], c[1]) == (losses.CategoricalCrossentropy, {"from_logits": True})
]


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
@pytest.mark.parametrize("case", ROW_NORMALIZED, ids=[c[0].__name__ for c in ROW_NORMALIZED])
def test_row_normalized_terms_reduce_rows_first_under_jit(case, reduction, monkeypatch):
    """Where the backend asks for it (JAX on a GPU: an XLA fusion of the batch
    mean into CCE's row reductions read the logits three times, 51% of the
    H100's copy bandwidth, against 97% rows first), a traced Loss object
    reduces row-normalized terms per sample behind a fusion boundary, and only
    the forward pass: differentiated, XLA fuses the backward best without it."""
    jax = pytest.importorskip("jax")
    from lossbridge import backends

    monkeypatch.setattr(type(backends.get("jax")), "rows_first_when_compiled", lambda self: True)
    cls, options, make_true, make_pred, ref = case
    rng = np.random.default_rng(3)
    y_true, y_pred = make_true(rng, (6, 5)).astype(np.float32), make_pred(rng, (6, 5)).astype(np.float32)
    loss = cls(reduction=reduction, **options)
    args = (jax.numpy.asarray(y_true), jax.numpy.asarray(y_pred))
    expected = keras_reduce(ref(y_true, y_pred), reduction)
    np.testing.assert_allclose(float(jax.jit(loss)(*args)), expected, **F32)
    assert jax.jit(loss).lower(*args).as_text().count("optimization_barrier") == 1
    gradient = jax.jit(jax.grad(loss, argnums=1))
    assert "optimization_barrier" not in gradient.lower(*args).as_text()
    step = 1e-3  # float64 central differences of the reference, one element
    shifted = [y_pred.astype(np.float64).copy() for _ in range(2)]
    shifted[0][2, 1] += step
    shifted[1][2, 1] -= step
    slope = (keras_reduce(ref(y_true, shifted[0]), reduction) - keras_reduce(ref(y_true, shifted[1]), reduction)) / (
        2 * step
    )
    np.testing.assert_allclose(float(gradient(*args)[2, 1]), slope, rtol=1e-3, atol=1e-6)
