"""Stateful metrics, written once against ``K``, on every backend.

Names, arguments and numbers follow ``keras.metrics`` (Keras 3); state is
kept as compensated sums in the backend's accumulator dtype (see
``lossbridge.metrics.base``), on the framework and device of the data.

State size is bounded: a metric whose size options (``num_thresholds``,
``thresholds``, ``num_labels``, ``num_classes``) would make its state need
more than :func:`state_limit` bytes (default 1 GiB) raises a ValueError when
it is built, before anything is allocated, so an untrusted config cannot
exhaust memory. :func:`set_state_limit` changes the limit for the process.
"""

from __future__ import annotations

# the loss functions keras.metrics exports under their loss names: the same functions, no twins
from ..losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)

# the family modules under private names: `accuracy` itself is the metric function once star-imported
from . import accuracy as _accuracy
from . import auc as _auc
from . import confusion as _confusion
from . import f_score as _f_score
from . import iou as _iou
from . import reduction as _reduction
from . import regression as _regression
from . import wrappers as _wrappers
from ._thresholds import set_state_limit, state_limit
from .accuracy import *  # noqa: F403
from .auc import *  # noqa: F403
from .base import Metric
from .confusion import *  # noqa: F403
from .f_score import *  # noqa: F403
from .iou import *  # noqa: F403
from .reduction import *  # noqa: F403
from .registry import METRICS as _METRICS
from .registry import deserialize, get, register_metric, serialize
from .regression import *  # noqa: F403
from .wrappers import *  # noqa: F403

# get() instantiates Metric subclasses and serialize() writes Metric objects
# as class + config (the registry module cannot import base: base imports it)
_METRICS.base = Metric

# each family module lists its metrics and metric functions once, in its own __all__
__all__ = [
    name
    for family in (_accuracy, _auc, _confusion, _f_score, _iou, _reduction, _regression, _wrappers)
    for name in family.__all__
]
__all__ += ["Metric", "deserialize", "get", "register_metric", "serialize", "set_state_limit", "state_limit"]
# keras.metrics' loss-named functions (lossbridge.losses' own)
__all__ += [
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "sparse_categorical_crossentropy",
    "squared_hinge",
]
