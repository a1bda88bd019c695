"""The 14 regression, hinge and probabilistic losses on every backend: values
against the float64 NumPy references (tests/reference.py) and against Keras 3,
result types and shapes, name resolution, the issue's examples and errors on
bad input.

Gradients, compilation and edge inputs are in test_loss_edges.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lossbridge import losses
from tests import reference
from tests.helpers import native_type, precision, to_backend, to_numpy
from tests.loss_cases import CASE_IDS, CASES, SPARSE, TOLERANCE, make, tensors
from tests.reference import reference_for

LOSS_NAMES = [
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "squared_hinge",
    "hinge",
    "categorical_hinge",
    "log_cosh",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "kl_divergence",
    "poisson",
    "cosine_similarity",
]
ALIASES = {
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "MAPE": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "MSLE": "mean_squared_logarithmic_error",
    "kld": "kl_divergence",
    "KLD": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "logcosh": "log_cosh",
    "bce": "binary_crossentropy",
    "BCE": "binary_crossentropy",
    "cosine_proximity": "cosine_similarity",
    "cosine": "cosine_similarity",
}


def evaluate(backend, case, dtype, n=4, seed=0):
    """``(result, expected)``: the loss on backend tensors and the float64
    reference on exactly the values those tensors hold."""
    _, name, options, _ = case
    y_true, y_pred = tensors(backend, name, *make(case, n, seed), dtype)
    result = getattr(losses, name)(y_true, y_pred, **options)
    expected = reference_for(name)(to_numpy(backend, y_true), to_numpy(backend, y_pred), **options)
    return result, expected


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_value_matches_reference(backend, case, dtype):
    with precision(backend, dtype):
        result, expected = evaluate(backend, case, dtype)
        assert isinstance(result, native_type(backend))
        assert backend.dtype(result) == dtype
        rtol, atol = TOLERANCE[dtype]
        np.testing.assert_allclose(to_numpy(backend, result), expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_result_drops_the_last_axis(backend, case):
    _, name, options, _ = case
    y_true, y_pred = make(case, n=6)
    y_true = y_true.reshape((2, 3) + y_true.shape[1:])
    y_pred = y_pred.reshape(2, 3, -1)
    y_true, y_pred = tensors(backend, name, y_true, y_pred, "float32")
    result = getattr(losses, name)(y_true, y_pred, **options)
    assert isinstance(result, native_type(backend))
    assert backend.shape(result) == (2, 3)
    expected = reference_for(name)(to_numpy(backend, y_true), to_numpy(backend, y_pred), **options)
    np.testing.assert_allclose(to_numpy(backend, result), expected, *TOLERANCE["float32"])


keras_losses = pytest.fixture(scope="module")(reference.keras_losses)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_matches_keras(backend, case, keras_losses):
    _, name, options, _ = case
    y_true, y_pred = make(case, n=3, seed=1)
    y_true = y_true.astype(np.int32 if name in SPARSE else np.float32)
    y_pred = y_pred.astype(np.float32)
    expected = np.asarray(getattr(keras_losses, name)(y_true, y_pred, **options))
    result = getattr(losses, name)(*tensors(backend, name, y_true, y_pred, "float32"), **options)
    np.testing.assert_allclose(to_numpy(backend, result), expected, *TOLERANCE["float32"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    name=st.sampled_from(["mean_squared_error", "mean_absolute_error", "log_cosh", "cosine_similarity"]),
)
def test_regression_property_matches_reference(backend, data, name):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    values = hnp.arrays(np.float32, shape, elements=st.floats(-50, 50, width=32))
    y_true, y_pred = data.draw(values), data.draw(values)
    result = getattr(losses, name)(to_backend(backend, y_true), to_backend(backend, y_pred))
    expected = reference_for(name)(y_true, y_pred)
    # y_pred - y_true of float32 inputs up to 50 rounds by up to 50 * 2**-24
    # absolute, which no relative tolerance covers when the difference is small
    np.testing.assert_allclose(to_numpy(backend, result), expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- the issue's examples
def test_issue_example(backend):
    """The example the issue gives for each framework."""
    if backend.name == "numpy":
        out = losses.mean_squared_error(np.array([1, 1, 1, 1]), np.array([2, 2, 2, 2]))
        assert out == 1.0 and np.asarray(out).dtype == np.float32
    elif backend.name == "torch":
        import torch

        y_pred = torch.ones(4, 3, requires_grad=True)
        out = losses.mean_squared_error(y_pred, torch.zeros(4, 3))
        assert isinstance(out, torch.Tensor) and tuple(out.shape) == (4,)
        out.sum().backward()
        np.testing.assert_allclose(y_pred.grad.numpy(), np.full((4, 3), 2.0 / 3.0), rtol=1e-6)
    elif backend.name == "jax":
        import jax
        import jax.numpy as jnp

        out = losses.get("mse")(jnp.ones((4, 3)), jnp.zeros((4, 3)))
        assert isinstance(out, jax.Array)
        np.testing.assert_allclose(np.asarray(out), np.ones(4))
    elif backend.name == "tensorflow":
        import tensorflow as tf

        out = losses.get("kld")(tf.constant([[0.2, 0.8]]), tf.constant([[0.5, 0.5]]))
        assert isinstance(out, tf.Tensor)
        expected = 0.2 * np.log(0.2 / 0.5) + 0.8 * np.log(0.8 / 0.5)  # by hand: 0.19274...
        np.testing.assert_allclose(out.numpy(), [expected], rtol=1e-6)
    elif backend.name == "mlx":  # not in the issue: the torch example on MLX, its gradient from mx.grad
        import mlx.core as mx

        out = losses.mean_squared_error(mx.ones((4, 3)), mx.zeros((4, 3)))
        assert isinstance(out, mx.array) and tuple(out.shape) == (4,)
        grad = mx.grad(lambda p: mx.sum(losses.mean_squared_error(p, mx.zeros((4, 3)))))(mx.ones((4, 3)))
        np.testing.assert_allclose(np.array(grad), np.full((4, 3), 2.0 / 3.0), rtol=1e-6)
    else:
        raise AssertionError(f"no example for the {backend.name} backend")


def test_integer_inputs_give_float32(backend):
    """The issue's example: MSE of integer tensors is the float32 value 1.0
    (Keras 2 with TF returned the integer 1)."""
    y_true = to_backend(backend, np.array([1, 1, 1, 1]))
    y_pred = to_backend(backend, np.array([2, 2, 2, 2]))
    out = losses.mean_squared_error(y_true, y_pred)
    assert backend.dtype(out) == "float32"
    assert float(to_numpy(backend, out)) == 1.0


# ---------------------------------------------------------------- names
def test_get_resolves_every_name():
    for name in LOSS_NAMES:
        assert losses.get(name) is getattr(losses, name)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_get_resolves_every_alias(alias):
    assert losses.get(alias) is getattr(losses, ALIASES[alias])


def test_module_level_aliases():
    for alias, name in ALIASES.items():
        if alias not in ("bce", "BCE", "cosine", "cosine_proximity"):
            assert getattr(losses, alias) is getattr(losses, name)


def test_get_returns_a_callable_unchanged():
    def custom(y_true, y_pred):
        return y_pred

    assert losses.get(custom) is custom


def test_get_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match="unknown loss 'mean_sqared_error'") as info:
        losses.get("mean_sqared_error")
    assert "mean_squared_error" in str(info.value)


def test_get_rejects_non_loss():
    with pytest.raises(ValueError, match="42"):
        losses.get(42)


def test_alias_runs_on_backend(backend):
    y_true, y_pred = np.array([[0.0, 1.0]]), np.array([[0.5, 0.25]])
    out = losses.get("msle")(to_backend(backend, y_true, "float32"), to_backend(backend, y_pred, "float32"))
    expected = np.mean((np.log1p([0.5, 0.25]) - np.log1p([1e-7, 1.0])) ** 2)  # by hand
    np.testing.assert_allclose(to_numpy(backend, out), [expected], rtol=1e-6)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_mismatched_shapes_name_both_arguments(backend, case):
    _, name, options, _ = case
    y_true, y_pred = make(case, n=4)
    y_true = y_true[:3] if name in SPARSE else y_true[:, :3]
    y_true, y_pred = tensors(backend, name, y_true, y_pred, "float32")
    with pytest.raises(ValueError) as info:
        getattr(losses, name)(y_true, y_pred, **options)
    message = str(info.value)
    assert "y_true" in message and str(backend.shape(y_true)) in message
    assert "y_pred" in message and str(backend.shape(y_pred)) in message


@pytest.mark.parametrize("name", ["mean_squared_error", "binary_crossentropy", "categorical_crossentropy"])
def test_strings_raise_type_error(backend, name):
    words = np.array([["a", "b"], ["c", "d"]])
    numbers = to_backend(backend, np.ones((2, 2)), "float32")
    with pytest.raises(TypeError, match="y_true"):
        getattr(losses, name)(words, numbers)
    with pytest.raises(TypeError, match="y_pred"):
        getattr(losses, name)(numbers, words)
    with pytest.raises(TypeError, match="y_pred"):
        getattr(losses, name)(numbers, "abc")


@pytest.mark.parametrize("labels", [[0, 5], [-1, 2]], ids=["too-large", "negative"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_labels_out_of_range(backend, labels, from_logits):
    y_true = to_backend(backend, np.array(labels), "int32")
    y_pred = to_backend(backend, np.full((2, 5), 0.2), "float32")
    with pytest.raises(ValueError, match=r"class id -?\d.*\[0, 5\)"):
        losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=from_logits)


def test_ignored_class_may_lie_outside_the_range(backend):
    y_true = to_backend(backend, np.array([-1, 2]), "int32")
    y_pred = to_backend(backend, np.full((2, 4), 0.25), "float32")
    out = losses.sparse_categorical_crossentropy(y_true, y_pred, ignore_class=-1)
    np.testing.assert_allclose(to_numpy(backend, out), [0.0, np.log(4.0)], rtol=1e-6)
