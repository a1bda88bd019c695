"""Regression losses: per-sample values, reduced over the last axis.

Each takes ``y_true`` and ``y_pred`` of shape ``(..., d)`` (any framework, or
NumPy / Python data) and returns shape ``(...)``, matching ``keras.losses``.
A formula returns the elementwise terms; its decorator says how they reduce
over that axis (``reduce=``, ``scale=``), as the docstring's formula shows.
"""

from __future__ import annotations

import math

from ..k import K
from ..options import one_axis
from ._bridge import loss_function

_LOG2 = math.log(2.0)


@loss_function(reduce="mean")
def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred)**2, axis=-1)``."""
    return K.square(y_true - y_pred)


@loss_function(reduce="mean")
def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|, axis=-1)``."""
    return K.abs(y_true - y_pred)


@loss_function(reduce="mean", scale=100.0)
def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|(y_true - y_pred) / max(|y_true|, eps)|, axis=-1)``; eps = 1e-7
    keeps a zero target finite, as in Keras."""
    return K.abs((y_true - y_pred) / K.maximum(K.abs(y_true), K.epsilon()))


@loss_function(reduce="mean")
def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))**2, axis=-1)``."""
    first_log = K.log(K.maximum(y_pred, K.epsilon()) + 1.0)
    second_log = K.log(K.maximum(y_true, K.epsilon()) + 1.0)
    return K.square(first_log - second_log)


@loss_function(reduce="mean")
def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed as
    ``x + softplus(-2x) - log 2`` so that large errors do not overflow cosh."""
    x = y_pred - y_true
    return x + K.softplus(-2.0 * x) - _LOG2


@loss_function(reduce="sum", scale=-1.0, row_normalized=True, options={"axis": one_axis})
def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 for
    parallel vectors, 0 for orthogonal ones or a zero vector."""
    # Keras 3 divides by max(||x||, eps); l2_normalize's epsilon bounds ||x||**2
    floor = K.epsilon() ** 2
    unit_true, unit_pred = K.l2_normalize(y_true, axis, floor), K.l2_normalize(y_pred, axis, floor)
    return unit_true * unit_pred
