"""Intersection-over-union metrics for segmentation, as in Keras 3
(``keras/src/metrics/iou_metrics.py``): ``IoU``, ``MeanIoU``, ``BinaryIoU``,
``OneHotIoU``, ``OneHotMeanIoU``.

Every pixel adds its weight to a ``num_classes x num_classes`` confusion matrix
``cm[true class, predicted class]``, built per update by one vectorised
``segment_sum`` over ``true * num_classes + predicted`` (one pass over the
pixels on every backend; on JAX and TensorFlow the few elementwise steps around
it run as one kernel, ``K.fused``: jax.jit, compiled once per input shape, and
a tf.function graph, since there each eager op costs a dispatch). Per class ``c``:

    IoU_c = cm[c, c] / (sum_i cm[c, i] + sum_i cm[i, c] - cm[c, c])

and the result is the mean over ``target_class_ids`` of the classes that
occurred at all (a class never seen nor predicted is left out, as in Keras).

A pixel whose label or prediction is out of range (negative, or
``>= num_classes``: void labels such as 255) or whose label is
``ignore_class`` is left out of the matrix, as Keras 3 does, eager or traced
alike, however wide the id: an int64 label of 2**32 + 1 is out of range here
and on Keras' TensorFlow backend (its JAX and torch backends narrow it to
int32 first, which wraps it to class 1). Unlike Keras 3
(integer state by default, which truncates float weights) fractional
``sample_weight`` values count as given.

State. While no ``sample_weight`` has been given the counts are integers and
kept exact as an int64 matrix ``total_confusion_matrix`` (8 bytes a cell;
Keras' int32 matrix has 4 and overflows past 2**31). The first weighted
update turns it into a float64 running sum of the same name and shape
(``lossbridge.metrics._state``: no twin; 8 bytes a cell, exact integers up to
2**53), which later updates and merges keep: both forms are the one entry,
only its dtype changes. Where the accumulator is float32 (JAX without x64, so
no int64) the state is a compensated float32 sum from the start, the matrix
and its ``total_confusion_matrix_compensation`` twin (8 bytes a cell), exact
far past 2**24. ``num_classes`` is checked against
``lossbridge.metrics.state_limit()`` (8 bytes a cell) before anything is
allocated.
"""

from __future__ import annotations

import numbers

from .. import dispatch
from ..inputs import check_real, class_ids
from ..k import K, fused
from ..options import dtype_name
from ._thresholds import BYTES_PER_COUNT, add_counts, check_state_size
from .base import SUM, Metric, declare, merge_sums, read_sum, sum_entries, sum_state

