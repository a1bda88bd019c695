"""Names of metrics, and ``get`` / ``serialize`` / ``deserialize`` /
``register_metric``, on the one generic :class:`lossbridge.registry.Registry`.

Same rules as the losses: only registered names ever resolve, nothing a
config names is imported or evaluated, and a taken name or alias raises
unless ``override=True``. Built-in metric classes (those defined in
``lossbridge.metrics``) register themselves under their class name and its
snake_case form, as Keras does; user metrics register with
:func:`register_metric`.

Two kinds of entries:

* metric classes (``Metric`` subclasses): ``get("MeanSquaredError")`` and
  ``get("mean_squared_error")`` return a fresh instance;
* metric functions ``fn(y_true, y_pred) -> per-sample values`` (e.g.
  ``binary_accuracy``): ``get`` returns the function, and
  ``MeanMetricWrapper(fn="binary_accuracy")`` resolves the name. A name that
  only a loss has (``"huber"``) resolves to that loss as a mean metric.

This module imports neither ``base`` nor ``wrappers`` (both import it):
``lossbridge.metrics`` declares ``Metric`` as the registry's base, and a loss
name becomes a mean metric through the registered ``MeanMetricWrapper``.
"""

from __future__ import annotations

from .. import dispatch
from ..losses.registry import LOSSES
from ..registry import Registry, same_definition, snake_case

MODULE = "lossbridge.metrics"

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

METRICS = Registry(
    "metric",
    MODULE,
    "@lossbridge.register_metric",
    classes=_CLASSES,
    functions=_FUNCTIONS,
    aliases=_ALIASES,
    fallback=LOSSES,
)

__all__ = ["METRICS", "MODULE", "deserialize", "get", "register_metric", "serialize", "snake_case"]


def register_builtin(cls):
    """Register a built-in class under its name and snake_case name. The
    snake_case name is a courtesy: where another class has it already, that
    one keeps it (a function of the same name is no conflict: ``accuracy``)."""
    cls = METRICS.register(cls.__name__, cls, table=_CLASSES, tables=(_CLASSES,))
    snake = snake_case(cls.__name__)
    held = _CLASSES.get(snake)
    if held is None or same_definition(held, cls):
        _CLASSES[snake] = cls
    return cls


def _bridge(fn):
    return fn if hasattr(fn, "raw") else dispatch.bridged("y_true", "y_pred")(fn)


def metric_function(fn):
    """Make ``fn(y_true, y_pred, **options)``, written against ``K``, run on
    the backend its inputs choose (``fn.raw`` skips that) and register it."""
    return METRICS.register(fn.__name__, _bridge(fn), table=_FUNCTIONS, tables=(_FUNCTIONS,))


def register_metric(name=None, *, aliases=(), override=False):
    """Decorator: make a ``Metric`` subclass, or a function
    ``fn(y_true, y_pred) -> per-sample values`` written against ``K``,
    resolvable by ``name`` (default: its ``__name__``) in :func:`get` and
    :func:`deserialize`. Functions run on every backend, like built-ins. A
    name or alias any metric holds is a ValueError unless ``override=True``."""
    if callable(name) and not isinstance(name, str):
        return register_metric()(name)

    def decorate(obj):
        key = name or getattr(obj, "__name__", None)
        if isinstance(obj, type) and METRICS.is_class(obj):
            return METRICS.register(key, obj, aliases=aliases, table=_CLASSES, override=override)
        if callable(obj) and not isinstance(obj, type):
            return METRICS.register(key, _bridge(obj), aliases=aliases, table=_FUNCTIONS, override=override)
        raise TypeError(
            f"register_metric decorates a Metric subclass or a function; received {dispatch.describe(obj)}."
        )

    return decorate


def names():
    """Every registered class name, function name and alias."""
    return METRICS.names()


def resolve_function(name):
    """The metric function (or, failing that, the loss) registered as ``name``."""
    return METRICS.resolve_function(name)


def function_name(fn):
    """The registered name of metric function or loss ``fn``, or None."""
    return METRICS.function_name(fn)


def _loss_as_metric(name):
    """A loss *function* named ``name`` as a mean metric, or None (Loss
    classes reduce a whole batch to one number: not per-sample functions)."""
    loss = LOSSES.find(name, LOSSES.functions)
    if loss is None or isinstance(loss, type):
        return None
    return _CLASSES["MeanMetricWrapper"](loss, name=name)


def get(identifier):
    """A metric from an identifier, as ``keras.metrics.get``:

    * None -> None; a ``Metric`` instance or a callable -> itself;
    * a class name, snake_case name or alias -> a fresh instance of that class;
      a metric function name -> the function; a loss name -> that loss as a
      ``MeanMetricWrapper``;
    * a dict ``{"class_name": ..., "config": {...}}`` -> :func:`deserialize`.
    """
    if isinstance(identifier, str) and METRICS.holder(identifier) is None:
        wrapped = _loss_as_metric(identifier)
        if wrapped is not None:
            return wrapped
    return METRICS.get(identifier)


def serialize(metric):
    """A JSON-friendly description in ``keras.metrics.serialize``'s layout:
    ``{"module", "class_name", "config", "registered_name"}``, with
    ``class_name="function"`` and the registered name as ``config`` for a
    metric function. Raises for anything :func:`deserialize` could not
    rebuild (unregistered classes or functions), naming what to register."""
    return METRICS.serialize(metric)


def deserialize(config):
    """Rebuild what :func:`serialize` produced (Keras' dicts with ``module`` /
    ``registered_name`` keys are accepted; those keys are never imported). A
    plain name is read as :func:`get` reads it."""
    if isinstance(config, str):
        return get(config)
    return METRICS.deserialize(config)
