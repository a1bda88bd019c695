"""Confusion counts at thresholds: the vectorised core shared by the
confusion-matrix metrics (``TruePositives`` ... ``RecallAtPrecision``) and ``AUC``.

A prediction ``p`` is positive at threshold ``t`` when ``p > t``; per threshold
the (weighted) true positives, false positives, true negatives and false
negatives are counted, as Keras 3's ``update_confusion_matrix_variables`` does.
Two vectorised ways, never a Python loop over thresholds or samples:

* any thresholds: one broadcast comparison ``(T, M)`` of every prediction
  with every threshold, summed over the predictions;
* evenly spaced thresholds ``i / (T - 1)`` (AUC's 200): each prediction falls
  in bucket ``ceil(p (T - 1)) - 1``; one ``segment_sum`` counts the buckets and
  a reversed cumulative sum turns bucket counts into "above threshold i"
  counts (Keras' ``_update_confusion_matrix_variables_optimized``), O(T + M).

Unweighted counts are integers (int32 per batch, exact), weighted ones sums in
the accumulator dtype; :func:`add_counts` folds them into compensated running
sums (``lossbridge.metrics.base``), splitting integer counts so that a float32
state (JAX without x64) stays exact far past 2**24.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import dispatch
from ..inputs import check_real
from ..k import K, fused
from .base import accumulate

#: the value Keras gives predictions outside the top k (below every threshold)
NEG_INF = -1e10
#: Keras' ``epsilon()``: AUC's end thresholds are ``-EPSILON`` and ``1 + EPSILON``
EPSILON = 1e-7

COUNT_NAMES = ("true_positives", "false_positives", "true_negatives", "false_negatives")


# ---------------------------------------------------------------- state size
#: bytes a metric's state may take unless raised (see :func:`set_state_limit`)
DEFAULT_STATE_LIMIT = 2**30
#: bytes of one running count: a float64 sum, or a float32 sum and its
#: compensation twin where the accumulator is float32 (the layout of
#: ``lossbridge.metrics._state``); IoU's unweighted int64 count takes 8 too
BYTES_PER_COUNT = 8
#: bytes a kept Python float threshold costs (the float and the list's pointer)
BYTES_PER_THRESHOLD = 32

_state_limit = DEFAULT_STATE_LIMIT


def state_limit():
    """The most bytes one metric's state may need (default 1 GiB)."""
    return _state_limit


def set_state_limit(nbytes):
    """Let one metric's state take up to ``nbytes`` bytes (default 1 GiB) and
    return the previous limit. Size options (``num_thresholds``,
    ``num_classes``, ``num_labels``, explicit ``thresholds``) are checked
    against it when a metric is built, before anything is allocated, so a
    config from elsewhere cannot exhaust memory."""
    global _state_limit
    if not isinstance(nbytes, numbers.Integral) or isinstance(nbytes, bool) or nbytes < 1:
        raise ValueError(f"`nbytes` must be a positive int (a number of bytes); received {nbytes!r}.")
    previous, _state_limit = _state_limit, int(nbytes)
    return previous


def check_state_size(owner, argument, value, nbytes):
    """Raise a ValueError when ``nbytes`` (what ``argument=value`` makes
    ``owner``'s state need) is over :func:`state_limit`. A str ``value``
    is shown as is (``"<10**8 values>"`` for a long list)."""
    if nbytes > _state_limit:
        shown = value if isinstance(value, str) else repr(value)
        raise ValueError(
            f"{owner}: `{argument}`={shown} needs {nbytes:,} bytes of metric state ({nbytes / 2**30:.3g} GiB), "
            f"over the limit of {_state_limit:,} bytes (lossbridge.metrics.state_limit(); default 1 GiB). "
            f"Use a smaller `{argument}`, or raise the limit with lossbridge.metrics.set_state_limit(nbytes)."
        )


