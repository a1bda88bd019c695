"""Names and aliases of losses: ``register_loss``, ``get``, ``serialize`` and
``deserialize``, on the one generic :class:`lossbridge.registry.Registry`.

Built-in losses register where they are defined, with the same decorator
users have (``@register_loss``), and their Keras classes register by being
defined (``LossFunctionWrapper`` subclasses with ``function=``).

Only registered names ever resolve: nothing a user passes is imported or
evaluated. The registry is closed: a taken name or alias raises unless
``override=True`` (see :mod:`lossbridge.registry`). ``lossbridge.losses.loss``
declares ``Loss`` as the registry's base, so that a class name gives an
instance and a Loss object serializes as its class and config.
"""

from __future__ import annotations

from ..registry import Registry
from .definition import loss_function

MODULE = "lossbridge.losses"

#: functions and Loss classes share one table, as Keras' loss names do
LOSSES = Registry("loss", MODULE, "@lossbridge.register_loss", classes={}, aliases={})


def register(name, obj, *, aliases=(), override=False):
    """Register a loss function or class as ``name`` (closed: see the module docstring)."""
    return LOSSES.register(name, obj, aliases=aliases, override=override)


def register_loss(
    name=None,
    *,
    aliases=(),
    sparse=False,
    per_sample=None,
    reduce=None,
    scale=1.0,
    half_as_float32=False,
    options=None,
    examples=(),
    couples_samples=False,
    override=False,
):
    """Decorator: make a function written against ``K`` a loss that runs on
    every backend (:func:`lossbridge.losses.definition.loss_function` takes
    the other arguments) and resolves by ``name`` (default: its
    ``__name__``) and ``aliases`` in :func:`get`. A Loss class is registered
    as it is. A name or alias another loss holds is a ValueError unless
    ``override=True``."""
    if callable(name) and not isinstance(name, str):  # @register_loss without parentheses
        return register_loss()(name)

    def decorate(fn):
        if hasattr(fn, "definition") or isinstance(fn, type):
            wrapped = fn
        else:
            wrapped = loss_function(
                fn,
                sparse=sparse,
                per_sample=per_sample,
                reduce=reduce,
                scale=scale,
                half_as_float32=half_as_float32,
                options=options,
                examples=examples,
                couples_samples=couples_samples,
            )
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
