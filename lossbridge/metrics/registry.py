"""Names of metrics, and ``get`` / ``serialize`` / ``deserialize`` /
``register_metric``.

Same rules as the losses: only registered names ever resolve, and nothing a
config names is imported or evaluated. Built-in metric classes (those defined
in ``lossbridge.metrics``) register themselves under their class name and its
snake_case form, as Keras does; user metrics register with
:func:`register_metric`.

Two kinds of entries:

* metric classes (``Metric`` subclasses): ``get("MeanSquaredError")`` and
  ``get("mean_squared_error")`` return a fresh instance;
* metric functions ``fn(y_true, y_pred) -> per-sample values`` (e.g.
  ``binary_accuracy``): ``get`` returns the function, and
  ``MeanMetricWrapper(fn="binary_accuracy")`` resolves the name. A name that
  only a loss has (``"huber"``) resolves to that loss as a mean metric.
"""

from __future__ import annotations

import difflib
import re

from .. import dispatch

_CLASSES: dict[str, type] = {}
_FUNCTIONS: dict[str, object] = {}
_ALIASES = {
    "bce": "BinaryCrossentropy",
    "BCE": "BinaryCrossentropy",
    "mse": "MeanSquaredError",
    "MSE": "MeanSquaredError",
    "mae": "MeanAbsoluteError",
    "MAE": "MeanAbsoluteError",
    "mape": "MeanAbsolutePercentageError",
    "MAPE": "MeanAbsolutePercentageError",
    "msle": "MeanSquaredLogarithmicError",
    "MSLE": "MeanSquaredLogarithmicError",
    "acc": "Accuracy",
    "logcosh": "LogCoshError",
    "rmse": "RootMeanSquaredError",
}


def snake_case(name):
    """Keras' ``to_snake_case``: ``KLDivergence`` -> ``kl_divergence``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _is_metric_class(obj):
    from .base import Metric

    return isinstance(obj, type) and issubclass(obj, Metric)


def register_builtin(cls):
    """Register a built-in class under its name and snake_case name."""
    _CLASSES[cls.__name__] = cls
    _CLASSES.setdefault(snake_case(cls.__name__), cls)
    return cls


def metric_function(fn):
    """Make ``fn(y_true, y_pred, **options)``, written against ``K``, run on
    the backend its inputs choose (``fn.raw`` skips that) and register it."""
    wrapped = fn if hasattr(fn, "raw") else dispatch.bridged("y_true", "y_pred")(fn)
    _FUNCTIONS[fn.__name__] = wrapped
    return wrapped


def register_metric(name=None, *, aliases=()):
    """Decorator: make a ``Metric`` subclass, or a function
    ``fn(y_true, y_pred) -> per-sample values`` written against ``K``,
    resolvable by ``name`` (default: its ``__name__``) in :func:`get` and
    :func:`deserialize`. Functions run on every backend, like built-ins."""
    if callable(name) and not isinstance(name, str):
        return register_metric()(name)

    def decorate(obj):
        key = name or obj.__name__
        if _is_metric_class(obj):
            _CLASSES[key] = obj
        elif callable(obj):
            obj = obj if hasattr(obj, "raw") else dispatch.bridged("y_true", "y_pred")(obj)
            _FUNCTIONS[key] = obj
        else:
            raise TypeError(f"register_metric decorates a Metric subclass or a function; received {obj!r}.")
        for alias in aliases:
            _ALIASES[alias] = key
        return obj

    return decorate


def names():
    """Every registered class name, function name and alias."""
    return sorted({*_CLASSES, *_FUNCTIONS, *_ALIASES})


def _unknown(name, kind="metric"):
    close = difflib.get_close_matches(name, names(), n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}.{hint} Registered names: {', '.join(names())}.")


MODULE = "lossbridge.metrics"


def _loss_named(name):
    """The loss *function* registered as ``name`` (Loss classes reduce a whole
    batch to one number, so they are not per-sample metric functions)."""
    from ..losses import registry as losses

    try:
        loss = losses.lookup(name)
    except ValueError:
        return None
    return None if isinstance(loss, type) else loss


def resolve_function(name):
    """The metric function (or, failing that, the loss) registered as ``name``."""
    key = _ALIASES.get(name, name)
    if key in _FUNCTIONS:
        return _FUNCTIONS[key]
    loss = _loss_named(name) if isinstance(name, str) else None
    if loss is not None:
        return loss
    raise _unknown(str(name), "metric function")


def function_name(fn):
    """The registered name of metric function or loss ``fn``, or None."""
    for key, value in _FUNCTIONS.items():
        if value is fn:
            return key
    from ..losses import registry as losses

    return losses.name_of(fn)


def get(identifier):
    """A metric from an identifier, as ``keras.metrics.get``:

    * None -> None; a ``Metric`` instance or a callable -> itself;
    * a class name, snake_case name or alias -> a fresh instance of that class;
      a metric function name -> the function; a loss name -> that loss as a
      ``MeanMetricWrapper``;
    * a dict ``{"class_name": ..., "config": {...}}`` -> :func:`deserialize`.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        key = _ALIASES.get(identifier, identifier)
        if key in _CLASSES:
            return _CLASSES[key]()
        if key in _FUNCTIONS:
            return _FUNCTIONS[key]
        loss = _loss_named(identifier)
        if loss is not None:
            from .wrappers import MeanMetricWrapper

            return MeanMetricWrapper(loss, name=identifier)
        raise _unknown(identifier)
    if _is_metric_class(identifier):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(
        f"cannot interpret {identifier!r} as a metric; accepted: a registered metric name or alias, a config "
        "dict from lossbridge.metrics.serialize, a Metric instance or a callable."
    )


