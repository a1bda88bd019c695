"""Float64 NumPy references for the losses, written from the math (not from
lossbridge or Keras code) so tests have an independent expected value.

Every function is pure: ``ref_<name>(y_true, y_pred, **options)`` takes
array-likes of matching shapes (sparse labels: the prediction's shape without
the class axis) and returns a float64 array of per-sample values, reduced over
the last axis as ``keras.losses`` does. ``EPS`` is Keras' ``epsilon()``.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-7


def reference_for(name):
    """The reference of loss ``name`` (``ref_<name>`` in this module)."""
    return globals()[f"ref_{name}"]


def as_float64(x):
    """``x`` as a float64 NumPy array (bool and int labels included)."""
    return np.asarray(x).astype(np.float64)


def log_softmax(logits, axis=-1):
    """``x - log(sum(exp(x)))`` along ``axis``, shifted by the max so that
    logits of any size stay finite."""
    logits = as_float64(logits)
    peak = np.max(logits, axis=axis, keepdims=True)
    shifted = logits - peak
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def hinge_labels(y_true):
    """Keras' rule: when every label is 0 or 1, map them to -1/+1 (``2y - 1``);
    any other labels are used as given."""
    y_true = as_float64(y_true)
    return 2.0 * y_true - 1.0 if np.all((y_true == 0) | (y_true == 1)) else y_true


def unit_vectors(x, axis=-1):
    """``x / max(||x||_2, eps)`` along ``axis``: Keras 3's ``normalize``, where
    a norm below eps (a zero vector) divides by eps instead."""
    x = as_float64(x)
    norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    return x / np.maximum(norm, EPS)


# ---------------------------------------------------------------- regression
def ref_mean_squared_error(y_true, y_pred):
    """``mean((y_pred - y_true)**2, -1)``."""
    return np.mean((as_float64(y_pred) - as_float64(y_true)) ** 2, axis=-1)


def ref_mean_absolute_error(y_true, y_pred):
    """``mean(|y_pred - y_true|, -1)``."""
    return np.mean(np.abs(as_float64(y_pred) - as_float64(y_true)), axis=-1)


def ref_mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, eps), -1)``."""
    y_true, y_pred = as_float64(y_true), as_float64(y_pred)
    return 100.0 * np.mean(np.abs(y_true - y_pred) / np.maximum(np.abs(y_true), EPS), axis=-1)


def ref_mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(1 + max(y_pred, eps)) - log(1 + max(y_true, eps)))**2, -1)``."""
    y_true, y_pred = as_float64(y_true), as_float64(y_pred)
    gap = np.log1p(np.maximum(y_pred, EPS)) - np.log1p(np.maximum(y_true, EPS))
    return np.mean(gap**2, axis=-1)


def ref_log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), -1)``, with ``log cosh d`` written as
    ``logaddexp(d, -d) - log 2`` so it does not overflow for large ``d``."""
    d = as_float64(y_pred) - as_float64(y_true)
    return np.mean(np.logaddexp(d, -d) - np.log(2.0), axis=-1)


