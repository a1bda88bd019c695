"""The input contract every loss and metric shares: which shapes and dtypes
arrive at a formula, written once.

Shapes. ``y_true`` and ``y_pred`` are first lined up as Keras does
(:func:`squeeze_or_expand`: ranks that differ by one where the longer ends in
a size-1 axis). After that they must have **equal shapes**: lossbridge never
broadcasts one input against the other, because a broadcast that grows an
input (labels ``(N,)`` against predictions ``(N, C)``, or ``(1, N)`` against
``(N, 1)``) turns a typo into an ``N x N`` comparison and a plausible wrong
number. Keras broadcasts some of these; we raise a ``ValueError`` naming both
inputs and what would be accepted (sparse class ids go to the ``sparse_``
variant). One exception, which cannot blow up: a 0-d ``y_true`` is a constant
target for every prediction (``mean_squared_error(0.0, y_pred)``). Losses
reduce over an axis, so ``y_pred`` has at least one dimension; a 0-d
``y_pred`` raises the same error on every backend.

Sample weights (losses and the ``Mean`` family alike, :func:`check_weight_shape`):
a scalar, or a leading part of the values' shape (``(N,)``, ``(N, T)``, ...),
optionally followed by one size-1 axis (``(N, 1)``). Any other shape raises.

Dtypes. Predictions and dense labels are real numbers: bool, integer or float
(:func:`check_real`); complex inputs raise a ``TypeError`` instead of losing
their imaginary part. Class ids (:func:`class_ids`) may be any integer dtype,
bool, or floats holding integral values; they reach the formula as int32
(int64 where uint32/uint64 values need it), and a fractional float id raises
where values can be read.

None of this runs on the hot path: inputs of equal shape and the loss's dtype
(the common case) skip every check here but the rank test.
"""

from __future__ import annotations

import numpy as np

from . import dispatch
from .backends.base import FLOAT_DTYPES, INT_DTYPES

#: dtypes accepted as real-valued inputs
REAL_DTYPES = FLOAT_DTYPES | {"bool", *INT_DTYPES}
#: class-id dtypes the gathers of every framework take as they are
_INDEX_DTYPES = ("int32", "int64")
#: unsigned ids whose values may not fit int32
_WIDE_UNSIGNED = ("uint32", "uint64")

_SPARSE_HINT = (
    " If y_true holds integer class ids, use the sparse variant (e.g. SparseCategoricalCrossentropy, "
    "sparse_categorical_accuracy)."
)


# ---------------------------------------------------------------- shapes
def squeeze_or_expand(backend, first, second):
    """Keras' ``squeeze_or_expand_to_same_rank``: when the ranks differ by one
    and the longer ends in a size-1 axis, squeeze that axis, or expand the
    shorter when it has rank 1. Returns the pair; shapes are not compared."""
    first_shape, second_shape = backend.shape(first), backend.shape(second)
    rank_first, rank_second = len(first_shape), len(second_shape)
    if rank_first == rank_second + 1 and first_shape[-1] == 1:
        if rank_second == 1:
            second = backend.expand_dims(second, -1)
        else:
            first = backend.squeeze(first, -1)
    elif rank_second == rank_first + 1 and second_shape[-1] == 1:
        if rank_first == 1:
            first = backend.expand_dims(first, -1)
        else:
            second = backend.squeeze(second, -1)
    return first, second


def _same(shape_a, shape_b):
    """Equal shapes, an unknown (graph-time) size matching any size."""
    return len(shape_a) == len(shape_b) and all(
        a == b or a is None or b is None for a, b in zip(shape_a, shape_b, strict=True)
    )


def align_pair(backend, y_true, y_pred):
    """``(y_true, y_pred)`` lined up by :func:`squeeze_or_expand`; a
    ValueError unless their shapes are then equal and at least 1-d."""
    if not backend.same_shape(y_true, y_pred) and backend.ndim(y_true):
        y_true, y_pred = squeeze_or_expand(backend, y_true, y_pred)
        if not _same(backend.shape(y_true), backend.shape(y_pred)):
            raise shape_mismatch(y_true, y_pred, backend)
    if not backend.ndim(y_pred):
        raise scalar_inputs(y_true, y_pred)
    return y_true, y_pred


def shape_mismatch(y_true, y_pred, backend):
    true_shape, pred_shape = backend.shape(y_true), backend.shape(y_pred)
    hint = _SPARSE_HINT if true_shape == pred_shape[:-1] and pred_shape[-1:] != (1,) else ""
    return ValueError(
        f"`y_true` and `y_pred` have incompatible shapes: received y_true {dispatch.describe(y_true)} and "
        f"y_pred {dispatch.describe(y_pred)}. Accepted: equal shapes, or ranks that differ by a trailing "
        "axis of size 1 (Keras' alignment); lossbridge does not broadcast one input against the other." + hint
    )


def scalar_inputs(y_true, y_pred):
    return ValueError(
        f"`y_true` and `y_pred` must have at least one dimension (the axis the loss reduces over): received "
        f"y_true {dispatch.describe(y_true)} and y_pred {dispatch.describe(y_pred)}. Accepted: shape (d,) "
        "for one sample, (N, d) for a batch."
    )


