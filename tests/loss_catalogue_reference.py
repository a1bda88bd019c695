"""Independent float64 NumPy references for the Keras 3 catalogue losses that
the seed lacks, for the reductions of loss objects, and Keras itself as an
in-process reference (on TensorFlow). Written from the formulas in the papers
and Keras' documented semantics, never from lossbridge code.

Every ``ref_*`` takes array-likes and returns float64 per-sample values.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

EPS = 1e-7
#: float32 computations against a float64 formula
F32 = {"rtol": 2e-5, "atol": 2e-6}
#: against Keras' own float32 arithmetic
KERAS = {"rtol": 2e-5, "atol": 2e-6}
HALF = {"float16": {"rtol": 1e-2, "atol": 1e-2}, "bfloat16": {"rtol": 2e-2, "atol": 2e-2}}


def keras_losses():
    """``keras.losses`` on the TensorFlow backend, or skip."""
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip(f"keras was imported with backend {keras.backend.backend()!r}, not tensorflow")
    return keras.losses


def f64(x):
    return np.asarray(x).astype(np.float64)


def log_sigmoid(x):
    """``log(1 / (1 + exp(-x)))`` without overflow."""
    return -np.logaddexp(0.0, -f64(x))


def log_softmax(x, axis=-1):
    x = f64(x)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def smooth_binary(y_true, s):
    return f64(y_true) * (1.0 - s) + 0.5 * s


# ---------------------------------------------------------------- losses
def ref_huber(y_true, y_pred, delta=1.0):
    """Huber (1964): e**2/2 within delta, delta*|e| - delta**2/2 beyond; mean over the last axis."""
    e = f64(y_pred) - f64(y_true)
    return np.mean(np.where(np.abs(e) <= delta, 0.5 * e**2, delta * np.abs(e) - 0.5 * delta**2), axis=-1)


def ref_binary_focal_crossentropy(
    y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1
):
    """Lin et al. (2017): (1 - p_t)**gamma * BCE, optionally times alpha_t.
    Probabilities are clipped to [eps, 1 - eps] for the logs only (Keras)."""
    t = smooth_binary(y_true, label_smoothing)
    if from_logits:
        log_p, log_q = log_sigmoid(y_pred), log_sigmoid(-f64(y_pred))
        p, q = np.exp(log_p), np.exp(log_q)
        miss = t * q + (1.0 - t) * p
    else:
        p = f64(y_pred)
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
    """sum(alpha * (1 - p)**gamma * -y log p) over the class axis."""
    y_pred = f64(y_pred)
    classes = y_pred.shape[axis]
    t = f64(y_true) * (1.0 - label_smoothing) + label_smoothing / classes
    if from_logits:
        log_p = log_softmax(y_pred, axis)
        p = np.exp(log_p)
    else:
        p = np.clip(y_pred / np.sum(y_pred, axis=axis, keepdims=True), EPS, 1.0 - EPS)
        log_p = np.log(p)
    if np.ndim(alpha):
        shape = [1] * y_pred.ndim
        shape[axis] = classes
        alpha = np.reshape(f64(alpha), shape)
    return np.sum(alpha * (1.0 - p) ** gamma * -t * log_p, axis=axis)


def ref_categorical_generalized_cross_entropy(y_true, y_pred, q=0.5):
    """Zhang & Sabuncu (2018): (1 - p_y**q) / q."""
    labels = np.asarray(y_true).reshape(-1).astype(int)
    p = f64(y_pred)[np.arange(len(labels)), labels]
    return (1.0 - p**q) / q


def ref_dice(y_true, y_pred, axis=None):
    """1 - 2|A.B| / (|A| + |B| + eps)."""
    t, p = f64(y_true), f64(y_pred)
    return 1.0 - 2.0 * np.sum(t * p, axis=axis) / (np.sum(t, axis=axis) + np.sum(p, axis=axis) + EPS)


def ref_tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """1 - TP / (TP + alpha * sum(t (1 - p)) + beta * sum(p (1 - t)) + eps) (Keras' roles)."""
    t, p = f64(y_true), f64(y_pred)
    tp = np.sum(t * p, axis=axis)
    return 1.0 - tp / (tp + alpha * np.sum(t * (1 - p), axis=axis) + beta * np.sum(p * (1 - t), axis=axis) + EPS)


def ref_circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80.0, margin=0.4):
    """Sun et al. (2020), one anchor at a time: softplus(lse(pos) + lse(neg))."""
    labels = np.asarray(y_true).reshape(-1)
    emb = f64(y_pred)
    ref_lab = labels if ref_labels is None else np.asarray(ref_labels).reshape(-1)
    ref = emb if ref_embeddings is None else f64(ref_embeddings)
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


def ref_ctc(y_true, y_pred):
    """Graves et al. (2006) forward algorithm, per sample, in float64 log
    space; labels padded with 0 (= blank), logits normalised by log-softmax."""
    out = []
    for labels, logits in zip(np.asarray(y_true), f64(y_pred), strict=True):
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
    v, w = f64(values), f64(sample_weight)
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
        weighted, weights = f64(values), None
    else:
        weighted, weights = ref_weighted(values, sample_weight)
    if reduction in (None, "none") or weighted.ndim == 0:
        return weighted
    total = weighted.sum()
    if reduction == "sum":
        return total
    divisor = weights.sum() if reduction == "mean_with_sample_weight" and weights is not None else weighted.size
    return total / divisor if divisor else 0.0
