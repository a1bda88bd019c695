"""Confusion-matrix metrics at thresholds, as in Keras 3:
``TruePositives``, ``FalsePositives``, ``TrueNegatives``, ``FalseNegatives``,
``Precision``, ``Recall``, and the operating-point metrics
``SensitivityAtSpecificity``, ``SpecificityAtSensitivity``,
``PrecisionAtRecall`` and ``RecallAtPrecision``.

A prediction is positive at threshold ``t`` when ``y_pred > t``; labels are
positive when non-zero. Counts are weighted by ``sample_weight`` (a scalar, one
weight per sample, or ``y_true``'s shape). State: one compensated running sum
per count and threshold (``lossbridge.metrics.base``); updates are vectorised
(``_thresholds``). Keras reference: ``keras/src/metrics/confusion_metrics.py``.
"""

from __future__ import annotations

import numbers

from ..k import K
from ..weights import divide_no_nan
from . import _thresholds as th
from .base import Metric, read_sum, sum_state


class _ThresholdMetric(Metric):
    """Counts (a subset of tp, fp, tn, fn) at ``self.thresholds``; subclasses
    set ``counts`` and write ``compute``."""

    counts: tuple[str, ...] = th.COUNT_NAMES

    def __init__(self, thresholds, *, top_k=None, class_id=None, evenly=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        th.check_threshold_counts(
            type(self).__name__,
            "thresholds",
            f"<{len(thresholds)} values>",
            thresholds=len(thresholds),
            counts=len(self.counts),
        )
        th.check_top_k(top_k)
        th.check_class_id(class_id)
        self.top_k, self.class_id = top_k, class_id
        self.thresholds = thresholds
        self._evenly = th.evenly_spaced(thresholds) if evenly is None else evenly

    def initial_state(self, like):
        return sum_state(self.counts, (len(self.thresholds),), like=like)

    def update(self, state, y_true, y_pred, sample_weight=None):
        positive, y_pred, weights = th.prepare(
            y_true, y_pred, sample_weight, top_k=self.top_k, class_id=self.class_id, compute_dtype=self.dtype
        )
        counts = th.confusion_at_thresholds(
            positive, y_pred, weights, self.thresholds, evenly=self._evenly, counts=self.counts
        )
        return th.add_counts(state, **counts)

    def _per_threshold(self, value):
        """A single threshold gives a scalar, several a vector (Keras)."""
        return value[0] if len(self.thresholds) == 1 else value


class _ConfusionCount(_ThresholdMetric):
    """One count at each threshold (default 0.5)."""

    def __init__(self, thresholds=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        super().__init__(th.parse_thresholds(thresholds, 0.5), name=name, dtype=dtype)

    @property
    def state_aliases(self):
        return {"accumulator": self.counts[0]}  # Keras' attribute for the one count

    def compute(self, state):
        return self._per_threshold(read_sum(state, self.counts[0]))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionCount):
    """Weighted count of ``y_true != 0 and y_pred > threshold``.

    >>> float(TruePositives()([0, 1, 1, 1], [1, 0, 1, 1]))
    2.0
    """

    examples = "binary_guesses"
    counts = ("true_positives",)


class FalsePositives(_ConfusionCount):
    """Weighted count of ``y_true == 0 and y_pred > threshold``.

    >>> float(FalsePositives()([0, 1, 0, 0], [0, 0, 1, 1]))
    2.0
    """

    examples = "binary_guesses"
    counts = ("false_positives",)


class TrueNegatives(_ConfusionCount):
    """Weighted count of ``y_true == 0 and y_pred <= threshold``.

    >>> float(TrueNegatives()([0, 1, 0, 0], [1, 1, 0, 0]))
    2.0
    """

    examples = "binary_guesses"
    counts = ("true_negatives",)


class FalseNegatives(_ConfusionCount):
    """Weighted count of ``y_true != 0 and y_pred <= threshold``.

    >>> float(FalseNegatives()([0, 1, 1, 1], [0, 1, 0, 0]))
    2.0
    """

    examples = "binary_guesses"
    counts = ("false_negatives",)


class _PrecisionRecall(_ThresholdMetric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        # with top_k and no thresholds every top-k entry counts as positive
        default = 0.5 if top_k is None else th.NEG_INF
        super().__init__(
            th.parse_thresholds(thresholds, default), top_k=top_k, class_id=class_id, name=name, dtype=dtype
        )

    def get_config(self):
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_PrecisionRecall):
    """``tp / (tp + fp)`` at each threshold (0 when nothing was predicted
    positive). ``top_k``: only the k largest predictions of each row may be
    positive; ``class_id``: score that column only.

    >>> float(Precision()([0, 1, 1, 1], [1, 0, 1, 1]))
    0.666666...
    """

    examples = "binary_guesses"
    counts = ("true_positives", "false_positives")

    def compute(self, state):
        tp = read_sum(state, "true_positives")
        return self._per_threshold(divide_no_nan(K, tp, tp + read_sum(state, "false_positives")))


class Recall(_PrecisionRecall):
    """``tp / (tp + fn)`` at each threshold (0 when no label was positive);
    ``top_k`` and ``class_id`` as in :class:`Precision`.

    >>> float(Recall()([0, 1, 1, 1], [1, 0, 1, 1]))
    0.666666...
    """

    examples = "binary_guesses"
    counts = ("true_positives", "false_negatives")

    def compute(self, state):
        tp = read_sum(state, "true_positives")
        return self._per_threshold(divide_no_nan(K, tp, tp + read_sum(state, "false_negatives")))


# ---------------------------------------------------------------- operating points
class _AtOperatingPoint(_ThresholdMetric):
    """The best ``dependent`` rate over thresholds where the ``constrained``
    rate is >= ``value`` (0 when no threshold qualifies). Thresholds:
    ``num_thresholds`` evenly spaced in [0, 1] (0.5 alone when 1)."""

    _value_name = "value"

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ValueError(f"`{self._value_name}` must be a number in [0, 1]; received {value!r}.")
        if not isinstance(num_thresholds, numbers.Integral) or num_thresholds <= 0:
            raise ValueError(f"`num_thresholds` must be an int > 0; received {num_thresholds!r}.")
        self.value, self.num_thresholds = value, int(num_thresholds)
        th.check_threshold_counts(
            type(self).__name__,
            "num_thresholds",
            num_thresholds,
            thresholds=self.num_thresholds,
            counts=len(self.counts),
        )
        if num_thresholds == 1:
            thresholds, evenly = [0.5], False
        else:
            thresholds = [0.0] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
            evenly = True
        super().__init__(thresholds, class_id=class_id, evenly=evenly, name=name, dtype=dtype)

    def _rates(self, state):
        tp, fp, tn, fn = (read_sum(state, name) for name in th.COUNT_NAMES)
        return {
            "sensitivity": divide_no_nan(K, tp, tp + fn),
            "specificity": divide_no_nan(K, tn, tn + fp),
            "precision": divide_no_nan(K, tp, tp + fp),
        }

    def _best(self, constrained, dependent):
        feasible = constrained >= self.value
        return K.max(K.where(feasible, dependent, K.zeros_like(dependent)))

    def get_config(self):
        return {
            **super().get_config(),
            "class_id": self.class_id,
            "num_thresholds": self.num_thresholds,
            self._value_name: self.value,
        }


class SensitivityAtSpecificity(_AtOperatingPoint):
    """Best sensitivity ``tp / (tp + fn)`` where specificity
    ``tn / (tn + fp)`` >= ``specificity``."""

    examples = (("binary_guesses", {"specificity": 0.8}, ""),)

    _value_name = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)
        self.specificity = specificity

    def compute(self, state):
        rates = self._rates(state)
        return self._best(rates["specificity"], rates["sensitivity"])


