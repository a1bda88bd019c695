"""lossbridge losses and metrics inside Keras 3: ``model.compile``, ``fit``,
``evaluate``, ``predict``, ``model.save`` and ``keras.saving.load_model``, on
the JAX, PyTorch and TensorFlow Keras backends.

    import lossbridge
    from lossbridge.integrations.keras import to_keras, to_keras_metrics

    model.compile(
        optimizer="adam",
        loss=to_keras(lossbridge.losses.BinaryCrossentropy(from_logits=True)),
        metrics=to_keras_metrics([lossbridge.metrics.AUC(from_logits=True), "accuracy"]),
    )

Metrics (:class:`KerasMetric`). Keras keeps a stateful metric only when it
is a ``keras.metrics.Metric``; anything else it wraps in its
``MeanMetricWrapper``, which averages per-batch results (a lossbridge metric
passed that way raises, see ``lossbridge.metrics._keras_api``). A
``KerasMetric`` holds each entry of the lossbridge state in a Keras variable
(``add_variable``: same shape and dtype, ``aggregation="sum"`` for the entries
the metric declares summed, which are all of the built-in ones, so a
``tf.distribute`` strategy reduces them across replicas as lossbridge merges
them; ``lossbridge.integrations._state_reductions``; under Keras' JAX
``keras.distribution.DataParallel`` they are replicated global arrays that
the jit-compiled step updates from the sharded batch) and updates
them through lossbridge's pure API: ``update_state`` reads the variables,
calls ``metric.stateless_update_state`` and assigns the result; ``result``
is ``metric.stateless_result``. Variable reads and assignments are what
Keras' JAX trainer maps through its ``StatelessScope`` inside ``jax.jit``,
what ``tf.function`` records, and plain tensor updates on torch.

State layout. Keras variables are created once, with fixed shapes and
dtypes. The layout is the metric's ``storage_state`` (its initial state in
the layout no update changes: ``IoU`` starts as weighted sums) on the Keras
backend: float64 sums on torch and TensorFlow, float32 ones on JAX unless
``jax_enable_x64`` is set. A metric whose state shape comes from the data
(``R2Score``, ``F1Score`` with per-class averages, multi-label ``AUC``
without ``num_labels``) is built from the first ``y_pred`` it sees, as
Keras builds its own ``R2Score``: in ``fit``/``evaluate`` that is Keras'
symbolic build before the first step. Pass ``like=`` (``y_pred``'s shape, or
a tensor of it) to build at construction instead; the shape is kept in the
config, so a loaded model builds the same variables.

Entries that combine by a min or max (user metrics; Keras has no such
aggregation) get ``aggregation="none"``: right in one process and under
JAX's SPMD distribution, not reducible by a TensorFlow ``MirroredStrategy``.

Losses (:class:`KerasLoss`). A lossbridge ``Loss`` passed to ``compile``
as it is trains correctly without sample weights (Keras wraps it as a
function; its reduced value passes through), but Keras would weight that
already reduced value again: with ``sample_weight``, ``class_weight`` or a
Keras mask that call raises (``lossbridge.losses._keras_api``). ``KerasLoss``
is a ``keras.losses.Loss`` whose ``call`` returns lossbridge's per-sample
values, so Keras applies weights, masks and the loss's ``reduction`` as for
its own losses.

Saving. ``KerasMetric`` and ``KerasLoss`` are registered with Keras'
serialization (``"lossbridge>KerasMetric"``, ``"lossbridge>KerasLoss"``)
and keep the lossbridge object as ``lossbridge.metrics.serialize`` /
``lossbridge.losses.serialize`` write it, so every registered built-in or
user metric and loss round-trips through ``model.save`` and
``keras.saving.load_model``. Importing this module also registers the
built-in loss classes themselves (``"lossbridge>MeanSquaredError"``, ...),
for models compiled with a bare lossbridge loss. Import this module before
``load_model``, as for any custom Keras object.

This module imports Keras (an integration module, ARCHITECTURE.md); nothing
in ``lossbridge`` imports it.
"""

from __future__ import annotations

import functools

import keras
import numpy as np

from .. import backends, dispatch
from .. import losses as lb_losses
from .. import metrics as lb_metrics
from ..losses.loss import Loss
from ..losses.registry import LOSSES
from ..metrics.base import Metric
from ..metrics.wrappers import MeanMetricWrapper
from ..weights import apply_mask
from ._state_reductions import merge_reductions

try:  # Keras keeps the mask of a tensor that takes no attribute (a JAX tracer, a NumPy array) beside it
    from keras.src.backend import get_keras_mask, set_keras_mask
