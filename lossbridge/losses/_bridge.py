"""The entry point every loss function goes through.

``@loss_function`` resolves the backend once from ``y_true`` and ``y_pred``,
brings both to it, applies Keras' input conventions (float predictions,
labels in the prediction's dtype, the shape and dtype rules of
``lossbridge.inputs``), and runs the formula with ``K`` bound to
that backend. The formula itself stays pure math: elementwise terms where the
loss declares how they reduce per sample (``reduce=``), so that Loss objects
can fuse that reduction with their own. ``fn.raw`` skips the entry for
callers already inside a bridged call.
"""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from .. import dispatch
from ..backends.base import FLOAT_DTYPES, HALF_DTYPES
from ..inputs import align_pair, cast_real, check_real, class_ids
from ..k import bind
from ..options import OptionChecks

_NAMES = ("y_true", "y_pred")


def prepare(backend, y_true, y_pred, sparse=False):
    """Float predictions; dense labels in their dtype and aligned, sparse
    labels as integer class ids (the input contract of ``lossbridge.inputs``)."""
    dtype = backend.dtype(y_pred)
    if dtype not in FLOAT_DTYPES:
        check_real(backend, y_pred, "y_pred")
        y_pred = backend.ensure_float(y_pred)
        dtype = backend.dtype(y_pred)
    if sparse:
        return class_ids(backend, y_true), y_pred
    if backend.dtype(y_true) != dtype:
        y_true = cast_real(backend, y_true, dtype, "y_true")
    return align_pair(backend, y_true, y_pred)


class TermReduction:
    """How a loss turns its elementwise terms into per-sample values:
    ``scale * mean(terms, axis)`` or ``scale * sum(terms, axis)``.

    Declared once per loss (``@loss_function(reduce=...)``), it lets a Loss
    object with a counting reduction and no weights reduce every term in one
    pass: a mean of per-sample means over equal-length rows is the mean of
    all terms, a mean of per-sample sums is their sum over the row count.
    That drops a reduction kernel per call (a third of a small torch MSE).
    """

    __slots__ = ("kind", "scale", "axis", "row_normalized", "_signature")

    def __init__(self, kind, scale, fn, row_normalized=False):
        if kind not in ("mean", "sum"):
            raise ValueError(f"`reduce` must be 'mean' or 'sum'; received {kind!r}")
        self.kind, self.scale, self.row_normalized = kind, float(scale), row_normalized
        signature = inspect.signature(fn)
        parameter = signature.parameters.get("axis")
        self.axis = -1 if parameter is None else parameter.default
        self._signature = None if parameter is None else signature

    def axis_of(self, args, kwargs):
        """The ``axis`` option of one call (positional options bound by name)."""
        if self._signature is None:
            return -1
        if args:
            return self._signature.bind(None, None, *args, **kwargs).arguments.get("axis", self.axis)
        return kwargs.get("axis", self.axis)

    def per_sample(self, backend, terms, axis):
        values = backend.mean(terms, axis=axis) if self.kind == "mean" else backend.sum(terms, axis=axis)
        return values if self.scale == 1.0 else backend.scale(values, self.scale)

    def total(self, backend, terms, axis, reduction):
        """The reduced loss of ``terms`` for ``reduction`` ("sum" or a
        counting one), or None where the two-step path is right: an empty
        batch (0, not nan) or a shape known only when the graph runs. Terms
        normalized along the axis (a softmax, a norm) traced by a compiler
        that wants rows first (``Backend.rows_first_when_compiled``) are
        reduced per sample, materialized, then over the batch."""
        shape = backend.shape(terms)
        if not shape or None in shape or 0 in shape:
            return None
        if self.row_normalized and not backend.is_concrete(terms) and backend.rows_first_when_compiled():
            values = backend.materialize(self.per_sample(backend, terms, axis))
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


