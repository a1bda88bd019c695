"""The 14 regression, hinge and probabilistic losses under autodiff and
compilation, and on edge inputs: zeros, ones, eps, huge logits, half
precision, integer and boolean labels, NaN and empty batches. Expected values
come from tests/reference.py, Keras 3 or hand-computed literals.
"""

from __future__ import annotations

import numpy as np
import pytest

from lossbridge import losses
from tests import reference
from tests.helpers import native_type, precision, to_backend, to_numpy, with_autograd
from tests.loss_cases import CASE_IDS, CASES, SPARSE, TOLERANCE, make, tensors
from tests.reference import EPS, reference_for

keras_losses = pytest.fixture(scope="module")(reference.keras_losses)

#: the few losses torch.compile runs on (each compile takes seconds)
TORCH_COMPILED = {"mse", "cce-smoothing", "scce-ignore"}

#: Half precision: inputs are rounded to the half type and each elementwise op
#: rounds again (unit roundoff u = 2**-11 for float16, 2**-8 for bfloat16);
#: reductions add in float32. A loss is a chain of at most ~8 such steps on
#: O(1) values, so 8u relative (and absolute, for values that cancel to ~0).
HALF_TOLERANCE = {"float16": 8 * 2.0**-11, "bfloat16": 8 * 2.0**-8}


def loss_of(case):
    _, name, options, _ = case
    fn = getattr(losses, name)
    return lambda y_true, y_pred: fn(y_true, y_pred, **options)


def reference_of(case):
    _, name, options, _ = case
    return lambda y_true, y_pred: reference_for(name)(y_true, y_pred, **options)


def finite_difference_gradient(fn, y_pred, step=1e-6):
    """``d sum(fn(y_pred)) / d y_pred`` by central differences in float64."""
    grad = np.zeros_like(y_pred)
    for index in np.ndindex(y_pred.shape):
        h = step * max(1.0, abs(y_pred[index]))
        up, down = y_pred.copy(), y_pred.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (np.sum(fn(up)) - np.sum(fn(down))) / (2 * h)
    return grad


# ---------------------------------------------------------------- gradients and compilation
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@with_autograd
def test_gradient_matches_finite_differences(backend, case):
    y_true, y_pred = make(case)
    reference = reference_of(case)
    with precision(backend, "float64"):
        inputs = tensors(backend, case[1], y_true, y_pred, "float64")
        value, grad = backend.value_and_grad(loss_of(case))(*inputs)
        assert backend.dtype(grad) == "float64" and backend.shape(grad) == y_pred.shape
        np.testing.assert_allclose(to_numpy(backend, value), reference(y_true, y_pred), rtol=1e-12, atol=1e-12)
        expected = finite_difference_gradient(lambda p: reference(y_true, p), y_pred)
        np.testing.assert_allclose(to_numpy(backend, grad), expected, rtol=1e-6, atol=1e-8)


# torch.compile is slow: a few representative losses only
@pytest.mark.exists_if(lambda p: p["backend"] != "torch" or p["case"][0] in TORCH_COMPILED)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_compiled_equals_eager(backend, case):
    inputs = tensors(backend, case[1], *make(case, seed=3), "float32")
    eager = loss_of(case)(*inputs)
    compiled = backend.compile(loss_of(case))(*inputs)
    assert isinstance(compiled, native_type(backend))
    np.testing.assert_allclose(to_numpy(backend, compiled), to_numpy(backend, eager), rtol=1e-6, atol=1e-7)


@with_autograd
def test_compiled_gradient_of_huge_logits_is_finite(backend):
    y_true = to_backend(backend, np.array([[1.0, 0.0]]), "float32")
    logits = to_backend(backend, np.array([[-1e4, 1e4]]), "float32")
    value, grad = backend.value_and_grad(lambda t, p: losses.categorical_crossentropy(t, p, from_logits=True))(
        y_true, logits
    )
    # d/dx of -log_softmax(x)[0] is softmax(x) - y = [0, 1] - [1, 0]
    np.testing.assert_array_equal(to_numpy(backend, value), [2e4])
    np.testing.assert_array_equal(to_numpy(backend, grad), [[-1.0, 1.0]])


# ---------------------------------------------------------------- zeros, ones, eps
FILLS = {"0": 0.0, "1": 1.0, "eps": EPS}


