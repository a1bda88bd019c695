"""MLX adapter (Apple's array framework; ``pip install "mlx[cpu]"`` on Linux).

MLX differs from the other frameworks in five ways this adapter absorbs:

* creating an array from float64 data gives float32 unless float64 is asked
  for (``mx.array(np.float64_array)`` is float32); the CPU computes in
  float64, so conversion keeps NumPy's dtype there, and drops it to float32
  on a GPU, which has no float64 (as JAX without x64 does);
* ``mx.from_dlpack`` of float64 data gives float32 as well: float64 goes
  through NumPy instead;
* MLX's gather does not check its indices (an index past the end reads
  whatever lies there): ``pick_along_axis`` keeps the contract's host check;
* a compiled function runs its Python body once, on placeholder arrays
  whose values cannot be read. :meth:`MlxBackend.compile` marks that trace
  (a thread-local flag) so that :meth:`is_concrete` is False inside it and
  value checks are skipped, as under ``jax.jit``. MLX tells no function that
  ``mx.compile`` (or ``mx.vmap``) called directly traces it, and probing an
  input costs ~40 us a call: there :meth:`MlxBackend.host_values`, the one
  way value checks read, tries the read and answers None when MLX refuses,
  so a bare ``mx.compile`` gets the same traced semantics.
* MLX builds arrays lazily, and evaluates a graph only in the thread that
  built it (each thread has its own stream, MLX 0.31.2 and later):
  :meth:`MlxBackend.realize` computes the state a stateful metric keeps, so
  that the graph does not grow with every update and a metric updated in one
  thread can be read in another.

MLX's float64 ``exp`` (and the ops built on it: ``sigmoid``, ``logaddexp``)
is accurate to float32 only (relative error 6e-7 against NumPy, where the
parity tolerance of float64 is 1e-9; MLX 0.32): float64 ``exp`` here is
``power(e, x)``, accurate to 7e-16, and the composites that would call MLX's
own take the contract's stable forms in float64.

An empty array made from NumPy data can hang MLX (0.32.4, Linux CPU): a sum
over ``expand_dims`` of a ``(0,)`` array from ``mx.array(np.zeros(0))``
waited forever in about half of the runs tried (an empty batch's sample
weights in a Loss object take that path). Empty inputs are created with
``mx.zeros`` instead, which never hung.

Integer matmul has no kernel (MLX multiplies floats only): integers are
multiplied in float32 and cast back, exact below 2**24.
"""

from __future__ import annotations

import math
import threading

import mlx.core as mx
import numpy as np

from .base import DTYPE_NAMES, HALF_DTYPES, Backend

# MLX has no complex128, and names its bool dtype bool_
_DTYPES = {name: getattr(mx, name) for name in DTYPE_NAMES if name not in ("complex128", "bool")}
_DTYPES["bool"] = mx.bool_
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}
_FLOATS = frozenset(_DTYPES[name] for name in ("float16", "bfloat16", "float32", "float64"))
_HALVES = frozenset(_DTYPES[name] for name in HALF_DTYPES)


class _Tracing(threading.local):
    depth = 0


def _read(x):
    if x.dtype == mx.bfloat16:
        return np.array(x.astype(mx.float32)).astype(_np_bfloat16())
    return np.array(x)


def _traced_error(error):
    """Whether ``error`` is MLX refusing to read an array that mx.compile or mx.vmap traces."""
    return "function transformations" in str(error)


_tracing = _Tracing()
_evaluated = False


def _evaluate_once():
    """Evaluate one array, once per process, before the first compile: a
    function ``mx.compile`` traces before the process has evaluated anything
    is traced again at its second call with the same shapes (MLX 0.32: 2
    traces for 3 calls of BinaryCrossentropy on equal shapes in a fresh
    process, 1 once anything was evaluated first; something MLX sets up at
    its first evaluation is part of the compile cache's key)."""
    global _evaluated
    if not _evaluated:
        mx.eval(mx.zeros(()))
        _evaluated = True