EPSILON = 1e-7
_MATRIX = "total_confusion_matrix"
#: integer dtypes Keras accepts for its IoU matrix ("int" is int64 there)
_INTEGER_DTYPES = {name: name for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")}
_INTEGER_DTYPES["int"] = "int64"


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class IoU(Metric):
    """Mean IoU over ``target_class_ids`` (the IoU of that class when one id).

    Args:
        num_classes: number of classes (the matrix is num_classes squared).
        target_class_ids: the classes whose IoUs are averaged.
        ignore_class: a label (e.g. -1 or 255) whose pixels are skipped.
        sparse_y_true / sparse_y_pred: False when that input holds per-class
            scores along ``axis`` (its argmax is the class).
        axis: the class axis of non-sparse inputs.

    >>> float(IoU(num_classes=2, target_class_ids=[0])([0, 0, 1, 1], [0, 1, 0, 1]))
    0.333333...
    """

    examples = (
        ("class_ids", {"num_classes": 4, "target_class_ids": [0, 2]}, ""),
    )  # the 4 classes of the kit's examples

    state_aliases = {"total_cm": _MATRIX}  # Keras' attribute for its total_confusion_matrix variable

    def __init__(
        self,
        num_classes,
        target_class_ids,
        name=None,
        dtype=None,
        ignore_class=None,
        sparse_y_true=True,
        sparse_y_pred=True,
        axis=-1,
    ):
        # Keras' dtype here is its matrix's (default int64); counts are exact here whatever it is, so an
        # integer dtype is accepted, echoed by get_config, and the result stays float32 (as in Keras)
        count_dtype = _INTEGER_DTYPES.get(dtype_name(dtype)) if isinstance(dtype_name(dtype), str) else None
        super().__init__(name=name, dtype=None if count_dtype else dtype)
        self._count_dtype = count_dtype
        if not _is_int(num_classes) or num_classes < 1:
            raise ValueError(f"`num_classes` must be a positive int; received {num_classes!r}.")
        check_state_size(type(self).__name__, "num_classes", num_classes, num_classes**2 * BYTES_PER_COUNT)
        targets = list(target_class_ids) if isinstance(target_class_ids, (list, tuple, range)) else None
        if not targets or not all(_is_int(t) and 0 <= t < num_classes for t in targets):
            raise ValueError(
                f"`target_class_ids` must be a non-empty list of class ids in [0, {num_classes}); "
                f"received {target_class_ids!r}."
            )
        if ignore_class is not None and not _is_int(ignore_class):
            raise ValueError(f"`ignore_class` must be an int or None; received {ignore_class!r}.")
        if not _is_int(axis):
            raise ValueError(f"`axis` must be an int; received {axis!r}.")
        self.num_classes, self.target_class_ids = int(num_classes), [int(t) for t in targets]
        self.ignore_class, self.axis = ignore_class, int(axis)
        self.sparse_y_true, self.sparse_y_pred = bool(sparse_y_true), bool(sparse_y_pred)

    @property
    def _config_dtype(self):
        return self._count_dtype or self.dtype

    # ------------------------------------------------ state
    def storage_state(self, like):
        return _as_weighted(self.initial_state(like))  # the layout a weighted update leads to

    def initial_state(self, like):
        shape = (self.num_classes, self.num_classes)
        if K.accumulator_dtype != "float64":  # no int64 here (JAX without x64)
            return sum_state((_MATRIX,), shape, like=like)
        # replicas add the integer matrix too
        return declare(SUM, {_MATRIX: K.zeros(shape, "int64", like=like)})

    def update(self, state, y_true, y_pred, sample_weight=None):
        labels, predicted, in_range = self._class_ids(y_true, y_pred)
        counts = self._confusion_matrix(labels, predicted, sample_weight, in_range)
        if _counts_exactly(state):
            if sample_weight is None:
                return {**state, _MATRIX: state[_MATRIX] + K.cast(counts, "int64")}
            state = _as_weighted(state)
        return add_counts(state, **{_MATRIX: counts})

    def merge(self, state, other):
        if _counts_exactly(state) and _counts_exactly(other):
            return {**state, _MATRIX: state[_MATRIX] + other[_MATRIX]}
        return merge_sums(*(_as_weighted(s) if _counts_exactly(s) else s for s in (state, other)))

    def _sync_layout(self, state):
        """Replicas sync the weighted form: one replica's weights must not
        leave the integer matrices of the others unable to line up."""
        return _as_weighted(state)

    def merge_state(self, metrics):
        """As ``Metric.merge_state``; where one metric's state is weighted,
        the integer ones are first written in the weighted form (same values,
        so the states line up entry by entry)."""
        metrics = list(metrics)
        held = [m for m in (self, *metrics) if type(m) is type(self) and m._state is not None]
        if any(not dispatch.run_on(m._backend, _counts_exactly, m._state) for m in held):
            for m in held:
                m._state = dispatch.run_on(m._backend, _as_weighted, m._state)
        super().merge_state(metrics)

    def _ids(self, x, sparse, argument):
        """Flat class ids, and whether each is in ``[0, num_classes)`` by
        construction: the argmax over at most ``num_classes`` scores."""
        if sparse:
            return K.reshape(class_ids(K, x, argument), (-1,)), False
        check_real(K, x, argument)
        ids = K.argmax(x, axis=self.axis)  # first: its error names a bad axis
        scored = K.shape(x)[self.axis]  # classes scored; None where traced without a static shape
        return K.reshape(ids, (-1,)), scored is not None and scored <= self.num_classes

    def _class_ids(self, y_true, y_pred):
        """Both inputs as flat integer class ids (``inputs.class_ids``: any
        integer dtype, bool or integral floats; a fractional id raises),
        each in its own width: an int64 id is not narrowed here, where
        2**32 + 1 would wrap to class 1 (:func:`_counts_grid` clips first);
        and whether both are in range by construction."""
        (labels, labels_in_range), (predicted, predicted_in_range) = (
            self._ids(y_true, self.sparse_y_true, "y_true"),
            self._ids(y_pred, self.sparse_y_pred, "y_pred"),
        )
        return labels, predicted, labels_in_range and predicted_in_range

    def _confusion_matrix(self, labels, predicted, sample_weight, in_range=False):
        """This batch's ``(C, C)`` matrix (see :func:`_counts_grid`); pixels
        with an out-of-range id on either side are left out, as in Keras.
        ``in_range``: every id is known to be in ``[0, C)``."""
        size, classes = K.shape(labels)[0], self.num_classes
        if K.shape(predicted)[0] != size:
            raise ValueError(
                f"`y_true` and `y_pred` must hold the same number of pixels; received {size} class ids in y_true "
                f"and {K.shape(predicted)[0]} in y_pred."
            )
        weight = None
        if sample_weight is not None:
            weight = self._flat_weights(K.cast(sample_weight, K.accumulator_dtype), size)
        # one fused kernel (jax.jit, a tf.function graph), whose eager ops would each cost a pass over the pixels
        return fused(_counts_grid, classes, self.ignore_class, in_range)(labels, predicted, weight)

    def _flat_weights(self, weight, size):
        """Keras: flatten, then broadcast to one weight per pixel."""
        if len(K.shape(weight)) > 1:
            weight = K.reshape(weight, (-1,))
        try:
            return K.broadcast_to(weight, (size,))
        except Exception as error:  # noqa: BLE001 - each framework raises its own type
            raise ValueError(
                f"`sample_weight` of shape {K.shape(weight)} cannot be broadcast to the {size} pixels of y_true; "
                "accepted: a scalar or one weight per pixel (y_true's shape)."
            ) from error

    # ------------------------------------------------ result
    def compute(self, state):
        matrix = K.cast(read_sum(state, _MATRIX), K.accumulator_dtype)
        classes = self.num_classes
        true_positives = K.reshape(matrix, (-1,))[:: classes + 1]
        union = K.sum(matrix, axis=0) + K.sum(matrix, axis=1) - true_positives
        targets = self.target_class_ids
        first, end = targets[0], targets[-1] + 1
        if targets == list(range(first, end)):  # consecutive ids (all classes too): a slice, no gather
            if end - first < classes:
                true_positives, union = true_positives[first:end], union[first:end]
        else:
            targets = K.convert_to_tensor(targets, "int32", like=matrix)
            true_positives = K.take_along_axis(true_positives, targets, axis=0)
            union = K.take_along_axis(union, targets, axis=0)
        # as Keras: a class's IoU is tp / (union + eps) (0 where it never occurred, since then tp = 0 too);
        # the mean runs over the classes whose union is above 1e-9
        present = K.sum(K.cast(union > 1e-9, K.dtype(union)))
        return K.sum(true_positives / (union + EPSILON)) / (present + EPSILON)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
            "dtype": self._config_dtype,
        }