except ImportError:  # an older Keras 3: the attribute only

    def get_keras_mask(x):
        return getattr(x, "_keras_mask", None)

    def set_keras_mask(x, mask):
        x._keras_mask = mask


__all__ = ["KerasLoss", "KerasMetric", "to_keras", "to_keras_metrics"]

PACKAGE = "lossbridge"
#: lossbridge's merge of an entry -> the Keras variable aggregation (Keras has no min / max)
_AGGREGATIONS = {"sum": "sum", "min": "none", "max": "none"}
_ABSENT = object()  # update_state's sample_weight when not given by keyword
#: two y_pred shapes that tell a state layout read from the data from a fixed one
_PROBE_SHAPES = ((2, 1), (2, 3))


def _describe(obj):
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _lossbridge_backend():
    """The lossbridge adapter of the Keras backend in use."""
    name = keras.config.backend()
    if name not in backends.installed():
        raise RuntimeError(
            f"the Keras backend {name!r} has no lossbridge backend; lossbridge runs Keras' jax, torch, "
            f"tensorflow and numpy backends (installed here: {', '.join(backends.installed())})."
        )
    return backends.get(name)


def _layout_of(state, backend):
    return {key: (tuple(backend.shape(value)), str(backend.dtype(value))) for key, value in state.items()}


def _fixed_layout(metric):
    """Whether ``metric``'s storage layout is the same for every ``y_pred`` shape
    (two probes on NumPy; a probe that raises counts as data-dependent)."""
    numpy = backends.get("numpy")
    layouts = []
    for shape in _PROBE_SHAPES:
        like = numpy.zeros(shape, "float32")
        try:
            layouts.append(_layout_of(dispatch.run_on(numpy, metric.storage_state, like), numpy))
        except Exception:  # noqa: BLE001 - a metric that needs another shape: read it from the data
            return False
    return layouts[0] == layouts[1]


def _like_shape(like):
    """``like`` (None, a shape, or a tensor / array) as a concrete y_pred
    shape with batch size 1, or None. The batch size never shapes the state;
    unknown (None, symbolic) sizes of other axes become 1."""
    if like is None:
        return None
    shape = like if isinstance(like, (tuple, list)) else getattr(like, "shape", None)
    if shape is None:
        raise TypeError(
            f"`like` must be y_pred's shape (a tuple of ints) or a tensor shaped like y_pred; received {_describe(like)}."
        )
    dims = tuple(d if isinstance(d, int) and not isinstance(d, bool) else 1 for d in tuple(shape))
    return (1, *dims[1:]) if dims else ()


