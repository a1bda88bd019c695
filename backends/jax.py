"""JAX adapter."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp as _logsumexp
from jax.scipy.special import xlogy as _xlogy

from .base import HALF_DTYPES, Backend

_FLOATS = frozenset(jnp.dtype(name) for name in ("float16", "bfloat16", "float32", "float64"))
# dtype -> name: ``dtype.name`` costs ~1.4 us a read and is read on every call
_NAMES: dict = {}


# jitted, a lax primitive takes jax's C++ dispatch path: 3.6 us eagerly, not 7.4
_rsqrt = jax.jit(jax.lax.rsqrt)
# eagerly, jnp.zeros_like / ones_like copy a host constant to the device (~55 us);
# jitted, the constant is part of the program (~4.4 us)
_zeros_like = jax.jit(jnp.zeros_like, static_argnames=("dtype",))
_ones_like = jax.jit(jnp.ones_like, static_argnames=("dtype",))
# an eager op with a Python operand converts it first (~2.5 us of a ~6 us op);
# a kernel compiled per factor takes none
_scaled = jax.jit(lambda x, factor: x * factor, static_argnums=1)


@jax.custom_jvp
def _softplus_formula(x):
    # jax.nn.softplus is logaddexp(x, 0), whose nan/inf guards keep XLA on the
    # CPU from fusing it: 24 ms at 10^7 float32 under jit, where this form
    # takes 4.3 ms. Its own kinks at 0 would give a gradient of 0 there, hence
    # the rule: d softplus / dx = sigmoid(x)
    return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


@_softplus_formula.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return _softplus_formula(x), jax.nn.sigmoid(x) * dx


_softplus = jax.jit(_softplus_formula)
# jax.scipy's logsumexp is not jitted: eagerly it runs ~12 ops, each one
# dispatch (and, at each new shape, one XLA compile); jitted it is one of each
_logsumexp_jit = jax.jit(_logsumexp, static_argnames=("axis", "keepdims"))
_log_sigmoid = jax.jit(lambda x: -_softplus_formula(-x))


@jax.custom_jvp
def _fusion_boundary(x):
    return jax.lax.optimization_barrier(x)


@_fusion_boundary.defjvp
def _fusion_boundary_jvp(primals, tangents):
    # differentiated, the forward and backward fuse best as XLA sees fit:
    # through the barrier jitted grad of CCE took 0.40 ms, without it 0.33 ms
    # (H100, 2^26 logits), while the forward alone runs 0.39 -> 0.21 ms with it
    return primals[0], tangents[0]


def _float(x):
    # jnp.asarray of a jax array still costs ~5 us: skip it for arrays and tracers
    if not isinstance(x, jax.Array):
        x = jnp.asarray(x)
    return x if x.dtype in _FLOATS or jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def _name(dtype):
    name = _NAMES.get(dtype)
    if name is None:
        name = _NAMES[dtype] = dtype.name
    return name


def _check_fits_without_x64(x, dtype):
    """Without x64, JAX narrows a NumPy int64 (uint64) array to int32 (uint32)
    by wrapping its values, silently: a label of 2**32 + 1 becomes class 1.
    Such an array whose values do not fit raises instead (a float target
    converts on the host and keeps them)."""
    if jax.config.jax_enable_x64 or (dtype is not None and np.dtype(dtype).kind == "f") or not x.size:
        return
    narrow = np.dtype(np.int32 if x.dtype.kind == "i" else np.uint32)
    info = np.iinfo(narrow)
    low, high = x.min(), x.max()
    if low < info.min or high > info.max:
        value = high if high > info.max else low
        raise ValueError(
            f"a NumPy {x.dtype} array of shape {x.shape} holding {int(value)} cannot become a JAX array: without "
            f"jax_enable_x64 JAX keeps {narrow.name} and would wrap it to {int(np.asarray(value).astype(narrow))}. "
            f"Accepted: values within {narrow.name}, or 64-bit JAX (jax.config.update('jax_enable_x64', True))."
        )


# concrete arrays, checked by type identity (isinstance(x, jax.Array) goes
# through an ABC check); tracers take the general paths
_ARRAY_TYPES = frozenset({type(jnp.zeros(()))})
_FULL = frozenset({jnp.dtype("float32"), jnp.dtype("float64")})


class JaxBackend(Backend):
    name = "jax"
    extra = "jax"

    @property
    def accumulator_dtype(self):
        # float64 only exists when the user enabled jax_enable_x64
        return "float64" if jax.config.jax_enable_x64 else "float32"

    # --- conversion and metadata
    def is_tensor(self, x):
        return isinstance(x, jax.Array)

    def convert_to_tensor(self, x, dtype=None, like=None):
        if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind in "iu" and x.dtype.itemsize == 8:
            _check_fits_without_x64(x, dtype)
        out = jnp.asarray(x, dtype=dtype)
        device = _device(like)
        return out if device is None else jax.device_put(out, device)

    def to_numpy(self, x):
        return np.asarray(x)

    def from_dlpack(self, x):
        return jnp.from_dlpack(x)

    def from_foreign(self, x, source):
        # without x64, DLPack narrows a 64-bit int tensor by wrapping it, as jnp.asarray does
        # (2**32 + 1 becomes 1): such a tensor goes through NumPy, where its range is checked
        if not jax.config.jax_enable_x64 and source.dtype(x) in ("int64", "uint64"):
            return self.convert_to_tensor(source.to_numpy(x))
        return super().from_foreign(x, source)

    def cast(self, x, dtype):
        if type(x) in _ARRAY_TYPES and x.dtype == dtype:
            return x  # astype would return x too, after ~4 us of dispatch
        if not isinstance(x, jax.Array):  # host data converts to dtype on the host (wide ints to floats intact)
            return self.convert_to_tensor(x, dtype)
        return x.astype(dtype)

    def dtype(self, x):
        if type(x) in _ARRAY_TYPES:
            return _NAMES.get(x.dtype) or _name(x.dtype)
        return _name(x.dtype if isinstance(x, jax.Array) else jnp.asarray(x).dtype)

    def shape(self, x):
        return x.shape if type(x) in _ARRAY_TYPES else tuple(jnp.shape(x))

    def ndim(self, x):
        return jnp.ndim(x)

    def device(self, x):
        return str(_device(x) or jax.devices()[0])

    def stop_gradient(self, x):
        if type(x) in _ARRAY_TYPES:
            return x  # a concrete array carries no gradient (under jax.grad inputs are tracers); saves ~6 us
        return jax.lax.stop_gradient(x)

    def is_concrete(self, x):
        return not isinstance(x, jax.core.Tracer)

    def rows_first_when_compiled(self):
        # on a GPU, XLA fuses CCE's batch mean into its row reductions and reads
        # the logits three times; rows first, materialized, then the mean. On
        # a CPU it runs row reductions slowly (jitted CCE 3.7 -> 30 ms).
        return jax.default_backend() == "gpu"

    def materialize(self, x):
        return _fusion_boundary(x)

    # --- reductions
    def mean(self, x, axis=None, keepdims=False):
        if type(x) in _ARRAY_TYPES and x.dtype in _FULL:  # the common case, straight through
            return jnp.mean(x, axis=axis, keepdims=keepdims)
        x = _float(x)
        if _name(x.dtype) in HALF_DTYPES:
            return jnp.mean(x, axis=axis, keepdims=keepdims, dtype=jnp.float32).astype(x.dtype)
        return jnp.mean(x, axis=axis, keepdims=keepdims)

    def sum(self, x, axis=None, keepdims=False):
        if type(x) in _ARRAY_TYPES and x.dtype in _FULL:
            return jnp.sum(x, axis=axis, keepdims=keepdims)
        if _name(x.dtype) in HALF_DTYPES:
            return jnp.sum(x, axis=axis, keepdims=keepdims, dtype=jnp.float32).astype(x.dtype)
        return jnp.sum(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return jnp.max(x, axis=axis, keepdims=keepdims)

    def min(self, x, axis=None, keepdims=False):
        return jnp.min(x, axis=axis, keepdims=keepdims)

    def any(self, x, axis=None, keepdims=False):
        return jnp.any(x, axis=axis, keepdims=keepdims)

    def all(self, x, axis=None, keepdims=False):
        return jnp.all(x, axis=axis, keepdims=keepdims)

    def argmax(self, x, axis=-1):
        return jnp.argmax(x, axis=axis)

    def cumsum(self, x, axis=0):
        return jnp.cumsum(x, axis=axis)

    # --- elementwise
    def square(self, x):
        return jnp.square(x)

    def abs(self, x):
        return jnp.abs(x)

    def sqrt(self, x):
        return jnp.sqrt(_float(x))

    def rsqrt(self, x):
        return _rsqrt(_float(x))

    def scale(self, x, factor):
        return _scaled(_float(x), factor)

    def exp(self, x):
        return jnp.exp(_float(x))

    def log(self, x):
        return jnp.log(_float(x))

    def log1p(self, x):
        return jnp.log1p(_float(x))

    def tanh(self, x):
        return jnp.tanh(_float(x))

    def sign(self, x):
        return jnp.sign(x)

    def power(self, x, y):
        if type(y) in (int, float) and y == 2 and self.is_float(x):
            return jnp.square(x)  # a float exponent takes the exp/log kernel, ~2x slower eager
        return jnp.power(x, y)

    def isfinite(self, x):
        return jnp.isfinite(x)

    def isnan(self, x):
        return jnp.isnan(x)

    def clip(self, x, min=None, max=None):
        return jnp.clip(x, min, max)

    def maximum(self, x, y):
        return jnp.maximum(x, y)

    def minimum(self, x, y):
        return jnp.minimum(x, y)

    def where(self, condition, x, y):
        return jnp.where(condition, x, y)

    def equal(self, x, y):
        return jnp.equal(x, y)

    def logical_and(self, x, y):
        return jnp.logical_and(x, y)

    def logical_or(self, x, y):
        return jnp.logical_or(x, y)

    def logical_not(self, x):
        return jnp.logical_not(x)

    # --- shapes and creation
    def reshape(self, x, shape):
        return jnp.reshape(x, shape)

    def expand_dims(self, x, axis):
        return jnp.expand_dims(x, axis)

    def squeeze(self, x, axis=None):
        return jnp.squeeze(x, axis=axis)

    def transpose(self, x, axes=None):
        return jnp.transpose(x, axes)

    def broadcast_to(self, x, shape):
        return jnp.broadcast_to(x, shape)

    def concatenate(self, xs, axis=0):
        return jnp.concatenate(xs, axis=axis)

    def stack(self, xs, axis=0):
        return jnp.stack(xs, axis=axis)

    def zeros(self, shape, dtype="float32", like=None):
        # on like's device (a replica's state starts where its data is), the default one for a tracer
        return jnp.zeros(shape, dtype=dtype, device=_device(like))

    def ones(self, shape, dtype="float32", like=None):
        return jnp.ones(shape, dtype=dtype, device=_device(like))

    def zeros_like(self, x, dtype=None):
        return _zeros_like(x, dtype=dtype)

    def ones_like(self, x, dtype=None):
        return _ones_like(x, dtype=dtype)

    def arange(self, n, dtype="int32", like=None):
        return jnp.arange(n, dtype=dtype, device=_device(like))

    # --- indexing
    def one_hot(self, indices, num_classes, axis=-1, dtype=None):
        return jax.nn.one_hot(indices, num_classes, axis=axis, dtype=dtype or self._floatx)

    def take_along_axis(self, x, indices, axis):
        return jnp.take_along_axis(x, indices, axis=axis)

    def top_k(self, x, k):
        return jax.lax.top_k(x, k)

    def sort(self, x, axis=-1):
        return jnp.sort(x, axis=axis)

    def bincount(self, x, weights=None, minlength=0):
        ids = jnp.ravel(x)
        length = minlength
        if self.is_concrete(ids) and ids.size:  # under jit the length must be static: minlength
            length = max(minlength, int(jnp.max(ids)) + 1)
        return jnp.bincount(ids, None if weights is None else jnp.ravel(weights), length=length)

    def matmul(self, x, y):
        return jnp.matmul(x, y)

    def segment_sum(self, data, segment_ids, num_segments):
        if data is None:  # count the ids
            return jnp.bincount(jnp.ravel(segment_ids), length=num_segments).astype(jnp.int32)
        return jax.ops.segment_sum(jnp.ravel(data), jnp.ravel(segment_ids), num_segments=num_segments)

    def flip(self, x, axis=None):
        return jnp.flip(x, axis=axis)

    def ceil(self, x):
        return jnp.ceil(_float(x))

    # --- fused natives
    def softplus(self, x):
        return _softplus(_float(x))

    def sigmoid_cross_entropy(self, labels, logits):
        return self._fused_sigmoid_cross_entropy(labels, _float(logits))

    @functools.cached_property
    def _fused_sigmoid_cross_entropy(self):
        # the contract's exact form is six eager ops, each a dispatch and a pass
        # over memory: one jitted kernel instead (inlined under an outer jit)
        return jax.jit(super().sigmoid_cross_entropy)

    def sigmoid(self, x):
        return jax.nn.sigmoid(_float(x))

    def log_sigmoid(self, x):
        return _log_sigmoid(_float(x))

    def logsumexp(self, x, axis=None, keepdims=False):
        return _logsumexp_jit(_float(x), axis=axis if type(axis) is not list else tuple(axis), keepdims=keepdims)

    def log_softmax(self, x, axis=-1):
        return jax.nn.log_softmax(_float(x), axis=axis)

    def softmax(self, x, axis=-1):
        return jax.nn.softmax(_float(x), axis=axis)

    def xlogy(self, x, y):
        # y = 1 where x == 0: the native gradients there are 0/0 in y and log(0) in x
        x, y = _float(x), _float(y)
        return _xlogy(x, jnp.where(x == 0, jnp.ones_like(y), y))

    def logaddexp(self, x, y):
        return jnp.logaddexp(x, y)

    def _ctc_recursion(self, alpha, emit, skip, lengths):
        # one traced step under lax.scan instead of T unrolled ones
        def step(alpha, inputs):
            t, emit_t = inputs
            return jnp.where(t < lengths, self._ctc_step(alpha, emit_t, skip), alpha), None

        steps = emit.shape[0]
        alpha, _ = jax.lax.scan(step, alpha, (jnp.arange(1, steps), emit[1:]))
        return alpha

    # --- hooks
    def value_and_grad(self, fn):
        def run(*args):
            *rest, wrt = args

            def total(w):
                value = fn(*rest, w)
                return jnp.sum(value), value

            (_, value), grad = jax.value_and_grad(total, has_aux=True)(wrt)
            return value, grad

        return run

    def compile(self, fn):
        return jax.jit(fn)

    def fused(self, fn, short=False):
        return jax.jit(fn)

    # --- replicas (Metric.sync): named axes of shard_map / pmap, or jax.distributed processes
    def replica_group(self, group=None):
        if group is None:
            # across processes only once jax.distributed is up (process_count alone would start the runtime)
            if jax.distributed.is_initialized() and jax.process_count() > 1:
                return _PROCESSES
            return None
        if isinstance(group, (str, tuple)):
            return group  # an axis name (or names) of the enclosing shard_map / pmap
        raise ValueError(
            f"`group` for JAX state must be an axis name of the enclosing shard_map / pmap (a str or a tuple of "
            f"them), or None for the processes of jax.distributed; received {group!r}."
        )

    def all_reduce(self, tensors, reduction, group):
        if group is _PROCESSES:
            return _across_processes(reduction, tensors)
        return list(_REDUCTIONS[reduction](list(tensors), group))  # one collective over the whole list

    def all_gather(self, tensors, group):
        if group is _PROCESSES:
            return _across_processes("gather", tensors)
        return list(jax.lax.all_gather(list(tensors), group))

    def devices(self):
        found = {f"{d.platform}:{d.id}": d for d in jax.devices("cpu")}
        found.update({f"{d.platform}:{d.id}": d for d in jax.devices()})
        return list(found)

    def to_device(self, x, device):
        platform, index = device.split(":")
        return jax.device_put(x, jax.devices(platform)[int(index)])


def _device(x):
    if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
        devices = x.devices()
        return next(iter(devices)) if len(devices) == 1 else None
    return None


#: the group of every process of jax.distributed (``replica_group(None)`` there)
_PROCESSES = "lossbridge: jax.distributed processes"


_REDUCTIONS = {"sum": jax.lax.psum, "min": jax.lax.pmin, "max": jax.lax.pmax}


def _across_processes(kind, tensors):
    """The collective ``kind`` ("sum", "min", "max" or "gather") of
    ``tensors`` across the processes of jax.distributed, on a mesh of one
    device per process: each process's tensors become its shard of global
    arrays, so the values move between devices, never through the host. The
    result is this process's replica."""
    count = jax.process_count()
    devices = tuple(next(d for d in jax.devices() if d.process_index == p) for p in range(count))
    run, sharded = _process_collective(kind, devices)
    mine = devices[jax.process_index()]
    arrays = [
        jax.make_array_from_single_device_arrays((count, *x.shape), sharded, [jax.device_put(x[None], mine)])
        for x in tensors
    ]
    results = [x.addressable_data(0) for x in run(arrays)]
    return results if kind == "gather" else [x[0] for x in results]


@functools.cache
def _process_collective(kind, devices):
    """``(jitted collective, input sharding)`` of ``kind`` over ``devices``,
    made once: a function made afresh per sync would be traced and compiled
    afresh at every sync (~0.1 s each on a CPU), where this one compiles once
    per layout of the state and is reused."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(devices), ("processes",))

    def body(blocks):
        values = [block[0] for block in blocks]
        if kind == "gather":
            return jax.lax.all_gather(values, "processes")
        return [x[None] for x in _REDUCTIONS[kind](values, "processes")]

    # the collectives' results are the same on every process (out_specs P()); JAX cannot infer that of all_gather
    run = jax.jit(
        jax.shard_map(body, mesh=mesh, in_specs=PartitionSpec("processes"), out_specs=PartitionSpec(), check_vma=False)
    )
    return run, NamedSharding(mesh, PartitionSpec("processes"))
