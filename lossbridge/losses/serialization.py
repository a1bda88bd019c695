"""``get``, ``serialize`` and ``deserialize`` for losses, reading and writing
the config dicts ``keras.losses.serialize`` produces.

Deserialisation resolves registered names only: a ``class_name``,
``registered_name`` or function name that is not in the registry is a
ValueError. Nothing a config names (``module`` included) is ever imported or
evaluated.
"""

from __future__ import annotations

from . import registry
from .loss import Loss

MODULE = "lossbridge.losses"


def serialize(loss):
    """A JSON-friendly config of ``loss``: a registered function becomes
    ``{"class_name": "function", "config": name, ...}``, a Loss object
    ``{"class_name": name, "config": loss.get_config(), ...}``, as in Keras."""
    if loss is None or isinstance(loss, str):
        return loss
    target = type(loss) if isinstance(loss, Loss) else loss
    name = registry.name_of(target)
    if name is None:
        raise ValueError(
            f"cannot serialize {loss!r}: {getattr(target, '__name__', target)!r} is not a registered loss. "
            "Register it with @lossbridge.register_loss('name') so that it can be read back."
        )
    if isinstance(loss, Loss):
        return {"module": MODULE, "class_name": name, "config": loss.get_config(), "registered_name": name}
    return {"module": MODULE, "class_name": "function", "config": name, "registered_name": "function"}


def deserialize(config):
    """The loss a :func:`serialize` (or ``keras.losses.serialize``) config
    describes: a Loss object, or a loss function for a function config or a
    plain name."""
    if isinstance(config, str):
        return _resolve(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"cannot deserialize {config!r}: expected a loss name or a dict with 'class_name' and 'config' "
            "as lossbridge.losses.serialize or keras.losses.serialize produce."
        )
    if config["class_name"] == "function":
        fn = _resolve(config.get("config"))
        if isinstance(fn, type):
            raise ValueError(f"config names {config.get('config')!r} as a function, but it is a loss class.")
        return fn
    obj = _resolve(_registered_name(config))
    if not isinstance(obj, type):
        return obj  # a function named by class_name: it has no options to apply
    options = config.get("config") or {}
    if not isinstance(options, dict):
        raise ValueError(f"the 'config' of {config['class_name']!r} must be a dict of options; received {options!r}.")
    try:
        return obj.from_config(options)
    except TypeError as error:
        raise ValueError(f"cannot rebuild {config['class_name']!r} from config {options!r}: {error}") from error


def get(identifier):
    """A loss from a name or alias (a class name gives an instance), a
    config dict, a Loss instance or class, or any callable; None gives None."""
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    obj = _resolve(identifier) if isinstance(identifier, str) else identifier
    if isinstance(obj, type):
        if issubclass(obj, Loss):
            return obj()
    elif callable(obj):
        return obj
    raise ValueError(
        f"cannot interpret {identifier!r} as a loss. Accepted: a loss name or alias, a config dict, "
        "a Loss object or class, or a callable."
    )


def _registered_name(config):
    """Keras writes custom objects' names as ``registered_name``; built-ins
    have None there and are named by ``class_name``."""
    registered = config.get("registered_name")
    if isinstance(registered, str) and registered in registry.names():
        return registered
    return config["class_name"]


def _resolve(name):
    if not isinstance(name, str):
        raise ValueError(f"a loss is named by a string; received {name!r}.")
    try:
        return registry.lookup(name)
    except ValueError as error:
        raise ValueError(
            f"{error} Deserialisation resolves registered names only; module paths are never imported. "
            "Register custom losses with @lossbridge.register_loss."
        ) from None