def _float(x):
    return x if x.dtype in _FLOATS else x.astype(mx.float32)


_E = {}  # the float64 constant e, made on first use (an MLX array per process)


def _exp(x):
    """``e ** x``; MLX's own float64 exp is accurate to float32 only."""
    if x.dtype != mx.float64:
        return mx.exp(x)
    if "e" not in _E:
        _E["e"] = mx.array(math.e, dtype=mx.float64)
    return mx.power(_E["e"], x)


def _axes(axis):
    """MLX takes an int or a list of ints for ``axis``, not a tuple."""
    return list(axis) if isinstance(axis, tuple) else axis


def _count(shape, axis):
    if axis is None:
        return math.prod(shape)
    if isinstance(axis, int):
        return shape[axis]
    return math.prod(shape[a] for a in axis)


def _reduced_shape(shape, axis, keepdims):
    """The shape of a reduction of ``shape`` over ``axis``, computed without MLX."""
    axes = range(len(shape)) if axis is None else [axis] if isinstance(axis, int) else axis
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(shape) if keepdims or i not in axes)


def _on_cpu():
    return mx.default_device().type == mx.DeviceType.cpu


def _np_bfloat16():
    from ml_dtypes import bfloat16  # installed with jax and tensorflow; needed to hand bfloat16 to NumPy

    return bfloat16


