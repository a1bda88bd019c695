"""Losses written once against ``K``, run on every backend.

Functions return per-sample values reduced over the last axis, as
``keras.losses`` does; names, aliases and arguments follow Keras 3.
"""

from __future__ import annotations

from . import registry as _registry
from .hinge import categorical_hinge, hinge, squared_hinge
from .probabilistic import (
    binary_crossentropy,
    categorical_crossentropy,
    kl_divergence,
    poisson,
    sparse_categorical_crossentropy,
)
from .registry import get, register_loss
from .regression import (
    cosine_similarity,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
)

SEED_LOSSES = (
    mean_squared_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    squared_hinge,
    hinge,
    categorical_hinge,
    log_cosh,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
    binary_crossentropy,
    kl_divergence,
    poisson,
    cosine_similarity,
)
for _fn in SEED_LOSSES:
    _registry.register(_fn.__name__, _fn)

# Keras-style short names for the functions
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

__all__ = [fn.__name__ for fn in SEED_LOSSES] + ["get", "register_loss"]
