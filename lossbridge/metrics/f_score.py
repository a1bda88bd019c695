"""``FBetaScore`` and ``F1Score`` for multi-class and multi-label
classification, as in Keras 3 (``keras/src/metrics/f_score_metrics.py``).

Inputs are ``(samples, classes)``. A prediction counts as positive when it is
above ``threshold``, or, with ``threshold=None``, when it is its row's maximum
(and not 0). Per class (or pooled, ``average="micro"``) the weighted true
positives, false positives, false negatives and label totals are kept as
compensated running sums; the result is

    F_beta = (1 + beta^2) * P * R / (beta^2 * P + R + eps),
    P = tp / (tp + fp + eps),  R = tp / (tp + fn + eps)

per class (``average=None``), its mean (``"micro"``, ``"macro"``) or its mean
weighted by each class's label total (``"weighted"``).
"""

from __future__ import annotations

import numbers

from .. import dispatch
from ..k import K
from .base import Metric, accumulate, read_sum, sum_state

EPSILON = 1e-7
_AVERAGES = (None, "micro", "macro", "weighted")
_COUNTS = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")


class FBetaScore(Metric):
    """The F-beta score: the weighted harmonic mean of precision and recall,
    recall counting ``beta`` times as much as precision.

    Args:
        average: None (one score per class), "micro", "macro" or "weighted".
        beta: > 0, 1.0 by default.
        threshold: in (0, 1]: ``y_pred > threshold`` is positive; None: each
            row's largest (non-zero) prediction is.
    """

    examples = "categorical_guesses"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in _AVERAGES:
            raise ValueError(f"`average` must be one of {_AVERAGES}; received {average!r}.")
        if not _is_number(beta) or beta <= 0:
            raise ValueError(f"`beta` must be a number > 0; received {beta!r}.")
        if threshold is not None and (not _is_number(threshold) or not 0 < threshold <= 1):
            raise ValueError(f"`threshold` must be None or a number with 0 < threshold <= 1; received {threshold!r}.")
        self.average, self.beta = average, float(beta)
        self.axis = None if average == "micro" else 0  # Keras' attribute: the axis its counts sum over
        self.threshold = None if threshold is None else float(threshold)

    def initial_state(self, like):
        shape = () if self.average == "micro" or like is None else (self._classes(like, "y_pred"),)
        return sum_state(_COUNTS, shape, like=like)

    def _classes(self, x, argument):
        shape = K.shape(x)
        if len(shape) != 2 or shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} expects `{argument}` of shape (batch_size, num_classes) with num_classes "
                f"known; received {dispatch.describe(x)}."
            )
        return shape[-1]

    def update(self, state, y_true, y_pred, sample_weight=None):
        classes = self._classes(y_pred, "y_pred")
        if K.shape(y_true) != K.shape(y_pred):
            raise ValueError(
                f"`y_true` and `y_pred` must have the same shape; received y_true: {dispatch.describe(y_true)}, "
                f"y_pred: {dispatch.describe(y_pred)}."
            )
        kept = K.shape(state["true_positives"])
        if kept and kept[0] != classes:
            raise ValueError(f"`y_pred` has {classes} classes but earlier batches had {kept[0]}; reset_state() first.")
        # three sums over the batch (fp and fn follow from them: fp = predicted - tp, fn = support - tp),
        # each in the batch's precision (_batch_dtype), then added to the compensated running sums
        if K.dtype(y_pred) != self.dtype:  # Keras compares in the metric's dtype (rounding may make ties)
            y_pred = K.cast(y_pred, self.dtype)
        rows = K.shape(y_pred)[0]
        work = _batch_dtype(K.dtype(y_true), K.dtype(y_pred), rows)
        predicted = K.cast(self._predicted_positive(y_pred), work)  # 0/1
        actual = K.cast(y_true, work) if K.dtype(y_true) != work else y_true
        if sample_weight is None:
            predicted_total = K.sum(predicted, axis=self.axis)
        else:
            weight = _per_sample(K.cast(sample_weight, work), rows)
            actual = actual * weight
            predicted_total = K.sum(predicted * weight, axis=self.axis)
        sums = (K.sum(actual * predicted, axis=self.axis), predicted_total, K.sum(actual, axis=self.axis))
        true_positives, predicted_total, support = (K.cast(x, K.accumulator_dtype) for x in sums)
        return accumulate(
            state,
            true_positives=true_positives,
            false_positives=predicted_total - true_positives,
            false_negatives=support - true_positives,
            intermediate_weights=support,
        )

    def _predicted_positive(self, y_pred):
        if self.threshold is not None:
            return y_pred > self.threshold
        # an entry is positive where it is its row's max, unless that max is ~0 (a row of zeros
        # predicts nothing): such rows compare against NaN instead, which nothing is >=; one (N, 1)
        # select rather than a second (N, C) pass
        row_max = K.max(y_pred, axis=-1, keepdims=True)
        return y_pred >= K.where(K.abs(row_max) > 1e-9, row_max, float("nan"))

    def compute(self, state):
        tp, fp, fn, support = (read_sum(state, name) for name in _COUNTS)
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        beta2 = self.beta**2
        score = (1 + beta2) * (precision * recall) / (beta2 * precision + recall + EPSILON)
        if self.average == "weighted":
            return K.sum(score * (support / (K.sum(support) + EPSILON)))
        if self.average is not None:
            return K.mean(score)
        return score

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score ``2 P R / (P + R)`` (``FBetaScore`` with beta = 1).

    >>> import numpy as np
    >>> y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    >>> y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    >>> np.round(np.asarray(F1Score(threshold=0.5)(y_true, y_pred)), 4).tolist()
    [0.5, 0.8, 0.6667]
    """

    examples = "categorical_guesses"

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


#: rows of one batch below which float32 sums of 0/1 values (and of integer labels) are exact
_EXACT_FLOAT32_ROWS = 2**24


def _batch_dtype(true_dtype, pred_dtype, rows):
    """The dtype one batch's sums run in: float32 where both inputs fit it
    (a float32 sum of 0/1 values is exact below 2**24 rows, and of weighted
    ones errs by ~1e-7 of that batch, which only enters the compensated
    running sums as one increment: ``lossbridge.metrics.reduction``'s rule),
    and the accumulator dtype for float64 inputs and for a batch too long or
    of unknown length."""
    if "float64" in (true_dtype, pred_dtype) or rows is None or rows >= _EXACT_FLOAT32_ROWS:
        return K.accumulator_dtype
    return "float32"


def _per_sample(weight, batch):
    """A scalar stays; ``(N,)`` or ``(N, 1)`` becomes ``(N, 1)`` to scale rows."""
    shape = K.shape(weight)
    if not shape:
        return weight
    if shape not in ((batch,), (batch, 1)):
        raise ValueError(
            f"`sample_weight` must be a scalar or one weight per sample, shape ({batch},); "
            f"received {dispatch.describe(weight)}."
        )
    return K.reshape(weight, (batch, 1))


__all__ = [
    "F1Score",
    "FBetaScore",
]
