"""The base of metrics whose state is only scalar running sums (``Mean``,
``Sum``, every ``MeanMetricWrapper``): :class:`RunningSums`, whose stateful
update is cheaper than the generic one and reaches the same state, bit for bit.

Each batch is reduced to one increment per sum in the batch's own precision
(at least float32; a float32 sum of one batch errs by ~1e-7 of that batch,
and that error does not grow with the number of batches), and only those
scalars take the step of :func:`~lossbridge.metrics.base.accumulate` (its
``adder``; compensated for float32 sums). An increment known on the
host (the batch size of a static shape) is summed as an exact Python int and
folded into the state tensors only when states combine (merge, sync); a read
of ``state`` folds it into a copy. While a count's tensors are still the zeros
the state started from, ``result()`` divides by the exact int itself
(``host_readable``): for ``Mean`` one framework op instead of a zero-safe
division's five.

A plain update (no weight, every input a tensor of the state's framework)
leaves a plan behind (:class:`_Plan`): the backend, the inputs' types and
``increments`` bound to that backend. The next unweighted update with inputs
of those types runs it directly, past the dispatch and the generic metric
layers.
Update + result at 32x10 runs ~5-15% faster on torch and JAX, less on
TensorFlow, whose own dispatch dominates (``python -m
benchmarks.running_sum_plan``: with and without, interleaved). Anything the plan does
not cover (a weight, another framework, a forced backend, ``compile``) goes
the general way; both reach the same state bit for bit.
"""

from __future__ import annotations

import types

import numpy as np

from .. import compiling, dispatch
from ..k import K, bind
from . import _lifecycle
from .base import COMPENSATION, Metric, accumulate, adder, sum_state


def _host_parts(count, dtype):
    """An exact Python int as numbers each exactly representable in ``dtype``
    (one for any count below 2**24 in float32 or 2**53 in float64)."""
    cast = np.dtype(dtype).type
    parts = []
    while count:
        part = cast(count)
        parts.append(float(part))
        count -= int(part)
    return parts


def derives_from_increments(update):
    """Mark an ``update`` as ``accumulate(state, **increments(...))``: the
    stateful API may then take the faster route to the same state
    (:meth:`RunningSums._step`). A subclass that overrides ``update`` with
    code of its own is not marked, and keeps the generic route through it."""
    update.derives_from_increments = True
    return update


def takes_fast_route(cls):
    """Whether the stateful updates of ``cls`` take :class:`RunningSums`'
    faster route: its ``update`` is a marked one."""
    return getattr(cls.update, "derives_from_increments", False)


class _Plan:
    """What a plain update of one metric found, kept for the next: the
    ``backend`` holding the state, the exact ``types`` of the inputs (each
    one that backend's tensor type, so the next inputs of those types need
    no dispatch), and the metric's ``increments`` bound to the backend."""

    __slots__ = ("backend", "increments", "types")

    def __init__(self, backend, types, increments):
        self.backend, self.types, self.increments = backend, types, increments

    def fits(self, inputs):
        types = self.types
        if len(inputs) != len(types):
            return False
        for x, kind in zip(inputs, types, strict=True):
            if type(x) is not kind:
                return False
        return True


