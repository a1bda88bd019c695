"""How a formula written against ``K`` becomes a loss function.

A loss is a function ``fn(y_true, y_pred, **options)`` that reads as its
formula. :func:`loss_function` (and :func:`lossbridge.register_loss`, which
also names it) turns it into the function users call: the backend is
resolved once from ``y_true`` and ``y_pred``, both are brought to it, Keras'
input conventions and the input contract of :mod:`lossbridge.inputs` are
applied, and the formula runs with ``K`` on that backend.

A formula that is a mean or a sum of elementwise terms over the loss's axis
returns the terms and says so plainly in its declaration::

    @register_loss(per_sample=mean_of_terms)           # mean(terms, axis)
    @register_loss(per_sample=-sum_of_terms)           # -sum(terms, axis)
    @register_loss(per_sample=100 * mean_of_terms)     # 100 * mean(terms, axis)

The function still returns one value per sample. What lossbridge derives from
the declaration (:class:`LossDefinition`, made once per loss) is the one
speed path of every Loss object: without weights or a mask, a counting
reduction of per-sample means or sums is a single reduction of all terms.

Per backend, the definition keeps the formula with ``K`` bound to that
backend (:func:`lossbridge.k.bind`), made at the first concrete call.
"""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from .. import dispatch
from ..backends.base import FLOAT_DTYPES, FULL_FLOAT_DTYPES, HALF_DTYPES
from ..inputs import align_pair, cast_real, check_real, class_ids
from ..k import bind
from ..options import OptionChecks

_NAMES = ("y_true", "y_pred")


class PerSample:
    """How elementwise terms become one value per sample: ``scale *
    mean(terms, axis)`` or ``scale * sum(terms, axis)``, written as it reads
    (``-sum_of_terms``, ``100 * mean_of_terms``).

    A mean of per-sample means over equal-length rows is the mean of all
    terms, and a mean of per-sample sums is their sum over the row count, so
    :meth:`total` reduces a batch in one pass."""

    __slots__ = ("kind", "scale")

    def __init__(self, kind, scale=1.0):
        if kind not in ("mean", "sum"):
            raise ValueError(f"a per-sample reduction is 'mean' or 'sum' of the terms; received {kind!r}")
        self.kind, self.scale = kind, float(scale)

    def __neg__(self):
        return PerSample(self.kind, -self.scale)

    def __mul__(self, factor):
        if not isinstance(factor, (int, float)) or isinstance(factor, bool):
            return NotImplemented
        return PerSample(self.kind, self.scale * factor)

    __rmul__ = __mul__

    def __eq__(self, other):
        return isinstance(other, PerSample) and (self.kind, self.scale) == (other.kind, other.scale)

    def __hash__(self):
        return hash((self.kind, self.scale))

    def __repr__(self):
        scale = {1.0: "", -1.0: "-"}.get(self.scale, f"{self.scale:g} * ")
        return f"{scale}{self.kind}(terms, axis)"

    def __call__(self, backend, terms, axis):
        """The per-sample values of ``terms``."""
        values = backend.mean(terms, axis=axis) if self.kind == "mean" else backend.sum(terms, axis=axis)
        return values if self.scale == 1.0 else backend.scale(values, self.scale)

    def total(self, backend, terms, axis, reduction):
        """The reduced loss of ``terms`` for ``reduction`` ("sum" or a
        counting one) in one pass, or None where the two-step path is right:
        an empty batch (0, not nan), a shape known only when a graph runs, or
        a compiler that fuses per-sample reductions better than one over all
        terms (``Backend.rows_first_when_compiled``: a softmax or a norm along
        the axis would be split off the kernel that makes the terms)."""
        shape = backend.shape(terms)
        if not shape or None in shape or 0 in shape:
            return None
        if not backend.is_concrete(terms) and backend.rows_first_when_compiled():
            values = backend.materialize(self(backend, terms, axis))
            return backend.sum(values) if reduction == "sum" else backend.mean(values)
        row = shape[axis]
        if self.kind == "mean":
            if reduction == "sum":
                total, factor = backend.sum(terms), self.scale / row
            else:
                total, factor = backend.mean(terms), self.scale
        else:
            total = backend.sum(terms)
            factor = self.scale if reduction == "sum" else self.scale * row / math.prod(shape)
        return total if factor == 1.0 else backend.scale(total, factor)


