"""TensorFlow adapter."""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from .base import Backend

_HALF = (tf.float16, tf.bfloat16)
#: below this log-probability (e**-300 ~ 5e-131) tf.nn.ctc_loss's gradient is not trusted (ctc_loss)
_CTC_LOWEST_LOG_PROB = -300.0
# TF interns its DTypes, so they are told apart by identity: ``==``, ``in``,
# hashing and ``.name`` on a DType each cost 0.2-0.9 us of Python
_HALF_IDS = frozenset(map(id, _HALF))
_FLOAT_IDS = frozenset(map(id, (tf.float16, tf.bfloat16, tf.float32, tf.float64)))
_NAMES = {
    id(dtype): dtype.name for dtype in (tf.float16, tf.bfloat16, tf.float32, tf.float64, tf.int32, tf.int64, tf.bool)
}


def _float(x):
    return x if id(x.dtype) in _FLOAT_IDS or x.dtype.is_floating else tf.cast(x, tf.float32)


def _axis(axis):
    return list(axis) if isinstance(axis, tuple) else axis


def _axes(x, axis):
    """``_axis``, and axis 0 for a whole rank-1 tensor: ``reduce_*(v, 0)`` costs
    ~7 us eagerly where ``reduce_*(v)`` builds a range of axes first (~13 us)."""
    if axis is None:
        return 0 if x.shape.rank == 1 else None
    return list(axis) if isinstance(axis, tuple) else axis


# ---- NaN in ordered ops (argmax, top_k, sort): TF's kernels skip a NaN unless it comes first (argmax), or
# misplace it (top_k, sort); the contract ranks it above +inf. Only inputs that hold a NaN take the slower
# exact route, found eagerly by two raw ops (~45 us; tf.reduce_any builds its axes first, ~85 us)
_ORDER_INT = {id(tf.float16): tf.int16, id(tf.bfloat16): tf.int16, id(tf.float32): tf.int32, id(tf.float64): tf.int64}
_ALL_AXES: dict = {}


def _if_any(flags, exact, plain):
    """``exact()`` where the bool tensor ``flags`` holds a true entry, else ``plain()``: decided on the host
    eagerly, by ``tf.cond`` in a graph."""
    if not tf.executing_eagerly():
        return tf.cond(tf.reduce_any(flags), exact, plain)
    rank = flags.shape.rank
    axes = _ALL_AXES.get(rank)
    if axes is None:
        axes = _ALL_AXES[rank] = tf.range(rank)
    return exact() if bool(tf.raw_ops.Any(input=flags, axis=axes)) else plain()


def _if_nan(x, exact, plain):
    """``exact()`` where ``x`` (float) holds a NaN, else ``plain()``."""
    if id(x.dtype) not in _FLOAT_IDS:
        return plain()
    return _if_any(tf.raw_ops.IsNan(x=x), exact, plain)


def _order_key(x):
    """Integers in the order of float ``x``'s values, NaN above +inf and -0.0 equal to 0.0 (the
    float's bits, with the magnitude bits of negative numbers flipped so that they count down)."""
    itype = _ORDER_INT[id(x.dtype)]
    top = itype.max
    zero = tf.zeros((), x.dtype)
    bits = tf.bitcast(tf.where(tf.equal(x, zero), zero, x), itype)  # -0.0 as 0.0 (Grappler drops an x + 0.0)
    key = tf.where(bits < 0, tf.bitwise.bitwise_xor(bits, tf.constant(top, itype)), bits)
    return tf.where(tf.math.is_nan(x), tf.constant(top, itype), key)


def _from_order_key(key, dtype):
    """The floats of :func:`_order_key` (a NaN for NaN, 0.0 for -0.0)."""
    top = tf.constant(key.dtype.max, key.dtype)
    return tf.bitcast(tf.where(key < 0, tf.bitwise.bitwise_xor(key, top), key), dtype)


