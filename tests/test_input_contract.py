"""The input contract of ``lossbridge.inputs``, on every backend: one shape
rule for losses and metrics (Keras' alignment, then equal shapes), one
sample-weight rule, 0-d inputs, complex inputs, every integer label dtype,
fractional float labels, and the exact limits of BCE at infinite logits.

Expected values are float64 NumPy formulas written here."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lossbridge import losses, metrics

from .helpers import holds_float64, to_backend, to_numpy

RNG = np.random.default_rng(7)
P = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]], np.float32)


def _mse(t, p):
    return np.mean((np.asarray(t, np.float64) - np.asarray(p, np.float64)) ** 2, axis=-1)


# ------------------------------------------------------------------ the shape rule
MISMATCHED = [
    # (callable, y_true shape, y_pred shape, a phrase the error must hold)
    ("CategoricalCrossentropy", (3,), (3, 3), "SparseCategoricalCrossentropy"),
    ("BinaryCrossentropy", (4, 1), (4, 3), "incompatible shapes"),
    ("MeanSquaredError", (1, 5), (5, 1), "incompatible shapes"),
    ("MeanSquaredError", (3,), (3, 3), "incompatible shapes"),
    ("MeanAbsoluteError", (2, 3), (2, 4), "incompatible shapes"),
    ("KLDivergence", (2, 3, 1), (2, 1, 3), "incompatible shapes"),
]


@pytest.mark.parametrize(("name", "true_shape", "pred_shape", "phrase"), MISMATCHED)
@pytest.mark.parametrize("form", ["class", "function"])
def test_a_broadcast_that_grows_an_input_raises(backend, name, true_shape, pred_shape, phrase, form):
    loss = getattr(losses, name)()
    call = loss if form == "class" else loss.fn
    y_true = to_backend(backend, RNG.uniform(0.1, 0.9, size=true_shape).astype(np.float32))
    y_pred = to_backend(backend, RNG.uniform(0.1, 0.9, size=pred_shape).astype(np.float32))
    with pytest.raises(ValueError, match=phrase) as excinfo:
        call(y_true, y_pred)
    message = str(excinfo.value)
    # both arguments, with shape, dtype and framework
    assert "y_true" in message and "y_pred" in message
    assert str(tuple(true_shape)) in message and str(tuple(pred_shape)) in message
    assert "float32" in message
    frameworks = {"numpy": "numpy", "torch": "torch", "jax": "jax", "tensorflow": "tensorflow", "mlx": "mlx"}
    assert frameworks[backend.name] in message


@pytest.mark.parametrize(
    "make", [metrics.BinaryAccuracy, metrics.Accuracy, metrics.MeanSquaredError, metrics.BinaryCrossentropy]
)
def test_metrics_share_the_shape_rule(backend, make):
    metric = make()
    y_true = to_backend(backend, np.array([1.0, 0.0, 1.0], np.float32))
    y_pred = to_backend(backend, np.full((3, 3), 0.6, np.float32))
    with pytest.raises(ValueError, match="incompatible shapes"):
        metric.update_state(y_true, y_pred)
    assert metric.state is None and float(metric.result()) == 0.0  # the state was not touched


@pytest.mark.parametrize(("true_shape", "pred_shape"), [((4,), (4, 1)), ((4, 1), (4,)), ((2, 3), (2, 3, 1))])
def test_keras_alignment_of_a_trailing_one_still_holds(backend, true_shape, pred_shape):
    t = RNG.normal(size=true_shape).astype(np.float32)
    p = RNG.normal(size=pred_shape).astype(np.float32)
    # each pair lines up to one shape of equal-length rows: the mean of every squared error
    expected = np.mean((t.astype(np.float64).ravel() - p.astype(np.float64).ravel()) ** 2)
    got = losses.MeanSquaredError()(to_backend(backend, t), to_backend(backend, p))
    np.testing.assert_allclose(to_numpy(backend, got), expected, rtol=1e-6)


def test_a_zero_d_target_is_a_constant_target(backend):
    p = RNG.normal(size=(2, 3)).astype(np.float32)
    got = losses.mean_squared_error(np.float32(1.0), to_backend(backend, p))
    np.testing.assert_allclose(to_numpy(backend, got), np.mean((p.astype(np.float64) - 1.0) ** 2, axis=-1), rtol=1e-6)


@pytest.mark.parametrize("form", ["class", "function"])
def test_zero_d_predictions_raise_the_same_error_everywhere(backend, form):
    call = losses.MeanSquaredError() if form == "class" else losses.mean_squared_error
    with pytest.raises(ValueError, match="at least one dimension"):
        call(to_backend(backend, np.float32(1.0)), to_backend(backend, np.float32(3.0)))


# ------------------------------------------------------------------ property: raise or equal the rule
def _rule(true_shape, pred_shape):
    """The documented rule, in NumPy: the aligned shapes, or None (an error)."""
    if len(pred_shape) == 0:
        return None
    if len(true_shape) == 0:
        return (), pred_shape
    t, p = true_shape, pred_shape
    if len(t) == len(p) + 1 and t[-1] == 1:
        t, p = (t, p + (1,)) if len(p) == 1 else (t[:-1], p)
    elif len(p) == len(t) + 1 and p[-1] == 1:
        t, p = (t + (1,), p) if len(t) == 1 else (t, p[:-1])
    return (t, p) if t == p else None


_dims = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)
_LOSSES = [losses.mean_squared_error, losses.mean_absolute_error, losses.binary_crossentropy, metrics.binary_accuracy]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(true_shape=_dims, pred_shape=_dims, which=st.integers(0, len(_LOSSES) - 1))
def test_any_pair_of_shapes_raises_or_follows_the_rule(backend, true_shape, pred_shape, which):
    rng = np.random.default_rng(abs(hash((true_shape, pred_shape))) % 2**32)
    t = rng.uniform(0.05, 0.95, size=true_shape).astype(np.float32)
    p = rng.uniform(0.05, 0.95, size=pred_shape).astype(np.float32)
    fn = _LOSSES[which]
    if fn is metrics.binary_accuracy:
        t = np.round(t)  # 0/1 labels
    aligned = _rule(true_shape, pred_shape)
    if aligned is None:
        with pytest.raises(ValueError):
            fn(to_backend(backend, t), to_backend(backend, p))
        return
    t64, p64 = t.astype(np.float64).reshape(aligned[0]), p.astype(np.float64).reshape(aligned[1])
    if fn is metrics.binary_accuracy:
        expected = (t64 == (p64 > 0.5)).astype(np.float64)  # elementwise hits
    elif fn is losses.binary_crossentropy:
        expected = np.mean(-(t64 * np.log(p64) + (1 - t64) * np.log(1 - p64)), axis=-1)
    else:
        expected = np.mean(np.abs(t64 - p64) if fn is losses.mean_absolute_error else (t64 - p64) ** 2, axis=-1)
    got = fn(to_backend(backend, t), to_backend(backend, p))
    np.testing.assert_allclose(to_numpy(backend, got), expected, rtol=2e-6, atol=1e-7)


# ------------------------------------------------------------------ sample weights
VALUES = np.array([[0.0, 1.0], [2.0, 4.0]], np.float32)  # per-sample MSE against 0: 0.5, 10


@pytest.mark.parametrize(
    ("weight", "expected"),
    [
        (2.0, (0.5 * 2 + 10 * 2) / 2),
        ([1.0, 3.0], (0.5 * 1 + 10 * 3) / 2),
        ([[1.0], [3.0]], (0.5 * 1 + 10 * 3) / 2),
    ],
)
def test_accepted_weight_shapes(backend, weight, expected):
    zeros = to_backend(backend, np.zeros_like(VALUES))
    got = losses.MeanSquaredError()(zeros, to_backend(backend, VALUES), sample_weight=np.asarray(weight, np.float32))
    np.testing.assert_allclose(to_numpy(backend, got), expected, rtol=1e-6)


def test_per_timestep_weights_of_the_loss_values_shape(backend):
    t, p = RNG.normal(size=(2, 3, 4)).astype(np.float32), RNG.normal(size=(2, 3, 4)).astype(np.float32)
    w = RNG.uniform(0, 2, size=(2, 3)).astype(np.float32)
    expected = np.mean(_mse(t, p) * w)
    got = losses.MeanSquaredError()(
        to_backend(backend, t), to_backend(backend, p), sample_weight=to_backend(backend, w)
    )
    np.testing.assert_allclose(to_numpy(backend, got), expected, rtol=1e-5)


@pytest.mark.parametrize("weight_shape", [(2, 2), (1, 2), (3,), (2, 3)])
def test_weights_that_grow_the_values_raise_for_losses_and_metrics_alike(backend, weight_shape):
    weight = np.ones(weight_shape, np.float32)
    zeros = to_backend(backend, np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="`sample_weight` of shape"):
        losses.MeanSquaredError()(zeros, to_backend(backend, VALUES), sample_weight=weight)
    with pytest.raises(ValueError, match="`sample_weight` of shape"):
        metrics.Mean().update_state(to_backend(backend, np.array([1.0, 2.0], np.float32)), sample_weight=weight)
    with pytest.raises(ValueError, match="`sample_weight` of shape"):
        metrics.MeanSquaredError().update_state(zeros, to_backend(backend, VALUES), sample_weight=weight)


def test_the_eye_weight_of_the_issue_raises_instead_of_3_75(backend):
    zeros = to_backend(backend, np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        losses.MeanSquaredError()(zeros, to_backend(backend, [[1.0, 2.0], [3.0, 4.0]]), sample_weight=np.eye(2))


# ------------------------------------------------------------------ dtypes
def _complex(backend, shape=(2,)):
    values = np.array([1 + 5j, 2 - 1j], np.complex64).reshape(shape)
    if backend.name == "numpy":
        return values
    if backend.name == "torch":
        import torch

        return torch.tensor(values)
    if backend.name == "jax":
        import jax.numpy as jnp

        return jnp.asarray(values)
    if backend.name == "mlx":
        import mlx.core as mx

        return mx.array(values)
    import tensorflow as tf

    return tf.constant(values)


@pytest.mark.parametrize("position", ["y_true", "y_pred"])
def test_complex_inputs_raise_a_type_error(backend, position):
    real = to_backend(backend, np.zeros(2, np.float32))
    pair = (_complex(backend), real) if position == "y_true" else (real, _complex(backend))
    for call in (losses.mean_squared_error, losses.MeanSquaredError()):
        with pytest.raises(TypeError, match=f"`{position}`"):
            call(*pair)


LABEL_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "bool"]


def _labels(backend, values, dtype):
    array = np.asarray(values).astype(dtype)
    if backend.name == "torch":
        import torch

        if not hasattr(torch, dtype) and dtype != "bool":
            pytest.skip(f"this torch has no {dtype}")
        return torch.from_numpy(array.astype(np.int64)).to(getattr(torch, dtype))
    if backend.name == "tensorflow":
        import tensorflow as tf

        return tf.constant(array)
    return to_backend(backend, array)


@pytest.mark.parametrize("dtype", LABEL_DTYPES)
def test_every_integer_label_dtype_gives_the_same_sparse_loss(backend, dtype):
    ids = [0, 1, 1] if dtype == "bool" else [0, 2, 1]
    expected = -np.log(P.astype(np.float64)[np.arange(3), ids])
    labels = _labels(backend, ids, dtype)
    for call in (losses.sparse_categorical_crossentropy, losses.SparseCategoricalCrossentropy(reduction="none")):
        got = call(labels, to_backend(backend, P))
        np.testing.assert_allclose(to_numpy(backend, got), expected, rtol=1e-6)
    metric = metrics.SparseCategoricalAccuracy()
    metric.update_state(labels, to_backend(backend, P))
    hits = np.mean(np.argmax(P, axis=-1) == np.asarray(ids))
    np.testing.assert_allclose(to_numpy(backend, metric.result()), hits, rtol=1e-6)


def test_integral_float_labels_work_and_fractional_ones_raise(backend):
    expected = -np.log(P.astype(np.float64)[np.arange(3), [0, 2, 1]])
    got = losses.sparse_categorical_crossentropy(
        to_backend(backend, np.array([0.0, 2.0, 1.0], np.float32)), to_backend(backend, P)
    )
    np.testing.assert_allclose(to_numpy(backend, got), expected, rtol=1e-6)
    for bad in (1.5, np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="not an integer"):
            losses.sparse_categorical_crossentropy(
                to_backend(backend, np.array([0.0, bad, 1.0], np.float32)), to_backend(backend, P)
            )


@pytest.mark.exists_if(lambda p: p["dtype"] != "float64" or holds_float64(p["backend"]))
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_class_ids_in_other_float_dtypes_are_checked_too(backend, dtype):
    expected = -np.log(P.astype(np.float64)[np.arange(3), [0, 2, 1]])
    labels = to_backend(backend, np.array([0.0, 2.0, 1.0], np.float32), dtype=dtype)
    got = losses.sparse_categorical_crossentropy(labels, to_backend(backend, P))
    np.testing.assert_allclose(to_numpy(backend, got), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"class id 2\.5, which is not an integer"):
        losses.sparse_categorical_crossentropy(
            to_backend(backend, np.array([0.0, 2.5, 1.0], np.float32), dtype=dtype), to_backend(backend, P)
        )


def test_bce_from_logits_at_infinite_logits_is_the_exact_limit(backend):
    # (label, logit) -> limit of softplus(x) - y x
    labels = np.array([[1.0], [0.0], [1.0], [0.0], [0.5], [1.0]], np.float32)
    logits = np.array([[np.inf], [np.inf], [-np.inf], [-np.inf], [np.inf], [3.0]], np.float32)
    expected = [0.0, np.inf, np.inf, 0.0, np.inf, np.log1p(np.exp(-3.0))]
    for call in (losses.binary_crossentropy, losses.BinaryCrossentropy(from_logits=True, reduction="none")):
        options = {"from_logits": True} if call is losses.binary_crossentropy else {}
        got = to_numpy(backend, call(to_backend(backend, labels), to_backend(backend, logits), **options))
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    got = losses.BinaryCrossentropy(from_logits=True)(
        to_backend(backend, labels[[0, 3]]), to_backend(backend, logits[[0, 3]])
    )
    assert float(to_numpy(backend, got)) == 0.0


def test_a_nan_logit_stays_nan(backend):
    got = losses.binary_crossentropy(
        to_backend(backend, np.array([1.0, 0.0], np.float32)),
        to_backend(backend, np.array([np.nan, 0.0], np.float32)),
        from_logits=True,
    )
    assert np.isnan(float(to_numpy(backend, got)))


def test_bfloat16_without_ml_dtypes_names_the_package(monkeypatch):
    """A NumPy-only install has no bfloat16: the error says which package brings it."""
    from lossbridge.backends import numpy as numpy_backend

    table = numpy_backend._DtypeTable({k: v for k, v in numpy_backend._DTYPES.items() if k != "bfloat16"})
    monkeypatch.setattr(numpy_backend, "_DTYPES", table)
    with pytest.raises(TypeError, match="ml_dtypes"):
        losses.MeanSquaredError(dtype="bfloat16")(np.zeros((2, 2), np.float32), np.ones((2, 2), np.float32))


@pytest.mark.parametrize("dtype", LABEL_DTYPES)
def test_every_integer_label_dtype_gives_the_same_iou(backend, dtype):
    ids = [0, 1, 1, 0] if dtype == "bool" else [0, 2, 1, 2]
    predicted = [0, 1, 1, 2] if dtype == "bool" else [0, 2, 0, 1]
    # per-class IoU = tp / (tp + fp + fn) over the classes that occur, by hand
    confusion = np.zeros((3, 3))
    for t, p in zip(ids, predicted, strict=True):
        confusion[t, p] += 1
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    expected = np.mean(tp[union > 0] / union[union > 0])
    metric = metrics.MeanIoU(num_classes=3)
    metric.update_state(_labels(backend, ids, dtype), to_backend(backend, np.asarray(predicted, np.int32)))
    np.testing.assert_allclose(to_numpy(backend, metric.result()), expected, rtol=1e-6)


def test_fractional_class_ids_and_complex_scores_raise_in_metrics(backend):
    with pytest.raises(ValueError, match="not an integer"):
        metrics.MeanIoU(num_classes=3).update_state(
            to_backend(backend, np.array([0.0, 1.5], np.float32)), to_backend(backend, np.array([0, 1], np.int32))
        )
    labels = to_backend(backend, np.array([[0.0, 1.0]], np.float32))
    for metric in (metrics.AUC(), metrics.Precision(), metrics.OneHotMeanIoU(num_classes=2)):
        with pytest.raises(TypeError, match="real numbers|must be numeric"):  # NumPy's weak-input check
            metric.update_state(labels, _complex(backend, (1, 2)))
