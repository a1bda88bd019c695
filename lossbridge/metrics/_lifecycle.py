"""What ``Metric``'s stateful API needs besides arithmetic: a lock that makes
concurrent updates serial, pickling and copying of state that lives on any
backend, and the refusal to update state while a compiler traces.

Kept apart from ``base`` so that the numeric core stays readable; ``Metric``
calls these helpers and nothing else does.
"""

from __future__ import annotations

import threading
import warnings

from .. import backends
from ..backends.notices import LossbridgeWarning
from ..k import K

#: attributes of a Metric that hold tensors of its backend (or None)
_TENSOR_ATTRIBUTES = ("_anchor",)


def new_lock():
    """The lock around a metric's read-modify-write of its state. Reentrant,
    so that a subclass's ``update`` or ``compute`` may read ``self.state``."""
    return threading.RLock()


# ---------------------------------------------------------------- tracing
#: adapter type -> whether its tensors are always concrete (it keeps the
#: default ``Backend.is_concrete``: NumPy), so that its updates skip the check
_NEVER_TRACES: dict = {}


def _never_traces(backend):
    kind = type(backend)
    answer = _NEVER_TRACES.get(kind)
    if answer is None:
        answer = _NEVER_TRACES[kind] = kind.is_concrete is backends.Backend.is_concrete
    return answer


def check_concrete(metric, backend, values, method="update_state"):
    """Raise before ``metric`` keeps traced values: ``values`` (tensors of
    ``backend``, None skipped) must all be concrete, i.e. not jax tracers,
    tf.function graph tensors, or tensors of a torch.compile trace."""
    if _never_traces(backend):
        return
    concrete = backend.is_concrete
    for value in values:
        if value is not None and not concrete(value):
            raise _traced(metric, backend, method)


def _traced(metric, backend, method):
    return RuntimeError(
        f"{type(metric).__name__}.{method} was called while {backend.name} traces a function "
        "(jax.jit, tf.function, torch.compile, mx.compile), or with a lazy array (dask) it cannot read now. The "
        "stateful API keeps its state in Python attributes, which a compiled function cannot update "
        "(and a lazy graph would grow with every update); the metric's state is unchanged. Inside "
        "compiled code use the pure API: `state = metric.stateless_update_state(state, *inputs)` "
        "(start from `metric.stateless_initial_state(y_pred)`) and `metric.stateless_result(state)`; "
        "for dask arrays, `lossbridge.integrations.dask.evaluate(metric, y_true, y_pred)` runs it "
        "block by block."
    )


#: adapter type -> whether it keeps the default, no-op ``Backend.realize`` (every eager framework)
_EAGER: dict = {}


def keep(metric, backend, state, method="update_state"):
    """``state`` (a dict of tensors of ``backend``, or None), checked as
    :func:`check_concrete` does and computed now (``backend.realize``) before
    ``metric`` keeps it: a lazy framework (MLX) would otherwise hold a graph
    that grows with every update, and MLX evaluates a graph only in the
    thread that built it (its streams are per thread), so a state updated in
    one thread could not be read in another."""
    if state is None:
        return state
    first = next(iter(state.values()))
    check_concrete(metric, backend, (first,), method)
    try:
        return realized(backend, state)
    except Exception:
        # MLX tells no function that mx.compile or mx.vmap traces it (is_concrete cannot know), and
        # refuses to compute traced arrays: the state was traced exactly when it cannot be read either
        if backend.host_values(first) is None:
            raise _traced(metric, backend, method) from None
        raise


def realized(backend, state):
    """``state`` computed now on a lazy backend (``backend.realize``); as it is elsewhere."""
    kind = type(backend)
    eager = _EAGER.get(kind)
    if eager is None:
        eager = _EAGER[kind] = kind.realize is backends.Backend.realize
    if not eager:
        backend.realize(state.values())
    return state


def warn_if_concrete(condition, message):
    """Warn when ``condition`` (a 0-d tensor) is concretely true; inside a
    traced function the value is unknown and nothing is said."""
    value = K.host_values(condition)
    if value is not None and bool(value):
        warnings.warn(message, LossbridgeWarning, stacklevel=3)


# ---------------------------------------------------------------- pickling
def _to_host(backend, value):
    """A state tensor as something that pickles without its framework's
    help: NumPy state as it is, every other backend's as a NumPy array."""
    if value is None or backend.name == "numpy":
        return value
    return backend.to_numpy(value)


def _from_host(backend, value):
    if value is None or backend.name == "numpy":
        return value
    return backend.convert_to_tensor(value)


def picklable(metric):
    """``metric.__dict__`` for ``__getstate__``: without the lock, state
    tensors as NumPy arrays and the backend as its registered name."""
    with metric._lock:
        attributes = dict(metric.__dict__)
    attributes.pop("_lock", None)
    backend = attributes.get("_backend")
    if backend is None:
        return attributes
    attributes["_backend"] = backend.name
    state = attributes.get("_state")
    if state is not None:
        attributes["_state"] = {key: _to_host(backend, value) for key, value in state.items()}
    for name in _TENSOR_ATTRIBUTES:
        attributes[name] = _to_host(backend, attributes.get(name))
    return attributes


def restore(metric, attributes):
    """The inverse of :func:`picklable` for ``__setstate__``: state back on
    the backend it was saved from (on that framework's default device), and a
    new lock."""
    attributes = dict(attributes)
    name = attributes.get("_backend")
    if name is not None:
        backend = attributes["_backend"] = backends.get(name)
        state = attributes.get("_state")
        if state is not None:
            attributes["_state"] = {key: _from_host(backend, value) for key, value in state.items()}
        for attribute in _TENSOR_ATTRIBUTES:
            attributes[attribute] = _from_host(backend, attributes.get(attribute))
    metric.__dict__.update(attributes)
    metric._lock = new_lock()
