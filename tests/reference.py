"""Float64 NumPy references for the losses and for the reductions of loss
objects, written from the math (the papers' formulas and Keras' documented
semantics, not from lossbridge or Keras code) so tests have an independent
expected value; and Keras itself as an in-process reference (on TensorFlow).

Every formula is pure: ``ref_<name>(y_true, y_pred, **options)`` takes
array-likes of matching shapes (sparse labels: the prediction's shape without
the class axis) and returns a float64 array of per-sample values, reduced over
the last axis as ``keras.losses`` does (``ref_dice`` and ``ref_tversky``: over
``axis``). ``ref_reduce`` is a loss object's reduction of such values.
``EPS`` is Keras' ``epsilon()``.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

EPS = 1e-7
#: float32 computations against a float64 formula
F32 = {"rtol": 2e-5, "atol": 2e-6}
#: against Keras' own float32 arithmetic
KERAS = {"rtol": 2e-5, "atol": 2e-6}
HALF = {"float16": {"rtol": 1e-2, "atol": 1e-2}, "bfloat16": {"rtol": 2e-2, "atol": 2e-2}}


def keras_losses():
    """``keras.losses`` on its TensorFlow backend (only its numbers are used);
    skips where keras or TensorFlow is missing, or where keras was imported
    on another backend already. Wrap as a module fixture where one is needed."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "tensorflow"
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip(f"keras was imported with backend {keras.backend.backend()!r}, not tensorflow")
    return keras.losses


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


def log_sigmoid(x):
    """``log(1 / (1 + exp(-x)))`` without overflow."""
    return -np.logaddexp(0.0, -as_float64(x))


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


def ref_huber(y_true, y_pred, delta=1.0):
    """Huber (1964): e**2/2 within delta, delta*|e| - delta**2/2 beyond; mean over the last axis."""
    e = as_float64(y_pred) - as_float64(y_true)
    return np.mean(np.where(np.abs(e) <= delta, 0.5 * e**2, delta * np.abs(e) - 0.5 * delta**2), axis=-1)


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


def ref_poly_crossentropy(y_true, y_pred, from_logits=False, epsilon=2.0, axis=-1):
    """Poly-1: cross-entropy plus ``epsilon * (1 - p_t)``, ``p_t = sum(y * p)``
    (Leng et al., ICLR 2022, eq. 3), from the log-probabilities above."""
    log_p = log_probabilities(y_pred, from_logits, axis)
    target = as_float64(y_true)
    p_true = np.sum(target * np.exp(log_p), axis=axis)
    return -np.sum(target * log_p, axis=axis) + epsilon * (1.0 - p_true)


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


# ---------------------------------------------------------------- focal
def ref_binary_focal_crossentropy(
    y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1
):
    """Lin et al. (2017): ``(1 - p_t)**gamma * BCE``, optionally times ``alpha_t``.
    Probabilities are clipped to ``[eps, 1 - eps]`` for the logs only (Keras)."""
    t = smoothed(y_true, label_smoothing, 2)
    if from_logits:
        log_p, log_q = log_sigmoid(y_pred), log_sigmoid(-as_float64(y_pred))
        p, q = np.exp(log_p), np.exp(log_q)
        miss = t * q + (1.0 - t) * p
    else:
        p = as_float64(y_pred)
        clipped = np.clip(p, EPS, 1.0 - EPS)
        log_p, log_q = np.log(clipped), np.log(1.0 - clipped)
        miss = 1.0 - (t * p + (1.0 - t) * (1.0 - p))
    loss = miss**gamma * -(t * log_p + (1.0 - t) * log_q)
    if apply_class_balancing:
        loss = loss * (t * alpha + (1.0 - t) * (1.0 - alpha))
    return np.mean(loss, axis=axis)


def ref_categorical_focal_crossentropy(
    y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1
):
    """``sum(alpha * (1 - p)**gamma * -y log p)`` over the class axis; ``alpha``
    a number or one per class."""
    classes = np.shape(y_pred)[axis]
    log_p = log_probabilities(y_pred, from_logits, axis)
    if np.ndim(alpha):
        shape = [1] * np.ndim(y_pred)
        shape[axis] = classes
        alpha = np.reshape(as_float64(alpha), shape)
    target = smoothed(y_true, label_smoothing, classes)
    return np.sum(alpha * (1.0 - np.exp(log_p)) ** gamma * -target * log_p, axis=axis)


def ref_categorical_generalized_cross_entropy(y_true, y_pred, q=0.5):
    """Zhang & Sabuncu (2018): ``(1 - p_y**q) / q``."""
    labels = np.asarray(y_true).reshape(-1).astype(int)
    p = as_float64(y_pred)[np.arange(len(labels)), labels]
    return (1.0 - p**q) / q