def check_threshold_counts(owner, argument, value, *, thresholds, counts, labels=1):
    """:func:`check_state_size` for ``counts`` running sums per threshold and
    label, plus the thresholds kept as Python floats."""
    nbytes = thresholds * (counts * labels * BYTES_PER_COUNT + BYTES_PER_THRESHOLD)
    check_state_size(owner, argument, value, nbytes)


# ---------------------------------------------------------------- configuration
def parse_thresholds(thresholds, default):
    """``thresholds`` (a number, a list/tuple or None) as a list of floats in
    ``[0, 1]``; None gives ``[default]``."""
    if thresholds is None:
        return [float(default)]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    invalid = [t for t in values if not _is_number(t) or not 0 <= t <= 1]
    if invalid or not values:
        raise ValueError(
            f"`thresholds` must be a number or a non-empty list of numbers in [0, 1]; received {thresholds!r} "
            f"(invalid: {invalid})."
        )
    return [float(t) for t in values]


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def evenly_spaced(thresholds):
    """Whether ``thresholds`` are ``0, 1/(T-1), ..., 1`` (T >= 3) within
    ``EPSILON``, so the bucketing path applies (Keras' test, same tolerance)."""
    count = len(thresholds)
    if count < 3:
        return False
    even = np.arange(count, dtype=np.float32) / (count - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def check_class_id(class_id):
    if class_id is not None and (not isinstance(class_id, numbers.Integral) or class_id < 0):
        raise ValueError(f"`class_id` must be a non-negative int or None; received {class_id!r}.")


def check_top_k(top_k):
    if top_k is not None and (not isinstance(top_k, numbers.Integral) or isinstance(top_k, bool) or top_k < 1):
        raise ValueError(f"`top_k` must be a positive int or None; received {top_k!r}.")


# ---------------------------------------------------------------- state
def add_counts(state, **increments):
    """``accumulate`` for count increments: an integer increment is added as
    two exact float parts (high bits, low bits), so a float32 running sum
    gains every unit even when one batch adds more than 2**24. All counts go
    in one ``accumulate`` (one fused step on JAX), the low parts in a second."""
    low_parts = {}
    for name, value in increments.items():
        if K.dtype(value).startswith("int") and K.dtype(state[name]) != "float64":
            high = K.cast(value, K.dtype(state[name]))
            low_parts[name] = value - K.cast(high, K.dtype(value))
            increments[name] = high
    state = accumulate(state, **increments)
    return accumulate(state, **low_parts) if low_parts else state


# ---------------------------------------------------------------- inputs
def same_rank(x1, x2, expand_rank_1=True):
    """Keras' ``squeeze_or_expand_to_same_rank``: when ranks differ by one and
    the longer has a trailing 1, squeeze it (or expand a rank-1 shorter one)."""
    rank1, rank2 = len(K.shape(x1)), len(K.shape(x2))
    if rank1 == rank2 + 1 and K.shape(x1)[-1] == 1:
        if rank2 == 1 and expand_rank_1:
            x2 = K.expand_dims(x2, -1)
        else:
            x1 = K.squeeze(x1, -1)
    elif rank2 == rank1 + 1 and K.shape(x2)[-1] == 1:
        if rank1 == 1 and expand_rank_1:
            x1 = K.expand_dims(x1, -1)
        else:
            x2 = K.squeeze(x2, -1)
    return x1, x2


def top_k_mask(x, k):
    """Boolean mask of the ``k`` largest entries along the last axis; ties go
    to the lower index (``tf.math.top_k``'s rule, made deterministic on every
    backend): ``x > v_k``, or ``x == v_k`` among the first ``k - #{x > v_k}``."""
    k = min(k, K.shape(x)[-1])
    kth = K.top_k(x, k)[0][..., k - 1 : k]
    greater, equal = x > kth, K.cast(x == kth, "int32")
    room = k - K.sum(K.cast(greater, "int32"), axis=-1, keepdims=True)
    earlier_equal = K.cumsum(equal, axis=-1) - equal
    return K.logical_or(greater, K.logical_and(equal > 0, earlier_equal < room))


def prepare(y_true, y_pred, sample_weight, *, top_k, class_id, compute_dtype, label_weights=None):
    """Keras' input rules before counting: cast to ``compute_dtype``, line up
    ranks, keep the top k, select ``class_id``. Returns ``(positive labels
    (bool), predictions, weights or None)``, all of ``y_pred``'s final shape;
    weights (sample x label weights) are in the accumulator dtype."""
    check_real(K, y_true, "y_true")  # a complex score would lose its imaginary part in the cast
    check_real(K, y_pred, "y_pred")
    y_true, y_pred = K.cast(y_true, compute_dtype), K.cast(y_pred, compute_dtype)
    y_pred, y_true = same_rank(y_pred, y_true)
    _check_shapes(y_true, y_pred)
    if sample_weight is not None:
        sample_weight = K.expand_dims(K.cast(sample_weight, K.accumulator_dtype), -1)
        _, sample_weight = same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = K.where(top_k_mask(y_pred, top_k), y_pred, K.zeros_like(y_pred) + NEG_INF)
    if class_id is not None:
        y_true, y_pred = _select_class(y_true, y_pred, class_id)
    weights = None
    if sample_weight is not None:
        weights = _broadcast(sample_weight, K.shape(y_pred), "sample_weight")
    if label_weights is not None:
        labels = K.convert_to_tensor(list(label_weights), K.accumulator_dtype, like=y_pred)
        labels = _broadcast(labels, K.shape(y_pred), "label_weights")
        weights = labels if weights is None else weights * labels
    return y_true != 0, y_pred, weights


def _check_shapes(y_true, y_pred):
    if K.shape(y_true) != K.shape(y_pred):
        raise ValueError(
            f"`y_true` and `y_pred` must have the same shape; received y_true: {dispatch.describe(y_true)}, "
            f"y_pred: {dispatch.describe(y_pred)}."
        )


def _select_class(y_true, y_pred, class_id):
    shape = K.shape(y_pred)
    if len(shape) == 1:
        raise ValueError(
            "when `class_id` is given, `y_pred` must have shape (num_samples, num_classes); "
            f"received {dispatch.describe(y_pred)}."
        )
    if shape[-1] is not None and class_id >= shape[-1]:
        raise ValueError(f"`class_id`={class_id} is out of range for y_pred with {shape[-1]} classes (shape {shape}).")
    return y_true[..., class_id : class_id + 1], y_pred[..., class_id : class_id + 1]


def _broadcast(weights, shape, argument):
    try:
        return K.broadcast_to(weights, shape)
    except Exception as error:  # noqa: BLE001 - each framework raises its own type
        raise ValueError(
            f"`{argument}` of shape {K.shape(weights)} cannot be broadcast to y_pred's shape {shape}; "
            "accepted: a scalar, one weight per sample, or y_true's shape."
        ) from error


# ---------------------------------------------------------------- counting
def confusion_at_thresholds(
    positive, y_pred, weights, thresholds, *, evenly=False, multi_label=False, counts=COUNT_NAMES
):
    """The ``counts`` (names of :data:`COUNT_NAMES`; all four by default) at
    each threshold, each ``(T,)`` (or ``(T, L)`` with ``multi_label``, labels
    along the last axis of a rank-2 ``y_pred``): only those are computed.
    ``positive``, ``y_pred``, ``weights`` come from :func:`prepare`. One
    fused kernel (``lossbridge.k.fused``) per configuration: on JAX the ~20
    eager ops of a count were most of a small update."""
    if multi_label and len(K.shape(y_pred)) != 2:
        raise ValueError(
            f"with multi_label=True, `y_pred` must have rank 2 (samples, labels); received {dispatch.describe(y_pred)}."
        )
    kernel = fused(_counts_at_thresholds, tuple(thresholds), evenly, multi_label, tuple(counts))
    return kernel(positive, y_pred, weights)


def _counts_at_thresholds(positive, y_pred, weights, thresholds, evenly, multi_label, names):
    if not multi_label:
        positive, y_pred = K.reshape(positive, (-1,)), K.reshape(y_pred, (-1,))
        weights = None if weights is None else K.reshape(weights, (-1,))
    if evenly:
        with_epsilon = thresholds[0] < 0 or thresholds[-1] > 1
        counts = _bucketed(positive, y_pred, weights, len(thresholds), with_epsilon, multi_label)
    else:
        counts = _compared(positive, y_pred, weights, thresholds, names)
    return {name: counts[name] for name in names}


def _compared(positive, y_pred, weights, thresholds, names):
    """Broadcast comparison: ``above[t, ...] = y_pred > thresholds[t]``,
    counted over the sample axis (axis 1 of ``(T, N[, L])``); a count that
    ``names`` does not need is not computed (false negatives are the
    positives less the true positives, true negatives likewise)."""
    # a Python list, not a NumPy array: torch.compile traces it without a graph break
    values = K.convert_to_tensor(list(thresholds), "float32", like=y_pred)
    shape = (len(thresholds),) + (1,) * len(K.shape(y_pred))
    above = y_pred > K.reshape(K.cast(values, K.dtype(y_pred)), shape)
    counts = {}
    if "true_positives" in names or "false_negatives" in names:
        counts["true_positives"] = tp = _count(K.logical_and(above, positive), weights, axis=1)
        if "false_negatives" in names:
            counts["false_negatives"] = _count(positive, weights, axis=0) - tp
    if "false_positives" in names or "true_negatives" in names:
        negative = K.logical_not(positive)
        counts["false_positives"] = fp = _count(K.logical_and(above, negative), weights, axis=1)
        if "true_negatives" in names:
            counts["true_negatives"] = _count(negative, weights, axis=0) - fp
    return counts


def _count(mask, weights, axis):
    """Sum over the sample ``axis`` of the weights where ``mask``; integer
    counts without weights."""
    if weights is None:
        return K.sum(K.cast(mask, "int32"), axis=axis)
    return K.sum(K.where(mask, weights, K.zeros_like(weights)), axis=axis)


def _bucketed(positive, y_pred, weights, count, with_epsilon, multi_label):
    """Evenly spaced thresholds ``i / (count - 1)``: bucket, scatter-add, then a
    reversed cumulative sum (see the module docstring)."""
    clipped = K.clip(y_pred, 0.0, 1.0)
    bucket = K.ceil(clipped * (count - 1)) - 1
    if with_epsilon:  # every prediction in [0, 1] clears the -epsilon threshold
        bucket = K.maximum(bucket, 0.0)
    # NaN clears no threshold (Keras drops it the same way)
    bucket = K.where(K.isnan(clipped), K.zeros_like(bucket) - 1, bucket)
    # ids 0..count: id 0 is "above no threshold", id i + 1 "above thresholds 0..i"
    ids = K.cast(bucket, "int32") + 1 + (count + 1) * K.cast(positive, "int32")
    labels = K.shape(y_pred)[-1] if multi_label else 1
    if multi_label:
        ids = ids + 2 * (count + 1) * K.reshape(K.arange(labels, "int32", like=ids), (1, labels))
    # no weights: segment_sum counts the ids (int32, exact)
    buckets = K.reshape(K.segment_sum(weights, ids, 2 * (count + 1) * labels), (labels, 2, count + 1))
    at_least = K.flip(K.cumsum(K.flip(buckets, -1), axis=-1), -1)
    totals, above = at_least[..., 0:1], at_least[..., 1:]
    tp, fp = above[:, 1, :], above[:, 0, :]
    counts = {
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": totals[:, 1, :] - tp,
        "true_negatives": totals[:, 0, :] - fp,
    }
    if multi_label:
        return {name: K.transpose(value) for name, value in counts.items()}
    return {name: value[0, ...] for name, value in counts.items()}
