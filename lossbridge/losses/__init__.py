"""Losses written once against ``K``, run on every backend.

Functions return per-sample values reduced over the last axis, as
``keras.losses`` does; names, aliases and arguments follow Keras 3. Each
family module holds its loss functions, their Keras classes and their
registration (ARCHITECTURE.md, "Add a loss").
"""

from __future__ import annotations

from .ctc import *  # noqa: F403
from .definition import LossDefinition, PerSample, loss_function, mean_of_terms, sum_of_terms
from .focal import *  # noqa: F403
from .hinge import *  # noqa: F403
from .loss import REDUCTIONS, SUM_OVER_BATCH_SIZE, Loss, LossFunctionWrapper
from .metric_learning import *  # noqa: F403
from .probabilistic import *  # noqa: F403
from .registry import LOSSES as _LOSSES
from .registry import deserialize, get, register_loss, serialize
from .regression import *  # noqa: F403
from .robust import *  # noqa: F403
from .segmentation import *  # noqa: F403

LossFunctionWrapper = _LOSSES.register("LossFunctionWrapper", LossFunctionWrapper)

# Keras' short names (mse, MAE, kld, logcosh, ...): every registered alias of a
# loss function is an attribute here too
globals().update({alias: _LOSSES.lookup(alias) for alias in _LOSSES.aliases})

__all__ = sorted(name for name, obj in _LOSSES.classes.items() if getattr(obj, "__module__", "").startswith(__name__))
__all__ += [
    "REDUCTIONS",
    "SUM_OVER_BATCH_SIZE",
    "Loss",
    "LossDefinition",
    "PerSample",
    "deserialize",
    "get",
    "loss_function",
    "mean_of_terms",
    "register_loss",
    "serialize",
    "sum_of_terms",
]
