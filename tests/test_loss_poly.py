"""Poly-1 cross-entropy (``poly_crossentropy``, ``PolyCrossentropy``) on every
backend: values against the float64 formula (tests/reference.py) and against
optax's ``poly_loss_cross_entropy``, reductions, extreme logits, gradients,
bad options. (Added by following ARCHITECTURE.md's "Add a loss" checklist.)
"""

from __future__ import annotations

import numpy as np
import pytest

from lossbridge import losses
from tests.helpers import native_type, precision, to_backend, to_numpy, with_autograd
from tests.reference import ref_categorical_crossentropy, ref_poly_crossentropy

TOLERANCE = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-12)}


def _one_hot_logits(n=6, classes=5, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    return np.eye(classes)[rng.integers(0, classes, n)], scale * rng.normal(size=(n, classes))


def _soft_probabilities(n=6, classes=5, seed=1):
    rng = np.random.default_rng(seed)
    e = np.exp(rng.normal(size=(n, classes)))
    return e / e.sum(-1, keepdims=True), rng.uniform(0.05, 1.0, (n, classes))  # predictions not normalised


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "options, inputs",
    [
        ({"from_logits": True}, _one_hot_logits),
        ({"from_logits": True, "epsilon": -1.0}, _one_hot_logits),
        ({}, _soft_probabilities),
        ({"epsilon": 0.5, "axis": 0}, _soft_probabilities),
    ],
    ids=["logits", "logits-eps-1", "soft-probabilities", "axis0"],
)
def test_values_match_the_float64_formula(backend, dtype, options, inputs):
    y_true, y_pred = inputs()
    with precision(backend, dtype):
        yt, yp = to_backend(backend, y_true, dtype), to_backend(backend, y_pred, dtype)
        out = losses.poly_crossentropy(yt, yp, **options)
        assert isinstance(out, native_type(backend)) and backend.dtype(out) == dtype
        expected = ref_poly_crossentropy(to_numpy(backend, yt), to_numpy(backend, yp), **options)
        rtol, atol = TOLERANCE[dtype]
        np.testing.assert_allclose(to_numpy(backend, out), expected, rtol=rtol, atol=atol)


def test_equals_optax():
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp

    y_true, logits = _one_hot_logits(n=16, classes=7, seed=3)
    for epsilon in (2.0, -1.0, 0.0):
        expected = optax.losses.poly_loss_cross_entropy(
            jnp.asarray(logits, jnp.float32), jnp.asarray(y_true, jnp.float32), epsilon=epsilon
        )
        out = losses.poly_crossentropy(y_true.astype(np.float32), logits.astype(np.float32), True, epsilon)
        np.testing.assert_allclose(out, np.asarray(expected), rtol=2e-6, atol=1e-6)


def test_epsilon_zero_is_categorical_crossentropy_and_the_poly_term_is_hand_computed():
    # two classes, logits (0, 0): p_t = 1/2, CE = log 2, so Poly-1 = log 2 + eps / 2
    y_true, logits = np.array([[1.0, 0.0]]), np.zeros((1, 2))
    np.testing.assert_allclose(losses.poly_crossentropy(y_true, logits, from_logits=True), np.log(2) + 1.0, rtol=1e-7)
    y_true, logits = _one_hot_logits()
    np.testing.assert_allclose(
        losses.poly_crossentropy(y_true, logits, from_logits=True, epsilon=0.0),
        ref_categorical_crossentropy(y_true, logits, from_logits=True),
        rtol=1e-6,
    )


def test_class_reductions_and_alias(backend):
    y_true, logits = _one_hot_logits()
    weight = np.linspace(0.5, 2.0, len(y_true))
    values = ref_poly_crossentropy(y_true, logits, from_logits=True, epsilon=-1.0)
    yt, yp = to_backend(backend, y_true, "float32"), to_backend(backend, logits, "float32")
    loss = losses.PolyCrossentropy(from_logits=True, epsilon=-1.0)
    np.testing.assert_allclose(to_numpy(backend, loss(yt, yp)), values.mean(), rtol=1e-5)
    np.testing.assert_allclose(
        to_numpy(backend, loss(yt, yp, to_backend(backend, weight, "float32"))), (values * weight).mean(), rtol=1e-5
    )
    as_sum = losses.PolyCrossentropy(from_logits=True, epsilon=-1.0, reduction="sum")
    np.testing.assert_allclose(to_numpy(backend, as_sum(yt, yp)), values.sum(), rtol=1e-5)
    assert losses.get("poly_loss_cross_entropy") is losses.poly_crossentropy
    assert losses.deserialize(losses.serialize(loss)).get_config() == loss.get_config()
    assert loss.epsilon == -1.0 and loss.from_logits is True


def test_extreme_logits_stay_finite(backend):
    y_true = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    logits = np.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0]])  # right and confidently wrong
    out = to_numpy(
        backend,
        losses.poly_crossentropy(
            to_backend(backend, y_true, "float32"), to_backend(backend, logits, "float32"), from_logits=True
        ),
    )
    # row 0: CE 0, p_t 1; row 1: CE 2e4, p_t 0 -> 2e4 + eps
    np.testing.assert_allclose(out, [0.0, 2e4 + 2.0], rtol=1e-6, atol=1e-6)


@with_autograd
def test_gradient_matches_the_closed_form(backend):
    # d/dz [CE + eps (1 - p_t)] = (p - y) - eps * p_t * (y - p) for one-hot y
    y_true, logits = _one_hot_logits(n=3, classes=4, seed=5, scale=1.0)
    epsilon = 2.0
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    p_true = (y_true * p).sum(-1, keepdims=True)
    expected = (p - y_true) - epsilon * p_true * (y_true - p)
    yt = to_backend(backend, y_true, "float32")

    def summed(z):
        return losses.poly_crossentropy(yt, z, from_logits=True, epsilon=epsilon)

    _, grad = backend.value_and_grad(summed)(to_backend(backend, logits, "float32"))
    np.testing.assert_allclose(to_numpy(backend, grad), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("epsilon", [float("nan"), float("inf"), "2", True])
def test_bad_epsilon_is_refused(epsilon):
    with pytest.raises(ValueError, match="`epsilon` must be a finite number"):
        losses.PolyCrossentropy(epsilon=epsilon)