class SpecificityAtSensitivity(_AtOperatingPoint):
    """Best specificity where sensitivity >= ``sensitivity``."""

    examples = (("binary_guesses", {"sensitivity": 0.8}, ""),)

    _value_name = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)
        self.sensitivity = sensitivity

    def compute(self, state):
        rates = self._rates(state)
        return self._best(rates["sensitivity"], rates["specificity"])


class PrecisionAtRecall(_AtOperatingPoint):
    """Best precision where recall >= ``recall``."""

    examples = (("binary_guesses", {"recall": 0.8}, ""),)

    _value_name = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)
        self.recall = recall

    def compute(self, state):
        rates = self._rates(state)
        return self._best(rates["sensitivity"], rates["precision"])


class RecallAtPrecision(_AtOperatingPoint):
    """Best recall where precision >= ``precision`` (0 when unreachable)."""

    examples = (("binary_guesses", {"precision": 0.8}, ""),)

    _value_name = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)
        self.precision = precision

    def compute(self, state):
        rates = self._rates(state)
        return self._best(rates["precision"], rates["sensitivity"])


__all__ = [
    "FalseNegatives",
    "FalsePositives",
    "Precision",
    "PrecisionAtRecall",
    "Recall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "TrueNegatives",
    "TruePositives",
]