def _counts_exactly(state):
    """Whether ``state`` is the integer form (no weight seen yet)."""
    return K.dtype(state[_MATRIX]).startswith("int")


def _as_weighted(state):
    """The state in the weighted form, a running sum in the accumulator dtype
    (a no-op when it is already)."""
    if not _counts_exactly(state):
        return state
    return sum_entries(_MATRIX, K.cast(state[_MATRIX], K.accumulator_dtype))


def _counts_grid(labels, predicted, weight, classes, ignore, in_range):
    """The ``(C, C)`` matrix of one batch from one segment_sum over a
    ``(C + 3, C + 2)`` grid: ids are clipped to ``[-1, C]`` and shifted by one,
    so out-of-range labels and predictions land on the border, ignored labels
    on an extra last row, and the interior is the matrix (Keras drops exactly
    those pixels). Unweighted pixels are counted as integers (exact). Ids
    known to be in range (argmaxes: the one-hot IoUs) need no border: one
    segment_sum over the ``C x C`` matrix itself (five eager ops fewer)."""
    if in_range and ignore is None:
        return K.reshape(K.segment_sum(weight, labels * classes + predicted, classes * classes), (classes, classes))
    width = classes + 2
    # clipped in the ids' own dtypes, then brought to one (a narrowing cast now keeps every value)
    rows, columns = K.clip(labels, -1, classes), K.clip(predicted, -1, classes)
    if K.dtype(rows) != K.dtype(columns):
        rows, columns = K.cast(rows, "int32"), K.cast(columns, "int32")
    if ignore is not None:
        rows = K.where(labels == ignore, K.zeros_like(rows) + (classes + 1), rows)
    ids = rows * width + columns + (width + 1)
    grid = K.reshape(K.segment_sum(weight, ids, (classes + 3) * width), (classes + 3, width))
    return grid[1 : classes + 1, 1 : classes + 1]


class BinaryIoU(IoU):
    """IoU of classes 0 and/or 1 where ``y_pred >= threshold`` is class 1.

    >>> float(BinaryIoU(target_class_ids=[0, 1], threshold=0.3)([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7]))
    0.333333...
    """

    examples = "binary_guesses"

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool):
            raise ValueError(f"`threshold` must be a number; received {threshold!r}.")
        self.threshold = float(threshold)

    def update(self, state, y_true, y_pred, sample_weight=None):
        # Keras compares in float32 whatever the input's precision
        y_pred = K.cast(K.cast(y_pred, "float32") >= self.threshold, "int32")
        return super().update(state, y_true, y_pred, sample_weight)

    def get_config(self):
        return {
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
            "name": self.name,
            "dtype": self._config_dtype,
        }


class MeanIoU(IoU):
    """Mean IoU over all ``num_classes`` classes.

    >>> float(MeanIoU(num_classes=2)([0, 0, 1, 1], [0, 1, 0, 1]))
    0.333333...
    """

    examples = (("class_ids", {"num_classes": 4}, ""),)  # the 4 classes of the kit's examples

    def __init__(
        self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True, axis=-1
    ):
        super().__init__(
            num_classes,
            range(num_classes) if _is_int(num_classes) else [],  # lazy: num_classes is checked first
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=sparse_y_true,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """``IoU`` for one-hot ``y_true`` (and, by default, per-class ``y_pred``
    scores); both are reduced by argmax along ``axis``."""

    examples = (("categorical_guesses", {"num_classes": 4, "target_class_ids": [0, 2]}, ""),)

    def __init__(
        self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1
    ):
        super().__init__(
            num_classes,
            target_class_ids,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """``MeanIoU`` for one-hot ``y_true`` (and per-class ``y_pred`` scores)."""

    examples = (("categorical_guesses", {"num_classes": 4}, ""),)

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(
            num_classes,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


__all__ = [
    "BinaryIoU",
    "IoU",
    "MeanIoU",
    "OneHotIoU",
    "OneHotMeanIoU",
]
