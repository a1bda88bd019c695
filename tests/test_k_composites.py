"""K's composites (softplus, sigmoid, log_sigmoid, softmax, log_softmax,
logsumexp, l2_normalize, xlogy, logaddexp) on every backend against NumPy
float64 formulas: values, dtypes, stability at +-1e4 and gradients where a
naive formula would give NaN.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.helpers import eager_only_on_torch, precision, to_backend, to_numpy, with_autograd
from tests.test_k_primitives import AXES, FLOATS, X, close, k, skip_unsupported, tensor


def np_logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` shifted by the max (float64)."""
    peak = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else np.squeeze(out, axis=axis)


def np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


ELEMENTWISE = {
    "softplus": lambda x: np.logaddexp(0.0, x),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "log_sigmoid": lambda x: -np.logaddexp(0.0, -x),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ELEMENTWISE)
def test_elementwise_composites(backend, op, dtype):
    with precision(backend, dtype):
        x = tensor(backend, 4 * X, dtype)
        result = k(backend, op, x)
        assert backend.dtype(result) == dtype
        close(backend, result, ELEMENTWISE[op](to_numpy(backend, x)), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_and_log_softmax(backend, axis, dtype):
    with precision(backend, dtype):
        x = tensor(backend, 3 * X, dtype)
        values = to_numpy(backend, x)
        close(backend, k(backend, "softmax", x, axis=axis), np_softmax(values, axis), dtype)
        close(backend, k(backend, "log_softmax", x, axis=axis), np.log(np_softmax(values, axis)), dtype)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
def test_logsumexp(backend, axis, keepdims):
    x = tensor(backend, X)
    result = k(backend, "logsumexp", x, axis=axis, keepdims=keepdims)
    expected = np_logsumexp(to_numpy(backend, x), axis, keepdims)
    assert backend.shape(result) == np.shape(expected)
    close(backend, result, expected)


@pytest.mark.parametrize("axis", [0, -1, (1, 2)], ids=str)
def test_l2_normalize(backend, axis):
    x = tensor(backend, X)
    values = to_numpy(backend, x)
    expected = values / np.sqrt(np.sum(values**2, axis=axis, keepdims=True))
    close(backend, k(backend, "l2_normalize", x, axis=axis), expected)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_l2_normalize_of_a_zero_vector_is_zero_in_half_precision(backend, dtype):
    skip_unsupported(backend, dtype)
    result = k(backend, "l2_normalize", tensor(backend, [[0.0, 0.0], [3.0, 4.0]], dtype), axis=-1)
    assert backend.dtype(result) == dtype
    # [3, 4] / 5 computed in float32, then rounded once to the half type
    expected = to_numpy(backend, tensor(backend, [[0.0, 0.0], [0.6, 0.8]], dtype))
    np.testing.assert_array_equal(to_numpy(backend, result), expected)


def test_xlogy_and_logaddexp(backend):
    x, y = np.array([0.0, 0.0, 1.0, 2.5]), np.array([0.0, 1.0, 2.0, 0.5])
    xlogy = k(backend, "xlogy", tensor(backend, x), tensor(backend, y))
    close(backend, xlogy, [0.0, 0.0, np.log(2.0), 2.5 * np.log(0.5)])
    a, b = 5 * X, -2 * X
    close(
        backend,
        k(backend, "logaddexp", tensor(backend, a), tensor(backend, b)),
        np.logaddexp(a.astype(np.float32), b.astype(np.float32)),
    )


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(
    "op", ["softplus", "sigmoid", "log_sigmoid", "softmax", "log_softmax", "logsumexp", "l2_normalize"]
)
def test_composites_keep_float_dtypes(backend, op, dtype):
    skip_unsupported(backend, dtype)
    with precision(backend, dtype):
        assert backend.dtype(k(backend, op, tensor(backend, X, dtype))) == dtype


@pytest.mark.parametrize("dtype", ["int32", "bool"])
@pytest.mark.parametrize(
    "op", ["softplus", "sigmoid", "log_sigmoid", "softmax", "log_softmax", "logsumexp", "l2_normalize"]
)
def test_composites_cast_integers_to_float32(backend, op, dtype):
    values = np.array([[1, 0, 2]]) if dtype == "int32" else np.array([[True, False, True]])
    assert backend.dtype(k(backend, op, tensor(backend, values, dtype))) == "float32"


# ---------------------------------------------------------------- stability at +-1e4
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_stable_at_huge_inputs(backend, dtype):
    """Exact limits; bfloat16 has float32's range (1e4 is stored as 9984)."""
    skip_unsupported(backend, dtype)
    x = tensor(backend, [1e4, -1e4], dtype)
    big = float(to_numpy(backend, x)[0])
    exact = {
        "softplus": [big, 0.0],
        "sigmoid": [1.0, 0.0],
        "log_sigmoid": [0.0, -big],
        "softmax": [1.0, 0.0],
        "log_softmax": [0.0, -2 * big],
    }
    for op, expected in exact.items():
        np.testing.assert_array_equal(to_numpy(backend, k(backend, op, x)), expected, err_msg=op)
    same = tensor(backend, [big, big], dtype)
    np.testing.assert_allclose(to_numpy(backend, k(backend, "logsumexp", same)), big + np.log(2.0), rtol=2**-8)
    np.testing.assert_allclose(
        to_numpy(backend, k(backend, "logaddexp", x, x)), [big + np.log(2.0), -big + np.log(2.0)], rtol=2**-8
    )


@pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")  # NumPy: log(0) = -inf
def test_logsumexp_of_minus_infinity(backend):
    x = tensor(backend, [[-np.inf, -np.inf], [0.0, -np.inf]])
    np.testing.assert_array_equal(to_numpy(backend, k(backend, "logsumexp", x, axis=-1)), [-np.inf, 0.0])


def test_softmax_has_no_nan_at_huge_inputs(backend):
    x = tensor(backend, [[1e4, 1e4, -1e4], [-1e4, -1e4, -1e4]])
    result = to_numpy(backend, k(backend, "softmax", x, axis=-1))
    np.testing.assert_allclose(result, [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=hnp.arrays(np.float32, st.integers(1, 6), elements=st.floats(-1e4, 1e4, width=32)))
def test_log_softmax_property(backend, values):
    """Finite, at most 0, and equal to the float64 formula for any float32 logits."""
    result = to_numpy(backend, k(backend, "log_softmax", tensor(backend, values)))
    assert np.all(np.isfinite(result)) and np.all(result <= 0)
    expected = values - np_logsumexp(values.astype(np.float64))
    # float32 rounding of logits up to 1e4: 2**-24 relative of the largest term
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e4 * 2**-23)


# ---------------------------------------------------------------- gradients
def gradients(backend, op, x, y):
    """``(d/dx, d/dy)`` of ``sum(op(x, y))``."""
    _, grad_y = backend.value_and_grad(lambda a, b: k(backend, op, a, b))(x, y)
    _, grad_x = backend.value_and_grad(lambda b, a: k(backend, op, a, b))(y, x)
    return to_numpy(backend, grad_x), to_numpy(backend, grad_y)


@with_autograd
def test_xlogy_at_zero_has_finite_gradients(backend):
    """xlogy(0, 0) = 0; its gradients there are 0 (KL divergence with zero
    targets relies on it), elsewhere d/dx = log y and d/dy = x / y."""
    x, y = tensor(backend, [0.0, 0.0, 1.0]), tensor(backend, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(to_numpy(backend, k(backend, "xlogy", x, y)), [0.0, 0.0, np.float32(np.log(2.0))])
    grad_x, grad_y = gradients(backend, "xlogy", x, y)
    np.testing.assert_allclose(grad_x, [0.0, 0.0, np.log(2.0)], rtol=1e-6)
    np.testing.assert_allclose(grad_y, [0.0, 0.0, 0.5], rtol=1e-6)


@pytest.mark.parametrize("op", ["softplus", "log_sigmoid", "sigmoid"])
@with_autograd
def test_gradients_finite_at_huge_inputs(backend, op):
    x = tensor(backend, [1e4, -1e4, 0.0])
    _, grad = backend.value_and_grad(lambda v: k(backend, op, v))(x)
    expected = {"softplus": [1.0, 0.0, 0.5], "log_sigmoid": [0.0, 1.0, 0.5], "sigmoid": [0.0, 0.0, 0.25]}[op]
    np.testing.assert_allclose(to_numpy(backend, grad), expected, rtol=1e-6)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("op", ["softplus", "log_sigmoid"])
@with_autograd
@eager_only_on_torch  # torch's softplus is F.softplus, compiled or not
def test_softplus_gradient_is_the_sigmoid(backend, op, compiled):
    """d softplus(x)/dx = sigmoid(x), d log_sigmoid(x)/dx = sigmoid(-x), kinks
    of a max/abs form included (JAX's adapter writes softplus that way)."""
    values = np.array([-50.0, -3.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 3.0, 50.0])
    fn = backend.value_and_grad(lambda v: k(backend, op, v))
    value, grad = (backend.compile(fn) if compiled else fn)(tensor(backend, values))
    sign = 1.0 if op == "softplus" else -1.0
    np.testing.assert_allclose(to_numpy(backend, grad), 1.0 / (1.0 + np.exp(-sign * values)), rtol=2e-6, atol=1e-30)
    np.testing.assert_allclose(to_numpy(backend, value), sign * np.logaddexp(0.0, sign * values), rtol=2e-6)


@with_autograd
def test_logsumexp_gradient_is_softmax(backend):
    x = tensor(backend, [[1e4, 1e4, -1e4], [-np.inf, 0.0, 0.0]])
    _, grad = backend.value_and_grad(lambda v: k(backend, "logsumexp", v, axis=-1))(x)
    # a gradient formed as exp(x - logsumexp(x)) inherits the rounding of
    # logsumexp near 1e4 in float32 (1e4 * 2**-24 absolute): allow that much
    np.testing.assert_allclose(to_numpy(backend, grad), [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]], atol=1e4 * 2**-23)


# ---------------------------------------------------------------- fused sparse cross-entropy
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("label_dtype", ["int32", "int64"])
def test_sparse_softmax_cross_entropy(backend, axis, label_dtype):
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(5, 7)) * 4.0
    logits[0, :] = [1e4, -1e4, 0.0, 100.0, -100.0, 3.0, 1.0]
    size = logits.shape[axis]
    labels = rng.integers(0, size, size=logits.shape[1 - axis % 2])
    shifted = logits - logits.max(axis=axis, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    expected = -np.take_along_axis(log_softmax, np.expand_dims(labels, axis), axis).squeeze(axis)
    with precision(backend, label_dtype):
        out = backend.sparse_softmax_cross_entropy(
            to_backend(backend, labels, label_dtype), to_backend(backend, logits, "float32"), axis
        )
        np.testing.assert_allclose(to_numpy(backend, out), expected, rtol=1e-5, atol=1e-5)
        for bad in (size, -1):
            wrong = labels.copy()
            wrong[1] = bad
            with pytest.raises(IndexError):
                backend.sparse_softmax_cross_entropy(
                    to_backend(backend, wrong, label_dtype), to_backend(backend, logits, "float32"), axis
                )


# ---------------------------------------------------------------- sigmoid cross-entropy
def np_sigmoid_cross_entropy(y, x):
    """float64 ``softplus(x) - y x`` with its limits at infinite logits: 0 on
    the label's side, +inf elsewhere (hand-derived, independent of the code)."""
    y, x = np.asarray(y, np.float64), np.asarray(x, np.float64)
    finite = np.isfinite(x)
    safe = np.where(finite, x, 0.0)
    terms = np.logaddexp(0.0, safe) - y * safe
    on_side = np.where(x > 0, y == 1.0, y == 0.0)
    return np.where(finite | np.isnan(x), np.where(np.isnan(x), np.nan, terms), np.where(on_side, 0.0, np.inf))


SCE_LOGITS = [np.inf, -np.inf, np.inf, -np.inf, np.inf, np.nan, 1e4, -1e4, 3.0, -2.5, 0.0, 40.5]
SCE_LABELS = [1.0, 0.0, 0.0, 1.0, 0.5, 1.0, 0.0, 1.0, 0.25, 1.0, 0.0, 0.75]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NumPy float16: inf - inf inside
@eager_only_on_torch  # the compiled path is the base formula, run eagerly on torch
def test_sigmoid_cross_entropy_exact_at_infinite_logits(backend, dtype, compiled):
    """Binary cross-entropy from logits: the formula's float64 value where the
    logit is finite, its limit (0 or +inf) where it is infinite, NaN for NaN."""
    with precision(backend, dtype):
        x, y = tensor(backend, SCE_LOGITS, dtype), tensor(backend, SCE_LABELS, dtype)

        def fn(a, b):
            return k(backend, "sigmoid_cross_entropy", a, b)

        out = (backend.compile(fn) if compiled else fn)(y, x)
        assert backend.dtype(out) == dtype
        values = np.asarray(to_numpy(backend, x), np.float64)
        expected = np_sigmoid_cross_entropy(SCE_LABELS, values)
        rtol = {"float16": 2e-3, "float32": 1e-6, "float64": 1e-12}[dtype]
        np.testing.assert_allclose(np.asarray(to_numpy(backend, out), np.float64), expected, rtol=rtol, atol=rtol)


@with_autograd
def test_sigmoid_cross_entropy_gradient(backend):
    """d/dx (softplus(x) - y x) = sigmoid(x) - y, finite at +-1e4."""
    logits = np.array([1e4, -1e4, 3.0, -2.5, 0.0])
    labels = np.array([1.0, 1.0, 0.25, 0.0, 0.5])
    fn = backend.value_and_grad(lambda y, x: k(backend, "sigmoid_cross_entropy", y, x))
    _, grad = fn(tensor(backend, labels), tensor(backend, logits))
    np.testing.assert_allclose(
        to_numpy(backend, grad), 0.5 * (1.0 + np.tanh(logits / 2)) - labels, rtol=1e-6, atol=1e-7
    )
