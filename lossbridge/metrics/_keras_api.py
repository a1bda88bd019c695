"""What a program written for ``keras.metrics`` does with a metric besides
reading its result, answered generically for every lossbridge metric (the
mixin :class:`KerasCompat` of ``Metric``; nothing else calls these):

* ``metric.variables`` and Keras' state attributes (``true_positives``,
  ``total``, ``count``, ``total_cm``, ``accumulator``, ...): read-only views of
  the state. Keras names each attribute after its state variable, and so do
  lossbridge's state entries; where Keras' attribute name differs, the class
  maps it in ``Metric.state_aliases``. A running sum reads as ``base.read_sum``
  gives it (a float32 sum plus its compensation), in the accumulator dtype;
* a wrapped function's options (``from_logits``, ``axis``, ...) as
  attributes, listed by ``dir()`` (``lossbridge.options.bound_option``);
* a lossbridge metric that Keras wrapped as a metric *function*: Keras wraps
  anything that is not a ``keras.metrics.Metric`` in its ``MeanMetricWrapper``
  and averages what each call returns, which for a stateful metric is a wrong
  number; the call raises instead and names the bridge
  (``lossbridge.integrations.keras``);
* Keras' call signatures: the sample weight positional
  (``update_state(y_true, y_pred, sample_weight)``), ``reset_states`` (Keras
  2) and ``stateless_reset_state``.

Imports no framework, and not Keras.
"""

from __future__ import annotations

from .. import dispatch
from ..options import UNBOUND, bound_option, with_bound_options
from ._state import read_sum

#: the module of Keras 3's ``keras.metrics.MeanMetricWrapper``: the caller
#: ``Metric.__call__`` looks for once Keras is loaded (reading the caller's
#: frame costs ~0.1 us, and is never done before Keras is imported: torch.compile
#: cannot trace ``sys._getframe``)
MEAN_WRAPPER_MODULE = "keras.src.metrics.reduction_metrics"


def refuse_mean_wrapper(metric, caller):
    """Raise when ``caller`` (the frame that called ``metric``) is Keras'
    ``MeanMetricWrapper.update_state``, which would average per-batch results."""
    if caller.f_globals.get("__name__") != MEAN_WRAPPER_MODULE:
        return
    raise TypeError(
        f"{metric!r} is a lossbridge metric that Keras called as a metric function: Keras wraps whatever is not "
        "a keras.metrics.Metric (e.g. in model.compile(metrics=[...])) in keras.metrics.MeanMetricWrapper, which "
        "would report the mean of this metric's per-batch running results, a wrong number (and fails under jit). "
        "Bridge it: `from lossbridge.integrations.keras import to_keras` and pass `to_keras(metric)` "
        "(`to_keras_metrics([...])` for a list); its state then lives in Keras variables (docs/keras.md)."
    )


def _state_and_backend(metric):
    """The settled state of ``metric`` and its backend; the empty state
    (on the default backend, or the device of the data seen last) before any
    update or after a reset."""
    state = metric.state
    if state is None:
        state = metric.stateless_initial_state(metric._anchor)
    return state, dispatch.owner(next(iter(state.values())), "state") or dispatch.default_backend()


def state_tensors(metric):
    """``metric.variables``: the state's tensors in order."""
    return list(_state_and_backend(metric)[0].values())


def state_entry(metric, name):
    """``(key, state, backend)``: the state entry Keras reads as
    ``metric.<name>``, or AttributeError."""
    if name.startswith("_"):  # never a state entry; keeps copy/pickle probes cheap and recursion-free
        raise AttributeError(f"{type(metric).__name__!r} object has no attribute {name!r}")
    key = metric.state_aliases.get(name, name)
    state, backend = _state_and_backend(metric)
    if key not in state:
        raise AttributeError(
            f"{type(metric).__name__!r} object has no attribute {name!r} (nor a state entry of that name; its "
            f"state entries: {', '.join(state)})"
        )
    return key, state, backend


class KerasCompat:
    """Keras' attributes and signatures on ``Metric`` (module docstring)."""

    #: Keras' attribute name -> state entry, where Keras names a state
    #: variable's attribute otherwise (``IoU.total_cm``); see ``__getattr__``
    state_aliases: dict[str, str] = {}

    @property
    def variables(self):
        """The state's tensors in order, as Keras' ``metric.variables`` lists
        its state variables (read-only: a float32 sum's compensation twin
        included; before any update, the empty state's)."""
        return state_tensors(self)

    def __getattr__(self, name):
        """Keras' state attributes (``true_positives``, ``total``, ``count``,
        ``total_cm``, ...) as read-only views of the state (see
        :func:`state_entry`): a compensated running sum is read with its
        compensation. A wrapped function's options (``from_logits``,
        ``axis``, ...) read as Keras keeps them, as attributes. Called only
        for names the object lacks."""
        value = bound_option(self, name)
        if value is not UNBOUND:
            return value
        key, state, backend = state_entry(self, name)
        return dispatch.run_on(backend, read_sum, state, key)

    def __dir__(self):
        """With a wrapped function's options, which read as attributes."""
        return with_bound_options(super().__dir__(), self)

    def _split_inputs(self, inputs, sample_weight, method):
        """``(inputs, sample_weight)`` from the positionals of ``method``: one
        more than ``input_names`` is the sample weight (Keras' signature
        ``method(*input_names, sample_weight=None)``); any other count, or the
        weight given twice, raises a TypeError that shows the signature."""
        expected = len(self.input_names)
        if len(inputs) == expected + 1 and sample_weight is None:
            return inputs[:expected], inputs[expected]
        signature = f"{type(self).__name__}.{method}({', '.join(self.input_names)}, sample_weight=None)"
        if len(inputs) == expected + 1:
            raise TypeError(f"{signature} got `sample_weight` both positionally and by keyword.")
        if len(inputs) != expected:
            raise TypeError(
                f"{signature} takes {expected} to {expected + 1} positional arguments; received {len(inputs)}."
            )
        return inputs, sample_weight

    def stateless_reset_state(self, like=None):
        """Keras' name for the fresh state: :meth:`stateless_initial_state`."""
        return self.stateless_initial_state(like)

    def reset_states(self):
        """Keras 2's name of ``reset_state``, which Keras 2 programs still call."""
        self.reset_state()
