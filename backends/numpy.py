"""NumPy adapter: the reference backend, and the one weak inputs run on."""

from __future__ import annotations

import math

import numpy as np

from .base import HALF_DTYPES, Backend

try:  # bfloat16 comes with ml_dtypes (installed with jax or tensorflow)
    from ml_dtypes import bfloat16 as _bfloat16
except ImportError:  # pragma: no cover - NumPy-only installs have no bfloat16
    _bfloat16 = None


class _DtypeTable(dict):
    """dtype name -> np.dtype; a name NumPy lacks is a TypeError that says why."""

    def __missing__(self, name):
        if name == "bfloat16":
            raise TypeError(
                "bfloat16 on the NumPy backend needs the ml_dtypes package, which is not installed: "
                "`pip install ml_dtypes` (it comes with jax and tensorflow), or use float16/float32."
            )
        raise TypeError(f"the NumPy backend has no dtype {name!r}; accepted: {', '.join(sorted(self))}.")


_DTYPES = _DtypeTable(
    (name, np.dtype(name))
    for name in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
)
if _bfloat16 is not None:
    _DTYPES["bfloat16"] = np.dtype(_bfloat16)


# dtype -> name: ``np.dtype.name`` is computed in Python (~1.4 us a read), a
# dict lookup is ~20 ns, and dtype names are read on every call
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}
_FLOATS = frozenset(_DTYPES[name] for name in ("float16", "bfloat16", "float32", "float64") if name in _DTYPES)
_HALVES = frozenset(_DTYPES[name] for name in HALF_DTYPES if name in _DTYPES)
_WIDE = frozenset((_DTYPES["float32"], _DTYPES["float64"]))


def _float(x):
    x = np.asarray(x)
    return x if x.dtype in _FLOATS or x.dtype.kind == "f" else x.astype(np.float32)


def _match(y, x):
    """A Python number in ``x``'s dtype where ``x`` is bfloat16: NumPy's rule that
    a Python float takes the array's dtype covers only its own dtypes, and
    ml_dtypes' bfloat16 meeting one computes in float32."""
    if _bfloat16 is not None and isinstance(y, (int, float)) and getattr(x, "dtype", None) == _bfloat16:
        return np.asarray(y, _bfloat16)
    return y


def _accumulate(reduce, x, axis, keepdims):
    # float16 / bfloat16 sums drift after a few thousand terms: add in float32
    x = np.asarray(x)
    if x.dtype in _HALVES:
        return reduce(x, axis=axis, keepdims=keepdims, dtype=np.float32).astype(x.dtype)
    return reduce(x, axis=axis, keepdims=keepdims)


def _count(shape, axis):
    """How many elements a reduction over ``axis`` averages."""
    if axis is None:
        return math.prod(shape)
    if isinstance(axis, int):
        return shape[axis]
    return math.prod(shape[a] for a in axis)


