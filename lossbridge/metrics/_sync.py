"""``Metric``'s API for the replicas of a data-parallel run: ``sync``,
``unsync``, ``result(sync=True)`` and ``stateless_sync_state``. The protocol
they run (headers, collectives, padding) is ``lossbridge.metrics._replicas``;
each state entry combines as ``Metric.state_reductions`` declares.

A mixin of ``Metric`` (``lossbridge.metrics.base``), which keeps the synced
view in ``_synced`` and drops it on every update, merge and reset.
"""

from __future__ import annotations

from .. import dispatch
from . import _lifecycle, _replicas


class ReplicaSync:
    """The replica methods of ``Metric`` (see the module docstring)."""

    def sync(self, group=None):
        """Combine this metric's state with the other replicas' of a
        data-parallel run, each entry as declared (:meth:`state_reductions`),
        through the framework's own collectives (``_replicas``): afterwards
        ``result()`` and ``state`` read the state of all the data every
        replica saw. A collective: every replica of ``group`` calls it.

        ``group``: a ``torch.distributed`` process group (default: the
        default group), a ``tf.distribute`` ReplicaContext or Strategy
        (default: the current replica context), or for JAX None (the
        processes of ``jax.distributed``); inside ``shard_map`` / ``pmap``
        use :meth:`stateless_sync_state` with the axis name. No group and no
        distributed world: a world of one, nothing changes.

        The local state is kept: :meth:`unsync` returns to it, and the next
        ``update_state`` / ``merge_state`` / ``reset_state`` drops the synced
        view, so syncing again never counts a batch twice. A replica that
        saw no data contributes zeros (the identity of each entry) of the
        shapes the others hold."""
        with self._lock:
            backend, synced = self._synced_state(group)
            _lifecycle.check_concrete(self, backend, synced.values() if synced else (), "sync")
            self._synced = None if synced is None else (backend, _lifecycle.realized(backend, synced))

    def unsync(self):
        """Back to the local state (after :meth:`sync`); a no-op otherwise."""
        with self._lock:
            self._synced = None

    def _result_over_replicas(self):
        """``result(sync=True)``: the value over every replica's data, the
        metric left as it was."""
        with self._lock:
            backend, synced = self._synced_state(None)
            if synced is None:
                return dispatch.run_on(backend, self._empty_result, None)
            return dispatch.run_on(backend, self._cast_result, synced)

    def _synced_state(self, group):
        """``(backend, the replicas' combined state or None)`` from the local
        state; the caller holds the lock."""
        self._settle()
        backend = _replicas.backend_for(self._backend, group)
        state = self._state
        if state is not None and backend is not self._backend:
            state = {key: backend.from_foreign(value, self._backend) for key, value in state.items()}
        return backend, _replicas.sync_state(self, backend, state, group)

    def _sync_layout(self, state):
        """``state`` in the one layout every replica syncs (a metric whose
        state has several forms, such as IoU's integer and weighted matrix,
        returns the form every replica can hold); ``K`` is bound."""
        return state

    def stateless_sync_state(self, state, group=None):
        """Pure: ``state`` combined across the replicas of ``group``, each
        entry as declared (see :meth:`sync` for ``group``). Traceable: inside
        ``jax.shard_map`` / ``pmap`` pass the axis name (``lax.psum`` and
        friends); inside ``strategy.run`` leave ``group`` None (the replica
        context); in TF's cross-replica context pass the strategy with the
        per-replica state ``strategy.run`` returned (``strategy.reduce``).
        Every replica calls it."""
        owner = dispatch.owner(next(iter(state.values())), "state")
        backend = _replicas.backend_for(owner, group)
        if owner is not backend:  # e.g. NumPy state synced through the group's framework
            bring = backend.convert_to_tensor if owner is None else lambda x: backend.from_foreign(x, owner)
            state = {key: bring(value) for key, value in state.items()}
        return _replicas.sync_state(self, backend, state, group)
