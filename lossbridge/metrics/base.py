"""The stateful ``Metric`` base class, written once against ``K``.

A metric is three pure functions over a dict of state tensors, which a
subclass writes against ``K``:

* ``initial_state(like)``: the zero state (``like`` is a tensor of the data, so
  state is created on its backend and device; None before any data);
* ``update(state, *inputs, sample_weight)``: the next state;
* ``compute(state)``: the result.

``Metric`` wraps them in Keras' stateful API (``update_state``, ``result``,
``reset_state``, ``merge_state``, ``__call__``) and exposes them unchanged as
the stateless API (``stateless_update_state``, ``stateless_result``) for
``jax.jit``, ``torch.compile`` and ``tf.function`` users. The state dict is a
pytree / nested structure every compiler accepts.

State entries (``lossbridge.metrics._state``, re-exported here, where
metric modules import them from): running sums are compensated
(:func:`sum_state`, :func:`accumulate`, :func:`read_sum`), and every entry
declares where ``initial_state`` creates it how shards and replicas combine it
(:func:`sum_state`, :func:`reduced_state`, :func:`declare`); ``merge`` and
``sync`` follow the declarations, which :meth:`Metric.state_reductions` reads.

Cost per update. A metric whose state is only scalar running sums (``Mean``,
``Sum``, every ``MeanMetricWrapper``) derives from
``lossbridge.metrics.running_sums.RunningSums``, whose stateful update takes a
cheaper route to the same state, bit for bit.

Threads, copies, compilers (``lossbridge.metrics._lifecycle``): the stateful
API holds a per-metric lock around its read-modify-write of the state (the
``stateless_*`` functions take none); a metric pickles and deep-copies with
its state, back on its backend; under a compiler's trace the stateful update
raises and points to the stateless API.

Beside the core (state, update, compute, merge, reset, locks) ``Metric``
mixes in the replica API (``lossbridge.metrics._sync``: ``sync``,
``stateless_sync_state``) and Keras' attributes and signatures
(``lossbridge.metrics._keras_api``: ``variables``, ``metric.true_positives``,
a positional ``sample_weight``).
"""

from __future__ import annotations

import sys
import types

from .. import compiling, dispatch
from ..k import K, bind
from ..options import dtype_name
from . import _keras_api, _lifecycle
from ._keras_api import KerasCompat
from ._lifecycle import warn_if_concrete  # noqa: F401 - where the metric modules import it from
from ._replicas import CONCATENATE, MAX, MIN, REDUCTIONS, SUM, identity  # noqa: F401 - declared here for metrics
from ._state import (  # noqa: F401 - where metrics and users import the state helpers from
    COMPENSATION,
    accumulate,
    add_increments,
    adder,
    combine_states,
    compensated_add,
    conform_sums,
    declarations,
    declare,
    has_twin,
    merge_sums,
    neumaier_add,
    read_sum,
    reduced_state,
    sum_entries,
    sum_state,
)
from ._sync import ReplicaSync
from .registry import register_builtin, snake_case

_RESULT_DTYPES = ("float16", "bfloat16", "float32", "float64")


