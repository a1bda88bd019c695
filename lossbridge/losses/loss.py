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

import math
import operator
import sys

from .. import compiling, dispatch
from ..backends.base import FLOAT_DTYPES
from ..inputs import cast_real
from ..options import UNBOUND, bound_option, with_bound_options
from ..registry import snake_case
from ..weights import COUNTING_REDUCTIONS, apply_mask, divide_no_nan, match_ranks
from . import _keras_api, registry
from .definition import definition_of
from .registry import LOSSES, deserialize, serialize

#: Keras' default reduction: the sum over the batch divided by its element count
SUM_OVER_BATCH_SIZE = "sum_over_batch_size"
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
# reductions an unweighted, unmasked call can take from all terms at once
_ONE_PASS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum")
_ARGNAMES = ("y_true", "y_pred", "sample_weight")
_PAIR = _ARGNAMES[:2]


def standardize_reduction(reduction):
    """``reduction`` itself when it is one of :data:`REDUCTIONS`, else a ValueError."""
    if reduction is not None and not (isinstance(reduction, str) and reduction in REDUCTIONS):
        raise ValueError(
            f"invalid `reduction`: {reduction!r}. Accepted: " + ", ".join(repr(r) for r in REDUCTIONS) + "."
        )
    return reduction


def standardize_global_batch_size(global_batch_size, reduction):
    """``global_batch_size`` itself when None or a positive int and the
    reduction divides by a count, else a ValueError."""
    if global_batch_size is None:
        return None
    try:  # any integer type (NumPy's too); a bool or a float is a mistake
        count = None if isinstance(global_batch_size, bool) else operator.index(global_batch_size)
    except TypeError:
        count = None
    if count is None or count < 1:
        raise ValueError(
            f"invalid `global_batch_size`: {global_batch_size!r} ({type(global_batch_size).__name__}). "
            "Accepted: None or a positive int, the samples of one step over all replicas."
        )
    if reduction not in ("sum_over_batch_size", "mean"):
        raise ValueError(
            f"`global_batch_size` divides by the global sample count, which reduction={reduction!r} does not "
            "use. Accepted with reduction='sum_over_batch_size' (or 'mean')."
        )
    return count


def standardize_dtype(dtype):
    """A float dtype name; None means ``floatx()`` (float32), as in Keras."""
    if dtype is None:
        return dispatch.default_backend().floatx()
    name = getattr(dtype, "name", dtype)
    if name not in FLOAT_DTYPES:
        raise ValueError(
            f"invalid `dtype`: {dtype!r}. Accepted: None (floatx) or one of {', '.join(sorted(FLOAT_DTYPES))}."
        )
    return name


