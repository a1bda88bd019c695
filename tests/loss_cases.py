"""Inputs for the regression, hinge and probabilistic losses (the 14 of
``test_loss_values.py`` and ``test_loss_edges.py``): one generator of valid
``(y_true, y_pred)`` per kind of target, the cases (loss, options, generator)
the tests run, and how a case's arrays become backend tensors.

Generators return float64 NumPy arrays (integer labels for sparse losses)
for a batch of ``n`` samples; values stay away from the points where a loss
has a kink or a clip, so gradients are well defined there.
"""

from __future__ import annotations

import numpy as np

from tests.helpers import to_backend

CLASSES = 5
#: rtol/atol of a float32 computation against the float64 reference: a few
#: float32 roundings (2**-24 each) of O(1) terms, e.g. log_cosh's
#: ``x + softplus(-2x) - log 2`` cancels to a small value with an absolute error
#: near 1e-7; float64 likewise at 2**-53.
TOLERANCE = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-12)}


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def real(rng, n):
    return rng.normal(size=(n, CLASSES)), rng.normal(size=(n, CLASSES))


def positive(rng, n):
    return rng.uniform(0.1, 3.0, (n, CLASSES)), rng.uniform(0.1, 3.0, (n, CLASSES))


def nonzero_targets(rng, n):
    sign = rng.choice([-1.0, 1.0], (n, CLASSES))
    return sign * rng.uniform(0.5, 2.0, (n, CLASSES)), rng.normal(size=(n, CLASSES))


def signed_labels(rng, n):
    return rng.choice([-1.0, 1.0], (n, CLASSES)), rng.normal(size=(n, CLASSES))


def binary_labels_scores(rng, n):
    return rng.integers(0, 2, (n, CLASSES)).astype(float), rng.normal(size=(n, CLASSES))


def binary_labels_probabilities(rng, n):
    return rng.integers(0, 2, (n, CLASSES)).astype(float), rng.uniform(0.05, 0.95, (n, CLASSES))


def binary_labels_logits(rng, n):
    return rng.integers(0, 2, (n, CLASSES)).astype(float), 3.0 * rng.normal(size=(n, CLASSES))


def one_hot_scores(rng, n):
    return np.eye(CLASSES)[rng.integers(0, CLASSES, n)], rng.normal(size=(n, CLASSES))


def one_hot_probabilities(rng, n):
    return np.eye(CLASSES)[rng.integers(0, CLASSES, n)], _softmax(rng.normal(size=(n, CLASSES)))


def soft_unnormalised(rng, n):
    # predictions that do not sum to 1 exercise the renormalisation
    return _softmax(rng.normal(size=(n, CLASSES))), rng.uniform(0.1, 1.0, (n, CLASSES))


def distributions(rng, n):
    return _softmax(rng.normal(size=(n, CLASSES))), _softmax(rng.normal(size=(n, CLASSES)))


def sparse_probabilities(rng, n):
    return rng.integers(0, CLASSES, n), _softmax(rng.normal(size=(n, CLASSES)))


def sparse_logits(rng, n):
    return rng.integers(0, CLASSES, n), 3.0 * rng.normal(size=(n, CLASSES))


def counts(rng, n):
    return rng.poisson(2.0, (n, CLASSES)).astype(float), rng.uniform(0.1, 4.0, (n, CLASSES))


#: (test id, loss name, options, generator)
CASES = [
    ("mse", "mean_squared_error", {}, real),
    ("mae", "mean_absolute_error", {}, real),
    ("mape", "mean_absolute_percentage_error", {}, nonzero_targets),
    ("msle", "mean_squared_logarithmic_error", {}, positive),
    ("squared_hinge", "squared_hinge", {}, signed_labels),
    ("squared_hinge-01", "squared_hinge", {}, binary_labels_scores),
    ("hinge", "hinge", {}, signed_labels),
    ("hinge-01", "hinge", {}, binary_labels_scores),
    ("categorical_hinge", "categorical_hinge", {}, one_hot_scores),
    ("log_cosh", "log_cosh", {}, real),
    ("cce", "categorical_crossentropy", {}, one_hot_probabilities),
    ("cce-renormalised", "categorical_crossentropy", {}, soft_unnormalised),
    ("cce-logits", "categorical_crossentropy", {"from_logits": True}, one_hot_scores),
    ("cce-smoothing", "categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, one_hot_scores),
    ("scce", "sparse_categorical_crossentropy", {}, sparse_probabilities),
    ("scce-logits", "sparse_categorical_crossentropy", {"from_logits": True}, sparse_logits),
    ("scce-ignore", "sparse_categorical_crossentropy", {"from_logits": True, "ignore_class": 1}, sparse_logits),
    ("bce", "binary_crossentropy", {}, binary_labels_probabilities),
    ("bce-logits", "binary_crossentropy", {"from_logits": True}, binary_labels_logits),
    ("bce-smoothing", "binary_crossentropy", {"label_smoothing": 0.2}, binary_labels_probabilities),
    ("kld", "kl_divergence", {}, distributions),
    ("poisson", "poisson", {}, counts),
    ("cosine", "cosine_similarity", {}, real),
]

CASE_IDS = [case[0] for case in CASES]
SPARSE = {"sparse_categorical_crossentropy"}


def make(case, n=4, seed=0):
    """``(y_true, y_pred)`` of ``case`` for ``n`` samples, reproducibly."""
    _, _, _, generator = case
    return generator(np.random.default_rng(seed), n)


def tensors(backend, name, y_true, y_pred, dtype):
    """Backend tensors of a case: predictions and dense labels in ``dtype``,
    sparse labels as int32 class ids."""
    label_dtype = "int32" if name in SPARSE else dtype
    return to_backend(backend, y_true, label_dtype), to_backend(backend, y_pred, dtype)
