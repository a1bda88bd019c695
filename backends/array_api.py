"""The generic adapter: any array library that follows the Python Array API
standard (https://data-apis.org/array-api/), through ``array-api-compat``.

One adapter instance serves one namespace, found by
``array_api_compat.array_namespace`` (never by hand): array-api-strict,
``dask.array``, CuPy, or any library whose arrays define
``__array_namespace__``. Its name is ``"array_api:<namespace>"``
(``"array_api:array_api_strict"``, ``"array_api:dask.array"``,
``"array_api:cupy"``). Dispatch picks it for an array that no dedicated
adapter claims (``lossbridge.backends.array_api_backend``).

Only standard functions are called on the namespace. Where the standard lacks
an operation it is composed from standard ones, and a library that lacks a
standard function gets the same composition: ``one_hot`` is
``expand_dims(ids, -1) == arange(n)``, ``top_k`` is
``argsort(descending=True, stable=True)`` and a pick; ``take_along_axis``
(standard since 2024.12; absent from dask), ``bincount`` and ``segment_sum``
are masks summed (``_array_api_composed``). Python numbers and mixed dtypes in
the binary primitives are promoted as NumPy would (``_array_api_dtypes``), so
a primitive behaves the same everywhere.

The standard has no autograd and no compiler: this adapter has neither
(``value_and_grad`` raises, ``compile`` is the identity). A lazy array
(``array_api_compat.is_lazy_array``: dask) is not concrete, so value checks
(label ranges) are skipped as under a tracing compiler, and results stay lazy
until the caller computes them.
"""

from __future__ import annotations

import importlib
import math

import array_api_compat
import numpy as np

from ._array_api_composed import ComposedOperations
from ._array_api_dtypes import NumpyPromotion, dtype_table
from .base import FLOAT_DTYPES, HALF_DTYPES, Backend

PREFIX = "array_api:"


def namespace_name(xp) -> str:
    """``array_api_compat.dask.array`` -> ``"dask.array"``; a compliant library's own name as it is."""
    return xp.__name__.removeprefix("array_api_compat.")


#: namespace name -> its one adapter in this process
_ADAPTERS: dict[str, Backend] = {}


def adapter_for(xp) -> Backend:
    """The one adapter of the namespace ``xp`` (made on first use)."""
    name = namespace_name(xp)
    adapter = _ADAPTERS.get(name)
    if adapter is None:
        adapter = _ADAPTERS.setdefault(name, ArrayApiBackend(xp))
    return adapter


def adapter_for_module(module_name: str) -> Backend | None:
    """The adapter of the namespace array-api-compat resolves for the arrays
    of ``module_name`` (``"array_api_strict"``, ``"dask.array"``); None where
    it resolves none. ImportError when the module cannot be imported."""
    module = importlib.import_module(module_name)
    if not hasattr(module, "asarray"):
        raise ValueError(f"module {module_name!r} makes no arrays (it has no `asarray`)")
    try:
        return adapter_for(array_api_compat.array_namespace(module.asarray(0)))
    except TypeError:
        return None