# ---------------------------------------------------------------- metrics
@keras.saving.register_keras_serializable(package=PACKAGE, name="KerasMetric")
class KerasMetric(keras.metrics.Metric):
    """A lossbridge metric as a ``keras.metrics.Metric`` (module docstring).

    Args:
        metric: a lossbridge ``Metric`` (built-in, ``MeanMetricWrapper`` or a
            user class; its config is used, its own stateful state is not
            touched), or an identifier ``lossbridge.metrics.get`` resolves
            (a registered name or a config dict).
        like: optional ``y_pred`` shape (or a tensor of it) that fixes a
            data-dependent state layout now; default: at the first update.
        name: the Keras metric's name (default: the lossbridge metric's).
    """

    def __init__(self, metric, like=None, name=None):
        if not isinstance(metric, Metric):
            if isinstance(metric, (str, dict)):
                metric = lb_metrics.get(metric)
            if not isinstance(metric, Metric):
                raise TypeError(
                    f"`metric` must be a lossbridge.metrics.Metric (or a name or config lossbridge.metrics.get "
                    f"resolves to one); received {_describe(metric)}. A keras.metrics.Metric needs no bridge."
                )
        super().__init__(name=name or metric.name, dtype=metric.dtype)
        self.metric = metric
        self._lb_backend = _lossbridge_backend()
        reductions = merge_reductions(
            metric,
            "Keras variable aggregations",
            "Keras aggregates metric variables by sum (or not at all); write the metric's merge as sums",
            backend=self._lb_backend,  # the storage's entries: float32 sums (JAX without x64) have twins
        )
        self._lb_aggregations = tuple((key, _AGGREGATIONS[how]) for key, how in reductions.items())
        self._lb_like_shape = _like_shape(like)
        self._lb_keys, self._lb_layout = (), ()
        self._lb_initial = None  # the concrete initial state, made when Keras first initialises a variable
        if self._lb_like_shape is None and _fixed_layout(metric):
            self._lb_like_shape = _PROBE_SHAPES[0]
        if self._lb_like_shape is not None:
            self._build()

    # ------------------------------------------------ variables
    @property
    def built(self):
        return bool(self.variables)

    def _storage_state(self):
        like = keras.ops.zeros(self._lb_like_shape, "float32")  # on Keras' device; traced inside a trace
        return dispatch.run_on(self._lb_backend, self.metric.storage_state, like)

    def _build(self):
        layout = _layout_of(self._storage_state(), self._lb_backend)
        aggregations = dict(self._lb_aggregations)
        missing = [key for key in layout if key not in aggregations]
        if missing:
            raise ValueError(f"{type(self.metric).__name__}'s storage state has entries {missing} its merge lacks.")
        for key, (shape, dtype) in layout.items():
            self.add_variable(
                shape=shape,
                # called by Keras outside any trace (it defers variables made under one)
                initializer=functools.partial(self._initial_value, key),
                dtype=dtype,
                aggregation=aggregations[key],
                name=key,
            )
        self._lb_keys = tuple(layout)
        self._lb_layout = tuple(layout.items())

    def _initial_value(self, key, shape=None, dtype=None):
        """The initial value of entry ``key``: a fresh NumPy copy per call
        (entries may share one tensor, and torch variables keep the tensor
        they are given). Keras calls this outside any trace to initialise a
        variable, but also inside its symbolic build when an uninitialised
        variable is read: there the traced value is returned, not kept."""
        if self._lb_initial is None:
            backend, state = self._lb_backend, self._storage_state()
            if not all(backend.is_concrete(v) and backend.device(v) != "meta" for v in state.values()):
                return state[key]
            self._lb_initial = tuple((k, np.array(backend.to_numpy(v))) for k, v in state.items())
        return np.array(dict(self._lb_initial)[key])

    def _read_state(self):
        return {key: variable.value for key, variable in zip(self._lb_keys, self.variables, strict=True)}

    def reset_state(self):
        for key, variable in zip(self._lb_keys, self.variables, strict=True):
            variable.assign(self._initial_value(key))

    # ------------------------------------------------ Keras' metric API
    def update_state(self, *inputs, sample_weight=_ABSENT):
        """``update_state(y_true, y_pred, sample_weight=None)`` (the metric's
        ``input_names``; the weight positional or by keyword)."""
        metric = self.metric
        if sample_weight is _ABSENT:
            sample_weight = None
        elif len(inputs) > len(metric.input_names):  # Keras' TypeError, e.g. Mean(values) called as compile does
            raise TypeError(
                f"{type(metric).__name__}.update_state({', '.join(metric.input_names)}, sample_weight=None) got "
                f"{len(inputs)} positional inputs and `sample_weight` by keyword. Keras calls a compiled metric "
                "as update_state(y_true, y_pred, sample_weight=...): a metric of one input (Mean, Sum) is not "
                "a compile metric; wrap a function of (y_true, y_pred) in MeanMetricWrapper instead."
            )
        inputs, sample_weight = metric._split_inputs(inputs, sample_weight, "update_state")
        if not self.built:
            self._lb_like_shape = _like_shape(inputs[-1])
            self._build()
        if getattr(getattr(inputs[-1], "device", None), "type", None) == "meta":
            return  # Keras' symbolic build on torch (shapes only): the variables exist, nothing to count
        if isinstance(metric, MeanMetricWrapper):
            sample_weight = self._with_keras_mask(inputs[-1], sample_weight)
        state = metric.stateless_update_state(self._read_state(), *inputs, sample_weight=sample_weight)
        for (key, (shape, dtype)), variable in zip(self._lb_layout, self.variables, strict=True):
            value = state[key]
            got = tuple(self._lb_backend.shape(value))
            if (
                str(self._lb_backend.dtype(value)) != dtype
                or any(isinstance(a, int) and a != b for a, b in zip(got, shape, strict=False))
                or len(got) != len(shape)
            ):
                raise ValueError(
                    f"{type(metric).__name__}'s update changed state entry {key!r} from {dtype}{list(shape)} to "
                    f"{self._lb_backend.dtype(value)}{list(got)}; Keras variables keep the layout they were made "
                    "with. Override the metric's storage_state to start in the layout its updates keep."
                )
            variable.assign(value)

    def _with_keras_mask(self, y_pred, sample_weight):
        """Keras' ``MeanMetricWrapper`` rule: a Keras mask on ``y_pred``
        zeroes the weight of masked entries."""
        mask = get_keras_mask(y_pred)
        if mask is None:
            return sample_weight
        backend = self._lb_backend
        # the weight may still be the NumPy array a user passed: on Keras' backend first
        if sample_weight is not None and not backend.is_tensor(sample_weight):
            sample_weight = backend.convert_to_tensor(sample_weight)
        return apply_mask(backend, sample_weight, backend.convert_to_tensor(mask), self.metric.dtype)

    def result(self):
        if not self.built:  # nothing seen, and the layout not known yet: the empty metric's result
            return self.metric.stateless_result(self.metric.stateless_initial_state(keras.ops.zeros((1, 1))))
        return self.metric.stateless_result(self._read_state())

    def get_config(self):
        return {
            "metric": lb_metrics.serialize(self.metric),
            "like": None if self._lb_like_shape is None else list(self._lb_like_shape),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        metric = lb_metrics.deserialize(config.pop("metric"))
        return cls(metric, **config)

    def __repr__(self):
        return f"<KerasMetric name={self.name} metric={self.metric!r}>"


# ---------------------------------------------------------------- losses
@keras.saving.register_keras_serializable(package=PACKAGE, name="KerasLoss")
class KerasLoss(keras.losses.Loss):
    """A lossbridge loss as a ``keras.losses.Loss`` (module docstring): Keras
    reduces lossbridge's per-sample values with the loss's ``reduction``,
    sample weights and masks, as for its own losses.

    Args:
        loss: a lossbridge ``Loss`` object, a registered lossbridge loss
            function (wrapped in ``LossFunctionWrapper``), or an identifier
            ``lossbridge.losses.get`` resolves.
        name: the Keras loss's name (default: the lossbridge loss's).
    """

    def __init__(self, loss, name=None):
        if isinstance(loss, (str, dict)):
            loss = lb_losses.get(loss)
        if callable(loss) and not isinstance(loss, (Loss, type)):
            loss = lb_losses.LossFunctionWrapper(loss)
        if not isinstance(loss, Loss):
            raise TypeError(
                f"`loss` must be a lossbridge Loss object or loss function (or a name or config "
                f"lossbridge.losses.get resolves to one); received {_describe(loss)}."
            )
        if loss.global_batch_size is not None:
            raise ValueError(
                f"{type(loss).__name__} has global_batch_size={loss.global_batch_size}, which Keras would not "
                "see: Keras reduces the values with the loss's `reduction` and scales across replicas itself. "
                "Pass the loss without global_batch_size."
            )
        super().__init__(name=name or loss.name, reduction=loss.reduction, dtype=loss.dtype)
        self.loss = loss

    def call(self, y_true, y_pred):
        values, mask = self.loss.unreduced(y_true, y_pred)
        if mask is not None:
            # Keras reduces by the mask it finds on the values, as for its own ignore_class: the counting
            # reductions then divide by the kept entries (without it, by all: 1.00 for Keras' 1.60)
            set_keras_mask(values, mask)
        return values

    def get_config(self):
        return {"loss": lb_losses.serialize(self.loss), "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(lb_losses.deserialize(config.pop("loss")), **config)

    def __repr__(self):
        return f"<KerasLoss name={self.name} loss={self.loss!r}>"


# ---------------------------------------------------------------- the calls users make
def to_keras(obj, like=None):
    """``obj`` as Keras takes it: a lossbridge metric as a
    :class:`KerasMetric` (``like`` as there), a lossbridge loss object or
    loss function as a :class:`KerasLoss`. Keras objects, strings and
    anything else pass through unchanged, so mixed lists can be mapped."""
    if isinstance(obj, Metric):
        return KerasMetric(obj, like=like)
    if isinstance(obj, Loss) or (callable(obj) and LOSSES.function_name(obj) is not None):
        return KerasLoss(obj)
    return obj


def to_keras_metrics(metrics):
    """``compile(metrics=...)``'s argument with every lossbridge metric
    bridged (:func:`to_keras`): a list or tuple, a dict of them per output
    (``{"output": [...]}``), or one metric."""
    if isinstance(metrics, dict):
        return {output: to_keras_metrics(entries) for output, entries in metrics.items()}
    if isinstance(metrics, (list, tuple)):
        return type(metrics)(to_keras_metrics(entry) for entry in metrics)
    return to_keras(metrics) if isinstance(metrics, Metric) else metrics


def _register_builtin_losses():
    """Register lossbridge's own loss classes with Keras' serialization, so a
    model compiled with a bare lossbridge loss saves and loads."""
    for name, obj in LOSSES.classes.items():
        if isinstance(obj, type) and issubclass(obj, Loss) and obj.__module__.startswith(lb_losses.__name__):
            keras.saving.register_keras_serializable(package=PACKAGE, name=name)(obj)


_register_builtin_losses()
