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
from .registry import register_loss
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

# ---------------------------------------------------------------- Keras 3 catalogue (classes and functions)
from . import classes as _classes  # noqa: E402
from .classes import *  # noqa: E402,F403
from .ctc import ctc  # noqa: E402
from .focal import (  # noqa: E402
    binary_focal_crossentropy,
    categorical_focal_crossentropy,
    categorical_generalized_cross_entropy,
)
from .loss import REDUCTIONS, Loss, LossFunctionWrapper  # noqa: E402
from .metric_learning import circle  # noqa: E402
from .robust import huber  # noqa: E402
from .segmentation import dice, tversky  # noqa: E402
from .serialization import deserialize, get, serialize  # noqa: E402

CATALOGUE_FUNCTIONS = (
    huber,
    binary_focal_crossentropy,
    categorical_focal_crossentropy,
    categorical_generalized_cross_entropy,
    ctc,
    dice,
    tversky,
    circle,
)
for _fn in CATALOGUE_FUNCTIONS:
    _registry.register(_fn.__name__, _fn)
for _cls in (*_classes.CLASSES, LossFunctionWrapper):
    _registry.register(_cls.__name__, _cls)

# Keras-style short names for the functions
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

__all__ = (
    [fn.__name__ for fn in SEED_LOSSES + CATALOGUE_FUNCTIONS]
    + [cls.__name__ for cls in _classes.CLASSES]
    + ["Loss", "LossFunctionWrapper", "REDUCTIONS", "deserialize", "get", "register_loss", "serialize"]
)