class ArrayApiBackend(NumpyPromotion, ComposedOperations, Backend):
    """The adapter for one Array API namespace ``xp``: the standard's
    functions for the primitives, NumPy's promotion of mixed operands
    (``_array_api_dtypes``) and compositions of what the standard lacks
    (``_array_api_composed``)."""

    extra = "array-api"

    def __init__(self, xp):
        self.xp = xp
        self.name = PREFIX + namespace_name(xp)
        self._dtypes = dtype_table(xp)
        self._names = {}
        for name, dtype in self._dtypes.items():
            self._names[dtype] = name
            if isinstance(dtype, type) and issubclass(dtype, np.generic):
                self._names[np.dtype(dtype)] = name  # NumPy-dtype namespaces: arrays carry np.dtype objects
        self._floats = frozenset(dtype for dtype, name in self._names.items() if name in FLOAT_DTYPES)

    def __reduce__(self):
        # an adapter pickles as its namespace's module name: unpickled, it is
        # this process's one adapter of that namespace
        return adapter_for_module, (namespace_name(self.xp),)

    # ------------------------------------------------------------ helpers
    def _dtype(self, name):
        try:
            return self._dtypes[name]
        except KeyError:
            raise TypeError(
                f"the {self.name} backend has no dtype {name!r}; it has {', '.join(self._dtypes)}"
            ) from None

    def _is_array(self, x):
        return hasattr(x, "__array_namespace__") or array_api_compat.is_array_api_obj(x)

    def _float(self, x):
        return x if x.dtype in self._floats else self.xp.astype(x, self._dtype(self._floatx))

    def _device_of(self, like):
        return None if like is None or not self._is_array(like) else array_api_compat.device(like)

    def _array(self, value, like, dtype=None):
        """A Python number as an array of ``like``'s namespace and device."""
        return self.xp.asarray(value, dtype=dtype, device=self._device_of(like))

    def _bool(self, x):
        return x if self._names.get(x.dtype) == "bool" else x != 0

    @staticmethod
    def _axis(axis):
        return tuple(axis) if isinstance(axis, list) else axis

    # ============================================================ primitives
    # --- conversion and metadata
    def is_tensor(self, x):
        return self._is_array(x) and array_api_compat.array_namespace(x) is self.xp

    def convert_to_tensor(self, x, dtype=None, like=None):
        device = self._device_of(like)
        if self._is_array(x) and not isinstance(x, np.ndarray):
            out = x
        else:
            x = np.asarray(x)
            if dtype is None:
                dtype = "bfloat16" if x.dtype.kind == "V" else x.dtype.name
            if x.dtype.kind == "V" and "bfloat16" not in self._dtypes:
                x = x.astype(np.float32)
            if x.dtype.kind == "V" and self._dtypes.get("float32") is not np.float32:
                x = x.astype(np.float32)  # only NumPy-dtype namespaces read ml_dtypes' bfloat16
            out = self.xp.asarray(x, device=device, dtype=self._dtype(dtype) if x.dtype.name != dtype else None)
        if dtype is not None and self._names.get(out.dtype) != dtype:
            out = self.xp.astype(out, self._dtype(dtype))
        return out

    def to_numpy(self, x):
        if array_api_compat.is_lazy_array(x) and hasattr(x, "compute"):
            x = x.compute()  # dask: the caller asked for the values
        try:
            return np.asarray(x)
        except (TypeError, RuntimeError, ValueError):
            # a device array (CuPy) refuses implicit conversion: copy through DLPack
            return np.from_dlpack(x, device="cpu", copy=True)

    def from_dlpack(self, x):
        native = getattr(self.xp, "from_dlpack", None)
        if native is not None:
            try:
                return native(x)
            except (TypeError, ValueError, RuntimeError, BufferError):
                pass  # another device or a dtype the library cannot import
        return self.convert_to_tensor(np.from_dlpack(x))

    def cast(self, x, dtype):
        return self.xp.astype(x, self._dtype(dtype))

    def dtype(self, x):
        name = self._names.get(x.dtype)
        if name is None:  # a dtype the table misses: its printed name
            name = str(x.dtype).rpartition(".")[2]
            self._names[x.dtype] = name
        return name

    def shape(self, x):
        # unknown sizes (dask after boolean indexing) are nan there, None here
        return tuple(
            None if size is None or (isinstance(size, float) and math.isnan(size)) else size for size in x.shape
        )

    def ndim(self, x):
        return x.ndim

    def device(self, x):
        device = array_api_compat.device(x)
        index = getattr(device, "id", None)
        if isinstance(index, int):  # CuPy's Device
            return f"cuda:{index}"
        return "cpu:0" if "cpu" in str(device).lower() else str(device)

    def stop_gradient(self, x):
        return x

    def is_concrete(self, x):
        return not array_api_compat.is_lazy_array(x)

    # --- reductions
    def mean(self, x, axis=None, keepdims=False):
        x = self._float(x)
        if self._names[x.dtype] in HALF_DTYPES:
            return self.xp.astype(self.mean(self.cast(x, "float32"), axis, keepdims), x.dtype)
        return self.xp.mean(x, axis=self._axis(axis), keepdims=keepdims)

    def sum(self, x, axis=None, keepdims=False):
        name = self.dtype(x)
        if name == "bool":  # the standard sums numbers only: a count
            x, name = self.cast(x, "int64" if "int64" in self._dtypes else "int32"), "int64"
        if name in HALF_DTYPES:
            return self.xp.astype(self.sum(self.cast(x, "float32"), axis, keepdims), x.dtype)
        return self.xp.sum(x, axis=self._axis(axis), keepdims=keepdims, dtype=x.dtype)

    def max(self, x, axis=None, keepdims=False):
        return self._extremum(self.xp.max, x, axis, keepdims)

    def min(self, x, axis=None, keepdims=False):
        return self._extremum(self.xp.min, x, axis, keepdims)

    def _extremum(self, reduce, x, axis, keepdims):
        """``reduce`` (max or min); an empty batch reduced along non-empty
        axes is an empty result, which dask's reductions refuse to compute."""
        if 0 in x.shape and axis is not None:
            axes = {a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)}
            if all(x.shape[a] for a in axes):
                shape = tuple(1 if a in axes else n for a, n in enumerate(x.shape) if keepdims or a not in axes)
                return self.xp.zeros(shape, dtype=x.dtype, device=array_api_compat.device(x))
        return reduce(x, axis=self._axis(axis), keepdims=keepdims)

    def any(self, x, axis=None, keepdims=False):
        return self.xp.any(x, axis=self._axis(axis), keepdims=keepdims)

    def all(self, x, axis=None, keepdims=False):
        return self.xp.all(x, axis=self._axis(axis), keepdims=keepdims)

    def argmax(self, x, axis=-1):
        if self._names.get(x.dtype) == "bool":
            x = self.cast(x, "int8")
        return self.xp.argmax(x, axis=axis)

    def cumsum(self, x, axis=0):
        if self._names.get(x.dtype) == "bool":
            x = self.cast(x, "int64" if "int64" in self._dtypes else "int32")
        cumulative = getattr(self.xp, "cumulative_sum", None)  # 2023.12
        if cumulative is None:
            return self.xp.cumsum(x, axis=axis)
        return cumulative(x, axis=axis, dtype=x.dtype)

    # --- elementwise
    def square(self, x):
        return self.xp.square(x)

    def abs(self, x):
        return self.xp.abs(x)

    def sqrt(self, x):
        return self.xp.sqrt(self._float(x))

    def exp(self, x):
        return self.xp.exp(self._float(x))

    def log(self, x):
        return self.xp.log(self._float(x))

    def log1p(self, x):
        return self.xp.log1p(self._float(x))

    def tanh(self, x):
        return self.xp.tanh(self._float(x))

    def sign(self, x):
        if self._names.get(x.dtype) == "bool":
            return x
        return self.xp.sign(x)

    def power(self, x, y):
        if isinstance(y, int | float) and not isinstance(y, bool):
            if y == 2:
                return self.xp.square(x)
            if isinstance(y, float) and x.dtype not in self._floats:
                x = self._float(x)
            return self.xp.pow(x, self._array(y, x, x.dtype))
        x, y = self._pair(x, y)
        return self.xp.pow(x, y)

    def isfinite(self, x):
        return self.xp.isfinite(x)

    def isnan(self, x):
        return self.xp.isnan(x)

    def ceil(self, x):
        return self.xp.ceil(self._float(x))

    def clip(self, x, min=None, max=None):
        if min is not None:
            x = self.maximum(x, min)
        if max is not None:
            x = self.minimum(x, max)
        return x

    def maximum(self, x, y):
        return self.xp.maximum(*self._pair(x, y))

    def minimum(self, x, y):
        return self.xp.minimum(*self._pair(x, y))

    def where(self, condition, x, y):
        if not self._is_array(condition):
            condition = self.convert_to_tensor(np.asarray(condition))
        return self.xp.where(self._bool(condition), *self._pair(x, y))

    def equal(self, x, y):
        return self.xp.equal(*self._pair(x, y))

    def logical_and(self, x, y):
        return self.xp.logical_and(self._bool(x), self._bool(y))

    def logical_or(self, x, y):
        return self.xp.logical_or(self._bool(x), self._bool(y))

    def logical_not(self, x):
        return self.xp.logical_not(self._bool(x))

    # --- shapes and construction
    def reshape(self, x, shape):
        return self.xp.reshape(x, tuple(shape))

    def expand_dims(self, x, axis):
        return self.xp.expand_dims(x, axis=axis)

    def squeeze(self, x, axis=None):
        if axis is None:
            axis = tuple(i for i, size in enumerate(x.shape) if size == 1)
        return self.xp.squeeze(x, axis=axis)

    def transpose(self, x, axes=None):
        return self.xp.permute_dims(x, tuple(axes) if axes is not None else tuple(reversed(range(x.ndim))))

    def broadcast_to(self, x, shape):
        return self.xp.broadcast_to(x, tuple(shape))

    def concatenate(self, xs, axis=0):
        return self.xp.concat(list(xs), axis=axis)

    def stack(self, xs, axis=0):
        return self.xp.stack(list(xs), axis=axis)

    def flip(self, x, axis=None):
        return self.xp.flip(x, axis=axis)

    def zeros(self, shape, dtype="float32", like=None):
        return self.xp.zeros(shape, dtype=self._dtype(dtype), device=self._device_of(like))

    def ones(self, shape, dtype="float32", like=None):
        return self.xp.ones(shape, dtype=self._dtype(dtype), device=self._device_of(like))

    def zeros_like(self, x, dtype=None):
        return self.xp.zeros_like(x, dtype=None if dtype is None else self._dtype(dtype))

    def ones_like(self, x, dtype=None):
        return self.xp.ones_like(x, dtype=None if dtype is None else self._dtype(dtype))

    def arange(self, n, dtype="int32", like=None):
        return self.xp.arange(n, dtype=self._dtype(dtype), device=self._device_of(like))

    def one_hot(self, indices, num_classes, axis=-1, dtype=None):
        classes = self.xp.arange(num_classes, dtype=indices.dtype, device=array_api_compat.device(indices))
        hot = self.xp.astype(self.xp.expand_dims(indices, axis=-1) == classes, self._dtype(dtype or self._floatx))
        return hot if axis in (-1, indices.ndim) else self.xp.moveaxis(hot, -1, axis)

    # --- indexing and counting
    def take_along_axis(self, x, indices, axis):
        native = getattr(self.xp, "take_along_axis", None)  # 2024.12
        if native is not None:
            return native(x, self.xp.astype(indices, self._dtype("int64")), axis=axis)
        return self._picked(x, indices, axis)

    def top_k(self, x, k):
        scores = self.cast(x, "int8") if self._names.get(x.dtype) == "bool" else x
        indices = self.xp.argsort(scores, axis=-1, descending=True, stable=True)[..., :k]
        return self.take_along_axis(x, indices, axis=-1), indices

    def sort(self, x, axis=-1):
        return self.xp.sort(x, axis=axis)

    def bincount(self, x, weights=None, minlength=0):
        ids = self.reshape(x, (-1,))
        # the length depends on the values: read their maximum (this computes a lazy array)
        largest = int(self.to_numpy(self.xp.max(ids))) + 1 if ids.shape[0] else 0
        length = max(minlength, largest)
        if weights is None:
            return self._one_hot_sum(None, ids, length, "int64" if "int64" in self._dtypes else "int32")
        return self._one_hot_sum(self.reshape(weights, (-1,)), ids, length, self.dtype(weights))

    def segment_sum(self, data, segment_ids, num_segments):
        ids = self.reshape(segment_ids, (-1,))
        if data is None:
            return self._one_hot_sum(None, ids, num_segments, "int32")
        return self._one_hot_sum(self.reshape(data, (-1,)), ids, num_segments, self.dtype(data))

    def matmul(self, x, y):
        return self.xp.matmul(*self._pair(x, y))

    # ============================================================ composites
    def logaddexp(self, x, y):
        native = getattr(self.xp, "logaddexp", None)  # 2022.12
        if native is None:
            return super().logaddexp(x, y)
        return native(*self._pair(x, y))
