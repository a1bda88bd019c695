"""``MeanMetricWrapper``, and the catalogue's losses as mean metrics under
Keras 3's metric names.

A wrapped function returns per-sample values (``(batch, ...)``, or one number
for a whole batch); the metric is their weighted mean over every sample seen,
with ``sample_weight`` applied by ``Mean``'s Keras rules. The loss metrics
keep Keras' names and options (``BinaryCrossentropy(from_logits=True)``) and
their config round-trips through ``lossbridge.metrics.serialize``.
"""

from __future__ import annotations

import types

from .. import dispatch
from .. import losses as _losses
from ..k import K
from ..losses.definition import prepare_call
from ..weights import apply_mask
from .base import Metric
from .reduction import Mean
from .registry import function_name, resolve_function


class MeanMetricWrapper(Mean):
    """The weighted mean of ``fn(y_true, y_pred, **kwargs)`` over all samples.

    Args:
        fn: a loss or metric function (per-sample values), written against
            ``K`` or for the inputs' framework, or the registered name of one.
        name: the metric's name (default ``"mean_metric_wrapper"``).
        dtype: dtype of ``result()`` (default float32).
        **kwargs: keyword arguments passed to ``fn`` on every call.
    """

    input_names = ("y_true", "y_pred")
    examples = (("regression", {"fn": "mean_squared_error"}, "fn=mse"),)
    _one_pass = False  # whether fn is a loss that declares its terms (set in __init__)
    #: ``compile = "auto"`` (``Metric.auto_compile_from``): unlike a plain Mean, a
    #: per-sample function gains from fusion on large batches. Compiled / eager
    #: speed on a 2-core CPU (``python -m benchmarks.compile_sweep --cases
    #: metric_categorical_accuracy,metric_hinge``, and MSE, Accuracy, MAPE and
    #: LogCosh timed alike at 2^16-2^22 elements): torch 1.5-2.5x at 2^18 and
    #: 2-10x at 2^20-2^22 (MSE, MAPE 1.0 at 2^18; LogCosh 0.75-0.9 below 2^22);
    #: TensorFlow 1.5-2x from 2^20 (Accuracy 0.8-1.0); JAX 1.1-6x from 2^10
    #: (CategoricalAccuracy 1.0 at 2^22).
    auto_compile_from = types.MappingProxyType({"jax": 1 << 10, "torch": 1 << 18, "tensorflow": 1 << 20})

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        Metric.__init__(self, name=name, dtype=dtype)
        if isinstance(fn, str):
            fn = resolve_function(fn)
        if not callable(fn):
            raise TypeError(
                f"`fn` of MeanMetricWrapper must be a callable fn(y_true, y_pred) or a registered metric or "
                f"loss name; received {dispatch.describe(fn)}."
            )
        checks = getattr(getattr(fn, "definition", None), "checks", None)  # a loss's declared checks, run once here
        self._fn = fn
        self._fn_kwargs = kwargs if checks is None else checks((), kwargs)
        # a loss that declares its terms sums a batch in one pass over them (``increments``)
        self._one_pass = getattr(getattr(fn, "definition", None), "per_sample", None) is not None

    @property
    def fn(self):
        return self._fn

    def values(self, y_true, y_pred):
        """The per-sample values of one batch."""
        return self._fn(y_true, y_pred, **self._fn_kwargs)

    def increments(self, y_true, y_pred, sample_weight=None):
        # ``update`` is then derived from this (RunningSums.__init_subclass__)
        if sample_weight is None and self._one_pass:
            found = self._one_pass_sums(dispatch.active(), y_true, y_pred)
            if found is not None:
                return found
        return Mean.increments(self, self.values(y_true, y_pred), sample_weight=sample_weight)

    def _one_pass_sums(self, backend, y_true, y_pred):
        """An unweighted batch's increments from one pass over the loss's
        terms, or None where that pass does not apply: ``(batch, features)``
        inputs give one value per sample, so the sum of all terms is the
        batch's total, and the count its static batch size. The inputs are
        already on ``backend`` (the metric resolved them): the loss's own
        preparation and reduction run without its function layer's dispatch."""
        definition = self._fn.definition
        y_true, y_pred = prepare_call(backend, definition, y_true, y_pred)
        shape = backend.shape(y_pred)
        rows = shape[0] if shape else None
        if type(rows) is not int:
            return None
        total = definition.total(backend, y_true, y_pred, (), self._fn_kwargs)
        return None if total is None else {"total": total, "count": rows}

    def get_config(self):
        fn = function_name(self._fn) or self._fn
        return {"name": self.name, "dtype": self.dtype, "fn": fn, **self._fn_kwargs}


