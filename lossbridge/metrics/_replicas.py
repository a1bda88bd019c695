"""Metric state across the replicas of a data-parallel run: what
``Metric.sync`` and ``Metric.stateless_sync_state`` do, written against ``K``
and the backend's replica hooks (``replica_group``, ``all_reduce``,
``all_gather``: ``lossbridge.backends.base``), so that each framework's own
engine does the communication (torch.distributed, ``lax.psum`` and friends,
tf.distribute).

Each state entry combines as its metric declares (``Metric.state_reductions``):

* ``sum`` / ``min`` / ``max`` entries travel with ``all_reduce``, batched by
  the adapter into one collective per dtype (torch flattens and concatenates
  them; JAX and TF reduce the whole list at once);
* ``concatenate`` entries, only they, with ``all_gather``: padded to the
  longest replica's rows, gathered, and each replica's own rows kept, in
  replica order.

Eagerly (concrete local tensors: torch, JAX across processes, TF's replica
context outside ``tf.function``) the replicas first exchange a *header*, one
small integer row each, through one ``all_gather``: whether the replica holds
state, a local problem with it, and every entry's dtype and shape. From the
same rows every replica then decides the same thing:

* a replica that saw no data (no state yet) contributes the identity of each
  entry (zeros for a sum, no rows for a concatenation) of the shape the others
  hold, so data-dependent shapes (R2Score's outputs, F1Score's classes) need
  no configuration, and nobody waits on it;
* entries whose shapes or dtypes differ, or a local problem, raise one
  ``ValueError`` on every replica, naming the replicas; nobody hangs;
* concatenated entries are padded to the longest replica's rows.

Under a compiler's trace (``shard_map``, ``pmap``, ``tf.function``) and for
TF's per-replica values, shapes are the same on every replica by
construction and the header is skipped: the reductions run as they are.

Exactness. A running sum is summed across replicas (a float32 one with its
compensation, so the synced read ``sum(totals) + sum(compensations)``; a
float64 one has none: ``_state``), which is the sum of the
replicas' reads up to the rounding of the collective's additions: at most
``n - 1`` roundings of the accumulator dtype relative to ``sum(|totals|)`` for
``n`` replicas (1e-16 per replica in float64), on top of each replica's own
compensated error. Integer-valued counts (confusion matrices, AUC's
threshold counts, sample counts) stay exact while the global count is below
2**53 in float64 (2**24 in JAX's float32 without x64). ``merge_state`` keeps
the rounding error of each pairwise addition as well; an all-reduce cannot.
"""

from __future__ import annotations

import sys

import numpy as np

from .. import backends, dispatch
from ..k import K

#: how shards and replicas combine one state entry: added, elementwise min or
#: max, or joined along axis 0 (in shard / replica order)
SUM, MIN, MAX, CONCATENATE = "sum", "min", "max", "concatenate"
REDUCTIONS = (SUM, MIN, MAX, CONCATENATE)

#: axes of a state entry the header carries
HEADER_RANK = 8
#: dtypes the header can name (by index)
_DTYPES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "bfloat16", "float32", "float64",
)  # fmt: skip
#: header columns before the entries: [holds state, local problem]
_PREFIX = 2
_PER_ENTRY = 2 + HEADER_RANK  # dtype index, rank, dims
_PROBLEMS = {
    1: "its state's entries are not the ones its initial_state declares",
    2: f"a state entry has more than {HEADER_RANK} axes",
    3: f"a state entry has a dtype other than {', '.join(_DTYPES)}",
}


def identity(reduction, shape, dtype, like=None):
    """The entry that ``reduction`` leaves unchanged, on ``like``'s device:
    zeros for a sum, the dtype's largest value for a min (+inf, or the
    largest int), its smallest for a max, and for a concatenation no rows,
    ``(0, *shape[1:])``. What a replica that saw no data contributes."""
    if reduction == SUM:
        return K.zeros(shape, dtype, like=like)
    if reduction == CONCATENATE:
        return K.zeros((0, *tuple(shape)[1:]), dtype, like=like)
    if dtype == "bool":
        return K.ones(shape, dtype, like=like) if reduction == MIN else K.zeros(shape, dtype, like=like)
    if dtype.startswith(("int", "uint")):
        limits = np.iinfo(dtype)
        extreme = int(limits.max if reduction == MIN else limits.min)
    else:
        extreme = float("inf") if reduction == MIN else float("-inf")
    return K.zeros(shape, dtype, like=like) + extreme