@pytest.mark.parametrize("pred_fill", FILLS, ids=[f"pred={k}" for k in FILLS])
@pytest.mark.parametrize("true_fill", FILLS, ids=[f"true={k}" for k in FILLS])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0/0 renormalising all-zero probabilities
def test_constant_inputs_match_reference(backend, case, true_fill, pred_fill):
    """Exact formulas in float64, NaN where the formula itself is 0/0 (e.g.
    renormalising all-zero probabilities)."""
    _, name, options, _ = case
    y_true = np.zeros(3, np.int64) if name in SPARSE else np.full((3, 4), FILLS[true_fill])
    y_pred = np.full((3, 4), FILLS[pred_fill])
    with precision(backend, "float64"):
        result = getattr(losses, name)(*tensors(backend, name, y_true, y_pred, "float64"), **options)
        expected = reference_for(name)(y_true, y_pred, **options)
        np.testing.assert_allclose(to_numpy(backend, result), expected, *TOLERANCE["float64"])


def _keras_agrees_with_itself(params):
    """All-zero probabilities into a sparse loss: Keras' TF backend clips before
    renormalising (uniform, log 4); its JAX, torch and NumPy backends
    renormalise first (0/0 = NaN), as lossbridge and the dense loss do. With
    no one Keras answer, that combination has no reference and is not generated."""
    _, name, options, _ = params["case"]
    return not (name in SPARSE and params["pred_fill"] == "0" and not options.get("from_logits"))


@pytest.mark.exists_if.with_args(_keras_agrees_with_itself)  # a named function needs with_args
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NumPy: 0/0 renormalising zeros
@pytest.mark.parametrize("pred_fill", FILLS, ids=[f"pred={k}" for k in FILLS])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_constant_inputs_match_keras(backend, case, pred_fill, keras_losses):
    """float32, where eps and 1 - eps round like Keras' own clip bounds."""
    _, name, options, _ = case
    y_true = np.array([0, 1, 2], np.int32) if name in SPARSE else np.tile(np.float32([0, 1, EPS, 1]), (3, 1))
    y_pred = np.full((3, 4), FILLS[pred_fill], np.float32)
    expected = np.asarray(getattr(keras_losses, name)(y_true, y_pred, **options))
    result = getattr(losses, name)(*tensors(backend, name, y_true, y_pred, "float32"), **options)
    np.testing.assert_allclose(to_numpy(backend, result), expected, *TOLERANCE["float32"])


