"""Loss objects with Keras 3's semantics on every backend.

``Loss`` is the class to subclass: write ``call(self, y_true, y_pred)``
against ``K`` and get reductions, sample weights, masks, serialisation and
every backend. ``LossFunctionWrapper`` turns a loss function and its options
into such an object. Reductions follow ``keras.losses.Loss`` exactly
(``reduce_weighted_values``, ``apply_mask``, ``reduce_values``), with two
documented differences: an empty batch reduces to 0 rather than to an empty
vector, and a per-sample weight ``(N,)`` on per-timestep losses ``(N, T)``
weighs whole samples (Keras 2's rule) where Keras 3 fails to broadcast.
"""

from __future__ import annotations

import functools
import math
import sys

from .. import compiling, dispatch
from ..backends.base import FLOAT_DTYPES
from ..inputs import align_pair, cast_real, check_weight_shape, squeeze_or_expand
from ..options import dtype_name
from ..registry import snake_case
from . import _keras_api, registry
from ._bridge import prepare
from .registry import deserialize, serialize

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
# reductions that divide by the element count: a mask rescales weights for them
_COUNTING = ("sum_over_batch_size", "mean")
# reductions an unweighted, unmasked call can take from all terms at once
_FUSED = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum")
_ARGNAMES = ("y_true", "y_pred", "sample_weight")
_PAIR = _ARGNAMES[:2]


def standardize_reduction(reduction):
    """``reduction`` itself when it is one of :data:`REDUCTIONS`, else a ValueError."""
    if reduction is not None and not (isinstance(reduction, str) and reduction in REDUCTIONS):
        raise ValueError(
            f"invalid `reduction`: {reduction!r}. Accepted: " + ", ".join(repr(r) for r in REDUCTIONS) + "."
        )
    return reduction


def standardize_dtype(dtype):
    """A float dtype name; None means ``floatx()`` (float32), as in Keras."""
    if dtype is None:
        return dispatch.default_backend().floatx()
    name = dtype_name(dtype)  # also a framework dtype, "mixed_float16", a keras.DTypePolicy (options.dtype_name)
    if name not in FLOAT_DTYPES:
        raise ValueError(
            f"invalid `dtype`: {dtype!r}. Accepted: None (floatx) or one of {', '.join(sorted(FLOAT_DTYPES))} "
            "(a name, a framework dtype, or a Keras mixed-precision policy: its compute dtype)."
        )
    return name