# ---------------------------------------------------------------- which backend syncs
def backend_for(own, group):
    """The backend whose engine syncs a state held on ``own`` (None: no
    state, no data ever) over ``group``: the framework of ``group`` when it is
    a framework object (a torch ProcessGroup, a tf.distribute Strategy);
    else ``own`` when it has replicas; else the one framework already
    imported here whose distributed world is up (so that a replica that saw no
    data, or NumPy data, still joins its peers' collectives); else ``own``,
    or the default backend: a world of one."""
    if isinstance(group, (str, tuple)):  # a JAX axis name: the state's own (traced) backend
        return own or backends.get("numpy")
    if group is not None:
        name = backends.owner_of_module(type(group).__module__.partition(".")[0])
        if name is not None:
            return backends.get(name)
    if own is not None and _has_replicas(own):
        return own
    active = [backend for backend in _imported() if backend is not own and _has_replicas(backend)]
    if len(active) > 1:
        raise ValueError(
            f"several frameworks have a distributed world here ({', '.join(b.name for b in active)}); pass the "
            "`group` to sync over (a torch ProcessGroup, a tf.distribute Strategy or ReplicaContext)."
        )
    if active:
        return active[0]
    return own or backends.get("numpy")


def _imported():
    """Adapters of the built-in frameworks this process has imported already
    (loading one imports nothing new)."""
    return [
        backends.get(name)
        for name, (_, module, _) in backends.BUILTIN.items()
        if name != "numpy" and module in sys.modules
    ]


def _has_replicas(backend):
    try:
        return backend.replica_group(None) is not None
    except NotImplementedError:  # an adapter without replica hooks: a world of one
        return False


# ---------------------------------------------------------------- sync
def sync_state(metric, backend, state, group):
    """``state`` (tensors of ``backend``, or None: this replica saw no data)
    combined across the replicas of ``group``; None when no replica holds
    state. A world of one returns ``state`` as it is."""
    group = backend.replica_group(group)
    if group is None:
        return state
    reductions = metric.state_reductions(backend)
    if state is not None:
        first = next(iter(state.values()))
        if not (backend.is_tensor(first) and backend.is_concrete(first)):
            # traced (SPMD) or per-replica values: one layout on every replica by construction
            return _run(backend, _combine, state, reductions, group, None)
    return _run(backend, _sync_concrete, metric, state, reductions, group)


def _run(backend, fn, *args):
    return dispatch.run_on(backend, fn, *args)


def _sync_concrete(metric, state, reductions, group):
    """The eager protocol (module docstring); ``K`` is bound."""
    keys = tuple(reductions)
    if state is not None and set(state) == set(keys):
        state = metric._sync_layout(state)
    like = None if state is None else next(iter(state.values()))
    # int32: every engine carries it (JAX without x64 has no int64)
    row = K.convert_to_tensor(_header_row(state, keys), "int32", like=like)
    rows = np.asarray(K.to_numpy(K.all_gather([row], group)[0]))
    layout, lengths = _agreed_layout(metric, rows, keys, reductions)
    if layout is None:
        return None
    if state is None:
        state = {key: identity(reductions[key], shape, dtype) for key, (dtype, shape) in layout.items()}
    return _combine(state, reductions, group, lengths)


def _row_width(keys):
    return _PREFIX + _PER_ENTRY * len(keys)


