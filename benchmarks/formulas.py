"""The baselines: each loss written by hand in one framework's own ops, and
the framework's native loss where it has one.

``hand(framework, case)`` is the per-sample formula (reduced over the last
axis, like a lossbridge loss function); ``hand_reduced`` adds the default
reduction of a Loss object (the mean over samples). ``native(framework,
case)`` is the framework's own loss with its mean reduction, or None. All
take ``(y_true, y_pred)`` as the framework's tensors. Each formula is what a
careful user would type: the numerically stable form, nothing more.
"""

from __future__ import annotations

import importlib.util

EPS = 1e-7


# ---------------------------------------------------------------- NumPy and JAX (array API alike)
def _numpy_like(xp, log_softmax, take_along_axis):
    def mse(t, p):
        return xp.mean(xp.square(t - p), axis=-1)

    def mae(t, p):
        return xp.mean(xp.abs(t - p), axis=-1)

    def huber(t, p):
        error = p - t
        abs_error = xp.abs(error)
        return xp.mean(xp.where(abs_error <= 1.0, 0.5 * xp.square(error), abs_error - 0.5), axis=-1)

    def bce_logits(t, x):
        return xp.mean(xp.maximum(x, 0.0) - x * t + xp.log1p(xp.exp(-xp.abs(x))), axis=-1)

    def cce_logits(t, x):
        return -xp.sum(t * log_softmax(x), axis=-1)

    def scce_logits(labels, x):
        return -take_along_axis(log_softmax(x), labels[:, None], axis=-1)[:, 0]

    def kld(t, p):
        t, p = xp.clip(t, EPS, 1.0), xp.clip(p, EPS, 1.0)
        return xp.sum(t * xp.log(t / p), axis=-1)

    def cosine(t, p):
        def unit(v):
            return v / xp.sqrt(xp.maximum(xp.sum(xp.square(v), axis=-1, keepdims=True), 1e-12))

        return -xp.sum(unit(t) * unit(p), axis=-1)

    def focal_logits(t, x):
        bce = xp.maximum(x, 0.0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))
        p = 1.0 / (1.0 + xp.exp(-x))
        miss = t * (1.0 - p) + (1.0 - t) * p
        return xp.mean(xp.square(miss) * bce, axis=-1)

    return locals()


def _numpy():
    import numpy as np

    def log_softmax(x):
        shifted = x - np.max(x, axis=-1, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))

    return _numpy_like(np, log_softmax, np.take_along_axis), np.mean, {}


def _jax():
    import jax
    import jax.numpy as jnp

    formulas = _numpy_like(jnp, jax.nn.log_softmax, jnp.take_along_axis)
    try:
        import optax
    except ImportError:  # JAX has no losses of its own: without optax, no native column
        return formulas, jnp.mean, {}
    natives = {
        "mse": lambda t, p: jnp.mean(optax.squared_error(p, t)),
        "huber": lambda t, p: jnp.mean(optax.huber_loss(p, t, delta=1.0)),
        "bce_logits": lambda t, x: jnp.mean(optax.sigmoid_binary_cross_entropy(x, t)),
        "cce_logits": lambda t, x: jnp.mean(optax.softmax_cross_entropy(x, t)),
        "scce_logits": lambda labels, x: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(x, labels)),
        "kld": lambda t, p: jnp.mean(optax.kl_divergence(jnp.log(jnp.clip(p, EPS, 1.0)), t)),
        "cosine": lambda t, p: -jnp.mean(optax.cosine_similarity(p, t, epsilon=1e-12)),
        "focal_logits": lambda t, x: jnp.mean(optax.sigmoid_focal_loss(x, t, gamma=2.0)),
    }
    return formulas, jnp.mean, natives


