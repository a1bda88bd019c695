"""Names and aliases of losses, and ``get`` / ``register_loss``.

Only registered names ever resolve: nothing a user passes is imported or
evaluated.
"""

from __future__ import annotations

import difflib

from ._bridge import loss_function

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


def register(name, obj, *, aliases=()):
    _REGISTRY[name] = obj
    for alias in aliases:
        _ALIASES[alias] = name
    return obj


def register_loss(name=None, *, aliases=(), sparse=False, reduce=None, scale=1.0):
    """Decorator: make a function written against ``K`` a loss that runs on
    every backend and resolves by ``name`` in :func:`get`. ``reduce`` and
    ``scale`` declare a function that returns elementwise terms, as in
    :func:`lossbridge.losses._bridge.loss_function`."""

    def decorate(fn):
        if hasattr(fn, "raw") or isinstance(fn, type):
            wrapped = fn
        else:
            wrapped = loss_function(fn, sparse=sparse, reduce=reduce, scale=scale)
        return register(name or fn.__name__, wrapped, aliases=aliases)

    return decorate


def names():
    """Every registered name and alias."""
    return sorted({*_REGISTRY, *_ALIASES})


def lookup(name: str):
    key = _ALIASES.get(name, name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(name, names(), n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown loss {name!r}.{hint} Known losses: {', '.join(names())}.")


def name_of(obj):
    """The name ``obj`` (a loss function or class) is registered under, or None."""
    for name, registered in _REGISTRY.items():
        if registered is obj:
            return name
    return None


def get(identifier):
    """A loss from a name or alias (``"mse"``; a class name gives an
    instance), a config dict, a Loss object, or a callable returned as is.
    The full rules are in :func:`lossbridge.losses.serialization.get`."""
    from .serialization import get as get_loss

    return get_loss(identifier)