class Loss:
    """Base class of loss objects, called as ``loss(y_true, y_pred, sample_weight=None)``.

    Args:
        name: defaults to the class name in snake case.
        reduction: ``"sum_over_batch_size"`` (sum / number of elements),
            ``"sum"``, ``"mean"`` (same as the default), ``"mean_with_sample_weight"``
            (sum / sum of the weights) or ``"none"`` / None (per-sample values).
        dtype: computation dtype; inputs are cast to it (None: float32).
            Integer class labels of sparse losses stay integers.
        compile: run the forward computation through the framework's compiler
            (see ``lossbridge.compiling``); None follows the process default.

    A call resolves the backend once from ``y_true``, ``y_pred`` and
    ``sample_weight`` together and runs ``call`` with ``K`` bound to it.
    """

    #: True where ``y_true`` holds integer class ids that must not be cast
    sparse_labels = False

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None, compile=None):
        compiling.resolve(compile)  # rejects an unknown mode now rather than at the first call
        self.name = name or snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype_option = dtype
        self._dtype = standardize_dtype(dtype)
        self.compile = compile

    @property
    def dtype(self):
        return self._dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None:  # the common case: two dict lookups (dispatch.resolve_pair)
            backend, y_true, y_pred = dispatch.resolve_pair(_PAIR, y_true, y_pred)
        else:
            backend, (y_true, y_pred, sample_weight) = dispatch.resolve(_ARGNAMES, (y_true, y_pred, sample_weight))
        if _keras_api.WRAPPER_MODULE in sys.modules:  # Keras is loaded: is this Keras' weighted wrapper?
            _keras_api.refuse_weighted_keras_wrapper(self, backend)
        active = dispatch._active
        previous, active.backend = active.backend, backend
        try:
            if self.compile is False or (self.compile is None and compiling._default is False):
                return self._forward(y_true, y_pred, sample_weight)
            if compiling.resolve(self.compile):
                return compiling.call(self, backend, self._forward, y_true, y_pred, sample_weight)
            return self._forward(y_true, y_pred, sample_weight)
        finally:
            active.backend = previous

    def _forward(self, y_true, y_pred, sample_weight):
        """Cast to the loss dtype, compute per-sample values, reduce (K bound)."""
        backend = dispatch._active.backend
        dtype = self._dtype
        if backend.dtype(y_pred) != dtype:
            y_pred = cast_real(backend, y_pred, dtype, "y_pred")
        if not self.sparse_labels and backend.dtype(y_true) != dtype:
            y_true = cast_real(backend, y_true, dtype, "y_true")
        values = self.call(y_true, y_pred)
        if backend.dtype(values) != dtype:
            values = backend.cast(values, dtype)
        mask = self.compute_mask(y_true, y_pred, values)
        if sample_weight is None and mask is None:
            return reduce_values(backend, values, None, self.reduction)
        return reduce_weighted_values(backend, values, sample_weight, mask, self.reduction)

    def call(self, y_true, y_pred):
        """Per-sample loss values, written against ``K``."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(self, y_true, y_pred)")

    def compute_mask(self, y_true, y_pred, values):
        """Boolean tensor of the shape of ``values`` marking the entries that
        count (Keras' loss mask), or None when all do."""
        return None

    def get_config(self):
        config = {"name": self.name, "reduction": self.reduction}
        if self._dtype_option is not None:
            config["dtype"] = self._dtype
        if self.compile is not None:
            config["compile"] = self.compile
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __getstate__(self):
        # compiled functions are per process and rebuilt on first use; the rest
        # is plain data (a loss function travels by its module and name)
        state = dict(self.__dict__)
        state.pop(compiling.CACHE_ATTRIBUTE, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        options = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({options})"


class LossFunctionWrapper(Loss):
    """A loss function with its options bound once, as a :class:`Loss`.

    ``fn(y_true, y_pred, **kwargs)`` may be a lossbridge loss function, a
    registered name, or any function written against ``K``. As in Keras,
    ``y_true`` and ``y_pred`` are lined up (ranks differing by a trailing 1)
    before ``fn`` runs.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, compile=None, **kwargs):
        if isinstance(fn, str):
            fn = registry.lookup(fn)
        if not callable(fn) or isinstance(fn, type):
            raise TypeError(
                f"`fn` must be a loss function; received {fn!r}. Accepted: a function "
                "fn(y_true, y_pred, **options) or the registered name of one."
            )
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype, compile=compile)
        checks = getattr(fn, "check_options", None)  # the loss's declared option checks, run once here
        if checks is not None:
            kwargs = checks((), kwargs)
        self.fn = fn
        self._fn_kwargs = kwargs
        self._bind_function()

    def _bind_function(self):
        """What each call needs from ``fn`` and its options, derived once
        (here and when an unpickled object is restored)."""
        fn, kwargs = self.fn, self._fn_kwargs
        raw = getattr(fn, "raw", fn)  # already inside a bridged call: skip the entry
        self._bound = functools.partial(raw, **kwargs) if kwargs else raw
        # a lossbridge loss function runs its formula with K bound per backend
        # (no facade lookup per K op); anything else runs through the facade
        self._per_sample = getattr(fn, "per_sample", None)
        self.sparse_labels = bool(getattr(fn, "sparse", False))
        # where the loss declares how its terms reduce per sample, and this
        # class adds no mask or formula of its own, unweighted calls reduce
        # all terms at once (TermReduction)
        terms = getattr(fn, "term_reduction", None)
        plain = type(self).compute_mask is Loss.compute_mask and type(self).call is LossFunctionWrapper.call
        self._term_reduction = terms if plain and not self.sparse_labels else None
        self._terms_axis = terms.axis_of((), kwargs) if terms is not None else None

    #: attributes :meth:`_bind_function` derives from ``fn``: rebuilt, not pickled
    _DERIVED = ("_bound", "_per_sample", "_term_reduction", "_terms_axis")

    def __getstate__(self):
        state = super().__getstate__()
        for name in self._DERIVED:
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._bind_function()

    def _forward(self, y_true, y_pred, sample_weight):
        terms = self._term_reduction
        if sample_weight is not None or terms is None or self.reduction not in _FUSED:
            return super()._forward(y_true, y_pred, sample_weight)
        backend = dispatch._active.backend
        dtype = self._dtype
        if backend.dtype(y_pred) != dtype:
            y_pred = cast_real(backend, y_pred, dtype, "y_pred")
        if backend.dtype(y_true) != dtype:
            y_true = cast_real(backend, y_true, dtype, "y_true")
        y_true, y_pred = align_pair(backend, y_true, y_pred)
        elementwise = self.fn.terms(backend, y_true, y_pred, **self._fn_kwargs)
        total = terms.total(backend, elementwise, self._terms_axis, self.reduction)
        if total is None:  # empty or not yet shaped: per sample, then reduced
            total = reduce_values(
                backend, terms.per_sample(backend, elementwise, self._terms_axis), None, self.reduction
            )
        return total if backend.dtype(total) == dtype else backend.cast(total, dtype)

    def call(self, y_true, y_pred):
        backend = dispatch._active.backend or dispatch.active()
        if self.sparse_labels:
            y_true, y_pred = prepare(backend, y_true, y_pred, sparse=True)
        else:  # dtypes already match (``_forward`` cast both); the shape contract remains
            y_true, y_pred = align_pair(backend, y_true, y_pred)
        if self._per_sample is not None:
            return self._per_sample(backend, y_true, y_pred, **self._fn_kwargs)
        return self._bound(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "fn": serialize(self.fn), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        fn = deserialize(config.pop("fn"))
        return cls(fn, **config)

    def __repr__(self):
        options = {key: value for key, value in self.get_config().items() if key != "fn"}
        listed = ", ".join(f"{key}={value!r}" for key, value in options.items())
        return f"{type(self).__name__}({getattr(self.fn, '__name__', self.fn)}, {listed})"


# ---------------------------------------------------------------- reductions
def reduce_weighted_values(backend, values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Keras' ``reduce_weighted_values``: merge ``mask`` into the weights,
    line their rank up with ``values``, multiply, reduce."""
    if mask is not None:
        sample_weight = apply_mask(backend, sample_weight, mask, backend.dtype(values), reduction)
    if sample_weight is not None:
        if backend.dtype(sample_weight) != backend.dtype(values):
            sample_weight = backend.cast(sample_weight, backend.dtype(values))
        values, sample_weight = match_ranks(backend, values, sample_weight)
        values = values * sample_weight
    return reduce_values(backend, values, sample_weight, reduction)


def reduce_values(backend, values, sample_weight=None, reduction="sum_over_batch_size"):
    """``sum(values)``, divided by the element count (``"sum_over_batch_size"``,
    ``"mean"``) or by ``sum(sample_weight)`` (``"mean_with_sample_weight"``);
    a zero divisor gives 0. ``"none"``/None, or scalar values, pass through."""
    if reduction is None or reduction == "none":
        return values
    shape = backend.shape(values)
    if reduction in _COUNTING and shape and None not in shape:  # the default, without more tests
        return backend.mean(values) if 0 not in shape else backend.sum(values)
    if shape == ():
        return values
    if reduction == "sum":
        return backend.sum(values)
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return divide_no_nan(backend, backend.sum(values), backend.sum(sample_weight))
    if None in shape:  # a shape only known when the graph runs
        return divide_no_nan(backend, backend.sum(values), backend.sum(backend.ones_like(values)))
    # sum / element count is the mean: one fused op; an empty batch sums to 0
    return backend.mean(values) if math.prod(shape) else backend.sum(values)


def apply_mask(backend, sample_weight, mask, dtype, reduction):
    """Fold a boolean ``mask`` into ``sample_weight``. For the counting
    reductions a kept entry weighs ``total / kept``, so that dividing by the
    element count divides by the kept count instead (Keras' ``apply_mask``)."""
    if backend.dtype(mask) != "bool":
        mask = backend.cast(mask, "bool")
    if reduction in _COUNTING:
        total = math.prod(backend.shape(mask))
        kept = backend.sum(backend.cast(mask, dtype))
        none_kept = backend.equal(kept, 0)
        weight = backend.where(none_kept, 0.0, total / backend.where(none_kept, 1.0, kept))
        float_mask = backend.where(mask, weight, 0.0)
    else:
        float_mask = backend.cast(mask, dtype)
    if sample_weight is None:
        return float_mask
    if backend.dtype(sample_weight) != dtype:
        sample_weight = backend.cast(sample_weight, dtype)
    float_mask, sample_weight = match_ranks(backend, float_mask, sample_weight)
    return sample_weight * float_mask


def divide_no_nan(backend, x, y):
    """``x / y``, and 0 where ``y`` is 0 (with finite gradients there)."""
    zero = backend.equal(y, 0)
    return backend.where(zero, backend.zeros_like(x), x / backend.where(zero, backend.ones_like(y), y))


def match_ranks(backend, values, weights):
    """Keras' ``squeeze_or_expand_to_same_rank`` for ranks differing by a
    trailing 1, after the weight shape passed ``inputs.check_weight_shape``;
    then lower-rank weights gain trailing axes, so that ``(N,)`` weighs whole
    samples of ``(N, T)`` losses."""
    check_weight_shape(backend.shape(weights), backend.shape(values), values)
    values, weights = squeeze_or_expand(backend, values, weights)
    value_shape, weight_shape = backend.shape(values), backend.shape(weights)
    if 0 < len(weight_shape) < len(value_shape):
        for _ in range(len(value_shape) - len(weight_shape)):
            weights = backend.expand_dims(weights, -1)
    return values, weights