# ---------------------------------------------------------------- PyTorch
def _torch():
    import torch
    import torch.nn.functional as F

    def mse(t, p):
        return torch.mean(torch.square(t - p), dim=-1)

    def mae(t, p):
        return torch.mean(torch.abs(t - p), dim=-1)

    def huber(t, p):
        error = p - t
        abs_error = torch.abs(error)
        return torch.mean(torch.where(abs_error <= 1.0, 0.5 * torch.square(error), abs_error - 0.5), dim=-1)

    def bce_logits(t, x):
        return torch.mean(torch.clamp_min(x, 0.0) - x * t + torch.log1p(torch.exp(-torch.abs(x))), dim=-1)

    def cce_logits(t, x):
        return -torch.sum(t * torch.log_softmax(x, dim=-1), dim=-1)

    def scce_logits(labels, x):
        return -torch.gather(torch.log_softmax(x, dim=-1), -1, labels[:, None])[:, 0]

    def kld(t, p):
        t, p = torch.clamp(t, EPS, 1.0), torch.clamp(p, EPS, 1.0)
        return torch.sum(t * torch.log(t / p), dim=-1)

    def cosine(t, p):
        def unit(v):
            return v / torch.sqrt(torch.clamp_min(torch.sum(torch.square(v), dim=-1, keepdim=True), 1e-12))

        return -torch.sum(unit(t) * unit(p), dim=-1)

    def focal_logits(t, x):
        bce = torch.clamp_min(x, 0.0) - x * t + torch.log1p(torch.exp(-torch.abs(x)))
        p = torch.sigmoid(x)
        miss = t * (1.0 - p) + (1.0 - t) * p
        return torch.mean(torch.square(miss) * bce, dim=-1)

    formulas = {k: v for k, v in locals().items() if k not in ("torch", "F")}
    natives = {
        "mse": lambda t, p: F.mse_loss(p, t),
        "mae": lambda t, p: F.l1_loss(p, t),
        "huber": lambda t, p: F.huber_loss(p, t, delta=1.0),
        "bce_logits": lambda t, x: F.binary_cross_entropy_with_logits(x, t),
        "cce_logits": lambda t, x: F.cross_entropy(x, t),
        "scce_logits": lambda labels, x: F.cross_entropy(x, labels),
        "kld": lambda t, p: F.kl_div(torch.log(torch.clamp(p, EPS, 1.0)), t, reduction="batchmean"),
        "cosine": lambda t, p: -torch.mean(F.cosine_similarity(t, p, dim=-1, eps=1e-6)),
    }
    return formulas, torch.mean, natives


# ---------------------------------------------------------------- TensorFlow (tf ops only, no tf.keras)
def _tensorflow():
    import tensorflow as tf

    def mse(t, p):
        return tf.reduce_mean(tf.square(t - p), axis=-1)

    def mae(t, p):
        return tf.reduce_mean(tf.abs(t - p), axis=-1)

    def huber(t, p):
        error = p - t
        abs_error = tf.abs(error)
        return tf.reduce_mean(tf.where(abs_error <= 1.0, 0.5 * tf.square(error), abs_error - 0.5), axis=-1)

    def bce_logits(t, x):
        return tf.reduce_mean(tf.maximum(x, 0.0) - x * t + tf.math.log1p(tf.exp(-tf.abs(x))), axis=-1)

    def cce_logits(t, x):
        return -tf.reduce_sum(t * tf.nn.log_softmax(x, axis=-1), axis=-1)

    def scce_logits(labels, x):
        return -tf.gather(tf.nn.log_softmax(x, axis=-1), labels, batch_dims=1)

    def kld(t, p):
        t, p = tf.clip_by_value(t, EPS, 1.0), tf.clip_by_value(p, EPS, 1.0)
        return tf.reduce_sum(t * tf.math.log(t / p), axis=-1)

    def cosine(t, p):
        return -tf.reduce_sum(tf.math.l2_normalize(t, axis=-1) * tf.math.l2_normalize(p, axis=-1), axis=-1)

    def focal_logits(t, x):
        bce = tf.maximum(x, 0.0) - x * t + tf.math.log1p(tf.exp(-tf.abs(x)))
        p = tf.sigmoid(x)
        miss = t * (1.0 - p) + (1.0 - t) * p
        return tf.reduce_mean(tf.square(miss) * bce, axis=-1)

    formulas = {k: v for k, v in locals().items() if k != "tf"}
    natives = {
        "mse": lambda t, p: tf.reduce_mean(tf.math.squared_difference(p, t)),
        "bce_logits": lambda t, x: tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=t, logits=x)),
        "cce_logits": lambda t, x: tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=t, logits=x)),
        "scce_logits": lambda labels, x: tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x)
        ),
    }
    return formulas, tf.reduce_mean, natives


_BUILDERS = {"numpy": _numpy, "jax": _jax, "torch": _torch, "tensorflow": _tensorflow}
_built: dict[str, tuple] = {}


def _get(framework):
    if framework not in _built:
        _built[framework] = _BUILDERS[framework]()
    return _built[framework]


def hand(framework: str, case: str):
    """Per-sample hand-written formula, or None."""
    return _get(framework)[0].get(case)


def hand_reduced(framework: str, case: str):
    """Hand-written formula followed by the mean over samples (the default
    ``sum_over_batch_size`` reduction of a Loss object)."""
    formula, mean = hand(framework, case), _get(framework)[1]
    if formula is None:
        return None

    def reduced(t, p):
        return mean(formula(t, p))

    return reduced


def native(framework: str, case: str):
    """The framework's own loss (mean-reduced), or None where it has none."""
    return _get(framework)[2].get(case)


def native_name(framework: str, case: str) -> str | None:
    return (
        {"jax": "optax", "torch": "torch.nn.functional", "tensorflow": "tf.nn"}.get(framework)
        if native(framework, case)
        else None
    )


def available(framework: str) -> bool:
    name = {"tensorflow": "tensorflow"}.get(framework, framework)
    return importlib.util.find_spec(name) is not None