#: ``mean(terms, axis)``: the per-sample value of a loss that averages its terms
mean_of_terms = PerSample("mean")
#: ``sum(terms, axis)``: the per-sample value of a loss that sums its terms
sum_of_terms = PerSample("sum")


class LossDefinition:
    """A loss formula and what lossbridge derives from it, once.

    ``fn(y_true, y_pred, *options)`` is written against ``K``. ``sparse``:
    ``y_true`` holds integer class ids. ``per_sample``: a :class:`PerSample`
    where ``fn`` returns elementwise terms. ``half_as_float32``: float16 and
    bfloat16 inputs are computed in float32 and the values rounded back.
    ``options``: option name -> checker (:mod:`lossbridge.options`), run where
    an option is given. ``examples``: the input recipes of
    :mod:`lossbridge.testing.cases` the parity suite and the report call it
    with (a kind, or ``(kind, options, variant)`` tuples). ``couples_samples``:
    a sample's value depends on the other samples of its batch (pairs within
    it), so a batch split in parts gives other values."""

    def __init__(
        self,
        fn,
        *,
        sparse=False,
        per_sample=None,
        half_as_float32=False,
        options=None,
        examples=(),
        couples_samples=False,
    ):
        if per_sample is not None and not isinstance(per_sample, PerSample):
            raise TypeError(f"`per_sample` must be mean_of_terms or sum_of_terms (times a number); got {per_sample!r}")
        self.fn = fn
        self.name = getattr(fn, "__name__", type(fn).__name__)
        self.sparse = sparse
        self.per_sample = per_sample
        self.half_as_float32 = half_as_float32
        self.couples_samples = couples_samples
        self.checks = OptionChecks(fn, options) if options else None
        self.examples = (examples,) if isinstance(examples, str) else tuple(examples)
        try:
            self._signature = inspect.signature(fn)
        except (TypeError, ValueError):  # a callable without one (a builtin): no options known
            self._signature = None
        axis = None if self._signature is None else self._signature.parameters.get("axis")
        self._axis = -1 if axis is None else axis.default
        self._formulas = {}  # backend -> fn with K bound to it

    def formula(self, backend, like):
        """``fn`` with ``K`` bound to ``backend``; bound once, at the first
        concrete call (a compiler may trace before it: then ``fn`` itself)."""
        formula = self._formulas.get(backend)
        if formula is None:
            if not backend.is_concrete(like):
                return self.fn
            formula = self._formulas.setdefault(backend, bind(self.fn, backend))
        return formula

    def axis_of(self, args, kwargs):
        """The ``axis`` option of one call (positional options bound by name)."""
        if args and self._signature is not None and "axis" in self._signature.parameters:
            return self._signature.bind(None, None, *args, **kwargs).arguments.get("axis", self._axis)
        return kwargs.get("axis", self._axis)

    def prepare(self, backend, y_true, y_pred):
        """Labels as the formula takes them, dtypes already settled: class ids
        for a sparse loss, else aligned with the predictions (the shape rule
        of :mod:`lossbridge.inputs`)."""
        if self.sparse:
            return class_ids(backend, y_true), y_pred
        return align_pair(backend, y_true, y_pred)

    def terms(self, backend, y_true, y_pred, args=(), kwargs=None):
        """What ``fn`` returns: elementwise terms where ``per_sample`` is
        declared, else the per-sample values (``backend`` active)."""
        formula = self._formulas.get(backend) or self.formula(backend, y_pred)
        return formula(y_true, y_pred, *args, **kwargs) if kwargs else formula(y_true, y_pred, *args)

    def values(self, backend, y_true, y_pred, args=(), kwargs=None):
        """One value per sample, for prepared inputs (``backend`` active)."""
        if self.half_as_float32 and backend.dtype(y_pred) in HALF_DTYPES:
            half = backend.dtype(y_pred)
            y_true, y_pred = backend.cast(y_true, "float32"), backend.cast(y_pred, "float32")
        else:
            half = None
        out = self.terms(backend, y_true, y_pred, args, kwargs)
        if self.per_sample is not None:
            out = self.per_sample(backend, out, self.axis_of(args, kwargs) if args or kwargs else self._axis)
        return out if half is None else backend.cast(out, half)

    def total(self, backend, y_true, y_pred, args=(), kwargs=None):
        """The sum over the batch of the per-sample values of prepared
        ``(batch, features)`` float32 or float64 inputs, as one reduction of
        all terms (:meth:`PerSample.total`) instead of a reduction per
        sample and one over them: the sum a mean metric adds per batch
        (a per-sample mean over a short row costs torch about a full pass of
        its own). None where that one pass does not give it: no declared
        ``per_sample``, other ranks or dtypes, a loss axis other than the
        last, an empty batch (``backend`` active)."""
        if self.per_sample is None or len(backend.shape(y_pred)) != 2 or backend.dtype(y_pred) not in FULL_FLOAT_DTYPES:
            return None
        axis = self.axis_of(args, kwargs) if args or kwargs else self._axis
        if axis not in (-1, 1):
            return None
        terms = self.terms(backend, y_true, y_pred, args, kwargs)
        return self.per_sample.total(backend, terms, axis, "sum")