class NumpyBackend(Backend):
    name = "numpy"
    extra = ""

    # --- conversion and metadata
    def is_tensor(self, x):
        return isinstance(x, np.ndarray)

    def convert_to_tensor(self, x, dtype=None, like=None):
        return np.asarray(x, dtype=_DTYPES[dtype] if dtype else None)

    def to_numpy(self, x):
        return np.asarray(x)

    def from_dlpack(self, x):
        return np.from_dlpack(x)

    def cast(self, x, dtype):
        return np.asarray(x).astype(_DTYPES[dtype], copy=False)

    def dtype(self, x):
        dtype = x.dtype if isinstance(x, np.ndarray) else np.asarray(x).dtype
        return _NAMES.get(dtype) or dtype.name

    def shape(self, x):
        return np.shape(x)

    def same_shape(self, x, y):
        return np.shape(x) == np.shape(y)

    def ndim(self, x):
        return np.ndim(x)

    def device(self, x):
        return "cpu"

    def stop_gradient(self, x):
        return x

    # --- reductions
    def mean(self, x, axis=None, keepdims=False):
        x = _float(x)
        if x.dtype in _HALVES:
            return _accumulate(np.mean, x, axis, keepdims)
        # np.mean is this same pairwise sum and division wrapped in ~2 us of Python
        return np.add.reduce(x, axis=axis, keepdims=keepdims) / _count(x.shape, axis)

    # the ufuncs' own reduce: what np.sum / np.max / np.min call, without their
    # ~1 us of Python dispatch per call (same values, dtypes and errors)
    def sum(self, x, axis=None, keepdims=False):
        return _accumulate(np.add.reduce, x, axis, keepdims)

    def max(self, x, axis=None, keepdims=False):
        return np.maximum.reduce(x, axis=axis, keepdims=keepdims)

    def min(self, x, axis=None, keepdims=False):
        return np.minimum.reduce(x, axis=axis, keepdims=keepdims)

    def any(self, x, axis=None, keepdims=False):
        return np.any(x, axis=axis, keepdims=keepdims)

    def all(self, x, axis=None, keepdims=False):
        return np.all(x, axis=axis, keepdims=keepdims)

    def argmax(self, x, axis=-1):
        return np.argmax(x, axis=axis)

    def cumsum(self, x, axis=0):
        return np.cumsum(x, axis=axis)

    # --- elementwise
    def square(self, x):
        return np.square(x)

    def abs(self, x):
        return np.abs(x)

    def sqrt(self, x):
        return np.sqrt(_float(x))

    def scale(self, x, factor):
        x = _float(x)
        return x * _match(factor, x)

    def rsqrt(self, x):
        root = self.sqrt(x)
        return _match(1.0, root) / root

    def exp(self, x):
        return np.exp(_float(x))

    def log(self, x):
        return np.log(_float(x))

    def log1p(self, x):
        return np.log1p(_float(x))

    def tanh(self, x):
        return np.tanh(_float(x))

    def sign(self, x):
        return np.sign(x)

    def power(self, x, y):
        if type(y) in (int, float) and y == 2 and self.is_float(x):
            return np.square(x)  # np.power runs its general loop, ~1.3x slower
        return np.power(x, _match(y, x))

    def isfinite(self, x):
        return np.isfinite(x)

    def isnan(self, x):
        return np.isnan(x)

    def clip(self, x, min=None, max=None):
        out = np.clip(x, min, max)
        # ml_dtypes has no bfloat16 clip loop (NumPy runs it in float32): round back
        return out.astype(_bfloat16) if getattr(x, "dtype", None) == _bfloat16 and out.dtype != x.dtype else out

    def maximum(self, x, y):
        return np.maximum(x, _match(y, x))

    def minimum(self, x, y):
        return np.minimum(x, _match(y, x))

    def where(self, condition, x, y):
        return np.where(condition, _match(x, y), _match(y, x))

    def equal(self, x, y):
        return np.equal(x, y)

    def logical_and(self, x, y):
        return np.logical_and(x, y)

    def logical_or(self, x, y):
        return np.logical_or(x, y)

    def logical_not(self, x):
        return np.logical_not(x)

    # --- shapes and creation
    def reshape(self, x, shape):
        return np.reshape(x, shape)

    def expand_dims(self, x, axis):
        return np.expand_dims(x, axis)

    def squeeze(self, x, axis=None):
        return np.squeeze(x, axis=axis)

    def transpose(self, x, axes=None):
        return np.transpose(x, axes)

    def broadcast_to(self, x, shape):
        return np.broadcast_to(x, shape)

    def concatenate(self, xs, axis=0):
        return np.concatenate(xs, axis=axis)

    def stack(self, xs, axis=0):
        return np.stack(xs, axis=axis)

    def zeros(self, shape, dtype="float32", like=None):
        return np.zeros(shape, dtype=_DTYPES[dtype])

    def ones(self, shape, dtype="float32", like=None):
        return np.ones(shape, dtype=_DTYPES[dtype])

    def zeros_like(self, x, dtype=None):
        return np.zeros_like(x, dtype=_DTYPES[dtype] if dtype else None)

    def ones_like(self, x, dtype=None):
        return np.ones_like(x, dtype=_DTYPES[dtype] if dtype else None)

    def arange(self, n, dtype="int32", like=None):
        return np.arange(n, dtype=_DTYPES[dtype])

    # --- indexing
    def one_hot(self, indices, num_classes, axis=-1, dtype=None):
        indices = np.asarray(indices)
        hot = np.arange(num_classes) == indices[..., None]
        hot = hot.astype(_DTYPES[dtype or self._floatx])
        return hot if axis in (-1, indices.ndim) else np.moveaxis(hot, -1, axis)

    def take_along_axis(self, x, indices, axis):
        return np.take_along_axis(x, np.asarray(indices).astype(np.intp), axis=axis)

    def pick_along_axis(self, x, indices, axis):
        indices = np.asarray(indices).astype(np.intp, copy=False)
        if indices.size and np.minimum.reduce(indices, axis=None) < 0:  # NumPy wraps these; it raises for the rest
            raise IndexError(f"index {indices.min()} is negative")
        if x.ndim == 2 and axis in (-1, 1):  # rows of classes: plain fancy indexing, 3x faster than take_along_axis
            return x[np.arange(x.shape[0]), indices]
        return np.take_along_axis(x, np.expand_dims(indices, axis), axis=axis).squeeze(axis)

    def top_k(self, x, k):
        # a stable ascending sort puts NaN last (above +inf); read backwards it is the descending order
        # with NaN first, and sorting the reversed axis keeps the lower index first among equal entries
        # (an argsort of -x put NaN last: -nan is nan)
        last = x.shape[-1] - 1
        indices = last - np.argsort(x[..., ::-1], axis=-1, kind="stable")[..., ::-1][..., :k]
        return np.take_along_axis(x, indices, axis=-1), indices

    def sort(self, x, axis=-1):
        return np.sort(x, axis=axis)

    def bincount(self, x, weights=None, minlength=0):
        if weights is None:
            return np.bincount(np.asarray(x).ravel(), None, minlength)
        # np.bincount sums weights in float64: back to the weights' dtype
        weights = np.asarray(weights)
        return np.bincount(np.asarray(x).ravel(), weights.ravel(), minlength).astype(weights.dtype, copy=False)

    def matmul(self, x, y):
        out = np.matmul(x, y)
        # ml_dtypes' bfloat16 matmul returns float32: keep the inputs' dtype
        return out.astype(x.dtype) if x.dtype == _bfloat16 and out.dtype != x.dtype else out

    def segment_sum(self, data, segment_ids, num_segments):
        # bincount is NumPy's one-pass scatter-add (np.add.at is ~10x slower);
        # data None counts the ids (bincount's own intp), faster than adding ones
        ids = np.asarray(segment_ids).ravel()
        if data is None:
            return np.bincount(ids, minlength=num_segments)
        data = np.asarray(data)
        return np.bincount(ids, data.ravel(), num_segments).astype(data.dtype, copy=False)

    def flip(self, x, axis=None):
        return np.flip(x, axis=axis)

    def ceil(self, x):
        return np.ceil(_float(x))

    # --- composites with fused NumPy forms
    def softplus(self, x):
        x = _float(x)
        if x.dtype not in _WIDE:
            return np.logaddexp(x, _match(0.0, x))
        # max(x, 0) + log1p(exp(-|x|)) in one buffer: np.logaddexp is scalar
        # code, these SIMD ufuncs in place are ~7x faster on 10^7 elements
        out = np.abs(x, out=np.empty_like(x))
        np.negative(out, out=out)
        np.exp(out, out=out)
        np.log1p(out, out=out)
        np.add(out, np.maximum(x, 0.0), out=out)
        return out if out.ndim else out[()]

    def sigmoid_cross_entropy(self, labels, logits):
        x = _float(logits)
        # without an infinite logit (the common case; one isinf pass, ~1 us at
        # 32x10) the exact form's clip and fix-up are four passes for nothing
        if np.isinf(x).any():
            return super().sigmoid_cross_entropy(labels, x)
        return self.softplus(x) - labels * x

    def sigmoid(self, x):
        # the base formula with its 1.0 in x's dtype (see _match)
        x = _float(x)
        if x.dtype not in _WIDE:
            e, one = np.exp(-np.abs(x)), _match(1.0, x)
            return np.where(x >= 0, one / (one + e), e / (one + e))
        # exp(min(x, 0)) / (1 + exp(-|x|)) is the same two branches without a
        # select: np.where on 10^7 floats costs as much as the rest together
        denominator = np.abs(x, out=np.empty_like(x))
        np.negative(denominator, out=denominator)
        np.exp(denominator, out=denominator)
        np.add(denominator, 1.0, out=denominator)
        out = np.minimum(x, 0.0)
        np.exp(out, out=out)
        np.divide(out, denominator, out=out)
        return out if out.ndim else out[()]

    def log_softmax(self, x, axis=-1):
        x = _float(x)
        if x.dtype not in _WIDE or x.shape[axis] == 0:
            return super().log_softmax(x, axis)
        # the base formula, (x - peak) - log(sum(exp(x - peak))), in fewer passes
        shifted = x - np.maximum.reduce(x, axis=axis, keepdims=True)
        return shifted - np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))

    def logaddexp(self, x, y):
        return np.logaddexp(x, y)

    # --- replicas (Metric.sync): NumPy state lives in one process, a world of one
    def replica_group(self, group=None):
        if group is None:
            return None
        raise ValueError(
            f"NumPy state has no replicas to sync over `group`={group!r}: pass a torch ProcessGroup or a "
            "tf.distribute Strategy (the state then syncs through that framework), or a JAX axis name with JAX state."
        )

    def all_reduce(self, tensors, reduction, group):
        return [np.array(x) for x in tensors]  # the one replica's values, copied as a collective's result is

    def all_gather(self, tensors, group):
        return [np.asarray(x)[None] for x in tensors]
