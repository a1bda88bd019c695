"""The adapter contract: primitives every backend maps to its framework, and
numerically stable defaults for the composites.

An adapter subclasses :class:`Backend`, fills in the primitives with one or two
framework calls each, and may override a composite with the framework's fused
op. Everything here is written against ``self`` only, so a composite default
runs unchanged on every framework.
"""

from __future__ import annotations

import math

FLOAT_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64"})
#: integer dtype names, signed then unsigned
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
#: every dtype name an adapter may map (an adapter keeps those its library has)
DTYPE_NAMES = ("float16", "bfloat16", "float32", "float64", *INT_DTYPES, "complex64", "complex128", "bool")
HALF_DTYPES = frozenset({"float16", "bfloat16"})
#: the float dtypes a batch is summed in as it is (half precision sums overflow: they are cast first)
FULL_FLOAT_DTYPES = FLOAT_DTYPES - HALF_DTYPES
#: the largest finite value of each float dtype
FLOAT_MAX = {
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
    "float32": 3.4028234663852886e38,
    "float64": 1.7976931348623157e308,
}


def _over_nothing(shape, axis):
    """Whether a reduction of a ``shape`` tensor over ``axis`` (None: all)
    reads no entries; unknown (traced) sizes count as entries."""
    axes = range(len(shape)) if axis is None else axis if isinstance(axis, (tuple, list)) else (axis,)
    return any(shape[a] == 0 for a in axes)


def primitive(signature_and_rule):
    """A primitive of the contract: every adapter implements it (one or two
    framework calls); the base raises NotImplementedError naming it. The text
    is ``"name(args): rule"``, its first line the method's docstring."""
    name = signature_and_rule.partition("(")[0]

    def missing(self, *args, **kwargs):
        raise NotImplementedError(f"the {self.name} backend does not implement the primitive {name}")

    missing.__name__ = missing.__qualname__ = name
    missing.__doc__ = signature_and_rule
    missing.is_primitive = True
    return missing


