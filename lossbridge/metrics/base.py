"""The stateful ``Metric`` base class, written once against ``K``.

A metric is three pure functions over a dict of state tensors, which a
subclass writes against ``K``:

* ``initial_state(like)``: the zero state (``like`` is a tensor of the data, so
  state is created on its backend and device);
* ``update(state, *inputs, sample_weight)``: the next state;
* ``compute(state)``: the result.

``Metric`` wraps them in Keras' stateful API (``update_state``, ``result``,
``reset_state``, ``merge_state``, ``__call__``) and exposes them unchanged as
the stateless API (``stateless_update_state``, ``stateless_result``) for
``jax.jit``, ``torch.compile`` and ``tf.function`` users. The state dict is a
pytree / nested structure every compiler accepts.
"""

from __future__ import annotations

import re

from .. import dispatch
from ..k import K


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Metric:
    """Base class of stateful metrics.

    Args:
        name: the metric's name (default: the class name in snake_case).
        dtype: dtype of ``result()`` (default ``floatx()``, float32). State is
            kept in the backend's accumulator dtype (float64 where the
            framework has it) so long runs do not lose precision.
    """

    #: names of the positional inputs of ``update_state``, for dispatch and errors
    input_names: tuple[str, ...] = ("y_true", "y_pred")

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = dtype or "float32"
        self._backend = None
        self._state = None

    # ------------------------------------------------ to implement (pure, against K)
    def initial_state(self, like):
        raise NotImplementedError

    def update(self, state, *inputs, sample_weight=None):
        raise NotImplementedError

    def compute(self, state):
        raise NotImplementedError

    def merge(self, state, other):
        """Combine two states; the default adds them (sums, counts, confusion matrices)."""
        return {key: state[key] + other[key] for key in state}

    # ------------------------------------------------ stateful API
    def update_state(self, *inputs, sample_weight=None):
        if len(inputs) != len(self.input_names):
            raise TypeError(
                f"{type(self).__name__}.update_state takes {len(self.input_names)} inputs "
                f"({', '.join(self.input_names)}); received {len(inputs)}."
            )
        anchor = () if self._state is None else (next(iter(self._state.values())),)
        names = (*self.input_names, "sample_weight", *("metric state",) * len(anchor))
        backend, values = dispatch.resolve(names, (*inputs, sample_weight, *anchor))
        inputs, sample_weight = values[: len(inputs)], values[len(inputs)]
        inputs = [backend.stop_gradient(x) for x in inputs]
        if sample_weight is not None:
            sample_weight = backend.stop_gradient(sample_weight)
        if self._state is None:
            self._state = dispatch.run_on(backend, self.initial_state, inputs[-1])
            self._backend = backend
        self._state = dispatch.run_on(backend, self.update, self._state, *inputs, sample_weight=sample_weight)

    def result(self):
        if self._state is None:
            backend = dispatch.default_backend()
            state = dispatch.run_on(backend, self.initial_state, None)
            return dispatch.run_on(backend, self._cast_result, state)
        return dispatch.run_on(self._backend, self._cast_result, self._state)

    def _cast_result(self, state):
        return K.cast(self.compute(state), self.dtype)

    def reset_state(self):
        self._state = None
        self._backend = None

    reset_states = reset_state  # Keras 2 name, used by the seed

    def __call__(self, *inputs, sample_weight=None):
        self.update_state(*inputs, sample_weight=sample_weight)
        return self.result()

    def merge_state(self, metrics):
        """Fold the state of other metrics of the same type and config into this one."""
        for other in metrics:
            if type(other) is not type(self) or other.get_config() | {"name": None} != self.get_config() | {
                "name": None
            }:
                raise ValueError(
                    f"cannot merge {other!r} into {self!r}: merge_state needs metrics of the same type and config."
                )
            if other._state is None:
                continue
            if self._state is None:
                self._state, self._backend = dict(other._state), other._backend
                continue
            if other._backend is not self._backend:
                raise ValueError(
                    f"cannot merge {other!r} (state on {other._backend.name}) into {self!r} "
                    f"(state on {self._backend.name}); reset one or update both with the same framework."
                )
            self._state = dispatch.run_on(self._backend, self.merge, self._state, other._state)

    @property
    def state(self):
        """The current state dict (None before the first update)."""
        return self._state

    # ------------------------------------------------ stateless API
    def stateless_initial_state(self, like):
        """The zero state on the backend and device of ``like``."""
        backend, (like,) = dispatch.resolve(("like",), (like,))
        return dispatch.run_on(backend, self.initial_state, like)

    def stateless_update_state(self, state, *inputs, sample_weight=None):
        """Pure: the state after seeing ``inputs``; traceable by jax.jit,
        torch.compile and tf.function."""
        anchor = next(iter(state.values()))
        names = (*self.input_names, "sample_weight", "state")
        backend, values = dispatch.resolve(names, (*inputs, sample_weight, anchor))
        return dispatch.run_on(backend, self.update, state, *values[: len(inputs)], sample_weight=values[len(inputs)])

    def stateless_result(self, state):
        """Pure: the result for ``state``."""
        backend = dispatch.owner(next(iter(state.values())), "state") or dispatch.default_backend()
        return dispatch.run_on(backend, self._cast_result, state)

    # ------------------------------------------------ config
    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({options})"