# ---------------------------------------------------------------- the base class
class Metric(KerasCompat, ReplicaSync):
    """Base class of stateful metrics.

    Args:
        name: the metric's name (default: the class name in snake_case).
        dtype: dtype of ``result()`` (default ``"float32"``). State is kept in
            the backend's accumulator dtype and compensated (module docstring),
            so long runs do not lose precision.
    """

    #: names of the positional inputs of ``update_state``, for dispatch and errors
    input_names: tuple[str, ...] = ("y_true", "y_pred")
    #: accumulator dtype -> {entry: reduction or None (undeclared)}, read once per state layout from
    #: ``initial_state`` (:meth:`state_reductions`): float32 sums have compensation twins, float64 ones none
    _reductions = None
    #: ``(backend, state)`` of all replicas while :meth:`sync` holds it; None: the local state rules
    _synced = None
    _compile = None
    #: ``compile = "auto"``: backend -> input elements from which the update
    #: compiles on a CPU (``lossbridge.compiling``; a backend not listed:
    #: never). Measured by ``python -m benchmarks.compile_sweep``: a compiled
    #: AUC, F1 or IoU update is as fast or faster at every size from 2^10 on
    #: JAX, torch and TensorFlow
    auto_compile_from = types.MappingProxyType({"jax": 0, "torch": 0, "tensorflow": 0})

    #: the input recipes the parity suite and ``python -m lossbridge`` run this
    #: metric on, as a loss's ``@register_loss(examples=...)``: kind names of
    #: ``lossbridge.testing.cases`` (``"regression"``, ``"binary_guesses"``) or
    #: ``(kind, options, variant)`` tuples. Declared by each class for itself and
    #: not inherited (a subclass's constructor may take other options); a class
    #: that declares none is reported as skipped, never guessed.
    examples: tuple = ()

    def __init_subclass__(cls, register=True, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = vars(cls).get("examples", ())
        cls.examples = (declared,) if isinstance(declared, str) else tuple(declared)
        # built-ins resolve by name; user classes only through @register_metric;
        # shared bases (a leading underscore, or ``register=False``) not at all
        if register and cls.__module__.startswith("lossbridge.metrics") and not cls.__name__.startswith("_"):
            register_builtin(cls)

    def __init__(self, name=None, dtype=None):
        result_dtype = dtype_name(dtype)  # Keras' identifiers too: np.float32, "mixed_float16", a DTypePolicy
        if result_dtype is not None and result_dtype not in _RESULT_DTYPES:
            raise ValueError(
                f"`dtype` of {type(self).__name__} must be one of {_RESULT_DTYPES} (a name, a framework dtype, "
                f"or a Keras mixed-precision policy: its compute dtype) or None; received {dtype!r}. Integer "
                "dtypes, which Keras accepts and truncates every value to, are refused."
            )
        self.name = name or snake_case(type(self).__name__)
        self.dtype = result_dtype or "float32"
        self._backend = None
        self._state = None
        self._anchor = None  # a tensor on the device of the data seen last
        self._lock = _lifecycle.new_lock()

    @property
    def compile(self):
        """How the stateful update runs, as a Loss's ``compile=``: None (the
        default) follows the process default (:func:`lossbridge.set_compile`);
        False eagerly; True through the backend's compiler (``jax.jit``,
        ``torch.compile``, ``tf.function``, ``mx.compile``), ``update``
        compiled once per metric and input shape with the state an input and
        an output, so each ``update_state`` is one compiled step; ``"auto"``
        where that pays (``lossbridge.compiling``). Set it on the object:
        ``metric.compile = True``. A compiled update skips the checks that
        read values (labels out of range): they need concrete data."""
        return self._compile

    @compile.setter
    def compile(self, mode):
        compiling.resolve(mode)  # an unknown mode raises now, not at the first update
        self._compile = mode

    def __getstate__(self):
        return _lifecycle.picklable(self)

    def __setstate__(self, attributes):
        _lifecycle.restore(self, attributes)

    # ------------------------------------------------ to implement (pure, against K)
    def initial_state(self, like):
        raise NotImplementedError

    def update(self, state, *inputs, sample_weight=None):
        raise NotImplementedError

    def compute(self, state):
        raise NotImplementedError

    def merge(self, state, other):
        """Combine two states, each entry as ``initial_state`` declares it
        (:func:`combine_states`; an undeclared entry is added)."""
        return combine_states(state, other, self._declared(dispatch.active()))

    # ------------------------------------------------ how state combines
    def _declared(self, backend=None):
        """``{entry: reduction or None}`` as ``initial_state`` declares them
        (None: undeclared), read once per accumulator dtype from the empty
        state of this config on ``backend`` (default: the state's backend,
        else the default one): the entries differ by the compensation twins
        of float32 sums (``_state``). ``{}`` when ``initial_state(None)``
        cannot run (it needs data): then every entry is added, as ``merge``
        always did."""
        backend = backend or self._backend or dispatch.default_backend()
        cache = self.__dict__.setdefault("_reductions", {})
        found = cache.get(backend.accumulator_dtype)
        if found is None:
            token = declarations.set({})
            try:
                keys = tuple(dispatch.run_on(backend, self.initial_state, None))
                recorded = declarations.get()
                found = {key: recorded.get(key) for key in keys}
            except Exception as error:  # noqa: BLE001 - a user's initial_state that needs data; kept for sync's error
                found = {}
                self.__dict__["_reductions_error"] = error
            finally:
                declarations.reset(token)
            cache[backend.accumulator_dtype] = found
        return found

    def state_reductions(self, backend=None):
        """``{state entry: "sum" | "min" | "max" | "concatenate"}``: how
        shards (``merge``) and replicas (``sync``) combine each entry, as
        ``initial_state`` declares it (``sum_state``, ``reduced_state``,
        ``declare``). An undeclared entry is summed, as the default ``merge``
        does; a metric that overrides ``merge`` must declare every entry
        (TypeError otherwise: its combination cannot be guessed). The entries
        are those of a state on ``backend`` (a lossbridge backend; default:
        where the metric's state lives, else the default backend): a float32
        accumulator adds compensation twins (``lossbridge.metrics._state``)."""
        found = self._declared(backend)
        error = self.__dict__.get("_reductions_error")
        if not found and error is not None:
            raise TypeError(
                f"cannot read how {type(self).__name__}'s state combines: its initial_state(None) raised "
                f"{type(error).__name__}: {error}. Let initial_state run without data (like=None)."
            ) from error
        undeclared = [key for key, how in found.items() if how is None]
        if undeclared and type(self).merge is not Metric.merge:
            raise TypeError(
                f"{type(self).__name__} overrides merge and its initial_state does not declare how replicas combine "
                f"{undeclared}: create them with sum_state / reduced_state, or wrap them in "
                "lossbridge.metrics.base.declare(reduction, entries)."
            )
        return {key: how or SUM for key, how in found.items()}

    def storage_state(self, like):
        """``initial_state`` in a layout no update changes (same entries,
        shapes and dtypes), for holders whose storage is fixed once created
        (Keras variables, ``lossbridge.integrations.keras``). The default is
        ``initial_state``; a metric whose update changes the layout
        overrides it (``IoU``: integer counts that become weighted sums)."""
        return self.initial_state(like)

    # ------------------------------------------------ stateful API
    def update_state(self, *inputs, sample_weight=None):
        """Fold one batch into the state: ``update_state(y_true, y_pred,
        sample_weight=None)`` (``values`` for ``Mean``/``Sum``: the metric's
        ``input_names``), the weight positional or by keyword, as in Keras.
        Inputs may be any framework's tensors, NumPy arrays or Python data;
        the state lives on the backend and device of the first strong tensor
        it sees and weak inputs follow it."""
        if len(inputs) != len(self.input_names):
            inputs, sample_weight = self._split_inputs(inputs, sample_weight, "update_state")
        with self._lock:
            self._synced = None  # the replicas' state no longer includes everything seen here
            self._fold_in(inputs, sample_weight)

    def _fold_in(self, inputs, sample_weight):
        """``update_state``'s work; the caller holds the lock."""
        backend, state = self._backend, self._state
        if state is None or dispatch.forced() is not None or not self._on(backend, inputs, sample_weight):
            backend, inputs, sample_weight, state = self._bring(inputs, sample_weight)
        stop = backend.stop_gradient
        inputs = [stop(x) for x in inputs]
        if sample_weight is not None:
            sample_weight = stop(sample_weight)
        self._state = self._advance(backend, state, inputs, sample_weight)
        self._backend = backend

    def _on(self, backend, inputs, sample_weight):
        """Whether every input is already a tensor of ``backend`` (the common
        case: nothing to convert, so :meth:`_bring` is skipped)."""
        for name, x in zip(self.input_names, inputs, strict=True):  # arity checked by the caller
            if dispatch.owner(x, name) is not backend:
                return False
        return sample_weight is None or dispatch.owner(sample_weight, "sample_weight") is backend

    def _bring(self, inputs, sample_weight):
        """Choose the backend for the inputs and the held state together and
        bring all of them to it: ``(backend, inputs, sample_weight, state)``;
        a zero state on that backend before the first update. (Counts a
        subclass keeps on the host are plain ints and stay there.)"""
        keys = () if self._state is None else tuple(self._state)
        held = () if self._state is None else tuple(self._state[k] for k in keys)
        names = (*self.input_names, "sample_weight", *(f"state of metric {self.name!r}",) * len(held))
        backend, values = dispatch.resolve(names, (*inputs, sample_weight, *held))
        count = len(inputs)
        inputs, sample_weight = values[:count], values[count]
        if held:
            state = dict(zip(keys, values[count + 1 :], strict=True))
            if backend is not self._backend and self._declared(backend):
                # another accumulator dtype has other compensation twins (_state: the layout)
                state = dispatch.run_on(backend, conform_sums, state, tuple(self._declared(backend)))
        else:
            state = dispatch.run_on(backend, self.initial_state, inputs[-1])
        return backend, inputs, sample_weight, state

    def _advance(self, backend, state, inputs, sample_weight):
        """The state after one batch (inputs already on ``backend``): one
        compiled step where :attr:`compile` asks for it, else :meth:`_step`."""
        if not compiling.off(self._compile):
            args = (*inputs, sample_weight, state)
            if compiling.wanted(self, backend, args):
                return _lifecycle.keep(
                    self, backend, compiling.run_compiled(self, backend, self._compiled_update, *args, eager_first=True)
                )
        return self._step(backend, state, inputs, sample_weight)

    def _compiled_update(self, *args):
        """``update`` with its arguments in the order :func:`compiling.run_compiled`
        reads them (the first tensor first): ``(*inputs, sample_weight, state)``."""
        *inputs, sample_weight, state = args
        return self.update(state, *inputs, sample_weight=sample_weight)

    def _step(self, backend, state, inputs, sample_weight):
        """The eager state after one batch; raises instead when that state is
        traced. The state is checked, not the inputs: ``update`` traces (the
        stateless API runs it under compilers), and concrete inputs a compiled
        function closes over, or NumPy ones, still give a traced state. One
        check per update."""
        # bound (``k.bind``): the K operations of a lossbridge metric's update read the adapter directly
        update = bind(type(self).update, backend)
        state = dispatch.run_on(backend, update, self, state, *inputs, sample_weight=sample_weight)
        return _lifecycle.keep(self, backend, state)

    def _settle(self):
        """Fold anything a subclass keeps outside the state tensors into them
        (see ``running_sums.RunningSums``); called before the state is read."""

    def _forget(self):
        """Drop anything a subclass keeps outside the state tensors (reset)."""

    def _result_state(self):
        """The state ``result()`` computes from (``running_sums.RunningSums``
        adds its pending host counts here without folding them in)."""
        return self._state

    def result(self, sync=False):
        """The metric's value: a 0-d (or per-class) tensor of ``dtype`` on the
        state's backend; 0 before any update, as in Keras. ``sync=True``: the
        value over every replica's data (as :meth:`sync`, ``group=None``),
        leaving the metric as it was. After :meth:`sync`, the synced value."""
        if sync:
            return self._result_over_replicas()
        with self._lock:
            if self._synced is not None:
                return dispatch.run_on(self._synced[0], self._cast_result, self._synced[1])
            if self._state is None:
                # after reset_state, the framework of the data seen last; else the default one
                backend = self._backend or dispatch.default_backend()
                return dispatch.run_on(backend, self._empty_result, self._anchor)
            return dispatch.run_on(self._backend, self._cast_result, self._result_state())

    def _cast_result(self, state):
        backend = dispatch.active()
        return backend.cast(bind(type(self).compute, backend)(self, state), self.dtype)

    def _empty_result(self, anchor):
        """The result of a metric that saw nothing, on ``anchor``'s device.
        ``anchor`` (a state tensor) only places it: the empty state is the
        one a fresh metric has, whatever shapes the forgotten data had."""
        empty = self._cast_result(self.initial_state(None))
        return empty if anchor is None else K.convert_to_tensor(empty, like=anchor)

    def reset_state(self):
        """Forget everything seen. ``result()`` then reads 0 in the framework
        of the data seen last (and on its device); the next update may come
        from any framework."""
        with self._lock:
            if self._state is not None:
                self._anchor = next(iter(self._state.values()))
            self._state = self._synced = None
            self._forget()

    def __call__(self, *inputs, sample_weight=None):
        """Update with one batch and return the result so far."""
        if _keras_api.MEAN_WRAPPER_MODULE in sys.modules:  # Keras loaded (torch.compile traces this lookup)
            _keras_api.refuse_mean_wrapper(self, sys._getframe(1))
        self.update_state(*inputs, sample_weight=sample_weight)
        return self.result()

    def merge_state(self, metrics):
        """Fold the state of other metrics of the same type and config into
        this one (e.g. metrics updated on disjoint shards of the data)."""
        for other in metrics:
            # each lock on its own (never both): two threads merging a into b
            # and b into a cannot deadlock
            with other._lock:
                other._settle()
                theirs_state, theirs_backend = other._state, other._backend
            with self._lock:
                self._synced = None  # merges the local states; sync again for the replicas' view
                self._settle()
                self._check_mergeable(other, theirs_state, theirs_backend)
                if theirs_state is None:
                    continue
                if self._state is None:
                    self._state, self._backend = dict(theirs_state), theirs_backend
                    continue
                theirs = self._bring_state(theirs_state, theirs_backend)
                merged = dispatch.run_on(self._backend, self.merge, self._state, theirs)
                self._state = _lifecycle.keep(self, self._backend, merged, "merge_state")

    def _check_mergeable(self, other, state, backend):
        """``other`` (whose settled ``state`` lives on ``backend``) may merge into this metric."""
        if type(other) is not type(self) or self._merge_key(other) != self._merge_key(self):
            raise ValueError(
                f"cannot merge {other!r} into {self!r}: merge_state needs metrics of the same type and "
                "config (names may differ)."
            )
        if self._state is None or state is None:
            return
        declared = self._declared()
        for key, value in self._state.items():
            if key not in state and key.endswith(COMPENSATION):  # a twin the other's dtype lacks (conform_sums)
                continue
            mine, theirs = self._backend.shape(value), backend.shape(state[key])
            if declared.get(key) == CONCATENATE:  # rows are joined: only a row's shape must agree
                mine, theirs = mine[1:], theirs[1:]
            if mine != theirs:
                raise ValueError(
                    f"cannot merge {other!r} into {self!r}: state {key!r} has shape {theirs} there and "
                    f"{mine} here (the metrics saw data of different shapes)."
                )

    @staticmethod
    def _merge_key(metric):
        config = dict(metric.get_config())
        config.pop("name", None)
        return config

    def _bring_state(self, state, backend):
        """Another metric's ``state`` (on ``backend``) on this metric's backend,
        in the layout of this metric's state (the compensation twins differ
        between accumulator dtypes: ``_state.conform_sums``)."""
        if backend is not self._backend:
            state = {k: self._backend.from_foreign(v, backend) for k, v in state.items()}
        if set(state) != set(self._state):
            state = dispatch.run_on(self._backend, conform_sums, state, tuple(self._state))
        return state

    @property
    def state(self):
        """The current state dict (None before the first update); after
        :meth:`sync`, the replicas' combined state."""
        with self._lock:
            if self._synced is not None:
                return self._synced[1]
            self._settle()
            return self._state

    # ------------------------------------------------ stateless API
    def stateless_initial_state(self, like=None):
        """The zero state on the backend and device of ``like`` (a tensor of
        the data: the last input of ``update_state``, e.g. ``y_pred``)."""
        if like is None:
            backend = dispatch.default_backend()
        else:
            backend, (like,) = dispatch.resolve(("like",), (like,))
        return dispatch.run_on(backend, self.initial_state, like)

    def stateless_update_state(self, state, *inputs, sample_weight=None):
        """Pure: the state after seeing ``inputs``; traceable by jax.jit,
        torch.compile and tf.function (no Python side effects). The weight may
        be positional, as in :meth:`update_state`."""
        inputs, sample_weight = self._split_inputs(inputs, sample_weight, "stateless_update_state")
        keys = tuple(state)
        names = (*self.input_names, "sample_weight", *("state",) * len(keys))
        backend, values = dispatch.resolve(names, (*inputs, sample_weight, *(state[k] for k in keys)))
        count = len(inputs)
        state = dict(zip(keys, values[count + 1 :], strict=True))
        return dispatch.run_on(backend, self.update, state, *values[:count], sample_weight=values[count])

    def stateless_result(self, state):
        """Pure: the result for ``state``."""
        backend = dispatch.owner(next(iter(state.values())), "state") or dispatch.default_backend()
        return dispatch.run_on(backend, self._cast_result, state)

    def stateless_merge_state(self, state, other):
        """Pure: the state of the union of the data behind two states."""
        backend, values = dispatch.resolve(("state",) * (2 * len(state)), (*state.values(), *other.values()))
        mine, theirs = (
            dict(zip(state, values[: len(state)], strict=True)),
            dict(zip(other, values[len(state) :], strict=True)),
        )
        return dispatch.run_on(backend, self.merge, mine, theirs)

    # ------------------------------------------------ config
    def get_config(self):
        """The constructor arguments, JSON-friendly (see ``lossbridge.metrics.serialize``)."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options})"