def check_weight_shape(weight_shape, value_shape, values=None):
    """A ValueError unless ``weight_shape`` is ``()``, a leading part of
    ``value_shape``, or such a part followed by one axis of size 1.
    Unknown (graph-time) sizes match any size."""
    shape = tuple(weight_shape)
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    if len(shape) <= len(value_shape) and _same(shape, tuple(value_shape)[: len(shape)]):
        return
    where = f" ({dispatch.describe(values)})" if values is not None else ""
    raise ValueError(
        f"`sample_weight` of shape {tuple(weight_shape)} cannot be broadcast to the per-sample values of shape "
        f"{tuple(value_shape)}{where}. Accepted: a scalar, one weight per sample (N,) or (N, 1), or the "
        "values' own shape (e.g. (N, T) per timestep); lossbridge does not broadcast a weight that grows "
        "the values."
    )


# ---------------------------------------------------------------- dtypes
def check_real(backend, x, argument):
    """``x``'s dtype name, or a TypeError when it is not a real number type."""
    dtype = backend.dtype(x)
    if dtype not in REAL_DTYPES:
        raise TypeError(
            f"`{argument}` must hold real numbers; received {dispatch.describe(x)}. Accepted dtypes: bool, "
            "integers and float16/bfloat16/float32/float64"
            + (" (split complex values into real and imaginary parts first)." if "complex" in dtype else ".")
        )
    return dtype


def cast_real(backend, x, dtype, argument):
    """``x`` in the float ``dtype``, after :func:`check_real`."""
    if check_real(backend, x, argument) == dtype:
        return x
    return backend.cast(x, dtype)


#: float ids are clipped to +-ID_BOUND before their cast to an integer, where one could overflow: exact in
#: float32, bfloat16 and float64, and beyond any class count
ID_BOUND = 2.0**30


def _inspect_float_ids(values):
    """The first entry of the float array ``values`` that is not a finite
    integer, as a Python float, or None; and whether every entry is within
    ``ID_BOUND``. Read in float32 or float64 as the array is (rounding to an
    integer is exact in either), half precision in float32: three passes when
    every id is integral and small, where a float64 copy and a mask took seven
    (10^6 float32 labels: 2.2 -> 0.9 ms)."""
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float32)  # exact for float16 and ml_dtypes' bfloat16
    rounded = np.round(values)
    if (rounded == values).all() and (np.abs(rounded) <= ID_BOUND).all():  # NaN fails both tests, +-inf the second
        return None, True
    bad = values[~np.isfinite(values) | (rounded != values)]
    return (float(bad.flat[0]) if bad.size else None), False


def class_ids(backend, labels, argument="y_true"):
    """Integer class ids as int32 (int64 for wide unsigned ids) from any
    integer, bool or integral float tensor; a fractional or non-finite float
    id raises a ValueError where the values can be read, and becomes
    -2**30 (out of range) where a compiler traces. Integer ids keep their
    width (int64 stays int64); a float id beyond +-2**30 becomes +-2**30,
    out of range still, where the cast would overflow."""
    dtype = backend.dtype(labels)
    if dtype in _INDEX_DTYPES:
        return labels
    check_real(backend, labels, argument)
    if dtype in FLOAT_DTYPES:
        small = dtype == "float16"  # it ends at 65504
        values = backend.host_values(labels)
        if values is not None:
            bad, within = _inspect_float_ids(values)
            if bad is not None:
                raise ValueError(
                    f"`{argument}` holds class id {bad!r}, which is not an integer ({dispatch.describe(labels)}). "
                    "Accepted: integer class ids, in an integer dtype or as integral floats such as 1.0."
                )
            small = small or within
        if not small:
            # a float id past int32 would overflow the cast (undefined: INT_MIN, or a wrap into range where
            # it is traced and unchecked): clipped, it stays out of range
            labels = backend.clip(labels, -ID_BOUND, ID_BOUND)
        if values is None:
            return _integral_or_out_of_range(backend, labels)
    # wide unsigned ids need int64 where the backend has it (JAX only with x64,
    # which its float64 accumulator shows)
    wide = dtype in _WIDE_UNSIGNED and backend.accumulator_dtype == "float64"
    return backend.cast(labels, "int64" if wide else "int32")


def within_classes(backend, ids, classes):
    """``(safe, inside)``: integer ``ids`` with every id outside ``[0, classes)``
    replaced by 0, and where they were inside. For traced ids, which nothing
    can check: the range is tested in the ids' own dtype, before any gather
    or cast sees them (a gather wraps -1 to the last class on JAX, reads out
    of bounds on MLX; an int32 cast makes an int64 2**32 + 1 class 1); the
    caller makes the ``~inside`` entries a miss or NaN."""
    inside = backend.logical_and(ids >= 0, ids < classes)
    return backend.where(inside, ids, backend.zeros_like(ids)), inside


def _integral_or_out_of_range(backend, labels):
    """Traced float ids as int32, where nothing can raise: a fractional or
    NaN id becomes ``-ID_BOUND``, out of range for every consumer (a NaN loss,
    a miss, a pixel left out) and unlike any ``ignore_class`` in use; the cast
    alone truncates 1.5 to class 1, and XLA casts NaN to class 0. An id is
    integral when its integer casts back to it (clipped ids are within int32)."""
    ids = backend.cast(labels, "int32")
    integral = backend.equal(backend.cast(ids, backend.dtype(labels)), labels)
    return backend.where(integral, ids, backend.zeros_like(ids) - int(ID_BOUND))