def _same(y, x):
    # TF does not promote: a Python number or float64 array meets a float32 tensor
    if isinstance(y, float) and x.dtype.is_floating:
        # straight to x's dtype: tf.cast would round it through float32 first (1e-7 in float64)
        return tf.constant(y, dtype=x.dtype)
    return tf.cast(y, x.dtype) if not isinstance(y, tf.Tensor) or y.dtype != x.dtype else y


class TensorflowBackend(Backend):
    name = "tensorflow"
    extra = "tensorflow"

    # --- conversion and metadata
    def is_tensor(self, x):
        return tf.is_tensor(x)

    def convert_to_tensor(self, x, dtype=None, like=None):
        if isinstance(x, tf.Variable):
            x = x.value()
        return tf.convert_to_tensor(x, dtype=dtype) if dtype is None or not tf.is_tensor(x) else tf.cast(x, dtype)

    def to_numpy(self, x):
        return np.asarray(x.numpy() if hasattr(x, "numpy") else x)

    def from_dlpack(self, x):
        # TF's CPU kernels assume 64-byte aligned buffers and its DLPack import
        # does not check (a misaligned one aborts the process): share aligned
        # CPU buffers only, copy the others (convert_to_tensor aligns)
        if x.__dlpack_device__()[0] == 1:  # kDLCPU
            array = np.from_dlpack(x)
            if array.ctypes.data % 64:
                return tf.convert_to_tensor(array)
        return tf.experimental.dlpack.from_dlpack(x.__dlpack__())

    def cast(self, x, dtype):
        return tf.cast(x, dtype)

    def dtype(self, x):
        dtype = x.dtype
        return _NAMES.get(id(dtype)) or dtype.name

    def shape(self, x):
        shape = x.shape  # as_list is ~2x faster than iterating a TensorShape
        return tuple(shape.as_list()) if shape.rank is not None else tuple(shape)

    def ndim(self, x):
        return x.shape.rank

    def device(self, x):
        return x.device or "/device:CPU:0"

    def stop_gradient(self, x):
        return tf.stop_gradient(x)

    def is_concrete(self, x):
        return tf.executing_eagerly()

    # --- reductions
    def mean(self, x, axis=None, keepdims=False):
        x = _float(x)
        if id(x.dtype) in _HALF_IDS:
            return tf.cast(tf.reduce_mean(tf.cast(x, tf.float32), _axes(x, axis), keepdims), x.dtype)
        return tf.reduce_mean(x, _axes(x, axis), keepdims)

    def sum(self, x, axis=None, keepdims=False):
        if x.dtype == tf.bool:  # reduce_sum has no bool kernel: count in int64, as NumPy does
            return tf.reduce_sum(tf.cast(x, tf.int64), _axes(x, axis), keepdims)
        if id(x.dtype) in _HALF_IDS:
            return tf.cast(tf.reduce_sum(tf.cast(x, tf.float32), _axes(x, axis), keepdims), x.dtype)
        return tf.reduce_sum(x, _axes(x, axis), keepdims)

    def max(self, x, axis=None, keepdims=False):
        return tf.reduce_max(x, _axes(x, axis), keepdims)

    def min(self, x, axis=None, keepdims=False):
        return tf.reduce_min(x, _axes(x, axis), keepdims)

    def any(self, x, axis=None, keepdims=False):
        return tf.reduce_any(tf.cast(x, tf.bool), _axis(axis), keepdims)

    def all(self, x, axis=None, keepdims=False):
        return tf.reduce_all(tf.cast(x, tf.bool), _axis(axis), keepdims)

    def argmax(self, x, axis=-1):
        def first_nan_or_largest():
            # three more passes, so only for inputs that hold a NaN (branch-free in a graph, 10^6 x 10 took 3x;
            # the graph's tf.cond costs ~25 ms more to trace instead)
            nan = tf.math.is_nan(x)
            return tf.where(tf.reduce_any(nan, axis), tf.argmax(tf.cast(nan, tf.int32), axis), tf.argmax(x, axis))

        return _if_nan(x, first_nan_or_largest, lambda: tf.argmax(x, axis=axis))

    def cumsum(self, x, axis=0):
        return tf.cumsum(x, axis=axis)

    # --- elementwise
    def square(self, x):
        return tf.square(x)

    def abs(self, x):
        return tf.abs(x)

    def sqrt(self, x):
        return tf.sqrt(_float(x))

    def rsqrt(self, x):
        return tf.math.rsqrt(_float(x))

    def scale(self, x, factor):
        return _float(x) * factor

    def exp(self, x):
        return tf.exp(_float(x))

    def log(self, x):
        return tf.math.log(_float(x))

    def log1p(self, x):
        return tf.math.log1p(_float(x))

    def tanh(self, x):
        return tf.tanh(_float(x))

    def sign(self, x):
        return tf.sign(x)

    def power(self, x, y):
        if type(y) in (int, float) and y == 2 and self.is_float(x):
            return tf.square(x)  # tf.pow is the general exp/log kernel: 20x slower on 10^7 floats
        return tf.pow(x, _same(y, x))

    def isfinite(self, x):
        return tf.math.is_finite(x)

    def isnan(self, x):
        return tf.math.is_nan(x)

    def clip(self, x, min=None, max=None):
        if min is not None:
            x = tf.maximum(x, _same(min, x))
        return x if max is None else tf.minimum(x, _same(max, x))

    def maximum(self, x, y):
        return tf.maximum(x, _same(y, x))

    def minimum(self, x, y):
        return tf.minimum(x, _same(y, x))

    def where(self, condition, x, y):
        if not tf.is_tensor(x):
            x = _same(x, y)
        return tf.where(condition, x, _same(y, x))

    def equal(self, x, y):
        return tf.equal(x, _same(y, x))

    def logical_and(self, x, y):
        return tf.logical_and(x, y)

    def logical_or(self, x, y):
        return tf.logical_or(x, y)

    def logical_not(self, x):
        return tf.logical_not(x)

    # --- shapes and creation
    def reshape(self, x, shape):
        return tf.reshape(x, shape)

    def expand_dims(self, x, axis):
        return tf.expand_dims(x, axis)

    def squeeze(self, x, axis=None):
        return tf.squeeze(x, _axis(axis))

    def transpose(self, x, axes=None):
        return tf.transpose(x, axes)

    def broadcast_to(self, x, shape):
        return tf.broadcast_to(x, shape)

    def concatenate(self, xs, axis=0):
        return tf.concat(list(xs), axis=axis)

    def stack(self, xs, axis=0):
        return tf.stack(list(xs), axis=axis)

    def zeros(self, shape, dtype="float32", like=None):
        return tf.zeros(shape, dtype=dtype)

    def ones(self, shape, dtype="float32", like=None):
        return tf.ones(shape, dtype=dtype)

    def zeros_like(self, x, dtype=None):
        return tf.zeros_like(x, dtype=dtype)

    def ones_like(self, x, dtype=None):
        return tf.ones_like(x, dtype=dtype)

    def arange(self, n, dtype="int32", like=None):
        return tf.range(n, dtype=dtype)

    # --- indexing
    def one_hot(self, indices, num_classes, axis=-1, dtype=None):
        return tf.one_hot(tf.cast(indices, tf.int64), num_classes, axis=axis, dtype=dtype or self._floatx)

    def take_along_axis(self, x, indices, axis):
        indices = tf.cast(indices, tf.int64)
        rank, leading = x.shape.rank, x.shape[:-1]
        if (
            rank is not None
            and axis in (-1, rank - 1)
            and indices.shape.rank == rank
            and leading.is_fully_defined()
            and leading == indices.shape[:-1]
        ):
            # along the last axis with equal leading dims it is a batched gather:
            # ~20 us eagerly, where the NumPy-API version takes ~1 ms
            return tf.gather(x, indices, axis=rank - 1, batch_dims=rank - 1)
        return tf.experimental.numpy.take_along_axis(x, indices, axis=axis)

    def pick_along_axis(self, x, indices, axis):
        rank = x.shape.rank
        if axis not in (-1, rank - 1) or not self.is_concrete(x) or "CPU" not in x.device:
            return super().pick_along_axis(x, indices, axis)  # a GPU gather gives 0 out of range
        try:  # a batched gather, which on the CPU checks every index
            return tf.gather(x, indices, axis=rank - 1, batch_dims=rank - 1)
        except tf.errors.InvalidArgumentError as error:
            raise IndexError(error.message) from None

    def top_k(self, x, k):
        def exact():
            values, indices = tf.math.top_k(_order_key(x), k)
            return _from_order_key(values, x.dtype), indices

        return _if_nan(x, exact, lambda: tuple(tf.math.top_k(x, k)))

    def sort(self, x, axis=-1):
        return _if_nan(
            x, lambda: _from_order_key(tf.sort(_order_key(x), axis=axis), x.dtype), lambda: tf.sort(x, axis=axis)
        )

    def bincount(self, x, weights=None, minlength=0):
        flat = tf.reshape(tf.cast(x, tf.int32), [-1])
        if weights is None:
            return tf.math.bincount(flat, minlength=minlength, dtype=tf.int64)
        weights = tf.reshape(weights, [-1])
        if id(weights.dtype) in _HALF_IDS:  # DenseBincount has no half kernel: sum in float32
            summed = tf.math.bincount(flat, weights=tf.cast(weights, tf.float32), minlength=minlength, dtype=tf.float32)
            return tf.cast(summed, weights.dtype)
        return tf.math.bincount(flat, weights=weights, minlength=minlength, dtype=weights.dtype)

    def matmul(self, x, y):
        return tf.matmul(x, y)

    def segment_sum(self, data, segment_ids, num_segments):
        ids = tf.reshape(tf.cast(segment_ids, tf.int32), [-1])
        if data is None:  # count the ids
            return tf.math.bincount(ids, minlength=num_segments, maxlength=num_segments, dtype=tf.int32)
        data = tf.reshape(data, [-1])
        if data.dtype in (tf.int32, tf.int64, tf.float32, tf.float64):
            # bincount's kernel is ~10x faster than unsorted_segment_sum's on CPU
            return tf.math.bincount(ids, data, num_segments, num_segments, dtype=data.dtype)
        return tf.math.unsorted_segment_sum(data, ids, num_segments)

    def flip(self, x, axis=None):
        axes = list(range(x.shape.rank)) if axis is None else list(axis) if isinstance(axis, tuple) else [axis]
        return tf.reverse(x, axes)

    def ceil(self, x):
        return tf.math.ceil(_float(x))

    # --- fused natives
    def softplus(self, x):
        return tf.math.softplus(_float(x))

    def sigmoid_cross_entropy(self, labels, logits):
        x = _float(logits)
        # an eager CPU batch without an infinite logit (the common case) needs
        # neither the clip nor the fix-up of the exact form: one host read of
        # reduce_any(is_inf) costs less than their four eager ops (32x10: 81 vs
        # 127 us). Not in a graph (nothing to read) nor on a GPU (a stream sync)
        if tf.executing_eagerly() and "GPU" not in x.device and not bool(tf.reduce_any(tf.math.is_inf(x))):
            return tf.math.softplus(x) - labels * x
        return super().sigmoid_cross_entropy(labels, x)

    def sigmoid(self, x):
        return tf.sigmoid(_float(x))

    def log_sigmoid(self, x):
        return tf.math.log_sigmoid(_float(x))

    def logsumexp(self, x, axis=None, keepdims=False):
        return tf.reduce_logsumexp(_float(x), _axis(axis), keepdims)

    def log_softmax(self, x, axis=-1):
        return tf.nn.log_softmax(_float(x), axis=axis)

    def softmax(self, x, axis=-1):
        return tf.nn.softmax(_float(x), axis=axis)

    def xlogy(self, x, y):
        return tf.math.xlogy(_float(x), _float(y))

    def logaddexp(self, x, y):
        return self.maximum(x, y) + tf.math.softplus(-tf.abs(x - y))

    def ctc_loss(self, labels, logits, label_length, logit_length, blank=0):
        if logits.dtype == tf.float64:  # tf.nn.ctc_loss has float32 kernels only
            return super().ctc_loss(labels, logits, label_length, logit_length, blank)
        scores = tf.cast(logits, tf.float32)
        # tf.nn.ctc_loss is exact only while every log-probability is moderate: a -inf score (a token masked
        # out) makes it NaN ((-inf) - (-inf) in its sums; a finite stand-in gives a forced path ~709, not
        # +inf), and near float64's exp range its gradient fades (log-probabilities ~ -700 lose digits; below
        # ~ -745 a frame's gradient is 0, so a loss of 1e4 from a 1e4 logit got none). Inputs holding one
        # below _CTC_LOWEST_LOG_PROB take the base recursion, in log space throughout.
        return _if_any(
            tf.nn.log_softmax(scores) < _CTC_LOWEST_LOG_PROB,
            lambda: super(TensorflowBackend, self).ctc_loss(labels, logits, label_length, logit_length, blank),
            lambda: self._native_ctc_loss(labels, logits, scores, label_length, logit_length, blank),
        )

    def _native_ctc_loss(self, labels, logits, scores, label_length, logit_length, blank):
        loss = tf.nn.ctc_loss(
            labels=tf.cast(labels, tf.int32),
            logits=scores,
            label_length=tf.cast(label_length, tf.int32),
            logit_length=tf.cast(logit_length, tf.int32),
            logits_time_major=False,
            blank_index=blank,
        )
        # tf.nn.ctc_loss returns a large finite value where no alignment exists
        # (a label longer than its input once repeats need a blank between)
        labels, label_length = tf.cast(labels, tf.int32), tf.cast(label_length, tf.int32)
        repeated = tf.logical_and(
            tf.equal(labels[:, 1:], labels[:, :-1]),
            tf.range(1, tf.shape(labels)[1]) < label_length[:, None],
        )
        needed = label_length + tf.reduce_sum(tf.cast(repeated, tf.int32), axis=1)
        loss = tf.where(needed > tf.cast(logit_length, tf.int32), tf.constant(float("inf"), loss.dtype), loss)
        return tf.cast(loss, logits.dtype) if logits.dtype.is_floating else loss

    # --- hooks
    def value_and_grad(self, fn):
        def run(*args):
            *rest, wrt = args
            wrt = tf.convert_to_tensor(wrt)
            with tf.GradientTape() as tape:
                tape.watch(wrt)
                value = fn(*rest, wrt)
                total = tf.reduce_sum(value)
            grad = tape.gradient(total, wrt)
            return value, tf.zeros_like(wrt) if grad is None else grad

        return run

    def compile(self, fn):
        # no autograph: K code already traces under jax.jit, and autograph re-reads
        # (and rewrites) source files, warning about closures it cannot convert
        return tf.function(fn, reduce_retracing=True, autograph=False)

    def fused(self, fn, short=False):
        if short:  # a graph call costs ~0.2 ms, about what a handful of eager ops take
            return fn
        # a graph runs the kernel's ops without a Python dispatch each (about
        # half of a 1e6-element MeanIoU update); tracing takes ~0.1 s, once.
        # TensorFlow counts traces per code object to warn about "frequent
        # retracing", and every kernel of lossbridge.k.fused runs one closure's
        # code: ten metrics traced once each warned twice. A partial has no
        # code object, so each kernel is counted as itself.
        return tf.function(functools.partial(fn), reduce_retracing=True, autograph=False)

    # --- replicas (Metric.sync): tf.distribute, in a replica context or across one
    def replica_group(self, group=None):
        distribute = tf.distribute
        if group is None:
            if distribute.in_cross_replica_context():
                return None  # a state held here in cross-replica code saw the data itself
            context = distribute.get_replica_context()
            return context if context is not None and context.num_replicas_in_sync > 1 else None
        if isinstance(group, distribute.Strategy):
            # inside strategy.run, the strategy's replicas are the current context's
            context = distribute.get_replica_context()
            return context if context is not None and context.strategy is group else group
        if isinstance(group, distribute.ReplicaContext):
            return group
        raise ValueError(
            "`group` for TensorFlow state must be a tf.distribute Strategy (in cross-replica code, with the "
            f"per-replica state strategy.run returned) or ReplicaContext, or None; received {group!r}."
        )

    def all_reduce(self, tensors, reduction, group):
        if reduction != "sum":  # tf.distribute reduces by SUM or MEAN only: gather, then reduce here
            reduce = tf.reduce_min if reduction == "min" else tf.reduce_max
            return [reduce(x, axis=0) for x in self.all_gather(tensors, group)]
        if isinstance(group, tf.distribute.ReplicaContext):
            return _per_dtype(tensors, lambda flat: group.all_reduce(tf.distribute.ReduceOp.SUM, flat))
        # cross-replica: per-replica values, flattened per dtype on each replica, then strategy.reduce
        _check_per_replica(tensors)
        sizes = [group.experimental_local_results(x)[0].shape for x in tensors]
        out = list(tensors)
        for indices in _dtype_groups(group.experimental_local_results(x)[0] for x in tensors).values():
            flat = group.run(
                lambda *xs: tf.concat([tf.reshape(x, [-1]) for x in xs], 0), args=[tensors[i] for i in indices]
            )
            total = group.reduce(tf.distribute.ReduceOp.SUM, flat, axis=None)
            pieces = tf.split(total, [sizes[i].num_elements() for i in indices])
            for i, piece in zip(indices, pieces, strict=True):
                out[i] = tf.reshape(piece, sizes[i])
        return out

    def all_gather(self, tensors, group):
        if isinstance(group, tf.distribute.ReplicaContext):
            return list(group.all_gather([tf.expand_dims(x, 0) for x in tensors], axis=0))
        _check_per_replica(tensors)
        stacked = group.run(lambda *xs: [tf.expand_dims(x, 0) for x in xs], args=list(tensors))
        return [group.gather(x, axis=0) for x in stacked]

    def devices(self):
        return [f"{d.device_type.lower()}:{d.name.rsplit(':', 1)[-1]}" for d in tf.config.list_logical_devices()]

    def to_device(self, x, device):
        kind, index = device.split(":")
        with tf.device(f"/{kind.upper()}:{index}"):
            return tf.identity(x)