class _LossMean(MeanMetricWrapper):
    """A catalogue loss as a mean metric; the config is the loss's options.

    ``class X(_LossMean, loss=fn)`` names the loss once: the metric averages it
    and runs on the parity examples the loss declares."""

    _loss = None

    def __init_subclass__(cls, loss=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if loss is not None:
            cls._loss = staticmethod(loss)
            cls.examples = loss.definition.examples

    def __init__(self, name, dtype=None, **options):
        super().__init__(self._loss, name=name, dtype=dtype, **options)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}


# ---------------------------------------------------------------- regression losses
class MeanSquaredError(_LossMean, loss=_losses.mean_squared_error):
    """Mean over samples of ``mean((y_true - y_pred)**2, axis=-1)``."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)


class MeanAbsoluteError(_LossMean, loss=_losses.mean_absolute_error):
    """Mean over samples of ``mean(|y_true - y_pred|, axis=-1)``."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name=name, dtype=dtype)


class MeanAbsolutePercentageError(_LossMean, loss=_losses.mean_absolute_percentage_error):
    """Mean over samples of ``100 * mean(|y_true - y_pred| / max(|y_true|, eps), axis=-1)``."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(name=name, dtype=dtype)


class MeanSquaredLogarithmicError(_LossMean, loss=_losses.mean_squared_logarithmic_error):
    """Mean over samples of ``mean((log1p(y_pred) - log1p(y_true))**2, axis=-1)``."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(name=name, dtype=dtype)


class LogCoshError(_LossMean, loss=_losses.log_cosh):
    """Mean over samples of ``mean(log(cosh(y_pred - y_true)), axis=-1)`` (Keras' name: ``logcosh``)."""

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(name=name, dtype=dtype)


# ---------------------------------------------------------------- hinge losses
class Hinge(_LossMean, loss=_losses.hinge):
    """Mean over samples of ``mean(max(1 - y_true * y_pred, 0), axis=-1)`` (0/1 labels become -1/+1)."""

    def __init__(self, name="hinge", dtype=None):
        super().__init__(name=name, dtype=dtype)


class SquaredHinge(_LossMean, loss=_losses.squared_hinge):
    """Mean over samples of ``mean(max(1 - y_true * y_pred, 0)**2, axis=-1)``."""

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(name=name, dtype=dtype)


class CategoricalHinge(_LossMean, loss=_losses.categorical_hinge):
    """Mean over samples of ``max(max_wrong(y_pred) - y_pred[true] + 1, 0)``."""

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(name=name, dtype=dtype)


# ---------------------------------------------------------------- probabilistic losses
class KLDivergence(_LossMean, loss=_losses.kl_divergence):
    """Mean over samples of ``sum(y_true * log(y_true / y_pred), axis=-1)`` (both clipped to [eps, 1])."""

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(name=name, dtype=dtype)


class Poisson(_LossMean, loss=_losses.poisson):
    """Mean over samples of ``mean(y_pred - y_true * log(y_pred + eps), axis=-1)``."""

    def __init__(self, name="poisson", dtype=None):
        super().__init__(name=name, dtype=dtype)


class BinaryCrossentropy(_LossMean, loss=_losses.binary_crossentropy):
    """Mean over samples of the binary crossentropy (``from_logits``,
    ``label_smoothing`` as in the loss)."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__(
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )


class CategoricalCrossentropy(_LossMean, loss=_losses.categorical_crossentropy):
    """Mean over samples of the categorical crossentropy of one-hot or soft labels."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__(
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(_LossMean, loss=_losses.sparse_categorical_crossentropy):
    """Mean over samples of the crossentropy of integer labels.

    ``ignore_class`` positions have loss 0. As in Keras, they still count as
    samples when no ``sample_weight`` is given, and get weight 0 when one is.
    """

    def __init__(
        self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None, axis=-1
    ):
        super().__init__(
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )

    def increments(self, y_true, y_pred, sample_weight=None):
        values = self.values(y_true, y_pred)
        ignore_class = self._fn_kwargs["ignore_class"]
        if ignore_class is not None and sample_weight is not None:
            labels = y_true
            if len(K.shape(labels)) == len(K.shape(values)) + 1:
                labels = K.squeeze(labels, self._fn_kwargs["axis"])
            sample_weight = apply_mask(
                K, sample_weight, K.logical_not(K.equal(labels, ignore_class)), K.accumulator_dtype
            )
        return Mean.increments(self, values, sample_weight=sample_weight)


__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "Hinge",
    "KLDivergence",
    "LogCoshError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
]