class Backend:
    """Base class of the framework adapters (one instance per framework)."""

    #: registry name, e.g. ``"torch"``
    name = "base"
    #: top-level module names whose array types this backend owns; detection
    #: reads ``type(x).__module__`` so it never imports the framework
    type_modules: tuple[str, ...] = ()
    #: dtype of metric state: float64 where the framework computes in it
    accumulator_dtype = "float64"
    #: pip extra that installs the framework
    extra = ""

    _floatx = "float32"

    def __repr__(self):
        return f"<lossbridge backend {self.name!r}>"

    # ============================================================ primitives
    # The contract. Conventions for all of them: ``axis`` is an int, a tuple
    # or None (all axes); ``keepdims`` defaults to False; integer and bool
    # inputs to float math are cast to floatx(); half-precision reductions
    # accumulate in float32; results stay on the inputs' device. Where
    # entries are ordered (argmax, top_k, sort), NaN ranks above +inf, as
    # NumPy sorts it and torch and JAX pick it: every backend then gives one
    # answer for a NaN score (TF's kernels skip or misplace it).
    # --- conversion and metadata
    is_tensor = primitive("is_tensor(x): whether x is this framework's tensor (or variable)")
    convert_to_tensor = primitive(
        "convert_to_tensor(x, dtype=None, like=None): a tensor of x (NumPy or Python data) on like's device"
    )
    to_numpy = primitive("to_numpy(x): a NumPy array of x's values (copied to the host)")
    from_dlpack = primitive("from_dlpack(x): a tensor sharing the memory of a DLPack-capable x")
    cast = primitive("cast(x, dtype): x in dtype, a name such as 'float32', 'int32', 'bool'")
    dtype = primitive("dtype(x): x's dtype as a name ('float32', 'bfloat16', 'int64', 'complex64', ...)")
    shape = primitive("shape(x): a tuple of ints, None for a size known only when a graph runs")
    ndim = primitive("ndim(x): the rank, an int")
    device = primitive("device(x): the device x lives on, as a 'kind:index' name")
    stop_gradient = primitive("stop_gradient(x): x, with no gradient flowing back through it")
    # --- reductions: axis/keepdims as above; mean of ints/bools in floatx()
    mean = primitive("mean(x, axis=None, keepdims=False): the average; an empty slice gives nan")
    sum = primitive("sum(x, axis=None, keepdims=False): the sum, in x's dtype (bool sums count)")
    max = primitive("max(x, axis=None, keepdims=False): the largest entry")
    min = primitive("min(x, axis=None, keepdims=False): the smallest entry")
    any = primitive("any(x, axis=None, keepdims=False): bool, whether any entry is true")
    all = primitive("all(x, axis=None, keepdims=False): bool, whether every entry is true")
    argmax = primitive("argmax(x, axis=-1): int index of the largest entry, the first among ties (a NaN is largest)")
    cumsum = primitive("cumsum(x, axis=0): running sums along one axis, in x's dtype")
    # --- elementwise math: ints/bools become floatx() where the result is a float
    square = primitive("square(x): x * x")
    abs = primitive("abs(x): |x|, in x's dtype")
    sqrt = primitive("sqrt(x): the square root")
    exp = primitive("exp(x): e ** x")
    log = primitive("log(x): the natural log; log(0) = -inf")
    log1p = primitive("log1p(x): log(1 + x), exact for small x")
    tanh = primitive("tanh(x): the hyperbolic tangent")
    sign = primitive("sign(x): -1, 0 or 1 in x's dtype; nan stays nan")
    power = primitive("power(x, y): x ** y, y a tensor or a Python number")
    isfinite = primitive("isfinite(x): bool, neither inf nor nan")
    isnan = primitive("isnan(x): bool, nan")
    ceil = primitive("ceil(x): the smallest integer value >= x, in x's dtype")
    clip = primitive("clip(x, min=None, max=None): x limited to [min, max] (either bound optional)")
    maximum = primitive("maximum(x, y): the larger, elementwise with broadcasting")
    minimum = primitive("minimum(x, y): the smaller, elementwise with broadcasting")
    where = primitive("where(condition, x, y): x where condition (bool) holds, else y, with broadcasting")
    equal = primitive("equal(x, y): bool x == y, elementwise with broadcasting")
    logical_and = primitive("logical_and(x, y): bool")
    logical_or = primitive("logical_or(x, y): bool")
    logical_not = primitive("logical_not(x): bool")
    # --- shapes and construction
    reshape = primitive("reshape(x, shape): x with a new shape (-1 inferred)")
    expand_dims = primitive("expand_dims(x, axis): a size-1 axis inserted at axis")
    squeeze = primitive("squeeze(x, axis=None): size-1 axes removed (only axis, where given)")
    transpose = primitive("transpose(x, axes=None): axes permuted (reversed by default)")
    broadcast_to = primitive("broadcast_to(x, shape): x broadcast to shape")
    concatenate = primitive("concatenate(tensors, axis=0): joined along an existing axis")
    stack = primitive("stack(tensors, axis=0): joined along a new axis")
    flip = primitive("flip(x, axis=None): entries in reverse order along axis")
    zeros = primitive("zeros(shape, dtype='float32', like=None): zeros on like's device")
    ones = primitive("ones(shape, dtype='float32', like=None): ones on like's device")
    zeros_like = primitive("zeros_like(x, dtype=None): zeros of x's shape (and dtype unless given)")
    ones_like = primitive("ones_like(x, dtype=None): ones of x's shape (and dtype unless given)")
    arange = primitive("arange(n, dtype='int32', like=None): 0 .. n-1 on like's device")
    one_hot = primitive("one_hot(indices, num_classes, axis=-1, dtype=None): one-hot rows in dtype (floatx)")
    # --- indexing and counting
    take_along_axis = primitive("take_along_axis(x, indices, axis): NumPy's take_along_axis")
    top_k = primitive("top_k(x, k): (values, int indices) of the k largest along the last axis, descending (NaN first)")
    sort = primitive("sort(x, axis=-1): ascending (NaN last)")
    bincount = primitive(
        "bincount(x, weights=None, minlength=0): counts (int64) or weight sums (in the weights' dtype) of flat "
        "non-negative ints, max(minlength, largest id + 1) long"
    )
    segment_sum = primitive(
        "segment_sum(data, segment_ids, num_segments): flat sums per id (integer counts of ids when data is None, "
        "int32 or int64 as the framework counts)"
    )
    matmul = primitive("matmul(x, y): the matrix product over the last two axes")

    # ------------------------------------------------------------ dtypes
    def epsilon(self):
        return 1e-7

    def floatx(self):
        return self._floatx

    def rsqrt(self, x):
        return 1.0 / self.sqrt(x)

    def scale(self, x, factor):
        """``x * factor`` for a Python number ``factor``, in ``x``'s float dtype
        (integers and bools in ``floatx()``); adapters where a Python operand
        is slow (PyTorch and JAX convert one per op) multiply by a cached
        constant or kernel instead."""
        return self.ensure_float(x) * factor

    def same_shape(self, x, y):
        """``shape(x) == shape(y)``, which adapters answer without building tuples."""
        return self.shape(x) == self.shape(y)

    def is_float(self, x):
        return self.dtype(x) in FLOAT_DTYPES

    def ensure_float(self, x):
        """Cast integer and boolean tensors to ``floatx()``; keep float dtypes."""
        return x if self.dtype(x) in FLOAT_DTYPES else self.cast(x, self._floatx)

    # ------------------------------------------------------------ conversion
    def from_foreign(self, x, source: Backend):
        """Bring a tensor of another backend here: DLPack where both sides
        speak it (zero-copy), else through NumPy."""
        if source.name != "numpy" and hasattr(x, "__dlpack__"):
            try:
                return self.from_dlpack(x)
            except Exception:  # noqa: BLE001 - device or dtype DLPack cannot carry
                pass
        return self.convert_to_tensor(source.to_numpy(x))

    def is_concrete(self, x):
        """Whether the values of ``x`` can be read now (not a tracer or graph
        tensor). Value checks such as label ranges run only then."""
        return True

    def host_values(self, x):
        """The values of ``x`` as a NumPy array where they can be read now,
        else None (a compiler traces, or the array is lazy): the one way value
        checks read a tensor, so that an adapter which cannot tell a trace in
        advance (MLX under a bare ``mx.compile``) can answer by trying."""
        return self.to_numpy(x) if self.is_concrete(x) else None

    def tracing_python(self):
        """Whether a compiler is tracing the running Python code itself, by
        its bytecode (torch.compile's Dynamo): Python-side caches must not be
        filled then, since making their objects would break the graph. False
        where tracing runs the Python as it is (jax.jit, tf.function, MLX)."""
        return False

    def rows_first_when_compiled(self):
        """Whether a Loss object traced by this backend's compiler should
        reduce each sample's row-normalized terms (log_softmax, a norm) before
        the batch, rather than all terms in one reduction, which splits the
        normalization off the kernel that makes the terms and reads the inputs
        twice (TermReduction.total)."""
        return False

    def materialize(self, x):
        """``x``, computed in full before its consumers: a fusion boundary for
        a compiler that would otherwise fuse them badly; a no-op elsewhere."""
        return x

    def realize(self, tensors):
        """Compute ``tensors`` (an iterable) now, where the framework builds
        arrays lazily: what a stateful metric keeps is then values, not a
        graph that grows with every update and holds every batch it saw. A
        no-op for eager frameworks (MLX overrides it)."""

    # ------------------------------------------------------------ composites
    def softplus(self, x):
        # max(x, 0) + log1p(exp(-|x|)) never overflows
        x = self.ensure_float(x)
        return self.maximum(x, 0.0) + self.log1p(self.exp(-self.abs(x)))

    def sigmoid(self, x):
        x = self.ensure_float(x)
        # e = exp(-|x|) never overflows; written with where rather than abs so
        # that the gradient at x = 0 is 1/4 (abs's gradient there is 0 in
        # frameworks that take sign(0) = 0, which made it 0)
        nonnegative = x >= 0
        e = self.exp(self.where(nonnegative, -x, x))
        return self.where(nonnegative, 1.0 / (1.0 + e), e / (1.0 + e))

    def log_sigmoid(self, x):
        return -self.softplus(-self.ensure_float(x))

    def sigmoid_cross_entropy(self, labels, logits):
        """``softplus(x) - y x`` elementwise, for logits ``x`` and labels ``y``
        of one shape: binary cross-entropy from logits (Keras'
        ``binary_crossentropy(from_logits=True)`` before its mean). Exact at
        infinite logits, where the formula alone is ``inf - inf``: the limit is
        0 where the label sits on the logit's side (``y = 1`` at ``+inf``, 0 at
        ``-inf``) and ``+inf`` elsewhere. NaN logits give NaN."""
        x = self.ensure_float(logits)
        largest = FLOAT_MAX[self.dtype(x)]
        # on logits clipped to the largest finite value the formula is exactly 0
        # on the label's side and positive elsewhere; the clip moved exactly the
        # infinite logits (x != logits also holds for NaN, whose terms stay NaN
        # since NaN > 0 is false): one comparison, cheaper than isfinite
        clipped = self.clip(x, -largest, largest)
        terms = self.softplus(clipped) - labels * clipped
        return self.where(self.logical_and(clipped != x, terms > 0), float("inf"), terms)

    def logsumexp(self, x, axis=None, keepdims=False):
        x = self.ensure_float(x)
        if _over_nothing(self.shape(x), axis):
            # log(0) = -inf, as torch's, JAX's and TF's own give it; a max over no entries raises on NumPy
            # and MLX (an empty sum is 0, and 0 - inf has no log(0) warning)
            return self.sum(self.exp(x), axis=axis, keepdims=keepdims) - float("inf")
        peak = self.stop_gradient(self.max(x, axis=axis, keepdims=True))
        # an all -inf slice would give (-inf) - (-inf) = nan
        peak = self.where(self.isfinite(peak), peak, 0.0)
        out = self.log(self.sum(self.exp(x - peak), axis=axis, keepdims=True)) + peak
        return out if keepdims else self.squeeze(out, axis)

    def log_softmax(self, x, axis=-1):
        x = self.ensure_float(x)
        if _over_nothing(self.shape(x), axis):  # no entries to normalise: the empty result
            return x
        # shifted by the slice's max, as torch's, JAX's and TF's fused kernels are: a slice holding +inf
        # is NaN throughout (x - logsumexp(x) gave -inf beside its NaN, so NumPy's and MLX's sparse
        # cross-entropy said inf where the others said NaN)
        shifted = x - self.stop_gradient(self.max(x, axis=axis, keepdims=True))
        return shifted - self.log(self.sum(self.exp(shifted), axis=axis, keepdims=True))

    def softmax(self, x, axis=-1):
        x = self.ensure_float(x)
        if _over_nothing(self.shape(x), axis):
            return x
        e = self.exp(x - self.stop_gradient(self.max(x, axis=axis, keepdims=True)))
        return e / self.sum(e, axis=axis, keepdims=True)

    def l2_normalize(self, x, axis=-1, epsilon=1e-12):
        x = self.ensure_float(x)
        dtype = self.dtype(x)
        if dtype in HALF_DTYPES:
            # the squared norm and epsilon underflow to 0 in half precision (0/0 for a zero vector)
            return self.cast(self.l2_normalize(self.cast(x, "float32"), axis, epsilon), dtype)
        square_sum = self.sum(self.square(x), axis=axis, keepdims=True)
        # one reciprocal square root per vector, then a multiply: cheaper than
        # dividing every element (TF cosine on 10^7 floats: 13% faster)
        return x * self.rsqrt(self.maximum(square_sum, epsilon))

    def pick_along_axis(self, x, indices, axis):
        """One entry of ``x`` per position along ``axis``, at ``indices`` (the
        shape of ``x`` without ``axis``, as is the result): the pick of a
        sparse cross-entropy. An index outside ``[0, x.shape[axis])`` never
        wraps, clamps or reads out of bounds: it raises IndexError where the
        indices can be read (here on the host; adapters whose gather checks
        on the device by that gather), and while a compiler traces, where
        nothing can raise, its pick is NaN (a float ``x``). Frameworks' own
        traced gathers differ there (JAX wraps -1 to the last class and
        narrows an int64 2**32 + 1 to 1), so the range is tested in the
        indices' own dtype before the gather sees them."""
        size = self.shape(x)[axis]
        values = self.host_values(indices)
        if values is not None:
            if values.size and (values.min() < 0 or values.max() >= size):
                raise IndexError(f"index out of range [0, {size})")
            return self.squeeze(self.take_along_axis(x, self.expand_dims(indices, axis), axis), axis)
        inside = self.logical_and(indices >= 0, indices < size)
        safe = self.where(inside, indices, self.zeros_like(indices))
        picked = self.squeeze(self.take_along_axis(x, self.expand_dims(safe, axis), axis), axis)
        if not self.is_float(picked):  # (the dtype is known at trace time: no value is read)
            raise TypeError(
                f"pick_along_axis under a compiler takes a float x (the pick of an id out of range is "
                f"NaN); received {self.dtype(picked)}"
            )
        return self.where(inside, picked, self.zeros_like(picked) + math.nan)

    def sparse_softmax_cross_entropy(self, labels, logits, axis=-1):
        """``-log_softmax(logits)[labels]`` along ``axis``: ``labels`` integer
        ids of ``logits``' shape without ``axis``. Out-of-range ids raise
        IndexError as in :meth:`pick_along_axis`. Adapters use the
        framework's fused kernel where it has one."""
        return -self.pick_along_axis(self.log_softmax(logits, axis), labels, axis)

    def xlogy(self, x, y):
        # where(x == 0, 0, ...) alone would still send nan gradients through log(0)
        x, y = self.ensure_float(x), self.ensure_float(y)
        safe_y = self.where(x == 0, self.ones_like(y), y)
        return self.where(x == 0, self.zeros_like(x * y), x * self.log(safe_y))

    def logaddexp(self, x, y):
        peak = self.maximum(x, y)
        return peak + self.softplus(-self.abs(x - y))

    # ------------------------------------------------------------ sequence losses
    #: log of a probability too small to matter, finite so that no gradient
    #: meets (-inf) - (-inf)
    _CTC_LOG_ZERO = -1e30

    def ctc_loss(self, labels, logits, label_length, logit_length, blank=0):
        """Connectionist temporal classification, ``-log p(labels | logits)``
        summed over every alignment (Graves et al., ICML 2006).

        ``labels`` (B, L) integer ids of which the first ``label_length[b]``
        count; ``logits`` (B, T, C) unnormalised scores of which the first
        ``logit_length[b]`` steps count; ``blank`` the blank id. Returns (B,)
        in the dtype of ``logits`` (computed in at least float32). The forward
        recursion runs in log space over the extended sequence
        ``blank, l1, blank, l2, ..., blank``, one step per time step, so it
        traces under jit for fixed shapes. No alignment at all gives +inf.
        """
        dtype = self.dtype(logits)
        work = dtype if dtype in FLOAT_DTYPES and dtype not in HALF_DTYPES else "float32"
        log_probs = self.log_softmax(self.cast(logits, work), axis=-1)
        extended = self._ctc_extended(self.cast(labels, "int32"), blank)
        batch, steps = self.shape(log_probs)[:2]
        size = self.shape(extended)[1]
        index = self.broadcast_to(self.expand_dims(extended, 1), (batch, steps, size))
        emit = self.transpose(self.take_along_axis(log_probs, index, axis=2), (1, 0, 2))
        skip = None
        if size >= 3:  # a step over a blank is allowed onto a label unlike the one two back
            two_back = self.concatenate([extended[:, :2] * 0 - 1, extended[:, :-2]], axis=1)
            # label positions are the odd ones: a label equal to the blank id (Keras
            # counts a 0 inside the label length as a label) is still skipped onto
            at_label = self.arange(size, like=extended) % 2 == 1
            skip = self.logical_and(at_label, self.logical_not(self.equal(extended, two_back)))
        alpha = self.where(self.arange(size, like=extended) < 2, emit[0, ...], self._CTC_LOG_ZERO)
        alpha = self._ctc_recursion(alpha, emit, skip, self.expand_dims(self.cast(logit_length, "int32"), 1))
        loss = -self._ctc_final(alpha, self.cast(label_length, "int32"))
        loss = self.where(loss > -0.5 * self._CTC_LOG_ZERO, float("inf"), loss)
        return self.cast(loss, dtype) if dtype in FLOAT_DTYPES else loss

    def _ctc_extended(self, labels, blank):
        """(B, L) labels -> (B, 2L + 1): a blank before, between and after them."""
        batch, length = self.shape(labels)
        blanks = labels * 0 + blank
        woven = self.reshape(self.stack([blanks, labels], axis=-1), (batch, 2 * length))
        return self.concatenate([woven, self.zeros((batch, 1), "int32", like=labels) + blank], axis=1)

    def _ctc_recursion(self, alpha, emit, skip, lengths):
        """Steps 1 .. T-1 (a Python loop; an adapter may use its scan);
        a sample past its own length keeps its alpha."""
        for t in range(1, self.shape(emit)[0]):
            alpha = self.where(t < lengths, self._ctc_step(alpha, emit[t, ...], skip), alpha)
        return alpha

    def _ctc_step(self, alpha, emit, skip):
        """One time step of the forward recursion, in log space."""
        floor = self.ones_like(alpha[:, :1]) * self._CTC_LOG_ZERO
        one_back = self.concatenate([floor, alpha[:, :-1]], axis=1)
        merged = self.logaddexp(alpha, one_back)
        if skip is not None:
            two_back = self.concatenate([floor, one_back[:, :-1]], axis=1)
            merged = self.logaddexp(merged, self.where(skip, two_back, self._CTC_LOG_ZERO))
        return merged + emit

    def _ctc_final(self, alpha, label_length):
        """log p: the last label or the blank after it, at the last step."""
        last = self.expand_dims(2 * label_length, 1)
        end = self.take_along_axis(alpha, last, axis=1)
        before = self.take_along_axis(alpha, self.maximum(last - 1, 0), axis=1)
        before = self.where(last > 0, before, self._CTC_LOG_ZERO)
        return self.squeeze(self.logaddexp(end, before), 1)

    # ------------------------------------------------------------ helpers for hooks
    def value_and_grad(self, fn):
        """``fn(*args) -> tensor`` becomes ``g(*args) -> (value, d sum(value) / d args[-1])``."""
        raise NotImplementedError(f"the {self.name} backend has no autograd")

    def compile(self, fn):
        """The framework's own compiler (jax.jit, torch.compile, tf.function)."""
        return fn

    def fused(self, fn, short=False):
        """``fn``, a pure function of tensors, as one kernel where that is
        cheap even in eager code: ``jax.jit`` on JAX (every eager op is a
        dispatch and a pass over memory), a ``tf.function`` graph on TensorFlow
        (no Python dispatch per op; ~0.1 s to trace). ``fn`` itself on NumPy
        and PyTorch, whose eager ops are fast and whose compiler takes seconds.
        ``short``: ``fn`` is a handful of ops, fewer than a fused call's fixed
        cost is worth where that cost is high (a TensorFlow graph call, ~0.2 ms
        on a CPU: ``fn`` itself there)."""
        return fn

    # ------------------------------------------------------------ replicas (Metric.sync)
    # How metric state is combined across the replicas of a data-parallel run
    # with the framework's own collectives (lossbridge.metrics._replicas calls
    # them). Tensors stay on their device. An adapter without these hooks has
    # no replicas: sync raises NotImplementedError there, never a silent
    # local result.
    def replica_group(self, group=None):
        """The communicator ``group`` names, resolved (a torch ProcessGroup, a
        JAX axis name inside ``shard_map`` / ``pmap``, a tf.distribute
        ReplicaContext or Strategy), or None where there is no replica but
        this one (nothing to sync). ``group=None`` asks for the default: the
        framework's distributed world when one is up. Starts nothing; a group
        this backend cannot use raises ValueError naming it."""
        raise NotImplementedError(f"the {self.name} backend does not implement the replica hook replica_group")

    def all_reduce(self, tensors, reduction, group):
        """``tensors`` (a list) each combined elementwise across the replicas
        of ``group`` (from :meth:`replica_group`) by ``reduction``: ``"sum"``,
        ``"min"`` or ``"max"``. Every replica gets the same list back; the
        inputs are not changed. Batched: one collective per dtype where the
        engine takes a flat buffer."""
        raise NotImplementedError(f"the {self.name} backend does not implement the replica hook all_reduce")

    def all_gather(self, tensors, group):
        """``tensors`` (a list; each of one shape on every replica) each
        stacked along a new leading axis, one slice per replica of ``group``
        in replica order: ``(replicas, *shape)``."""
        raise NotImplementedError(f"the {self.name} backend does not implement the replica hook all_gather")

    # ------------------------------------------------------------ devices (python -m lossbridge report)
    def devices(self) -> list[str]:
        """The devices this framework can compute on here, as ``"kind:index"``
        names (``"cpu:0"``, ``"cuda:0"``, ``"gpu:0"``); the CPU first."""
        return ["cpu:0"]

    def to_device(self, x, device: str):
        """``x`` copied to ``device``, one of :meth:`devices`."""
        if device not in self.devices():
            raise ValueError(f"the {self.name} backend has no device {device!r}; available: {self.devices()}")
        return x