def loss_function(
    fn=None, *, sparse=False, reduce=None, scale=1.0, row_normalized=False, half_as_float32=False, options=None
):
    """Make ``fn(y_true, y_pred, **options)``, written against ``K``, a loss
    that runs on every backend.

    ``sparse=True`` keeps integer class labels. ``reduce="mean"`` or ``"sum"``
    declares that ``fn`` returns elementwise terms and the loss of a sample is
    ``scale * reduce(terms, axis)`` over the loss's ``axis`` option (the last
    axis where it has none); see :class:`TermReduction`. ``row_normalized``
    says the terms come from a normalization along that axis (a softmax, a
    norm). ``half_as_float32`` computes float16/bfloat16 inputs in float32 and
    rounds the result back. ``options`` maps option names to checkers from
    ``lossbridge.options`` (:class:`~lossbridge.options.OptionChecks`):
    they run once per Loss object and on function calls that pass options.

    The returned function also offers, for callers that resolved the backend
    and prepared the inputs already: ``terms(backend, y_true, y_pred, **options)``,
    ``per_sample(backend, y_true, y_pred, *options)``, ``raw`` (``per_sample``
    on the active backend) and ``term_reduction`` (None when undeclared).
    """
    if fn is None:
        return functools.partial(
            loss_function,
            sparse=sparse,
            reduce=reduce,
            scale=scale,
            row_normalized=row_normalized,
            half_as_float32=half_as_float32,
            options=options,
        )
    checks = OptionChecks(fn, options) if options else None
    term_reduction = None if reduce is None else TermReduction(reduce, scale, fn, row_normalized)
    bound = {}  # backend -> fn with K bound to it (k.bind)

    def formula_on(backend, like):
        # bound once per backend, unless a compiler traces before the first eager call
        formula = bound.get(backend)
        if formula is None:
            formula = bound.setdefault(backend, bind(fn, backend)) if backend.is_concrete(like) else fn
        return formula

    def terms(backend, y_true, y_pred, *args, **kwargs):
        """``fn`` itself: elementwise terms where ``reduce`` is declared."""
        if half_as_float32 and backend.dtype(y_pred) in HALF_DTYPES:
            y_true, y_pred = backend.cast(y_true, "float32"), backend.cast(y_pred, "float32")
        return (bound.get(backend) or formula_on(backend, y_pred))(y_true, y_pred, *args, **kwargs)

    def per_sample(backend, y_true, y_pred, *args, **kwargs):
        out = terms(backend, y_true, y_pred, *args, **kwargs)
        if term_reduction is not None:
            out = term_reduction.per_sample(backend, out, term_reduction.axis_of(args, kwargs))
        if half_as_float32 and backend.dtype(out) != backend.dtype(y_pred):
            out = backend.cast(out, backend.dtype(y_pred))  # the float32 result of half inputs
        return out

    @functools.wraps(fn)
    def wrapper(y_true, y_pred, *args, **kwargs):
        if checks is not None and (args or kwargs):
            args, kwargs = (), checks(args, kwargs)
        backend, y_true, y_pred = dispatch.resolve_pair(_NAMES, y_true, y_pred)
        y_true, y_pred = prepare(backend, y_true, y_pred, sparse)
        active = dispatch._active
        previous, active.backend = active.backend, backend
        try:
            if half_as_float32:
                out = per_sample(backend, y_true, y_pred, *args, **kwargs)
            else:  # per_sample inlined: this is every call of a loss function
                out = (bound.get(backend) or formula_on(backend, y_pred))(y_true, y_pred, *args, **kwargs)
                if term_reduction is not None:
                    out = term_reduction.per_sample(backend, out, term_reduction.axis_of(args, kwargs))
        finally:
            active.backend = previous
        if type(y_pred) is np.ndarray and y_pred.dtype.kind == "V":
            # ml_dtypes' bfloat16 (kind "V") meets Python floats in float32 in
            # NumPy arithmetic; every other backend keeps it, so round back
            out = backend.cast(out, "bfloat16")
        return out

    wrapper.raw = lambda y_true, y_pred, *args, **kwargs: per_sample(dispatch.active(), y_true, y_pred, *args, **kwargs)
    wrapper.terms = terms
    wrapper.per_sample = per_sample
    wrapper.term_reduction = term_reduction
    wrapper.sparse = sparse
    wrapper.check_options = checks
    return wrapper