def _header_row(state, keys):
    """This replica's header: ``[holds state, problem, (dtype, rank, dims) per entry]``."""
    row = np.zeros(_row_width(keys), np.int32)
    if state is None:
        return row
    row[0] = 1
    if set(state) != set(keys):
        row[1] = 1
        return row
    for i, key in enumerate(keys):
        value = state[key]
        dtype, shape = K.dtype(value), K.shape(value)
        if dtype not in _DTYPES:
            row[1] = 3
            return row
        if len(shape) > HEADER_RANK:
            row[1] = 2
            return row
        start = _PREFIX + _PER_ENTRY * i
        row[start], row[start + 1] = _DTYPES.index(dtype), len(shape)
        row[start + 2 : start + 2 + len(shape)] = shape
    return row


def _agreed_layout(metric, rows, keys, reductions):
    """From every replica's header row: ``({entry: (dtype, shape)},
    {concatenated entry: rows per replica})``, the same on every replica,
    or ``(None, None)`` when no replica holds state. Raises the same
    ValueError on every replica when their states do not line up."""
    holders = [r for r in range(len(rows)) if rows[r, 0]]
    for r in holders:
        if rows[r, 1]:
            raise ValueError(f"cannot sync {metric!r}: on replica {r}, {_PROBLEMS[int(rows[r, 1])]}.")
    if not holders:
        return None, None
    layout, lengths = {}, {}
    for i, key in enumerate(keys):
        start = _PREFIX + _PER_ENTRY * i
        concatenated = reductions[key] == CONCATENATE
        seen = {}
        for r in holders:
            dtype, rank = _DTYPES[int(rows[r, start])], int(rows[r, start + 1])
            shape = tuple(int(d) for d in rows[r, start + 2 : start + 2 + rank])
            seen.setdefault((dtype, shape[1:] if concatenated else shape), []).append(r)
        if len(seen) > 1:
            found = "; ".join(f"{dtype} {shape} on replicas {where}" for (dtype, shape), where in seen.items())
            what = "rows of shape" if concatenated else "shape"
            raise ValueError(
                f"cannot sync {metric!r}: state entry {key!r} differs across replicas ({what}: {found}); the "
                "replicas saw data of different shapes or kinds."
            )
        ((dtype, shape),) = seen
        layout[key] = (dtype, (0, *shape) if concatenated else shape)
        if concatenated:
            lengths[key] = [int(rows[r, start + 2]) if rows[r, 0] else 0 for r in range(len(rows))]
    return layout, lengths


def _combine(state, reductions, group, lengths):
    """Every entry combined across replicas by its reduction: one
    ``all_reduce`` per reduction (the adapter batches dtypes), one
    ``all_gather`` for the concatenated entries. ``lengths``: each replica's
    rows of each concatenated entry (None: the same everywhere, traced)."""
    out = dict(state)
    for how in (SUM, MIN, MAX):
        keys = [key for key in state if reductions[key] == how]
        if keys:
            out.update(zip(keys, K.all_reduce([state[key] for key in keys], how, group), strict=True))
    # an entry with no rows on any replica is already its result (every replica knows it alike:
    # from the header, or from the static shape under a trace); gathering nothing is skipped
    if lengths is None:
        keys = [key for key in state if reductions[key] == CONCATENATE and K.shape(state[key])[0] != 0]
    else:
        keys = [key for key in state if reductions[key] == CONCATENATE and max(lengths[key]) > 0]
    if not keys:
        return out
    if lengths is None:
        gathered = K.all_gather([state[key] for key in keys], group)
        for key, value in zip(keys, gathered, strict=True):
            out[key] = K.reshape(value, (-1, *K.shape(value)[2:]))
        return out
    padded = [_pad_rows(state[key], max(lengths[key])) for key in keys]
    for key, value in zip(keys, K.all_gather(padded, group), strict=True):
        pieces = [value[r, :count] for r, count in enumerate(lengths[key])]
        out[key] = K.concatenate(pieces, axis=0)
    return out


def _pad_rows(value, rows):
    """``value`` with zero rows appended up to ``rows`` (cut off after the gather)."""
    shape = K.shape(value)
    if shape[0] == rows:
        return value
    return K.concatenate([value, K.zeros((rows - shape[0], *shape[1:]), K.dtype(value), like=value)], axis=0)