def _dtype_groups(tensors):
    """dtype -> indices of ``tensors`` of that dtype, in order."""
    groups: dict = {}
    for i, x in enumerate(tensors):
        groups.setdefault(x.dtype, []).append(i)
    return groups


def _check_per_replica(values):
    """Cross-replica sync combines per-replica values; a plain tensor there
    would count once per replica."""
    for x in values:
        if not isinstance(x, tf.distribute.DistributedValues):
            raise ValueError(
                "syncing over a tf.distribute Strategy in cross-replica code takes per-replica state (the "
                f"PerReplica values strategy.run returns); received a {type(x).__name__}. State updated in "
                "cross-replica code saw its data itself: there is nothing to sync."
            )


def _size(x):
    """The number of entries of ``x``: a Python int where the shape is static."""
    count = x.shape.num_elements()
    return tf.size(x) if count is None else count


def _per_dtype(tensors, reduce):
    """``reduce`` once per dtype on one flat buffer of every tensor of that
    dtype, the result split back into their shapes."""
    out = list(tensors)
    for indices in _dtype_groups(tensors).values():
        flat = tf.concat([tf.reshape(tensors[i], [-1]) for i in indices], 0)
        pieces = tf.split(reduce(flat), [_size(tensors[i]) for i in indices])
        for i, piece in zip(indices, pieces, strict=True):
            out[i] = tf.reshape(piece, tf.shape(tensors[i]))
    return out