class MlxBackend(Backend):
    name = "mlx"
    type_modules = ("mlx",)
    extra = "mlx"

    @property
    def accumulator_dtype(self):
        # float64 exists on MLX's CPU only
        return "float64" if _on_cpu() else "float32"

    # --- conversion and metadata
    def is_tensor(self, x):
        return isinstance(x, mx.array)

    def convert_to_tensor(self, x, dtype=None, like=None):
        if isinstance(x, mx.array):
            return x if dtype is None or x.dtype == _DTYPES[dtype] else x.astype(_DTYPES[dtype])
        x = np.asarray(x)
        if dtype is None:
            dtype = "bfloat16" if x.dtype.kind == "V" else x.dtype.name
            if dtype not in _DTYPES:
                raise TypeError(f"the MLX backend has no dtype {dtype!r}; accepted: {', '.join(_DTYPES)}")
            if dtype == "float64" and not _on_cpu():
                dtype = "float32"
        if x.size == 0:  # see the module docstring: an empty array made from NumPy data can hang MLX
            return mx.zeros(x.shape, dtype=_DTYPES[dtype])
        if x.dtype.kind == "V":  # ml_dtypes' bfloat16: MLX reads it as float32
            x = x.astype(np.float32)
        # MLX reads NumPy data through DLPack, which refuses negative strides (x[::-1]);
        # only copy those (np.ascontiguousarray would also turn a 0-d array into 1-d)
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        return mx.array(x, dtype=_DTYPES[dtype] if dtype else None)

    def to_numpy(self, x):
        try:
            return _read(x)
        except ValueError as error:
            if not _traced_error(error):
                raise
            # MLX's own message names neither the cause nor the way out
            raise RuntimeError(
                "this MLX array is traced by mx.compile or mx.vmap called directly, and its values cannot be read "
                "there. Read them outside the compiled function, or compile through lossbridge: "
                "lossbridge.backends.get('mlx').compile(fn)."
            ) from error

    def host_values(self, x):
        if _tracing.depth:
            return None
        try:
            return _read(x)
        except ValueError as error:  # a bare mx.compile / mx.vmap traces x (module docstring)
            if not _traced_error(error):
                raise
            return None

    def from_dlpack(self, x):
        out = mx.from_dlpack(x)
        if out.dtype == mx.float32 and getattr(x, "dtype", None) is not None and "64" in str(x.dtype):
            return self.convert_to_tensor(np.from_dlpack(x))  # MLX's DLPack import drops float64 to float32
        return out

    def cast(self, x, dtype):
        return x.astype(_DTYPES[dtype])

    def dtype(self, x):
        return _NAMES[x.dtype]

    def shape(self, x):
        return tuple(x.shape)

    def ndim(self, x):
        return x.ndim

    def device(self, x):
        # MLX arrays live in unified memory; the stream's device computes on them
        return f"{mx.default_device().type.name}:0"

    def stop_gradient(self, x):
        return mx.stop_gradient(x)

    def is_concrete(self, x):
        return not _tracing.depth

    # --- reductions
    def mean(self, x, axis=None, keepdims=False):
        x = _float(x)
        if not _count(x.shape, axis):  # MLX's mean of nothing is -inf; the contract's is nan
            return mx.full(_reduced_shape(x.shape, axis, keepdims), math.nan, x.dtype)
        if x.dtype in _HALVES:
            return mx.mean(x.astype(mx.float32), axis=_axes(axis), keepdims=keepdims).astype(x.dtype)
        return mx.mean(x, axis=_axes(axis), keepdims=keepdims)

    def sum(self, x, axis=None, keepdims=False):
        if x.dtype in _HALVES:
            return mx.sum(x.astype(mx.float32), axis=_axes(axis), keepdims=keepdims).astype(x.dtype)
        return mx.sum(x, axis=_axes(axis), keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return mx.max(x, axis=_axes(axis), keepdims=keepdims)

    def min(self, x, axis=None, keepdims=False):
        return mx.min(x, axis=_axes(axis), keepdims=keepdims)

    def any(self, x, axis=None, keepdims=False):
        return mx.any(x, axis=_axes(axis), keepdims=keepdims)

    def all(self, x, axis=None, keepdims=False):
        return mx.all(x, axis=_axes(axis), keepdims=keepdims)

    def argmax(self, x, axis=-1):
        if x.size == 0 and x.shape[axis]:  # MLX refuses empty arrays; an empty batch has empty answers
            return mx.zeros(_reduced_shape(x.shape, axis, False), dtype=mx.int32)
        return mx.argmax(x, axis=axis).astype(mx.int32)  # MLX's indices are uint32

    def cumsum(self, x, axis=0):
        return mx.cumsum(x, axis=axis)

    # --- elementwise
    def square(self, x):
        return mx.square(x)

    def abs(self, x):
        return mx.abs(x)

    def sqrt(self, x):
        return mx.sqrt(_float(x))

    def rsqrt(self, x):
        return mx.rsqrt(_float(x))

    def exp(self, x):
        return _exp(_float(x))

    def log(self, x):
        return mx.log(_float(x))

    def log1p(self, x):
        return mx.log1p(_float(x))

    def tanh(self, x):
        return mx.tanh(_float(x))

    def sign(self, x):
        # mx.sign(nan) is 0: keep nan, as the contract and NumPy do
        return mx.where(mx.isnan(x), x, mx.sign(x)) if x.dtype in _FLOATS else mx.sign(x)

    def power(self, x, y):
        return mx.power(x, y)

    def isfinite(self, x):
        return mx.isfinite(x)

    def isnan(self, x):
        return mx.isnan(x)

    def ceil(self, x):
        return mx.ceil(_float(x))

    def clip(self, x, min=None, max=None):
        return mx.clip(x, min, max)

    def maximum(self, x, y):
        return mx.maximum(x, y)

    def minimum(self, x, y):
        return mx.minimum(x, y)

    def where(self, condition, x, y):
        return mx.where(condition, x, y)

    def equal(self, x, y):
        return mx.equal(x, y)

    def logical_and(self, x, y):
        return mx.logical_and(x, y)

    def logical_or(self, x, y):
        return mx.logical_or(x, y)

    def logical_not(self, x):
        return mx.logical_not(x)

    # --- shapes and construction
    def reshape(self, x, shape):
        return mx.reshape(x, list(shape))

    def expand_dims(self, x, axis):
        return mx.expand_dims(x, axis)

    def squeeze(self, x, axis=None):
        return mx.squeeze(x, axis=_axes(axis))

    def transpose(self, x, axes=None):
        return mx.transpose(x, None if axes is None else list(axes))

    def broadcast_to(self, x, shape):
        return mx.broadcast_to(x, list(shape))

    def concatenate(self, xs, axis=0):
        return mx.concatenate(list(xs), axis=axis)

    def stack(self, xs, axis=0):
        return mx.stack(list(xs), axis=axis)

    def flip(self, x, axis=None):
        return mx.flip(x, axis=_axes(axis))

    def zeros(self, shape, dtype="float32", like=None):
        return mx.zeros(shape, dtype=_DTYPES[dtype])

    def ones(self, shape, dtype="float32", like=None):
        return mx.ones(shape, dtype=_DTYPES[dtype])

    def zeros_like(self, x, dtype=None):
        return mx.zeros_like(x) if dtype is None else mx.zeros(x.shape, dtype=_DTYPES[dtype])

    def ones_like(self, x, dtype=None):
        return mx.ones_like(x) if dtype is None else mx.ones(x.shape, dtype=_DTYPES[dtype])

    def arange(self, n, dtype="int32", like=None):
        return mx.arange(n, dtype=_DTYPES[dtype])

    def one_hot(self, indices, num_classes, axis=-1, dtype=None):
        hot = mx.expand_dims(indices, -1) == mx.arange(num_classes)
        hot = hot.astype(_DTYPES[dtype or self._floatx])
        return hot if axis in (-1, indices.ndim) else mx.moveaxis(hot, -1, axis)

    # --- indexing and counting
    def take_along_axis(self, x, indices, axis):
        return mx.take_along_axis(x, indices, axis=axis)

    def top_k(self, x, k):
        # mx.topk gives the k largest unordered and no indices. argsort is stable and puts NaN last
        # (above +inf): read backwards it is the descending order with NaN first, and sorting the
        # reversed axis keeps the lower index first among equal entries (-x would put NaN last)
        scores = x if x.dtype != mx.bool_ else x.astype(mx.int32)
        last = x.shape[-1] - 1
        indices = (last - mx.argsort(scores[..., ::-1], axis=-1)[..., ::-1][..., :k]).astype(mx.int32)
        return mx.take_along_axis(x, indices, axis=-1), indices

    def sort(self, x, axis=-1):
        return mx.sort(x, axis=axis)

    def bincount(self, x, weights=None, minlength=0):
        ids = mx.reshape(x, [-1]).astype(mx.int32)
        length = max(minlength, int(mx.max(ids).item()) + 1 if ids.size else 0)
        if weights is None:
            return mx.zeros((length,), dtype=mx.int64).at[ids].add(1)
        weights = mx.reshape(weights, [-1])
        return mx.zeros((length,), dtype=weights.dtype).at[ids].add(weights)

    def segment_sum(self, data, segment_ids, num_segments):
        ids = mx.reshape(segment_ids, [-1])
        if data is None:
            return mx.zeros((num_segments,), dtype=mx.int32).at[ids].add(1)
        return mx.zeros((num_segments,), dtype=data.dtype).at[ids].add(mx.reshape(data, [-1]))

    def matmul(self, x, y):
        if x.dtype in _FLOATS or y.dtype in _FLOATS:
            return mx.matmul(x, y)
        return mx.matmul(x.astype(mx.float32), y.astype(mx.float32)).astype(mx.result_type(x, y))

    # --- composites with fused MLX forms
    def softplus(self, x):
        x = _float(x)
        if x.dtype != mx.float64:
            return mx.logaddexp(x, 0.0)  # its gradient is sigmoid(x) everywhere
        # the base form with max(x, 0) written x / 2 + |x| / 2 (exact, and no
        # overflow near the largest float64 as x + |x| has): MLX sends all of
        # maximum's gradient at a tie to x, 1 at x = 0 where the slope is 1/2
        return 0.5 * x + 0.5 * mx.abs(x) + mx.log1p(_exp(-mx.abs(x)))

    def sigmoid(self, x):
        x = _float(x)
        return mx.sigmoid(x) if x.dtype != mx.float64 else super().sigmoid(x)

    def logaddexp(self, x, y):
        if mx.float64 not in (getattr(x, "dtype", None), getattr(y, "dtype", None)):
            return mx.logaddexp(x, y)
        # the larger plus softplus of the difference, each side written out so
        # that a tie gives each input half the gradient (maximum gives x all)
        return mx.where(x >= y, x + self.softplus(y - x), y + self.softplus(x - y))

    # --- hooks
    def value_and_grad(self, fn):
        def run(*args):
            *rest, wrt = args

            def total(w):
                value = fn(*rest, w)
                return mx.sum(value), value

            (_, value), grad = mx.value_and_grad(total)(wrt)
            return value, grad

        return run

    def compile(self, fn):
        _evaluate_once()

        def traced(*args, **kwargs):
            _tracing.depth += 1
            try:
                return fn(*args, **kwargs)
            finally:
                _tracing.depth -= 1

        return mx.compile(traced)

    def realize(self, tensors):
        mx.eval(list(tensors))

    # --- replicas (Metric.sync) over mx.distributed
    def replica_group(self, group=None):
        if group is None:
            # the world this program initialised (init returns it); in a process
            # mlx.launch started, init connects it as the program's own call would
            group = mx.distributed.init()
        elif not isinstance(group, mx.distributed.Group):
            raise ValueError(
                f"`group` for MLX state must be an mx.distributed.Group (from mx.distributed.init() or its "
                f"split()), or None for the world of mx.distributed.init(); received {group!r}."
            )
        return group if group.size() > 1 else None

    def all_reduce(self, tensors, reduction, group):
        collective = {"sum": mx.distributed.all_sum, "min": mx.distributed.all_min, "max": mx.distributed.all_max}
        reduce = collective[reduction]
        return _per_dtype(tensors, lambda flat: reduce(flat, group=group), 1)

    def all_gather(self, tensors, group):
        size = group.size()
        gathered = _per_dtype(tensors, lambda flat: mx.distributed.all_gather(flat, group=group), size)
        return [mx.reshape(x, [size, *t.shape]) for x, t in zip(gathered, tensors, strict=True)]

    def devices(self):
        gpu = ["gpu:0"] if mx.is_available(mx.gpu) else []
        return ["cpu:0", *gpu]

    def to_device(self, x, device):
        super().to_device(x, device)  # names an unknown device
        return x  # unified memory: the stream, not the array, picks the device


def _per_dtype(tensors, collective, replicas):
    """``collective`` run once per dtype on the flattened ``tensors`` of that
    dtype joined, its result (``replicas`` blocks of the joined length, one
    per replica) cut back into each tensor's part: ``replicas`` flat slices
    each, in replica order."""
    tensors = list(tensors)
    out = [None] * len(tensors)
    by_dtype = {}
    for index, x in enumerate(tensors):
        by_dtype.setdefault(x.dtype, []).append(index)
    for indices in by_dtype.values():
        sizes = [tensors[i].size for i in indices]
        total = sum(sizes)
        flat = mx.concatenate([mx.reshape(tensors[i], [-1]) for i in indices])
        # every replica holds the same shapes (the contract), so all skip an empty collective
        blocks = mx.reshape(collective(flat), [replicas, total]) if total else mx.zeros((replicas, 0), flat.dtype)
        offset = 0
        for i, n in zip(indices, sizes, strict=True):
            part = blocks[:, offset : offset + n]
            out[i] = mx.reshape(part, list(tensors[i].shape)) if replicas == 1 else part
            offset += n
    return out