def prepare_call(backend, definition, y_true, y_pred):
    """The inputs of a function call: float predictions, dense labels in
    their dtype, then :meth:`LossDefinition.prepare`."""
    dtype = backend.dtype(y_pred)
    if dtype not in FLOAT_DTYPES:
        check_real(backend, y_pred, "y_pred")
        y_pred = backend.ensure_float(y_pred)
        dtype = backend.dtype(y_pred)
    if not definition.sparse and backend.dtype(y_true) != dtype:
        y_true = cast_real(backend, y_true, dtype, "y_true")
    return definition.prepare(backend, y_true, y_pred)


def loss_function(
    fn=None,
    *,
    sparse=False,
    per_sample=None,
    reduce=None,
    scale=1.0,
    half_as_float32=False,
    options=None,
    examples=(),
    couples_samples=False,
):
    """Make ``fn(y_true, y_pred, **options)``, written against ``K``, a loss
    that runs on every backend (arguments: :class:`LossDefinition`).
    ``reduce="mean"`` / ``"sum"`` with ``scale`` is the same declaration as
    ``per_sample=scale * mean_of_terms`` / ``sum_of_terms``.

    The returned function has ``definition`` (the :class:`LossDefinition`)
    and ``raw``, the per-sample values on the active backend for callers
    already inside a bridged call."""
    if fn is None:
        return functools.partial(
            loss_function,
            sparse=sparse,
            per_sample=per_sample,
            reduce=reduce,
            scale=scale,
            half_as_float32=half_as_float32,
            options=options,
            examples=examples,
            couples_samples=couples_samples,
        )
    if reduce is not None:
        if per_sample is not None:
            raise TypeError("declare the per-sample reduction once: `per_sample=` or `reduce=`/`scale=`, not both")
        per_sample = scale * PerSample(reduce)
    definition = LossDefinition(
        fn,
        sparse=sparse,
        per_sample=per_sample,
        half_as_float32=half_as_float32,
        options=options,
        examples=examples,
        couples_samples=couples_samples,
    )
    checks, values = definition.checks, definition.values

    @functools.wraps(fn)
    def loss(y_true, y_pred, *args, **kwargs):
        if checks is not None and (args or kwargs):
            args, kwargs = (), checks(args, kwargs)
        backend, y_true, y_pred = dispatch.resolve_pair(_NAMES, y_true, y_pred)
        y_true, y_pred = prepare_call(backend, definition, y_true, y_pred)
        out = dispatch.run_on(backend, values, backend, y_true, y_pred, args, kwargs)
        if type(y_pred) is np.ndarray and y_pred.dtype.kind == "V":
            # ml_dtypes' bfloat16 (kind "V") meets Python floats in float32 in
            # NumPy arithmetic; every other backend keeps it, so round back
            out = backend.cast(out, "bfloat16")
        return out

    loss.definition = definition
    loss.raw = lambda y_true, y_pred, *args, **kwargs: values(dispatch.active(), y_true, y_pred, args, kwargs)
    return loss


def definition_of(fn):
    """The :class:`LossDefinition` of a loss function; for any other callable
    (a user's plain function, a metric function) one made for it, which runs
    it as it is (``fn.raw`` where it has one, already bridged; a true
    ``fn.sparse`` keeps its labels integer class ids)."""
    definition = getattr(fn, "definition", None)
    if isinstance(definition, LossDefinition):
        return definition
    return LossDefinition(getattr(fn, "raw", fn), sparse=bool(getattr(fn, "sparse", False)))