def ref_cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(unit(y_true) * unit(y_pred), axis)``: -1 for parallel vectors,
    +1 for opposite ones, 0 for orthogonal ones or a zero vector."""
    return -np.sum(unit_vectors(y_true, axis) * unit_vectors(y_pred, axis), axis=axis)


# ---------------------------------------------------------------- hinge
def ref_hinge(y_true, y_pred):
    """``mean(max(0, 1 - y * y_pred), -1)`` with ``y`` the -1/+1 labels."""
    margin = 1.0 - hinge_labels(y_true) * as_float64(y_pred)
    return np.mean(np.maximum(margin, 0.0), axis=-1)


def ref_squared_hinge(y_true, y_pred):
    """``mean(max(0, 1 - y * y_pred)**2, -1)`` with ``y`` the -1/+1 labels."""
    margin = 1.0 - hinge_labels(y_true) * as_float64(y_pred)
    return np.mean(np.maximum(margin, 0.0) ** 2, axis=-1)


def ref_categorical_hinge(y_true, y_pred):
    """``max(0, 1 + max_{wrong}(y_pred) - y_pred[true])`` for one-hot labels,
    written as ``pos = sum(y * p)``, ``neg = max((1 - y) * p)``."""
    y_true, y_pred = as_float64(y_true), as_float64(y_pred)
    pos = np.sum(y_true * y_pred, axis=-1)
    neg = np.max((1.0 - y_true) * y_pred, axis=-1)
    return np.maximum(1.0 + neg - pos, 0.0)


# ---------------------------------------------------------------- probabilistic
def smoothed(y_true, label_smoothing, num_classes):
    """Targets pulled towards uniform: ``y (1 - s) + s / num_classes``."""
    return as_float64(y_true) * (1.0 - label_smoothing) + label_smoothing / num_classes


def log_probabilities(y_pred, from_logits=False, axis=-1):
    """Log class probabilities: ``log_softmax`` of logits, or of probabilities
    first renormalised to sum to 1 and clipped to ``[eps, 1 - eps]``."""
    if from_logits:
        return log_softmax(y_pred, axis)
    y_pred = as_float64(y_pred)
    p = y_pred / np.sum(y_pred, axis=axis, keepdims=True)
    return np.log(np.clip(p, EPS, 1.0 - EPS))


def ref_categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``-sum(y * log p, axis)`` for one-hot or soft targets ``y`` (optionally
    smoothed over the ``C`` classes)."""
    num_classes = np.shape(y_pred)[axis]
    target = smoothed(y_true, label_smoothing, num_classes)
    return -np.sum(target * log_probabilities(y_pred, from_logits, axis), axis=axis)


def ref_sparse_categorical_crossentropy(
    y_true, y_pred, from_logits=False, ignore_class=None, axis=-1, label_smoothing=0.0
):
    """Categorical crossentropy of the one-hot encoding of the integer labels
    (classes on ``axis`` of ``y_pred``); positions labelled ``ignore_class``
    contribute 0. Labels with a trailing size-1 axis are accepted."""
    y_pred = as_float64(y_pred)
    class_axis = axis % y_pred.ndim
    labels = np.asarray(y_true).astype(np.int64)
    if labels.ndim == y_pred.ndim:
        labels = np.squeeze(labels, class_axis)
    ignored = np.zeros(labels.shape, bool) if ignore_class is None else labels == ignore_class
    safe = np.where(ignored, 0, labels)
    num_classes = y_pred.shape[class_axis]
    one_hot = np.moveaxis(np.eye(num_classes)[safe], -1, class_axis)
    loss = ref_categorical_crossentropy(one_hot, y_pred, from_logits, label_smoothing, class_axis)
    return np.where(ignored, 0.0, loss)


def ref_binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``mean(-(y log p + (1 - y) log(1 - p)), axis)`` with targets smoothed
    towards 0.5. Probabilities are clipped to ``[eps, 1 - eps]``; logits use the
    exact form ``max(x, 0) - x y + log(1 + exp(-|x|))``."""
    target = smoothed(y_true, label_smoothing, 2)
    y_pred = as_float64(y_pred)
    if from_logits:
        per_entry = np.maximum(y_pred, 0.0) - y_pred * target + np.log1p(np.exp(-np.abs(y_pred)))
    else:
        p = np.clip(y_pred, EPS, 1.0 - EPS)
        per_entry = -(target * np.log(p) + (1.0 - target) * np.log(1.0 - p))
    return np.mean(per_entry, axis=axis)


def ref_kl_divergence(y_true, y_pred):
    """``sum(y log(y / p), -1)`` with both clipped to ``[eps, 1]``."""
    y_true = np.clip(as_float64(y_true), EPS, 1.0)
    y_pred = np.clip(as_float64(y_pred), EPS, 1.0)
    return np.sum(y_true * np.log(y_true / y_pred), axis=-1)


def ref_poisson(y_true, y_pred):
    """``mean(p - y log(p + eps), -1)``: the Poisson negative log-likelihood
    without the ``log(y!)`` constant."""
    y_true, y_pred = as_float64(y_true), as_float64(y_pred)
    return np.mean(y_pred - y_true * np.log(y_pred + EPS), axis=-1)
