"""Accuracy metrics: the mean over samples of a 0/1 hit per prediction.

Semantics follow Keras 3 (``keras/src/metrics/accuracy_metrics.py``); bool,
integer and float inputs work on every backend (bool scores are read as 0/1).

Top-k ties follow ``in_top_k`` (TensorFlow's documented rule, which Keras'
other backends reproduce): the true class is a hit when fewer than ``k``
classes score *strictly higher* than it, so every class tied at the k-th
score counts as in the top k (with ``k=1`` and a two-way tie for first place,
both classes hit). A row holding any NaN or infinite score is a miss, as in
``tf.math.in_top_k`` (Keras' JAX and NumPy backends differ there; we follow
TensorFlow, the backend Keras documents the rule for). ``k`` larger than the
number of classes makes every finite prediction a hit.

Sparse labels outside ``[0, num_classes)`` raise a ``ValueError`` where the
values can be read (eager mode); under a compiler they simply miss.
"""

from __future__ import annotations

from .. import dispatch
from ..inputs import align_pair, class_ids, within_classes
from ..k import K, fused
from ..options import finite_number
from .registry import metric_function
from .wrappers import MeanMetricWrapper


def _hits(condition):
    return K.cast(condition, K.floatx())


def _scores(x):
    # argmax and comparisons are not defined for bool tensors on every framework
    return K.cast(x, "int32") if K.dtype(x) == "bool" else x


def _check_labels(labels, num_classes):
    values = K.host_values(labels)
    if values is None or not values.size:
        return
    bad = values[(values < 0) | (values >= num_classes)]
    if bad.size:
        raise ValueError(
            f"`y_true` holds class id {bad.flat[0]!r}, outside [0, {num_classes}) for y_pred with {num_classes} "
            "classes. Accepted: integer class ids in that range."
        )


def _check_classes(y_true, y_pred):
    true_shape, pred_shape = K.shape(y_true), K.shape(y_pred)
    if len(true_shape) != len(pred_shape) or true_shape[-1:] != pred_shape[-1:]:
        raise ValueError(
            f"`y_true` must be one-hot (or soft) labels of the same shape as y_pred: received y_true "
            f"{dispatch.describe(y_true)} and y_pred {dispatch.describe(y_pred)}."
        )


def _sparse_labels(y_true, y_pred):
    """Class ids shaped like ``y_pred`` without its class axis (a trailing 1 is
    dropped), as integers (``inputs.class_ids``: a fractional float id raises)."""
    labels = class_ids(K, y_true)
    if len(K.shape(labels)) == len(K.shape(y_pred)) and K.shape(labels)[-1] == 1:
        labels = K.squeeze(labels, -1)
    expected = K.shape(y_pred)[:-1]
    if len(K.shape(labels)) != len(expected) or any(
        a != b and None not in (a, b) for a, b in zip(K.shape(labels), expected, strict=True)
    ):
        raise ValueError(
            f"`y_true` must hold one class id per prediction, shape {expected} (or {expected + (1,)}) for "
            f"y_pred of shape {K.shape(y_pred)}; received {dispatch.describe(y_true)}."
        )
    return labels


def _same_ids(labels, ids):
    """``labels == ids`` for float or integer labels without rounding either
    (the argmax ``ids`` are below the class count, so they are cast to the
    labels' dtype: the other way MLX's uint32 argmax would wrap an int64
    label 2**32 + 1 to 1 where it is traced and unchecked)."""
    if K.is_float(labels):
        dtype = "float64" if K.dtype(labels) == "float64" else "float32"
        return K.equal(K.cast(labels, dtype), K.cast(ids, dtype))
    return K.equal(labels, K.cast(ids, K.dtype(labels)))


def in_top_k(labels, scores, k):
    """True where fewer than ``k`` scores in the row are strictly above the
    label's score (ties at the boundary are hits; a row with a NaN or
    infinite score misses). ``labels``: integer ``(...)``; ``scores``:
    ``(..., classes)``. One fused kernel (``lossbridge.k.fused``): eagerly
    on JAX its five passes over the scores were most of an update (10^7
    scores: 46 -> 7 ms)."""
    return fused(_in_top_k, k, short=True)(labels, _scores(scores))


