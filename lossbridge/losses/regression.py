"""Regression losses: per-sample values, reduced over the last axis.

Each takes ``y_true`` and ``y_pred`` of shape ``(..., d)`` (any framework, or
NumPy / Python data) and returns shape ``(...)``, matching ``keras.losses``.
A formula returns the elementwise terms; its declaration says how they
reduce over that axis (``per_sample=mean_of_terms``), as the docstring's
formula shows. Each function's Keras class stands beside it.
"""

from __future__ import annotations

import math

from ..k import K
from ..options import one_axis
from .definition import mean_of_terms, sum_of_terms
from .loss import SUM_OVER_BATCH_SIZE, LossFunctionWrapper, passed_on
from .registry import register_loss

_LOG2 = math.log(2.0)


@register_loss(per_sample=mean_of_terms, aliases=("mse", "MSE"), examples="regression")
def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred)**2, axis=-1)``; shapes ``(..., d)`` -> ``(...)``."""
    return K.square(y_true - y_pred)


class MeanSquaredError(LossFunctionWrapper, function=mean_squared_error):
    """``mean((y_true - y_pred)**2)`` over the last axis, then reduced."""

    def __init__(
        self, reduction=SUM_OVER_BATCH_SIZE, name="mean_squared_error", dtype=None, compile=None, global_batch_size=None
    ):
        super().__init__(**passed_on(locals()))


@register_loss(per_sample=mean_of_terms, aliases=("mae", "MAE"), examples="regression")
def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|, axis=-1)``; shapes ``(..., d)`` -> ``(...)``."""
    return K.abs(y_true - y_pred)


class MeanAbsoluteError(LossFunctionWrapper, function=mean_absolute_error):
    """``mean(|y_true - y_pred|)`` over the last axis, then reduced."""

    def __init__(
        self,
        reduction=SUM_OVER_BATCH_SIZE,
        name="mean_absolute_error",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


@register_loss(per_sample=100 * mean_of_terms, aliases=("mape", "MAPE"), examples="regression")
def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|(y_true - y_pred) / max(|y_true|, eps)|, axis=-1)``; eps = 1e-7
    keeps a zero target finite, as in Keras."""
    return K.abs((y_true - y_pred) / K.maximum(K.abs(y_true), K.epsilon()))


class MeanAbsolutePercentageError(LossFunctionWrapper, function=mean_absolute_percentage_error):
    """``100 * mean(|(y_true - y_pred) / y_true|)`` over the last axis."""

    def __init__(
        self,
        reduction=SUM_OVER_BATCH_SIZE,
        name="mean_absolute_percentage_error",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


@register_loss(per_sample=mean_of_terms, aliases=("msle", "MSLE"), examples="regression")
def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))**2, axis=-1)``
    (Keras' formula), each ``log(x + 1)`` as ``log1p(x)``: exact where ``1 + x``
    rounds (float32 loses ~1e-4 of ``log(1 + 1e-4)`` to it), and one pass fewer."""
    return K.square(K.log1p(K.maximum(y_pred, K.epsilon())) - K.log1p(K.maximum(y_true, K.epsilon())))


class MeanSquaredLogarithmicError(LossFunctionWrapper, function=mean_squared_logarithmic_error):
    """``mean((log(y_pred + 1) - log(y_true + 1))**2)`` over the last axis."""

    def __init__(
        self,
        reduction=SUM_OVER_BATCH_SIZE,
        name="mean_squared_logarithmic_error",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


@register_loss(per_sample=mean_of_terms, aliases=("logcosh",), examples="regression")
def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed as
    ``x + softplus(-2x) - log 2`` so that large errors do not overflow cosh."""
    x = y_pred - y_true
    return x + K.softplus(-2.0 * x) - _LOG2


class LogCosh(LossFunctionWrapper, function=log_cosh):
    """``mean(log(cosh(y_pred - y_true)))`` over the last axis."""

    def __init__(
        self, reduction=SUM_OVER_BATCH_SIZE, name="log_cosh", dtype=None, compile=None, global_batch_size=None
    ):
        super().__init__(**passed_on(locals()))


# Keras 1/2 called the negated cosine loss cosine_proximity, or "cosine" for short
@register_loss(
    per_sample=-sum_of_terms,
    options={"axis": one_axis},
    aliases=("cosine_proximity", "cosine"),
    examples="regression",
)
def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 for
    parallel vectors, 0 for orthogonal ones or a zero vector."""
    # Keras 3 divides by max(||x||, eps); l2_normalize's epsilon bounds ||x||**2
    floor = K.epsilon() ** 2
    unit_true, unit_pred = K.l2_normalize(y_true, axis, floor), K.l2_normalize(y_pred, axis, floor)
    return unit_true * unit_pred


class CosineSimilarity(LossFunctionWrapper, function=cosine_similarity):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``."""

    def __init__(
        self,
        axis=-1,
        reduction=SUM_OVER_BATCH_SIZE,
        name="cosine_similarity",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


__all__ = [
    "CosineSimilarity",
    "LogCosh",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "cosine_similarity",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
]
