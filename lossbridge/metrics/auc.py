"""``AUC``: the area under the ROC or precision-recall curve, approximated as
Keras 3 does (``keras/src/metrics/confusion_metrics.py``).

Predictions are counted at ``num_thresholds`` thresholds: ``-eps``,
``i / (num_thresholds - 1)`` for ``i = 1 .. num_thresholds - 2`` and ``1 + eps``
(eps = 1e-7, so that predictions of exactly 0 and 1 land inside the curve),
or at the user's sorted ``thresholds`` between the same two end points. The
evenly spaced default is counted by bucketing (one ``segment_sum`` per update,
see ``_thresholds``). The curve's points are then integrated by a Riemann sum:

* ``"interpolation"``: trapezoids for ROC; for PR the interpolation of Davis &
  Goadrich (2006), which interpolates true and false positives linearly
  between thresholds rather than the precision;
* ``"minoring"`` / ``"majoring"``: the lower / upper of the two end heights.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..k import K
from ..weights import divide_no_nan
from . import _thresholds as th
from .base import Metric, read_sum, sum_state

# the spellings Keras accepts
_CURVES = {"ROC": "ROC", "roc": "ROC", "PR": "PR", "pr": "PR", "PRGAIN": "PRGAIN", "prgain": "PRGAIN"}
_SUMMATIONS = {
    spelling: name for name in ("interpolation", "minoring", "majoring") for spelling in (name, name.title())
}


def _curve_name(curve):
    if not isinstance(curve, str) or curve not in _CURVES:
        raise ValueError(f'`curve` must be one of "ROC", "PR", "PRGAIN"; received {curve!r}.')
    return _CURVES[curve]


def _summation_name(method):
    if not isinstance(method, str) or method not in _SUMMATIONS:
        raise ValueError(f'`summation_method` must be "interpolation", "minoring" or "majoring"; received {method!r}.')
    return _SUMMATIONS[method]


class AUC(Metric):
    """Approximate area under the ROC (default) or PR curve.

    Args:
        num_thresholds: number of thresholds (> 1), 200 by default; ignored
            when ``thresholds`` is given.
        curve: ``"ROC"``, ``"PR"`` (or ``"PRGAIN"``).
        summation_method: ``"interpolation"``, ``"minoring"`` or ``"majoring"``.
        thresholds: explicit thresholds in [0, 1] (the end points -eps and
            1 + eps are added).
        multi_label: score each column of a ``(samples, labels)`` input
            separately and average the AUCs (weighted by ``label_weights``);
            otherwise all entries are pooled.
        num_labels: number of labels when ``multi_label`` (else read from the
            first batch).
        label_weights: per-label weights: of the entries when pooling, of the
            per-label AUCs when ``multi_label``.
        from_logits: apply a sigmoid to ``y_pred`` first.

    >>> float(AUC(num_thresholds=3)([0, 0, 1, 1], [0, 0.5, 0.3, 0.9]))
    0.75
    """

    examples = "binary_guesses"

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label=False,
        num_labels=None,
        label_weights=None,
        from_logits=False,
    ):
        super().__init__(name=name, dtype=dtype)
        self.curve = _curve_name(curve)
        self.summation_method = _summation_name(summation_method)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(th.parse_thresholds(thresholds, 0.5))
            self.num_thresholds = len(inner) + 2
            self._check_size("thresholds", f"<{len(inner)} values>", num_labels if multi_label else None)
            self._evenly = th.evenly_spaced([0.0, *inner, 1.0])
        else:
            if not isinstance(num_thresholds, numbers.Integral) or num_thresholds <= 1:
                raise ValueError(f"`num_thresholds` must be an int > 1; received {num_thresholds!r}.")
            self.num_thresholds = int(num_thresholds)
            self._check_size("num_thresholds", num_thresholds, num_labels if multi_label else None)
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self.thresholds = [0.0 - th.EPSILON, *inner, 1.0 + th.EPSILON]
        if num_labels is not None and not multi_label:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        if num_labels is not None and (not isinstance(num_labels, numbers.Integral) or num_labels < 1):
            raise ValueError(f"`num_labels` must be a positive int or None; received {num_labels!r}.")
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.label_weights = None if label_weights is None else [float(w) for w in np.ravel(label_weights)]
        if self.label_weights is not None and any(w < 0 for w in self.label_weights):
            raise ValueError(f"`label_weights` must be non-negative; received {label_weights!r}.")
        self.from_logits = bool(from_logits)

    def _check_size(self, argument, value, labels):
        """Refuse a state over ``lossbridge.metrics.state_limit()`` before it
        (or the list of thresholds) is allocated."""
        labels = labels if isinstance(labels, numbers.Integral) and labels > 0 else 1
        if labels > 1:  # the state is thresholds x labels: name both
            argument, value = f"{argument} x num_labels", f"{value} x {labels}"
        th.check_threshold_counts(
            "AUC", argument, value, thresholds=self.num_thresholds, counts=len(th.COUNT_NAMES), labels=labels
        )

    # ------------------------------------------------ state
    def initial_state(self, like):
        shape = (self.num_thresholds,)
        if self.multi_label:
            labels = self._labels_of(like)
            if self.num_labels is None:  # read from the data: checked now
                self._check_size("num_thresholds", self.num_thresholds, labels)
            shape += (labels,)
        return sum_state(th.COUNT_NAMES, shape, like=like)

    def _labels_of(self, y_pred):
        if y_pred is None:
            return self.num_labels or 1
        shape = K.shape(y_pred)
        if len(shape) != 2:
            raise ValueError(
                f"with multi_label=True, `y_pred` must have rank 2 (samples, labels); received shape {shape}."
            )
        if self.num_labels is not None and shape[-1] != self.num_labels:
            raise ValueError(
                f"`y_pred` has {shape[-1]} labels but the metric was built with num_labels={self.num_labels}."
            )
        return shape[-1]

    def update(self, state, y_true, y_pred, sample_weight=None):
        if self.multi_label and self._labels_of(y_pred) != K.shape(state["true_positives"])[-1]:
            raise ValueError(
                f"`y_pred` has {K.shape(y_pred)[-1]} labels but earlier batches had "
                f"{K.shape(state['true_positives'])[-1]}; reset_state() before changing the number of labels."
            )
        if self.from_logits:
            y_pred = K.sigmoid(y_pred)
        positive, y_pred, weights = th.prepare(
            y_true,
            y_pred,
            sample_weight,
            top_k=None,
            class_id=None,
            compute_dtype=self.dtype,
            label_weights=None if self.multi_label else self.label_weights,
        )
        counts = th.confusion_at_thresholds(
            positive, y_pred, weights, self.thresholds, evenly=self._evenly, multi_label=self.multi_label
        )
        return th.add_counts(state, **counts)

    # ------------------------------------------------ result
    def compute(self, state):
        tp, fp, tn, fn = (read_sum(state, name) for name in th.COUNT_NAMES)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._average(_interpolated_pr_areas(tp, fp, fn))
        x, y = _curve_points(self.curve, tp, fp, tn, fn)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = K.minimum(y[:-1], y[1:])
        else:
            heights = K.maximum(y[:-1], y[1:])
        return self._average((x[:-1] - x[1:]) * heights)

    def _average(self, areas):
        """Total area; with ``multi_label`` the (label-weighted) mean of the
        per-label areas."""
        if not self.multi_label:
            return K.sum(areas)
        by_label = K.sum(areas, axis=0)
        if self.label_weights is None:
            return K.mean(by_label)
        weights = K.convert_to_tensor(self.label_weights, K.dtype(by_label), like=by_label)
        return divide_no_nan(K, K.sum(by_label * weights), K.sum(weights))

    def get_config(self):
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": self.label_weights,
            "from_logits": self.from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


def _curve_points(curve, tp, fp, tn, fn):
    """``(x, y)`` of the curve at each threshold, x decreasing with the
    threshold index: ROC (false positive rate, recall), PR (recall, precision),
    PRGAIN (recall gain, precision gain; Flach & Kull 2015, with Keras' guards)."""
    recall = divide_no_nan(K, tp, tp + fn)
    if curve == "ROC":
        return divide_no_nan(K, fp, fp + tn), recall
    if curve == "PR":
        return recall, divide_no_nan(K, tp, tp + fp)
    scale = divide_no_nan(K, tp + fn, tn + fp)
    no_tp = tp == 0
    recall_gain = K.where(no_tp, K.zeros_like(tp), 1.0 - scale * divide_no_nan(K, fn, tp))
    precision_gain = K.where(no_tp, K.ones_like(tp), 1.0 - scale * divide_no_nan(K, fp, tp))
    return K.maximum(recall_gain, 0.0), precision_gain


def _interpolated_pr_areas(tp, fp, fn):
    """Davis & Goadrich's PR interpolation, per threshold interval [A, B]:
    with P = tp + fp varying linearly, precision = (tp_A + s (P - P_A)) / P for
    slope s = dtp / dP, and the interval's area is
    ``s (dtp + (tp_B - s P_B) log(P_A / P_B)) / (tp_B + fn_B)``
    (log term dropped where either P is 0). Keras' ``interpolate_pr_auc``."""
    dtp = tp[:-1] - tp[1:]
    predicted = tp + fp
    dp = predicted[:-1] - predicted[1:]
    slope = divide_no_nan(K, dtp, K.maximum(dp, 0.0))
    intercept = tp[1:] - slope * predicted[1:]
    both_positive = K.logical_and(predicted[:-1] > 0, predicted[1:] > 0)
    ratio = K.where(
        both_positive, divide_no_nan(K, predicted[:-1], K.maximum(predicted[1:], 0.0)), K.ones_like(predicted[1:])
    )
    return divide_no_nan(K, slope * (dtp + intercept * K.log(ratio)), K.maximum(tp[1:] + fn[1:], 0.0))


__all__ = [
    "AUC",
]