# ---------------------------------------------------------------- segmentation
def ref_dice(y_true, y_pred, axis=None):
    """``1 - 2|A.B| / (|A| + |B| + eps)``."""
    t, p = as_float64(y_true), as_float64(y_pred)
    return 1.0 - 2.0 * np.sum(t * p, axis=axis) / (np.sum(t, axis=axis) + np.sum(p, axis=axis) + EPS)


def ref_tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - TP / (TP + alpha * sum(t (1 - p)) + beta * sum(p (1 - t)) + eps)`` (Keras' roles)."""
    t, p = as_float64(y_true), as_float64(y_pred)
    tp = np.sum(t * p, axis=axis)
    return 1.0 - tp / (tp + alpha * np.sum(t * (1 - p), axis=axis) + beta * np.sum(p * (1 - t), axis=axis) + EPS)


# ---------------------------------------------------------------- metric learning
def ref_circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80.0, margin=0.4):
    """Sun et al. (2020), one anchor at a time: ``softplus(lse(pos) + lse(neg))``."""
    labels = np.asarray(y_true).reshape(-1)
    emb = as_float64(y_pred)
    ref_lab = labels if ref_labels is None else np.asarray(ref_labels).reshape(-1)
    ref = emb if ref_embeddings is None else as_float64(ref_embeddings)
    out = []
    for i, anchor in enumerate(emb):
        pos, neg = [], []
        for j, other in enumerate(ref):
            d = max(1.0 - float(anchor @ other), 0.0)
            if ref_lab[j] == labels[i]:
                if not (remove_diagonal and i == j):
                    pos.append(-gamma * max(margin + d, 0.0) * (margin - d))
            else:
                neg.append(gamma * max(1.0 + margin - d, 0.0) * (1.0 - margin - d))
        lse = [np.logaddexp.reduce(v) if v else -np.inf for v in (pos, neg)]
        out.append(np.logaddexp(0.0, lse[0] + lse[1]))
    return np.array(out)


# ---------------------------------------------------------------- ctc
def ref_ctc(y_true, y_pred):
    """Graves et al. (2006) forward algorithm, per sample, in float64 log
    space; labels padded with 0 (= blank), logits normalised by log-softmax."""
    out = []
    for labels, logits in zip(np.asarray(y_true), as_float64(y_pred), strict=True):
        labels = [int(v) for v in labels if v != 0]
        log_p = log_softmax(logits)
        ext = [0]
        for v in labels:
            ext += [v, 0]
        alpha = np.full(len(ext), -np.inf)
        alpha[0] = log_p[0, ext[0]]
        if len(ext) > 1:
            alpha[1] = log_p[0, ext[1]]
        for t in range(1, len(log_p)):
            new = np.full(len(ext), -np.inf)
            for s, k in enumerate(ext):
                terms = [alpha[s]] + ([alpha[s - 1]] if s >= 1 else [])
                if s >= 2 and k != 0 and k != ext[s - 2]:
                    terms.append(alpha[s - 2])
                new[s] = np.logaddexp.reduce(terms) + log_p[t, k]
            alpha = new
        out.append(-np.logaddexp(alpha[-1], alpha[-2]) if len(ext) > 1 else -alpha[-1])
    return np.array(out)


# ---------------------------------------------------------------- reductions
def ref_weighted(values, sample_weight):
    """``values * sample_weight`` with Keras' rank rules: ranks differing by a
    trailing 1 are squeezed/expanded, lower-rank weights weigh whole samples."""
    v, w = as_float64(values), as_float64(sample_weight)
    if v.ndim == w.ndim + 1 and v.shape[-1] == 1:
        w = w[..., None] if w.ndim == 1 else w
        v = v if w.ndim == v.ndim else v[..., 0]
    elif w.ndim == v.ndim + 1 and w.shape[-1] == 1:
        v, w = (v[..., None], w) if v.ndim == 1 else (v, w[..., 0])
    if 0 < w.ndim < v.ndim:
        w = w.reshape(w.shape + (1,) * (v.ndim - w.ndim))
    return v * w, w


def ref_reduce(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Keras 3's reduction: none -> weighted values; sum; sum / element count;
    sum / sum(weights). Empty inputs and zero divisors give 0."""
    if sample_weight is None:
        weighted, weights = as_float64(values), None
    else:
        weighted, weights = ref_weighted(values, sample_weight)
    if reduction in (None, "none") or weighted.ndim == 0:
        return weighted
    total = weighted.sum()
    if reduction == "sum":
        return total
    divisor = weights.sum() if reduction == "mean_with_sample_weight" and weights is not None else weighted.size
    return total / divisor if divisor else 0.0
