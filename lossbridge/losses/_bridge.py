"""The entry point every loss function goes through.

``@loss_function`` resolves the backend once from ``y_true`` and ``y_pred``,
brings both to it, applies Keras' input conventions (float predictions,
labels in the prediction's dtype, ranks that differ by a trailing 1 lined up),
rejects shapes that do not broadcast, and runs the formula with ``K`` bound to
that backend. The formula itself stays pure math; ``fn.raw`` skips the entry
for callers already inside a bridged call.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import dispatch
from ..backends.base import FLOAT_DTYPES
from ..k import bind

_NAMES = ("y_true", "y_pred")


def align_ranks(K, y_true, y_pred):
    """Keras' rule: when ranks differ by one and the longer has a trailing
    dimension of 1, squeeze it (or expand a rank-1 partner), then require
    shapes that broadcast."""
    true_shape, pred_shape = K.shape(y_true), K.shape(y_pred)
    if true_shape == pred_shape:
        return y_true, y_pred
    rank_true, rank_pred = len(true_shape), len(pred_shape)
    if rank_true == rank_pred + 1 and true_shape[-1] == 1:
        if rank_pred == 1:
            y_pred = K.expand_dims(y_pred, -1)
        else:
            y_true = K.squeeze(y_true, -1)
    elif rank_pred == rank_true + 1 and pred_shape[-1] == 1:
        if rank_true == 1:
            y_true = K.expand_dims(y_true, -1)
        else:
            y_pred = K.squeeze(y_pred, -1)
    check_broadcast(K.shape(y_true), K.shape(y_pred), y_true, y_pred)
    return y_true, y_pred


def check_broadcast(true_shape, pred_shape, y_true=None, y_pred=None):
    for a, b in zip(reversed(true_shape), reversed(pred_shape), strict=False):
        if a != b and a != 1 and b != 1 and a is not None and b is not None:
            raise ValueError(
                f"`y_true` and `y_pred` have incompatible shapes: y_true {dispatch.describe(y_true)}, "
                f"y_pred {dispatch.describe(y_pred)}. Accepted: equal shapes, shapes that broadcast, "
                "or ranks that differ by a trailing dimension of 1."
            )


def prepare(backend, y_true, y_pred, sparse=False):
    """Float predictions; dense labels in their dtype and aligned, sparse labels as integers."""
    dtype = backend.dtype(y_pred)
    if dtype not in FLOAT_DTYPES:
        y_pred = backend.ensure_float(y_pred)
        dtype = backend.dtype(y_pred)
    if sparse:
        if backend.is_float(y_true) or backend.dtype(y_true) == "bool":
            y_true = backend.cast(y_true, "int32")
        return y_true, y_pred
    if backend.dtype(y_true) != dtype:
        y_true = backend.cast(y_true, dtype)
    if backend.shape(y_true) == backend.shape(y_pred):  # the common case, without another call
        return y_true, y_pred
    return align_ranks(backend, y_true, y_pred)


def loss_function(fn=None, *, sparse=False):
    """Make ``fn(y_true, y_pred, **options)``, written against ``K``, a loss
    that runs on every backend. ``sparse=True`` keeps integer class labels."""
    if fn is None:
        return functools.partial(loss_function, sparse=sparse)

    bound = {}  # backend -> fn with K bound to it (k.bind)

    @functools.wraps(fn)
    def wrapper(y_true, y_pred, *args, **kwargs):
        backend, y_true, y_pred = dispatch.resolve_pair(_NAMES, y_true, y_pred)
        y_true, y_pred = prepare(backend, y_true, y_pred, sparse)
        formula = bound.get(backend)
        if formula is None:  # first call on this backend: bind, unless a compiler is tracing
            formula = bound.setdefault(backend, bind(fn, backend)) if backend.is_concrete(y_pred) else fn
        active = dispatch._active
        previous, active.backend = active.backend, backend
        try:
            out = formula(y_true, y_pred, *args, **kwargs)
        finally:
            active.backend = previous
        if type(y_pred) is np.ndarray and y_pred.dtype.kind == "V":
            # ml_dtypes' bfloat16 (kind "V") meets Python floats in float32 in
            # NumPy arithmetic; every other backend keeps it, so round back
            out = backend.cast(out, "bfloat16")
        return out

    def formula_on(backend, like=None):
        """``fn`` with ``K`` bound to ``backend`` (k.bind), for callers that
        resolved the backend and prepared the inputs already; ``fn`` itself
        while a compiler traces ``like`` before the first eager call."""
        formula = bound.get(backend)
        if formula is None:
            concrete = like is None or backend.is_concrete(like)
            formula = bound.setdefault(backend, bind(fn, backend)) if concrete else fn
        return formula

    wrapper.raw = fn
    wrapper.formula_on = formula_on
    wrapper.sparse = sparse
    return wrapper
