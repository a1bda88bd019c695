"""Names and aliases of losses: ``register_loss``, ``get``, ``serialize`` and
``deserialize``, on the one generic :class:`lossbridge.registry.Registry`.

Only registered names ever resolve: nothing a user passes is imported or
evaluated. The registry is closed: a taken name or alias raises unless
``override=True`` (see :mod:`lossbridge.registry`).

This module imports no Loss class (``loss.py`` imports it), so the Loss rules
(a class name gives an instance) are switched on by
``lossbridge.losses.serialization``, which declares ``Loss`` as the base.
"""

from __future__ import annotations

from ..registry import Registry
from ._bridge import loss_function

MODULE = "lossbridge.losses"

_REGISTRY: dict[str, object] = {}
_ALIASES = {
    "mse": "mean_squared_error",
    "MSE": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "MAPE": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "MSLE": "mean_squared_logarithmic_error",
    "kld": "kl_divergence",
    "KLD": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "logcosh": "log_cosh",
    "bce": "binary_crossentropy",
    "BCE": "binary_crossentropy",
    # Keras 1/2 called the negated cosine loss cosine_proximity (the seed's "cosine")
    "cosine_proximity": "cosine_similarity",
    "cosine": "cosine_similarity",
}

#: functions and Loss classes share one table, as Keras' loss names do
LOSSES = Registry("loss", MODULE, "@lossbridge.register_loss", classes=_REGISTRY, aliases=_ALIASES)


def register(name, obj, *, aliases=(), override=False):
    """Register a loss function or class as ``name`` (closed: see the module docstring)."""
    return LOSSES.register(name, obj, aliases=aliases, override=override)


def register_loss(name=None, *, aliases=(), sparse=False, reduce=None, scale=1.0, override=False):
    """Decorator: make a function written against ``K`` a loss that runs on
    every backend and resolves by ``name`` in :func:`get`. ``reduce`` and
    ``scale`` declare a function that returns elementwise terms, as in
    :func:`lossbridge.losses._bridge.loss_function`. A name or alias another
    loss holds is a ValueError unless ``override=True``."""

    def decorate(fn):
        if hasattr(fn, "raw") or isinstance(fn, type):
            wrapped = fn
        else:
            wrapped = loss_function(fn, sparse=sparse, reduce=reduce, scale=scale)
        return register(name or fn.__name__, wrapped, aliases=aliases, override=override)

    return decorate


def names():
    """Every registered name and alias."""
    return LOSSES.names()


def lookup(name: str):
    """The loss function or class registered as ``name`` (or an alias)."""
    return LOSSES.lookup(name)


def name_of(obj):
    """The name ``obj`` (a loss function or class) is registered under, or None."""
    return LOSSES.name_of(obj)


def get(identifier):
    """A loss from a name or alias (``"mse"``; a class name gives an
    instance), a config dict, a Loss object or class, or any callable
    returned as is; None gives None."""
    return LOSSES.get(identifier)


def serialize(loss):
    """A JSON-friendly config of ``loss``: a registered function becomes
    ``{"class_name": "function", "config": name, ...}``, a Loss object
    ``{"class_name": name, "config": loss.get_config(), ...}``, as in Keras."""
    return LOSSES.serialize(loss)


def deserialize(config):
    """The loss a :func:`serialize` (or ``keras.losses.serialize``) config
    describes: a Loss object, or a loss function for a function config or a
    plain name (a name is resolved, not instantiated)."""
    if isinstance(config, str):
        return LOSSES.closed(LOSSES.lookup, config)
    return LOSSES.deserialize(config)