def _registered_class_name(cls):
    for key, value in _CLASSES.items():
        if value is cls:
            return key
    return None


def serialize(metric):
    """A JSON-friendly description in ``keras.metrics.serialize``'s layout:
    ``{"module", "class_name", "config", "registered_name"}``, with
    ``class_name="function"`` and the registered name as ``config`` for a
    metric function. Raises for anything :func:`deserialize` could not
    rebuild (unregistered classes or functions), naming what to register."""
    if _is_metric_class(type(metric)):
        class_name = _registered_class_name(type(metric))
        if class_name is None:
            raise ValueError(
                f"cannot serialize {metric!r}: its class {type(metric).__qualname__} is not registered. "
                "Decorate it with @lossbridge.register_metric."
            )
        config = dict(metric.get_config())
        for key, value in config.items():
            if callable(value):
                raise ValueError(
                    f"cannot serialize {metric!r}: option {key!r} is the unregistered callable {value!r}. "
                    "Register it with @lossbridge.register_metric (or @lossbridge.register_loss)."
                )
        return {"module": MODULE, "class_name": class_name, "config": config, "registered_name": class_name}
    if callable(metric):
        name = function_name(metric)
        if name is None:
            raise ValueError(
                f"cannot serialize {metric!r}: it is not a registered metric function or loss. "
                "Register it with @lossbridge.register_metric."
            )
        return {"module": MODULE, "class_name": "function", "config": name, "registered_name": "function"}
    raise ValueError(f"cannot serialize {metric!r}: expected a Metric or a registered metric function.")


def deserialize(config):
    """Rebuild what :func:`serialize` produced (Keras' dicts with ``module`` /
    ``registered_name`` keys are accepted; those keys are never imported)."""
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"cannot deserialize {config!r}: expected a metric name or a dict with 'class_name' and 'config'."
        )
    class_name = config["class_name"]
    options = config.get("config") or {}
    if class_name == "function":
        return resolve_function(options)
    registered = config.get("registered_name")
    key = registered if isinstance(registered, str) and registered in _CLASSES else class_name
    cls = _CLASSES.get(_ALIASES.get(key, key)) if isinstance(key, str) else None
    if cls is None:
        raise _unknown(str(class_name), "metric class")
    if not isinstance(options, dict):
        raise ValueError(f"the 'config' of a {class_name} must be a dict; received {options!r}.")
    return cls.from_config(dict(options))
