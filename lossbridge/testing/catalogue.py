"""Every registered loss and metric, as plain functions of their inputs.

Losses come from ``lossbridge.losses.registry`` (functions and Loss classes),
metrics from ``lossbridge.metrics.registry`` when that package registers any
(classes and metric functions). Each entry pairs with the :class:`Case` list
its definition declares (:func:`lossbridge.testing.cases.cases_for`); entries
without one carry the reason they are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..k import K
from .cases import Case, cases_for, snake_case

#: metrics whose value is nan (0 / 0) on constant inputs, as in Keras: their
#: edge examples (all zeros) have a non-finite reference by definition
NAN_ON_CONSTANT_INPUTS = ("pearson_correlation",)


@dataclass(frozen=True)
class Entry:
    """One registered loss or metric."""

    name: str
    family: str  # "loss" or "metric"
    obj: object  # the registered function or class

    @property
    def cases(self) -> list[Case]:
        return cases_for(self.name, self.family)

    @property
    def differentiable(self) -> bool:
        """Losses are; metrics stop gradients by design."""
        return self.family == "loss"

    @property
    def skip_reason(self) -> str:
        if self.cases:
            return ""
        where = "@register_loss(examples=...)" if self.family == "loss" else "the class attribute `examples`"
        return (
            f"no input recipe for {self.family} {self.name!r}: declare the input kinds of "
            f"lossbridge.testing.cases it runs on ({where}) to check it"
        )

    def function(self, case: Case):
        """``f(*inputs)`` computing this entry with ``case.options``.

        Classes are instantiated per call with ``dtype`` set to the dtype of
        the last input (``y_pred``), so that a float64 reference computes in
        float64 rather than in the float32 default of Loss and Metric objects.
        """
        if isinstance(self.obj, type):
            call = _metric_result if self.family == "metric" else _loss_object_result
            cls, options = self.obj, case.options

            def run(*inputs):
                return call(cls(**options, **_dtype_of(inputs[-1])), inputs)

        else:
            fn, options = self.obj, case.options

            def run(*inputs):
                return fn(*inputs, **options)

        run.__name__ = run.__qualname__ = case.id
        return run


def _dtype_of(x):
    """``{"dtype": K.dtype(x)}`` for a float tensor, else nothing (K is bound)."""
    return {"dtype": K.dtype(x)} if K.is_float(x) else {}


def _loss_object_result(loss, inputs):
    return loss(*inputs)


def _metric_result(metric, inputs):
    """The result of a fresh metric after one update, through the stateless
    API so that it traces under every compiler."""
    state = metric.stateless_initial_state(inputs[-1])
    state = metric.stateless_update_state(state, *inputs)
    return metric.stateless_result(state)


def losses() -> list[Entry]:
    """Every registered loss (aliases excluded), sorted by name."""
    from ..losses import registry

    return [Entry(name, "loss", obj) for name, obj in sorted(registry.LOSSES.classes.items())]


def metrics() -> list[Entry]:
    """Every registered metric, one entry per class or function; [] while the
    metrics package registers none."""
    try:
        from ..metrics import registry
    except ImportError:
        return []
    entries, seen = {}, set()
    for obj in getattr(registry, "_CLASSES", {}).values():
        if id(obj) not in seen:
            seen.add(id(obj))
            entries[snake_case(obj.__name__)] = Entry(snake_case(obj.__name__), "metric", obj)
    for name, obj in getattr(registry, "_FUNCTIONS", {}).items():
        entries.setdefault(name, Entry(name, "metric", obj))
    return [entries[name] for name in sorted(entries)]


def entries(include_metrics: bool = True) -> list[Entry]:
    return losses() + (metrics() if include_metrics else [])