def _in_top_k(labels, scores, k):
    # a label outside [0, classes) misses (eagerly it has raised already)
    safe, inside = within_classes(K, labels, K.shape(scores)[-1])
    index = K.expand_dims(K.cast(safe, "int32"), -1)
    at_label = K.take_along_axis(scores, index, axis=-1)
    hit = K.logical_and(inside, K.sum(K.cast(scores > at_label, "int32"), axis=-1) < k)
    if not K.is_float(scores):
        return hit
    return K.logical_and(hit, K.all(K.isfinite(scores), axis=-1))


# ---------------------------------------------------------------- functions
@metric_function
def accuracy(y_true, y_pred):
    """1 where ``y_true == y_pred`` (``y_true`` cast to ``y_pred``'s dtype first)."""
    if K.dtype(y_true) != K.dtype(y_pred):
        y_true = K.cast(y_true, K.dtype(y_pred))
    y_true, y_pred = align_pair(K, y_true, y_pred)
    return _hits(K.equal(y_true, y_pred))


@metric_function
def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1 where ``y_true == (y_pred > threshold)`` (the prediction cast to ``y_true``'s dtype)."""
    finite_number("threshold", threshold)
    y_true, y_pred = align_pair(K, y_true, y_pred)
    predicted = K.ensure_float(y_pred) > threshold
    return _hits(K.equal(y_true, K.cast(predicted, K.dtype(y_true))))


@metric_function
def categorical_accuracy(y_true, y_pred):
    """1 where ``argmax(y_true, -1) == argmax(y_pred, -1)`` (first index wins ties)."""
    _check_classes(y_true, y_pred)
    return _hits(K.equal(K.argmax(_scores(y_true), axis=-1), K.argmax(_scores(y_pred), axis=-1)))


@metric_function
def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the integer label equals ``argmax(y_pred, -1)``."""
    labels = _sparse_labels(y_true, y_pred)
    _check_labels(labels, K.shape(y_pred)[-1])
    return _hits(_same_ids(labels, K.argmax(_scores(y_pred), axis=-1)))


@metric_function
def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the one-hot label's class is among the ``k`` highest scores (ties: module docstring)."""
    _check_classes(y_true, y_pred)
    return _hits(in_top_k(K.argmax(_scores(y_true), axis=-1), y_pred, k))


@metric_function
def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1 where the integer label is among the ``k`` highest scores, or, with
    ``from_sorted_ids=True``, among the first ``k`` ids of ``y_pred``
    (``(batch, N)`` class ids sorted by decreasing score)."""
    labels = _sparse_labels(y_true, y_pred)
    if from_sorted_ids:
        ids = y_pred
        in_first_k = K.arange(K.shape(ids)[-1], like=ids) < k
        found = K.logical_and(_same_ids(K.expand_dims(labels, -1), ids), in_first_k)
        return _hits(K.any(found, axis=-1))
    _check_labels(labels, K.shape(y_pred)[-1])
    return _hits(in_top_k(labels, y_pred, k))


# ---------------------------------------------------------------- metrics
def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`k` must be a positive int; received k={k!r}.")
    return k


class Accuracy(MeanMetricWrapper):
    """How often ``y_pred`` equals ``y_true`` exactly."""

    examples = "class_ids"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the binary label."""

    examples = "binary_guesses"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        finite_number("threshold", threshold)  # now, not at the first update
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max class of ``y_pred`` is the one-hot label's."""

    examples = "categorical_guesses"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max class of ``y_pred`` is the integer label."""

    examples = "sparse_guesses"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is in the top ``k`` scores."""

    examples = (("categorical_guesses", {"k": 2}, ""),)  # of 4 classes: the default k=5 hits every sample

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=_check_k(k))
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is in the top ``k`` scores (or, with
    ``from_sorted_ids=True``, among the first ``k`` of the sorted ids given)."""

    examples = (("sparse_guesses", {"k": 2}, ""),)  # of 4 classes: the default k=5 hits every sample

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(
            sparse_top_k_categorical_accuracy,
            name=name,
            dtype=dtype,
            k=_check_k(k),
            from_sorted_ids=from_sorted_ids,
        )
        self.k = k
        self.from_sorted_ids = from_sorted_ids

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k, "from_sorted_ids": self.from_sorted_ids}


__all__ = [
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]