def not_one_value_per_row(loss, shape, rows, consequence):
    """The error for a loss whose values over ``rows`` (e.g. "a block of 5
    rows") have ``shape``, not one value per row, where a caller needs one
    (``global_batch_size``, the Dask bridge): ``consequence`` says why."""
    return ValueError(
        f"{type(loss).__name__} gave values of shape {shape} for {rows}, not one value per row: it reduces over "
        f"the samples (Dice or Tversky with axis=None; a 1-D y_pred, which Keras reads as one sample), so "
        f"{consequence}. Give it one value per sample: an axis over the non-sample axes (e.g. axis=-1), or 1-D "
        "inputs a feature axis (x[:, None])."
    )


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
        global_batch_size: under data parallelism, the number of samples in
            the whole step across replicas (as ``tf.nn.compute_average_loss``
            takes it). ``"sum_over_batch_size"`` then divides each replica's
            weighted sum by this global count instead of the local one, so
            the gradients summed over replicas equal the one-process gradient
            of the global mean. Only the counting reductions take it.

    A call resolves the backend once from ``y_true``, ``y_pred`` and
    ``sample_weight`` together and runs ``call`` with ``K`` bound to it.
    """

    #: True where ``y_true`` holds integer class ids that must not be cast
    sparse_labels = False
    #: True where a sample's value depends on the other samples of its batch
    #: (pairs within it), so that the parts of a split batch give other values
    couples_samples = False

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None, compile=None, global_batch_size=None):
        compiling.resolve(compile)  # rejects an unknown mode now rather than at the first call
        self.name = name or snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype_option = dtype
        self._dtype = standardize_dtype(dtype)
        self.compile = compile
        self.global_batch_size = standardize_global_batch_size(global_batch_size, self.reduction)

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
        if compiling.off(self.compile):
            return dispatch.run_on(backend, self._forward, y_true, y_pred, sample_weight)
        return dispatch.run_on(backend, compiling.call, self, backend, self._forward, y_true, y_pred, sample_weight)

    #: the :class:`~lossbridge.losses.definition.LossDefinition` an unweighted
    #: call reduces in one pass, or None (set by LossFunctionWrapper)
    _one_pass = None

    def _forward(self, y_true, y_pred, sample_weight):
        """Cast to the loss dtype, compute per-sample values, reduce (the
        backend active). Where the loss declares its per-sample reduction and
        nothing weighs or masks the values, all terms reduce at once."""
        backend = dispatch._active.backend
        dtype = self._dtype
        y_true, y_pred = self._cast_inputs(backend, y_true, y_pred)
        if self.global_batch_size is not None:
            return self._global_mean(backend, y_true, y_pred, sample_weight)
        definition = self._one_pass
        if definition is not None and sample_weight is None and self.reduction in _ONE_PASS:
            y_true, y_pred = definition.prepare(backend, y_true, y_pred)
            terms = definition.terms(backend, y_true, y_pred, (), self._fn_kwargs)
            total = definition.per_sample.total(backend, terms, self._terms_axis, self.reduction)
            if total is None:  # empty or not yet shaped: per sample, then reduced
                values = definition.per_sample(backend, terms, self._terms_axis)
                total = reduce_values(backend, values, None, self.reduction)
            return total if backend.dtype(total) == dtype else backend.cast(total, dtype)
        values, mask = self._values_and_mask(backend, y_true, y_pred)
        if sample_weight is None and mask is None:
            return reduce_values(backend, values, None, self.reduction)
        return reduce_weighted_values(backend, values, sample_weight, mask, self.reduction)

    def _global_mean(self, backend, y_true, y_pred, sample_weight):
        """This replica's share of the global mean: the weighted sum of its
        values over ``global_batch_size`` times the elements of one sample."""
        values, mask = self._values_and_mask(backend, y_true, y_pred)
        if mask is not None:
            raise ValueError(
                f"{type(self).__name__} masked entries of this batch (e.g. ignore_class), so its mean runs over "
                "a count only the whole step knows; `global_batch_size` cannot give it. Use reduction='sum' "
                "and divide by the global count of kept entries."
            )
        shape, batch = backend.shape(values), backend.shape(y_pred)[:1]
        if batch and (not shape or (isinstance(shape[0], int) and isinstance(batch[0], int) and shape[0] != batch[0])):
            raise not_one_value_per_row(
                self,
                shape,
                f"a batch of {batch[0]} rows",
                "no replica holds a share of a global mean; `global_batch_size` cannot give it",
            )
        local = shape[0] if shape else 1
        if isinstance(local, int) and local > self.global_batch_size:
            raise ValueError(
                f"`global_batch_size` is {self.global_batch_size} but this replica's batch alone has {local} "
                f"samples (y_pred shape {backend.shape(y_pred)}): pass the batch size of the whole step."
            )
        per_sample = math.prod(shape[1:]) if len(shape) > 1 and None not in shape[1:] else None
        total = reduce_weighted_values(backend, values, sample_weight, None, "sum")
        if per_sample is None and len(shape) > 1:  # trailing sizes known only when the graph runs
            per_sample = backend.sum(backend.ones_like(values[0]))
            return total / (per_sample * self.global_batch_size)
        return backend.scale(total, 1.0 / (self.global_batch_size * (per_sample or 1)))

    def _cast_inputs(self, backend, y_true, y_pred):
        """The inputs in the loss dtype (a sparse loss's class ids as they are)."""
        if backend.dtype(y_pred) != self._dtype:
            y_pred = cast_real(backend, y_pred, self._dtype, "y_pred")
        if not self.sparse_labels and backend.dtype(y_true) != self._dtype:
            y_true = cast_real(backend, y_true, self._dtype, "y_true")
        return y_true, y_pred

    def _values_and_mask(self, backend, y_true, y_pred):
        """The per-sample values of cast inputs, in the loss dtype, and their mask."""
        values = self.call(y_true, y_pred)
        if backend.dtype(values) != self._dtype:
            values = backend.cast(values, self._dtype)
        return values, self.compute_mask(y_true, y_pred, values)

    def unreduced(self, y_true, y_pred):
        """``(values, mask)``: the per-sample values a call would weigh and
        reduce, and the boolean mask of those that count (None: all do), on
        the inputs' backend. For callers that reduce themselves: the Keras
        bridge hands Keras the mask, the Dask bridge reduces across blocks."""
        backend, y_true, y_pred = dispatch.resolve_pair(_PAIR, y_true, y_pred)
        return dispatch.run_on(backend, self._unreduced_on_active, y_true, y_pred)

    def _unreduced_on_active(self, y_true, y_pred):
        backend = dispatch._active.backend
        return self._values_and_mask(backend, *self._cast_inputs(backend, y_true, y_pred))

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
        if self.global_batch_size is not None:
            config["global_batch_size"] = self.global_batch_size
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


def passed_on(arguments):
    """The arguments of a catalogue class's ``__init__`` (its ``locals()``)
    as keywords for :class:`LossFunctionWrapper`. Each class spells out its
    Keras signature, argument order and defaults included, so that IDEs,
    ``help()`` and positional calls see Keras' own; its body passes them on
    whole with ``super().__init__(**passed_on(locals()))``. ``__class__`` is
    the cell that ``super()`` reads, not an argument."""
    return {name: value for name, value in arguments.items() if name not in ("self", "__class__")}


# get() instantiates Loss subclasses, serialize() writes Loss objects as class + config
LOSSES.base = Loss


class LossFunctionWrapper(Loss):
    """A loss function with its options bound once, as a :class:`Loss`.

    ``fn(y_true, y_pred, **kwargs)`` may be a lossbridge loss function, a
    registered name, or any function written against ``K``. As in Keras,
    ``y_true`` and ``y_pred`` are lined up (ranks differing by a trailing 1)
    before ``fn`` runs.

    A subclass may bind its function for good, ``class MeanSquaredError(
    LossFunctionWrapper, function=mean_squared_error)``: its ``__init__``
    then passes only options, its config holds only them, and a subclass
    defined in lossbridge registers itself under its class name (the Keras
    classes of the catalogue are made so, each beside its function).
    """

    #: the loss function a subclass binds for good (``function=``), or None
    function = None
    #: the parity suite's and the report's input recipe where no function is bound: the class with
    #: ``fn=mean_squared_error`` (a bound function's own ``examples`` serve its subclass)
    examples = (("regression", {"fn": "mean_squared_error"}, "fn=mse"),)

    def __init_subclass__(cls, function=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if function is not None:
            cls.function = staticmethod(function)
            if cls.__module__.startswith("lossbridge.losses"):
                LOSSES.register(cls.__name__, cls)

    def __init__(
        self,
        fn=None,
        reduction="sum_over_batch_size",
        name=None,
        dtype=None,
        compile=None,
        global_batch_size=None,
        **kwargs,
    ):
        bound = type(self).function
        if fn is None:
            fn = bound
        elif bound is not None:
            raise TypeError(f"{type(self).__name__} computes {bound.__name__}; it takes no `fn`.")
        if isinstance(fn, str):
            fn = registry.lookup(fn)
        if not callable(fn) or isinstance(fn, type):
            raise TypeError(
                f"`fn` must be a loss function; received {fn!r}. Accepted: a function "
                "fn(y_true, y_pred, **options) or the registered name of one."
            )
        super().__init__(
            name=name or getattr(fn, "__name__", None),
            reduction=reduction,
            dtype=dtype,
            compile=compile,
            global_batch_size=global_batch_size,
        )
        checks = getattr(getattr(fn, "definition", None), "checks", None)
        if checks is not None:  # the loss's declared option checks, run once here
            kwargs = checks((), kwargs)
        self.fn = fn
        self._fn_kwargs = kwargs
        self._bind_function()

    def __getattr__(self, name):
        """Keras' loss classes keep each option as an attribute
        (``loss.from_logits``, ``loss.gamma``): read from the bound options.
        Called only for names the object lacks."""
        value = bound_option(self, name)
        if value is UNBOUND:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return value

    def __dir__(self):
        return with_bound_options(super().__dir__(), self)

    def _bind_function(self):
        """What each call needs from ``fn`` and its options, derived once
        (here and when an unpickled object is restored)."""
        definition = self._definition = definition_of(self.fn)
        self.sparse_labels = definition.sparse
        self.couples_samples = definition.couples_samples
        # the one-pass reduction, where the loss declares its per-sample
        # reduction and this class adds no mask or formula of its own
        plain = type(self).compute_mask is Loss.compute_mask and type(self).call is LossFunctionWrapper.call
        self._one_pass = definition if plain and definition.per_sample is not None else None
        self._terms_axis = definition.axis_of((), self._fn_kwargs)

    #: attributes :meth:`_bind_function` derives from ``fn``: rebuilt, not pickled
    _DERIVED = ("_definition", "_one_pass", "_terms_axis", "sparse_labels", "couples_samples")

    def __getstate__(self):
        state = super().__getstate__()
        for name in self._DERIVED:
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._bind_function()

    def call(self, y_true, y_pred):
        backend = dispatch._active.backend or dispatch.active()
        definition = self._definition
        y_true, y_pred = definition.prepare(backend, y_true, y_pred)
        return definition.values(backend, y_true, y_pred, (), self._fn_kwargs)

    def get_config(self):
        if type(self).function is not None:  # the function is implied by the class
            return {**Loss.get_config(self), **self._fn_kwargs}
        return {**super().get_config(), "fn": serialize(self.fn), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        if cls.function is not None:
            return cls(**config)
        config = dict(config)
        fn = deserialize(config.pop("fn"))
        return cls(fn, **config)

    def __repr__(self):
        if type(self).function is not None:
            return Loss.__repr__(self)
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
    if reduction in COUNTING_REDUCTIONS and shape and None not in shape:  # the default, without more tests
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