# ---------------------------------------------------------------- huge logits
HUGE = [
    # (loss, options, y_true, y_pred, exact value worked out by hand)
    ("binary_crossentropy", {"from_logits": True}, [[0.0]], [[100.0]], [100.0]),
    ("binary_crossentropy", {"from_logits": True}, [[1.0]], [[-100.0]], [100.0]),
    ("binary_crossentropy", {"from_logits": True}, [[0.0]], [[1e4]], [1e4]),
    ("binary_crossentropy", {"from_logits": True}, [[1.0]], [[-1e4]], [1e4]),
    ("binary_crossentropy", {"from_logits": True}, [[1.0, 0.0]], [[1e4, -1e4]], [0.0]),
    ("binary_crossentropy", {"from_logits": True}, [[0.5]], [[-1e4]], [5e3]),
    ("categorical_crossentropy", {"from_logits": True}, [[1.0, 0.0]], [[-1e4, 1e4]], [2e4]),
    ("categorical_crossentropy", {"from_logits": True}, [[0.0, 1.0]], [[-1e4, 1e4]], [0.0]),
    ("categorical_crossentropy", {"from_logits": True}, [[1.0, 0.0, 0.0]], [[-100.0, 0.0, 100.0]], [200.0]),
    ("sparse_categorical_crossentropy", {"from_logits": True}, [0], [[-1e4, 1e4]], [2e4]),
    ("sparse_categorical_crossentropy", {"from_logits": True}, [1], [[-1e4, 1e4]], [0.0]),
    # log cosh(1e4) = 1e4 - log 2 although cosh(1e4) overflows
    ("log_cosh", {}, [[0.0]], [[1e4]], [1e4 - np.log(2.0)]),
    ("log_cosh", {}, [[0.0]], [[-100.0]], [100.0 - np.log(2.0)]),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, options, y_true, y_pred, expected", HUGE)
def test_huge_inputs_are_exact(backend, name, options, y_true, y_pred, expected, dtype):
    with precision(backend, dtype):
        result = getattr(losses, name)(*tensors(backend, name, np.array(y_true), np.array(y_pred), dtype), **options)
        # float32 spacing at 2e4 is 2**-9: the values must be the nearest float
        np.testing.assert_allclose(to_numpy(backend, result), expected, rtol=2**-24 if dtype == "float32" else 1e-15)


@pytest.mark.parametrize("name, options, y_true, y_pred, expected", HUGE)
def test_huge_inputs_stay_finite_in_half_precision(backend, name, options, y_true, y_pred, expected):
    if backend.name == "numpy":
        pytest.importorskip("ml_dtypes")
    result = getattr(losses, name)(*tensors(backend, name, np.array(y_true), np.array(y_pred), "bfloat16"), **options)
    # bfloat16 keeps float32's range: only the rounding of 1e4 (to 9984) changes
    np.testing.assert_allclose(to_numpy(backend, result), expected, rtol=2**-7)


# ---------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_half_precision_keeps_dtype(backend, case, dtype):
    if backend.name == "numpy" and dtype == "bfloat16":
        pytest.importorskip("ml_dtypes")
    _, name, options, _ = case
    y_true, y_pred = tensors(backend, name, *make(case, seed=5), dtype)
    result = getattr(losses, name)(y_true, y_pred, **options)
    assert backend.dtype(result) == dtype
    expected = reference_for(name)(to_numpy(backend, y_true), to_numpy(backend, y_pred), **options)
    tol = HALF_TOLERANCE[dtype] * max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(to_numpy(backend, result), expected, rtol=HALF_TOLERANCE[dtype], atol=tol)


@pytest.mark.parametrize("label_dtype", ["bool", "int32", "int64", "float32"])
@pytest.mark.parametrize("name", ["binary_crossentropy", "hinge", "squared_hinge", "categorical_crossentropy"])
def test_integer_and_boolean_labels(backend, name, label_dtype):
    rng = np.random.default_rng(7)
    y_true = np.eye(3)[rng.integers(0, 3, 4)] if name == "categorical_crossentropy" else rng.integers(0, 2, (4, 3))
    y_pred = rng.uniform(0.1, 0.9, (4, 3))
    with precision(backend, label_dtype):
        labels = to_backend(backend, y_true, label_dtype)
    result = getattr(losses, name)(labels, to_backend(backend, y_pred, "float32"))
    assert backend.dtype(result) == "float32"
    expected = reference_for(name)(y_true, to_numpy(backend, to_backend(backend, y_pred, "float32")))
    np.testing.assert_allclose(to_numpy(backend, result), expected, *TOLERANCE["float32"])


@pytest.mark.parametrize("label_dtype", ["int32", "int64", "float32", "bool"])
@pytest.mark.parametrize("trailing_axis", [False, True])
def test_sparse_label_dtypes_and_shapes(backend, label_dtype, trailing_axis):
    labels = np.array([0, 1, 1, 0])
    logits = np.random.default_rng(8).normal(size=(4, 3)).astype(np.float32)
    with precision(backend, label_dtype):
        y_true = to_backend(backend, labels[:, None] if trailing_axis else labels, label_dtype)
    out = losses.sparse_categorical_crossentropy(y_true, to_backend(backend, logits), from_logits=True)
    assert backend.shape(out) == (4,)
    expected = reference_for("sparse_categorical_crossentropy")(labels, logits, from_logits=True)
    np.testing.assert_allclose(to_numpy(backend, out), expected, *TOLERANCE["float32"])


def test_signed_integer_hinge_labels(backend):
    y_true = to_backend(backend, np.array([[-1, 1, 1]]), "int32")
    y_pred = to_backend(backend, np.array([[0.5, 0.5, 2.0]]), "float32")
    # margins: 1 + 0.5, 1 - 0.5, 1 - 2 -> 1.5, 0.5, 0
    np.testing.assert_allclose(to_numpy(backend, losses.hinge(y_true, y_pred)), [2.0 / 3.0], rtol=1e-6)


def test_weak_labels_follow_the_prediction_dtype(backend):
    y_pred = to_backend(backend, np.array([[0.25, 0.75]]), "float32")
    out = losses.binary_crossentropy(np.array([[0.0, 1.0]]), y_pred)
    assert backend.dtype(out) == "float32"
    np.testing.assert_allclose(to_numpy(backend, out), [-np.log(0.75)], rtol=1e-6)


# ---------------------------------------------------------------- NaN and empty batches
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns about the NaN it propagates
def test_nan_propagates_to_its_sample_only(backend, case):
    _, name, options, _ = case
    y_true, y_pred = make(case, seed=9)
    y_pred[0, 0] = np.nan
    result = to_numpy(backend, getattr(losses, name)(*tensors(backend, name, y_true, y_pred, "float32"), **options))
    assert np.isnan(result[0])
    expected = reference_for(name)(y_true[1:], y_pred[1:].astype(np.float32), **options)
    np.testing.assert_allclose(result[1:], expected, *TOLERANCE["float32"])


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_empty_batch_gives_empty_result(backend, case):
    _, name, options, _ = case
    result = getattr(losses, name)(*tensors(backend, name, *make(case, n=0), "float32"), **options)
    assert isinstance(result, native_type(backend))
    assert backend.shape(result) == (0,)
    assert backend.dtype(result) == "float32"
