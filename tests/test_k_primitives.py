"""Every K primitive on every backend against NumPy in float64: values, axis
and keepdims handling, and the dtype conventions of the adapter contract (ARCHITECTURE.md).

K is reached through ``dispatch.run_on`` (the facade, as a loss sees it).
The composites (softplus, softmax, ...) are in test_k_composites.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from lossbridge import K, dispatch
from tests.helpers import eager_only_on_torch, precision, to_backend, to_numpy, with_autograd, with_compiler

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 3, 4))
POSITIVE = RNG.uniform(0.1, 3.0, size=(2, 3, 4))
AXES = [None, 0, -1, (0, 2)]
FLOATS = ["float16", "bfloat16", "float32", "float64"]
#: float32 against float64: a few units of 2**-24; float64 likewise of 2**-53
TOLERANCE = {"float32": 2e-6, "float64": 1e-13}


def k(backend, op, *args, **kwargs):
    """``K.<op>(*args, **kwargs)`` with K bound to ``backend``."""
    return dispatch.run_on(backend, lambda: getattr(K, op)(*args, **kwargs))


def tensor(backend, array, dtype="float32"):
    return to_backend(backend, array, dtype)


def skip_unsupported(backend, dtype):
    if backend.name == "numpy" and dtype == "bfloat16":
        pytest.importorskip("ml_dtypes")


def close(backend, result, expected, dtype="float32"):
    np.testing.assert_allclose(to_numpy(backend, result), expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


# ---------------------------------------------------------------- reductions
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("op", ["mean", "sum", "max", "min"])
def test_reductions(backend, op, axis, keepdims):
    x32 = X.astype(np.float32)
    result = k(backend, op, tensor(backend, x32), axis=axis, keepdims=keepdims)
    expected = getattr(np, op)(x32.astype(np.float64), axis=axis, keepdims=keepdims)
    assert backend.shape(result) == expected.shape
    assert backend.dtype(result) == "float32"
    close(backend, result, expected)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@with_autograd
@eager_only_on_torch  # test_scale_has_a_gradient_and_compiles traces one on torch
def test_mean_of_everything_and_its_gradient(backend, dtype, compiled):
    """The whole-tensor mean: 1/n in every gradient entry (torch's adapter
    scales a sum in place eagerly and calls torch.mean while compiling)."""
    values = RNG.normal(size=(32, 10))
    with precision(backend, dtype):
        fn = backend.value_and_grad(lambda v: k(backend, "mean", v))
        value, grad = (backend.compile(fn) if compiled else fn)(tensor(backend, values, dtype))
        assert backend.dtype(value) == dtype
    tolerance = TOLERANCE[dtype]
    np.testing.assert_allclose(
        to_numpy(backend, value), values.astype(dtype).astype(np.float64).mean(), rtol=tolerance, atol=tolerance
    )
    np.testing.assert_allclose(to_numpy(backend, grad), np.full(values.shape, 1 / 320), rtol=tolerance)


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("op", ["any", "all"])
def test_boolean_reductions(backend, op, axis):
    mask = X > 0.5
    result = k(backend, op, tensor(backend, mask, "bool"), axis=axis)
    np.testing.assert_array_equal(backend.to_numpy(result), getattr(np, op)(mask, axis=axis))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["mean", "sum", "max", "min"])
def test_reductions_keep_float_dtypes(backend, op, dtype):
    skip_unsupported(backend, dtype)
    with precision(backend, dtype):
        assert backend.dtype(k(backend, op, tensor(backend, X, dtype), axis=-1)) == dtype


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_mean_of_integers_is_float32(backend, dtype):
    values = np.array([[1, 2], [3, 5]]) if dtype != "bool" else np.array([[True, False], [True, True]])
    with precision(backend, dtype):
        result = k(backend, "mean", tensor(backend, values, dtype), axis=-1)
    assert backend.dtype(result) == "float32"
    close(backend, result, values.astype(np.float64).mean(axis=-1))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_reductions_accumulate_in_float32(backend, dtype):
    """10000 float16 values of 0.1: a float16 running sum stalls at 256
    (adding 0.1 there rounds away), a float32 one reaches ~1000."""
    skip_unsupported(backend, dtype)
    x = tensor(backend, np.full(10000, 0.1), dtype)
    stored = float(to_numpy(backend, x)[0])  # 0.1 rounded to the half type
    mean, total = k(backend, "mean", x), k(backend, "sum", x)
    assert backend.dtype(mean) == dtype
    spacing = {"float16": 2.0**-11, "bfloat16": 2.0**-8}[dtype]  # relative spacing: half an ulp
    np.testing.assert_allclose(float(to_numpy(backend, mean)), stored, rtol=spacing)
    np.testing.assert_allclose(float(to_numpy(backend, total)), 10000 * stored, rtol=spacing)


# ---------------------------------------------------------------- elementwise
UNARY = {
    # op: (NumPy float64 formula, input)
    "square": (np.square, X),
    "abs": (np.abs, X),
    "sqrt": (np.sqrt, POSITIVE),
    "rsqrt": (lambda v: 1.0 / np.sqrt(v), POSITIVE),
    "exp": (np.exp, X),
    "log": (np.log, POSITIVE),
    "log1p": (np.log1p, POSITIVE - 0.05),
    "sign": (np.sign, X),
    "tanh": (np.tanh, X),
    "ceil": (np.ceil, 3 * X),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", UNARY)
def test_unary(backend, op, dtype):
    formula, values = UNARY[op]
    if not hasattr(backend, op):
        pytest.skip(f"{op} is not part of this adapter")
    with precision(backend, dtype):
        x = tensor(backend, values, dtype)
        result = k(backend, op, x)
        assert backend.dtype(result) == dtype
        close(backend, result, formula(to_numpy(backend, x)), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["sqrt", "rsqrt", "exp", "log", "log1p", "tanh", "square", "abs", "sign"])
def test_unary_keeps_float_dtypes(backend, op, dtype):
    skip_unsupported(backend, dtype)
    with precision(backend, dtype):
        assert backend.dtype(k(backend, op, tensor(backend, POSITIVE, dtype))) == dtype


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
@pytest.mark.parametrize("op", ["sqrt", "rsqrt", "exp", "log", "log1p", "tanh"])
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # log(False) = -inf on every backend
def test_float_ops_cast_integers_to_float32(backend, op, dtype):
    values = np.array([1, 2, 3]) if dtype != "bool" else np.array([True, True, False])[::-1]
    with precision(backend, dtype):
        result = k(backend, op, tensor(backend, values, dtype))
    assert backend.dtype(result) == "float32"
    close(backend, result, UNARY[op][0](values.astype(np.float64)))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("factor", [0.03125, -1.0, 100.0, 1.0 / 3.0])
def test_scale_multiplies_in_the_dtype_of_x(backend, factor, dtype):
    skip_unsupported(backend, dtype)
    values = np.array([[1.5, -2.0, 0.0], [4.0, 1e-3, 7.25]])
    with precision(backend, dtype):
        x = tensor(backend, values, dtype)
        for operand in (x, k(backend, "sum", x)):  # a 0-d operand too: it must not take the factor's dtype
            result = k(backend, "scale", operand, factor)
            assert backend.dtype(result) == dtype
            expected = to_numpy(backend, operand).astype(np.float64) * factor
            # the factor and the product each rounded to dtype: half a unit in the last place each
            rtol = {"float16": 2**-10, "bfloat16": 2**-7, "float32": 2**-23, "float64": 2**-52}[dtype]
            atol = 2**-25 if dtype == "float16" else 0  # float16 subnormals are spaced 2**-24
            np.testing.assert_allclose(to_numpy(backend, result).astype(np.float64), expected, rtol=rtol, atol=atol)


def test_scale_of_integers_is_float32_as_with_a_number(backend):
    result = k(backend, "scale", tensor(backend, np.array([1, 2, 3]), "int32"), 0.5)
    assert backend.dtype(result) == "float32"
    close(backend, result, np.array([0.5, 1.0, 1.5]))


@with_autograd
def test_scale_has_a_gradient_and_compiles(backend):
    x = tensor(backend, np.array([1.0, 2.0, 3.0]))

    def scaled_sum(v):
        return dispatch.run_on(backend, lambda: K.sum(K.scale(v, 0.25)))

    value, grad = backend.value_and_grad(scaled_sum)(x)
    close(backend, value, 1.5)
    close(backend, grad, np.full(3, 0.25))
    # compiled too: torch's adapter takes another branch while torch.compile traces
    close(backend, backend.compile(scaled_sum)(x), 1.5)


def test_finiteness_tests(backend):
    values = np.array([1.0, np.nan, np.inf, -np.inf])
    x = tensor(backend, values)
    np.testing.assert_array_equal(backend.to_numpy(k(backend, "isnan", x)), np.isnan(values))
    np.testing.assert_array_equal(backend.to_numpy(k(backend, "isfinite", x)), np.isfinite(values))


@pytest.mark.parametrize("other", ["tensor", "scalar"])
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum(backend, op, other):
    y = X[::-1] if other == "tensor" else 0.25
    result = k(backend, op, tensor(backend, X), tensor(backend, y) if other == "tensor" else y)
    assert backend.dtype(result) == "float32"
    close(backend, result, getattr(np, op)(X.astype(np.float32), np.float32(y)))


@pytest.mark.parametrize("bounds", [(-0.5, 0.5), (-0.5, None), (None, 0.5)], ids=str)
def test_clip(backend, bounds):
    result = k(backend, "clip", tensor(backend, X), *bounds)
    assert backend.dtype(result) == "float32"
    close(backend, result, np.clip(X.astype(np.float32), *bounds))


@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_ops_keep_float_dtypes(backend, dtype):
    skip_unsupported(backend, dtype)
    with precision(backend, dtype):
        x = tensor(backend, X, dtype)
        for result in (k(backend, "maximum", x, 0.0), k(backend, "minimum", x, 1.0), k(backend, "clip", x, 1e-7, 1.0)):
            assert backend.dtype(result) == dtype


def test_where(backend):
    condition = X > 0
    x, y = tensor(backend, X), tensor(backend, -X)
    close(backend, k(backend, "where", tensor(backend, condition, "bool"), x, y), np.where(condition, X, -X))
    close(backend, k(backend, "where", tensor(backend, condition, "bool"), x, 0.0), np.where(condition, X, 0.0))


def test_power_and_comparisons(backend):
    x = tensor(backend, POSITIVE)
    close(backend, k(backend, "power", x, 2.0), POSITIVE.astype(np.float32).astype(np.float64) ** 2)
    a, b = np.array([True, True, False]), np.array([True, False, False])
    ta, tb = tensor(backend, a, "bool"), tensor(backend, b, "bool")
    np.testing.assert_array_equal(backend.to_numpy(k(backend, "logical_and", ta, tb)), a & b)
    np.testing.assert_array_equal(backend.to_numpy(k(backend, "logical_or", ta, tb)), a | b)
    np.testing.assert_array_equal(backend.to_numpy(k(backend, "logical_not", ta)), ~a)
    np.testing.assert_array_equal(backend.to_numpy(k(backend, "equal", ta, tb)), a == b)


# ---------------------------------------------------------------- dtypes and metadata
def test_epsilon_and_floatx(backend):
    assert k(backend, "epsilon") == 1e-7
    assert k(backend, "floatx") == "float32"


@pytest.mark.parametrize("dtype", [*FLOATS, "int32", "int64", "bool"])
def test_cast_convert_and_dtype_names(backend, dtype):
    skip_unsupported(backend, dtype)
    with precision(backend, dtype):
        converted = k(backend, "convert_to_tensor", np.array([0.0, 1.0, 2.0]), dtype=dtype)
        assert k(backend, "dtype", converted) == dtype
        cast = k(backend, "cast", tensor(backend, [0.0, 1.0, 2.0]), dtype)
        assert k(backend, "dtype", cast) == dtype
        np.testing.assert_array_equal(
            to_numpy(backend, cast).astype(np.float64), np.array([0, 1, 2], dtype).astype(float)
        )


def test_shape_and_ndim(backend):
    x = tensor(backend, X)
    assert k(backend, "shape", x) == (2, 3, 4)
    assert k(backend, "ndim", x) == 3


@pytest.mark.parametrize(
    "op, args, formula",
    [
        ("reshape", ((6, 4),), lambda a: a.reshape(6, 4)),
        ("reshape", ((-1,),), lambda a: a.reshape(-1)),
        ("expand_dims", (0,), lambda a: a[None]),
        ("expand_dims", (-1,), lambda a: a[..., None]),
        ("transpose", ((2, 0, 1),), lambda a: a.transpose(2, 0, 1)),
        ("transpose", (), lambda a: a.T),
        ("broadcast_to", ((5, 2, 3, 4),), lambda a: np.broadcast_to(a, (5, 2, 3, 4))),
        ("cumsum", (1,), lambda a: np.cumsum(a, axis=1)),
        ("flip", (-1,), lambda a: np.flip(a, -1)),
        ("sort", (-1,), lambda a: np.sort(a, axis=-1)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_shape_ops(backend, op, args, formula):
    if not hasattr(backend, op):
        pytest.skip(f"{op} is not part of this adapter")
    result = k(backend, op, tensor(backend, X), *args)
    close(backend, result, formula(X.astype(np.float32).astype(np.float64)))


@pytest.mark.parametrize("axis", [None, 1, (1, 3)], ids=str)
def test_squeeze(backend, axis):
    values = X.reshape(2, 1, 12, 1)
    result = k(backend, "squeeze", tensor(backend, values), axis)
    assert k(backend, "shape", result) == np.squeeze(values, axis).shape


def test_concatenate_and_stack(backend):
    a, b = tensor(backend, X), tensor(backend, 2 * X)
    close(backend, k(backend, "concatenate", [a, b], axis=-1), np.concatenate([X, 2 * X], -1).astype(np.float32))
    close(backend, k(backend, "stack", [a, b], axis=1), np.stack([X, 2 * X], 1).astype(np.float32))


def test_creation(backend):
    like = tensor(backend, X)
    assert backend.dtype(k(backend, "zeros", (2, 3))) == "float32"
    np.testing.assert_array_equal(backend.to_numpy(k(backend, "ones", (2, 3), "int32")), np.ones((2, 3), np.int32))
    np.testing.assert_array_equal(to_numpy(backend, k(backend, "zeros_like", like)), np.zeros(X.shape))
    np.testing.assert_array_equal(
        to_numpy(backend, k(backend, "ones_like", like, "float64" if backend.name != "jax" else None)), np.ones(X.shape)
    )
    np.testing.assert_array_equal(backend.to_numpy(k(backend, "arange", 5)), np.arange(5))


# ---------------------------------------------------------------- indexing
@pytest.mark.parametrize("axis", [0, -1])
def test_argmax(backend, axis):
    np.testing.assert_array_equal(backend.to_numpy(k(backend, "argmax", tensor(backend, X), axis)), np.argmax(X, axis))


def _argmax_rows():
    """Rows of 12 scores (compilers take other routes from 8 entries on): a tie
    (the first wins), a NaN (the first NaN outranks +inf), -0.0 before an equal
    0.0, all -inf, two +inf, and random rows."""
    rows = RNG.normal(size=(7, 12))
    rows[0, [3, 9]] = 5.0
    rows[1, [2, 5, 8]] = [np.inf, np.nan, np.nan]
    rows[2] = -np.inf
    rows[3] = -1.0 - np.arange(12)
    rows[3, [4, 0]] = [0.0, -0.0]
    rows[4, [7, 10]] = np.inf
    return rows


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_argmax_of_a_large_tensor_keeps_its_order(backend, dtype, axis):
    """From 2^14 elements torch's adapter takes other kernels; every adapter
    keeps the first among ties and a NaN largest there too."""
    scores = np.tile(_argmax_rows(), (200, 1)) if dtype != "int32" else RNG.integers(0, 3, size=(1400, 12))
    picked = backend.argmax(tensor(backend, scores, dtype), axis)
    np.testing.assert_array_equal(to_numpy(backend, picked), np.argmax(scores.astype(dtype), axis))


@with_compiler
@pytest.mark.parametrize("dtype", ["float32", "float16", "int32"])
@pytest.mark.parametrize("transposed", [False, True], ids=["last-axis", "first-axis"])
def test_argmax_compiled_keeps_its_order(backend, dtype, transposed):
    scores = _argmax_rows() if dtype != "int32" else RNG.integers(0, 3, size=(7, 12))  # ints: many ties
    axis = -1
    if transposed:
        scores, axis = scores.T.copy(), 0
    picked = backend.compile(lambda x: backend.argmax(x, axis))(tensor(backend, scores, dtype))
    np.testing.assert_array_equal(to_numpy(backend, picked), np.argmax(scores.astype(dtype), axis))


@pytest.mark.parametrize("axis", [-1, 0])
def test_one_hot(backend, axis):
    labels = np.array([[0, 2], [1, 1]])
    result = k(backend, "one_hot", tensor(backend, labels, "int32"), 3, axis=axis)
    assert backend.dtype(result) == "float32"
    expected = np.moveaxis(np.eye(3)[labels], -1, axis)
    np.testing.assert_array_equal(to_numpy(backend, result), expected)


def test_take_along_axis(backend):
    indices = np.argsort(X, axis=-1)[..., :2]
    result = k(backend, "take_along_axis", tensor(backend, X), tensor(backend, indices, "int32"), -1)
    close(backend, result, np.take_along_axis(X.astype(np.float32), indices, -1))


def test_top_k(backend):
    values, indices = k(backend, "top_k", tensor(backend, X), 2)
    order = np.argsort(-X, axis=-1)[..., :2]
    np.testing.assert_array_equal(backend.to_numpy(indices), order)
    close(backend, values, np.take_along_axis(X.astype(np.float32), order, -1))


def test_bincount(backend):
    ids = np.array([0, 1, 1, 3])
    result = k(backend, "bincount", tensor(backend, ids, "int32"), minlength=5)
    np.testing.assert_array_equal(backend.to_numpy(result), [1, 2, 0, 1, 0])
    weighted = k(backend, "bincount", tensor(backend, ids, "int32"), tensor(backend, [0.5, 1.0, 2.0, 4.0]), 5)
    close(backend, weighted, [0.5, 3.0, 0.0, 4.0, 0.0])


def test_matmul_and_segment_sum(backend):
    a, b = X[0], X[1].T
    close(
        backend,
        k(backend, "matmul", tensor(backend, a), tensor(backend, b)),
        a.astype(np.float32) @ b.astype(np.float32),
    )
    if hasattr(backend, "segment_sum"):
        data, ids = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 2, 0, 1])
        result = k(backend, "segment_sum", tensor(backend, data), tensor(backend, ids, "int32"), 4)
        close(backend, result, [4.0, 4.0, 2.0, 0.0])


# ---------------------------------------------------------------- autodiff hooks
@with_autograd
def test_stop_gradient(backend):
    x = tensor(backend, X)
    value, grad = backend.value_and_grad(lambda v: k(backend, "stop_gradient", v) * v)(x)
    close(backend, value, X.astype(np.float32).astype(np.float64) ** 2)
    close(backend, grad, X.astype(np.float32))  # d(c * x)/dx with c = x held constant


# ---------------------------------------------------------------- checked pick
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
def test_pick_along_axis_takes_one_entry_and_rejects_out_of_range(backend, axis, index_dtype):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    size = x.shape[axis]
    picks = np.random.default_rng(0).integers(0, size, size=np.delete(x.shape, axis % 2))
    with precision(backend, index_dtype):
        out = backend.pick_along_axis(to_backend(backend, x), to_backend(backend, picks, index_dtype), axis)
        expected = np.take_along_axis(x, np.expand_dims(picks, axis), axis).squeeze(axis)
        np.testing.assert_array_equal(to_numpy(backend, out), expected)
        for bad in (size, -1):
            wrong = picks.copy()
            wrong[0] = bad
            with pytest.raises(IndexError):
                backend.pick_along_axis(to_backend(backend, x), to_backend(backend, wrong, index_dtype), axis)


#: per index dtype: an id in range, then ids out of it (past the end, negative, past 32 bits where it fits)
TRACED_PICKS = {"int32": [1, 4, -1, 2**31 - 1], "int64": [1, 4, -1, 2**32 + 1]}


@with_compiler
@pytest.mark.parametrize("index_dtype", sorted(TRACED_PICKS))
def test_traced_pick_out_of_range_is_nan_never_another_entry(backend, index_dtype):
    """Under a compiler nothing can raise: an index outside [0, 4) picks NaN,
    never the entry a wrap (-1 -> 3, a narrowed 2**32 + 1 -> 1) or a clamp
    would give; the in-range pick is exact."""
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    picks = np.array(TRACED_PICKS[index_dtype])
    with precision(backend, index_dtype):
        picked = backend.compile(lambda values, ids: backend.pick_along_axis(values, ids, -1))
        out = to_numpy(backend, picked(to_backend(backend, x), to_backend(backend, picks, index_dtype)))
    np.testing.assert_array_equal(out, [1.0, np.nan, np.nan, np.nan])