class RunningSums(Metric, register=False):
    """A metric whose state is scalar compensated running sums ``sums``, each
    advanced by one increment per batch.

    A subclass names its ``sums``, writes ``increments(*inputs,
    sample_weight)`` against ``K`` (a dict: sum name -> a 0-d tensor, or a
    Python int such as a static batch size) and ``compute``. ``update`` is
    then ``accumulate(state, **increments(...))``, pure and traceable; the
    stateful API takes a faster route to the same state: tensor increments
    go through :func:`~lossbridge.metrics.base.adder` and int increments are summed on the host,
    exactly, and folded into the state tensors only when states combine
    (``merge_state``, ``sync``; ``state`` shows them folded into a copy).
    ``result()`` reads them without folding.

    A subclass that overrides ``update`` with its own code gets the generic
    stateful path through that ``update`` (:func:`takes_fast_route`).
    """

    sums: tuple[str, ...] = ()
    #: sums ``compute`` may read as a Python number: while such a sum's tensors
    #: are still the zeros its state started from, its whole value is the
    #: exact count summed on the host, and ``result()`` hands ``compute`` that
    #: number (``Mean``'s count: one division by it, where a zero-safe division
    #: of tensors costs ~5 framework ops)
    host_readable: tuple[str, ...] = ()
    _host = None  # sum name -> Python int not yet in the state tensors
    _zeros = None  # the state as it started (entry -> tensor): a sum still holding these tensors is 0
    _plan = None  # the _Plan of the last plain update (module docstring)
    #: ``compile = "auto"`` keeps running sums eager: compiled, Mean's update
    #: ran 0.4-0.9x its eager route at 2^10-2^20 values on torch and
    #: TensorFlow, and on JAX 1.1-1.2x up to 2^16 but 0.7-0.8x from 2^18
    #: (``python -m benchmarks.compile_sweep``)
    auto_compile_from = types.MappingProxyType({})

    def initial_state(self, like):
        return sum_state(self.sums, like=like)

    def increments(self, *inputs, sample_weight=None):
        """One batch as ``{sum name: increment}``."""
        raise NotImplementedError

    @derives_from_increments
    def update(self, state, *inputs, sample_weight=None):
        return accumulate(state, **self.increments(*inputs, sample_weight=sample_weight))

    def update_state(self, *inputs, sample_weight=None):
        """As :meth:`Metric.update_state`; inputs that fit the plan of an
        earlier plain update take it (module docstring)."""
        plan = self._plan
        if (
            plan is not None
            and sample_weight is None
            and plan.fits(inputs)
            and compiling.off(self._compile)
            and dispatch.forced() is None
        ):
            with self._lock:
                if plan.backend is self._backend and self._state is not None:
                    self._synced = None
                    backend, stop = plan.backend, plan.backend.stop_gradient
                    increments = dispatch.run_on(backend, plan.increments, self, *[stop(x) for x in inputs])
                    self._state = self._add(backend, self._state, increments)
                    return
        super().update_state(*inputs, sample_weight=sample_weight)

    def _fold_in(self, inputs, sample_weight):
        super()._fold_in(inputs, sample_weight)
        if sample_weight is not None or not takes_fast_route(type(self)):
            return
        plan, backend = self._plan, self._backend
        if plan is not None and plan.backend is backend and plan.fits(inputs):
            return
        # planned only for tensors of the state's framework, concrete (a traced update raised above)
        if all(dispatch.owner(x) is backend for x in inputs):
            increments = bind(type(self).increments, backend)
            self._plan = _Plan(backend, tuple(type(x) for x in inputs), increments)

    def _step(self, backend, state, inputs, sample_weight):
        if not takes_fast_route(type(self)):
            return super()._step(backend, state, inputs, sample_weight)
        increments = dispatch.run_on(
            backend, bind(type(self).increments, backend), self, *inputs, sample_weight=sample_weight
        )
        return self._add(backend, state, increments)

    def _add(self, backend, state, increments):
        """``state`` with one batch's ``increments`` added: tensors to the
        state tensors, Python ints to the host counts."""
        tensors, counts = {}, None
        for name, value in increments.items():
            if type(value) is int:
                counts = counts or {}
                counts[name] = value
            else:
                tensors[name] = value
        if tensors:
            state = adder(backend, tuple(tensors))(state, tensors)
            # before the host counts change: a traced state raises and leaves the metric as it was
            state = _lifecycle.keep(self, backend, state)
        if counts:
            host = self._host
            if host is None:
                host = self._host = {}
            for name, value in counts.items():
                host[name] = host.get(name, 0) + value
        return state

    def _bring(self, inputs, sample_weight):
        started = self._state is None
        brought = super()._bring(inputs, sample_weight)
        if started:
            # kept by identity: every update makes new tensors, so a sum whose tensors are these is still 0
            self._zeros = dict(brought[3])
        return brought

    def __getstate__(self):
        attributes = super().__getstate__()
        attributes.pop("_zeros", None)  # identities do not survive a copy
        attributes.pop("_plan", None)  # bound functions; the copy makes its own at its first update
        return attributes

    @property
    def state(self):
        """The current state dict, the host counts included (read as they
        would be folded in: into a copy, so the held state keeps the zeros
        that let ``result()`` divide by an exact count; merging and syncing
        fold them into the held state itself)."""
        with self._lock:
            host = self._host
            if not host or self._state is None or self._synced is not None:
                return Metric.state.fget(self)
            return _lifecycle.realized(self._backend, dispatch.run_on(self._backend, _fold_host, self._state, host))

    def _settle(self):
        host = self._host
        if host and self._state is not None:
            self._host = None
            folded = dispatch.run_on(self._backend, _fold_host, self._state, host)
            self._state = _lifecycle.realized(self._backend, folded)

    def _forget(self):
        self._host = self._zeros = None

    def _result_state(self):
        host = self._host
        if not host:
            return self._state
        state, zeros = self._state, self._zeros or {}
        exact = {}
        for name in self.host_readable:
            twin = name + COMPENSATION
            if name in host and state[name] is zeros.get(name) and state.get(twin) is zeros.get(twin):
                exact[name] = host[name]
        return dispatch.run_on(self._backend, _with_host, state, host, exact)


def _with_host(state, host, exact):
    """``state`` as ``result()`` reads it with the pending host counts. A sum
    named in ``exact`` (its tensors still zero) reads as the Python float of
    its count, exactly what folding it in gives (the same rounding to the
    accumulator dtype), with no compensation twin. Any other count is added
    to its sum's compensation where it has one (read as sum + (compensation
    + pending)), to the sum itself where it has none (float64), off from
    folding it in by at most one rounding of the accumulator dtype, while
    the state itself stays exact."""
    view = dict(state)
    for name, count in host.items():
        if name in exact:
            view.pop(name + COMPENSATION, None)
            view[name] = float(count)
            continue
        # a float32 sum's twin takes the count: added to the sum it could be lost below the sum's last bit
        entry = name + COMPENSATION if name + COMPENSATION in view else name
        # a Python float takes the tensor's dtype on every backend, and is the
        # cheapest operand there (a converted one costs JAX ~20-40 us more)
        view[entry] = view[entry] + float(count)
    return view


def _fold_host(state, host):
    for name, count in host.items():
        for part in _host_parts(count, K.dtype(state[name])):
            state = accumulate(state, **{name: part})
    return state
