"""State entries of a metric: how they are made, added to, read and combined.

Layout of a running sum (the one rule; :func:`has_twin` applies it). A sum
``name`` is kept in ``K.accumulator_dtype``: float64 on NumPy, PyTorch and
TensorFlow, and on JAX only when the user enabled ``jax_enable_x64`` (float32
otherwise, and on MLX). A float64 sum is the entry ``name`` alone, added
plainly. A sum in any other dtype (float32) has a twin ``name_compensation``
of its shape and dtype, and reads as ``name + name_compensation``. Readers go
by the state: a sum reads with its twin when the state holds one
(:func:`read_sum`), alone otherwise. So a running count costs 8 bytes
either way (one float64, or a float32 and its twin).

Why the float32 twin. A float32 sum is *compensated* (Neumaier's variant of
Kahan summation): the twin holds the rounding error lost so far, which keeps
a mean over 10^7 values accurate to about 1e-8 (plain float32 drifts to
~1e-5) and a counter exact far past 2**24, where a plain float32 counter
stops counting. The compensated step costs 9-15 eager ops per entry and
update: with it, update + result on torch at 32 values took 69 us for Mean
and ~290 us for macro F1, against 48 and ~185 us without (torchmetrics' Mean
and F1: ~45 and ~150-220 us on the same, shared, machine).

Why float64 needs none. Each batch enters as one increment already summed in
the batch's precision, so after B updates a plain float64 total errs by at
most ~B * 1.1e-16 (B roundings of 2**-53) of the sum of magnitudes, below any
float32 input's own rounding (6e-8) for B < 5 * 10^8, and integer counts stay
exact to 2**53 = 9,007,199,254,740,992. Merging (:func:`combine_states`)
adds two float64 sums plainly too: one rounding per merge, the same bound as
one more update, so merging M shards errs by at most (B + M) * 1.1e-16 of the
sum of magnitudes, B the updates of all shards together.

Why float64 and not Keras' float32: twice Keras' bytes where Keras keeps a
float32 count (4 bytes; ``Mean``: 16 bytes here against Keras' 8, ``AUC(200)``
6,400 against 3,200). A float32 count stops at 2**24 = 16,777,216: adding 1
to it gives 2**24 again. Keras 3 (TensorFlow and JAX backends) fed one batch
of 2**24 values (one 4096 x 4096 mask) and then 8 batches of one value
reports ``Mean.count`` and ``Precision.true_positives`` of 16,777,216, not
16,777,224 (its ``Mean`` of 2**24 zeros and 8 ones: 4.768371582e-07, not
4.768369308e-07); lossbridge's float64 counts are exact to 2**53, and its
float32 fallback (JAX without x64) keeps the twin for the same reason.
Where Keras' state is 8 bytes a count (``MeanIoU``'s int64 matrix on
TensorFlow) lossbridge's is the same size.

Use :func:`sum_state`, :func:`accumulate` and :func:`read_sum` for every
summing metric. A metric's entries thus depend on the accumulator dtype of
the backend its state lives on (the twins); ``Metric.state_reductions(backend)``
lists them for that backend.

How state combines. Every state entry declares, where ``initial_state``
creates it, how two shards or replicas combine it: summed (``sum_state``;
a compensated pair is summed term by term), elementwise min or max, or
concatenated along axis 0 (``reduced_state``, or :func:`declare` around
entries made by hand). ``Metric.merge`` (``merge_state``, the Dask tree) and
``Metric.sync`` (the replicas of a data-parallel run, through the backend's
collectives: ``lossbridge.metrics._replicas``) both follow those declarations;
``Metric.state_reductions`` reads them (:data:`declarations`).

Metric modules import these names from ``lossbridge.metrics.base``, which
re-exports them; pure functions against ``K``, no metric object here.
"""

from __future__ import annotations

import contextvars

from .. import dispatch
from ..k import K, bind, fused
from ._replicas import CONCATENATE, MAX, MIN, REDUCTIONS, SUM, identity

#: suffix of the state entry that holds a running sum's lost low-order part
COMPENSATION = "_compensation"

# ---------------------------------------------------------------- how state entries combine
#: {entry: reduction} of the initial_state that Metric.state_reductions is reading (None: none is read)
declarations = contextvars.ContextVar("lossbridge_state_declarations", default=None)


def declare(reduction, entries):
    """``entries`` (a dict of state tensors, returned as it is) combine across
    shards and replicas by ``reduction``: ``SUM``, ``MIN``, ``MAX`` or
    ``CONCATENATE`` (see :func:`combine_states`). Called in ``initial_state``
    where the entries are made; :func:`sum_state` and :func:`reduced_state`
    declare theirs."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {REDUCTIONS}; received {reduction!r}.")
    record = declarations.get()
    if record is not None:
        for name in entries:
            record[name] = reduction
    return entries


def reduced_state(reduction, names, shape=(), dtype=None, like=None):
    """Entries ``names`` of ``shape`` and ``dtype`` (default: the accumulator
    dtype) holding :func:`identity`, declared to combine by ``reduction``,
    on the device of ``like``. A ``CONCATENATE`` entry starts with no rows:
    ``shape`` is then one row's (the entry is ``(0, *shape)``). Running sums
    take :func:`sum_state`, which keeps them compensated."""
    dtype = dtype or K.accumulator_dtype
    if reduction == CONCATENATE:
        shape = (0, *shape)
    value = identity(reduction, shape, dtype, like=like)
    return declare(reduction, {name: value for name in names})


# ---------------------------------------------------------------- running sums
def has_twin(dtype):
    """Whether a running sum of ``dtype`` keeps a compensation twin: every
    dtype but float64 (module docstring, "Layout of a running sum")."""
    return dtype != "float64"


def sum_entries(name, value):
    """The state entries of running sum ``name`` holding ``value`` (a tensor
    in the sum's dtype): ``{name: value}``, with a zero twin where
    :func:`has_twin` says so."""
    if not has_twin(K.dtype(value)):
        return {name: value}
    return {name: value, name + COMPENSATION: K.zeros_like(value)}


def conform_sums(state, keys):
    """``state`` (moved from a backend of another accumulator dtype) in the
    layout whose entries are ``keys``: a float twin ``keys`` has and
    ``state`` lacks starts at 0 (a float64 sum brought to float32), and a twin
    ``state`` has and ``keys`` lacks is folded into its sum (a float32 sum
    brought to float64, where it is exact)."""
    out = dict(state)
    for key in keys:
        name = key[: -len(COMPENSATION)]
        if key.endswith(COMPENSATION) and key not in out and name in out and K.dtype(out[name]).startswith("float"):
            out[key] = K.zeros_like(out[name])
    for key in state:
        name = key[: -len(COMPENSATION)]
        if key.endswith(COMPENSATION) and key not in keys and name in keys:
            out[name] = out[name] + K.cast(out.pop(key), K.dtype(out[name]))
    return out


def sum_state(names, shape=(), like=None):
    """Zeroed running sums ``names`` of ``shape`` in the accumulator dtype, on
    the device of ``like`` (with compensation twins where the accumulator is
    not float64)."""
    state = {}
    for name in names:
        # a tensor each, never one shared: a compiler guards on inputs that
        # alias (torch.compile would compile a compiled update twice, once for
        # the fresh state and once for every later one)
        state.update(sum_entries(name, K.zeros(shape, K.accumulator_dtype, like=like)))
    # a sum and its compensation are both added: the read (their sum) of the
    # combined state is the sum of the reads
    return declare(SUM, state)


def neumaier_add(total, compensation, value):
    """``(total + value, compensation + lost)`` where ``lost`` is the exact
    rounding error of ``total + value`` (Neumaier 1974; Higham, *Accuracy and
    Stability of Numerical Algorithms*, §4.3). Elementwise, so sums of any
    shape work; an infinite or NaN sum keeps a zero correction instead of NaN."""
    new = total + value
    # a finite sum has finite terms; zeroing the others keeps inf - inf (and
    # NumPy's warning about it) out of the correction
    finite = K.isfinite(new)
    # a Python 0.0 takes the tensor's dtype everywhere; a zeros_like per operand cost JAX a host-to-device
    # copy each (~60 us eagerly, most of a float32 state's update there)
    total, value, rounded = (K.where(finite, x, 0.0) for x in (total, value, new))
    lost = K.where(K.abs(total) >= K.abs(value), (total - rounded) + value, (value - rounded) + total)
    return new, compensation + lost


def add_increments(step, state, increments):
    """``increments`` added to their running sums of ``state`` by the
    compensated ``step`` (:func:`neumaier_add` or :func:`compensated_add`, as
    :func:`adder` picks). A float64 sum takes a plain addition (module
    docstring); a twin some foreign state gave it is kept as it is."""
    out = dict(state)
    for name, value in increments.items():
        total = state[name]
        dtype = K.dtype(total)
        if K.is_tensor(value):
            if K.dtype(value) != dtype:
                value = K.cast(value, dtype)
        else:
            value = K.convert_to_tensor(value, dtype=dtype, like=total)
        if not has_twin(dtype):
            out[name] = total + value
        else:
            out[name], out[name + COMPENSATION] = step(total, state[name + COMPENSATION], value)
    return out


def accumulate(state, **increments):
    """A new state with each ``increments[name]`` (a tensor or Python number)
    added to the running sum ``name`` of ``state``, by the active backend's
    :func:`adder`: the one compensated step of every metric."""
    return adder(dispatch.active(), tuple(increments))(state, increments)


def compensated_add(total, compensation, value):
    """:func:`neumaier_add` by Knuth's TwoSum: the same exact rounding error
    (so the same state, bit for bit) from six branch-free flops and one
    select, where Neumaier's branch on magnitudes plus its guard of the
    operands takes ~15 ops: about half the framework ops of an eager step.
    ``value`` must already have ``total``'s dtype. An infinite or NaN sum keeps
    a zero correction: TwoSum's error term is then NaN (inf - inf), and a
    non-finite error term is replaced by 0. NumPy (and the Array API libraries
    built on it) warns about that inf - inf, so its state keeps
    :func:`neumaier_add`."""
    new = total + value
    absorbed = new - total  # the part of value that made it into new
    lost = (total - (new - absorbed)) + (value - absorbed)
    return new, compensation + K.where(K.isfinite(lost), lost, 0.0)


#: backends whose compensated step runs as one fused kernel (``K.fused``):
#: JAX, where each eager op is a ~5 us dispatch and a jitted call of a few
#: scalars costs about one. TensorFlow's tf.function call costs ~170 us, more
#: than its ~10 eager ops of a TwoSum step, so it runs eagerly like PyTorch.
_FUSED_STEP = frozenset({"jax"})
#: backends that warn about the inf - inf of a TwoSum step on a non-finite
#: sum (NumPy, and the Array API adapter, whose libraries are mostly built on
#: it): they keep :func:`neumaier_add`, which never computes it
_GUARDED_STEP = frozenset({"numpy"})


def _guarded(backend):
    return backend.name in _GUARDED_STEP or backend.name.startswith("array_api")


# (backend name, increment names) -> adder(state, increments) -> state
_ADDERS: dict = {}


def adder(backend, names):
    """A function ``(state, increments) -> state`` adding ``increments`` (a
    dict over ``names``: tensors or Python numbers) to their running sums on
    ``backend``: one fused kernel on JAX, TwoSum eagerly on PyTorch,
    TensorFlow and MLX, Neumaier on NumPy. Made once per backend and set of
    names; every variant gives the same state bit for bit (a float64 sum is a
    plain addition in all of them: :func:`add_increments`)."""
    key = (backend.name, names)
    add_to = _ADDERS.get(key)
    if add_to is not None:
        return add_to
    if backend.name in _FUSED_STEP:

        def add_to(state, increments):
            # the kernel follows the layout of the sums in the state itself: whether a twin exists
            # follows the state's dtype (jax_enable_x64 when it was made), not the flag now
            keys = tuple(k for name in names for k in (name, name + COMPENSATION) if k in state)
            kernel = fused(_add_flat, names, keys, backend=backend)
            out = dict(state)
            out.update(zip(keys, kernel(*(state[k] for k in keys), *(increments[n] for n in names)), strict=True))
            return out

    else:
        # K bound to the backend itself: no facade lookup per op (lossbridge.k.bind)
        step = bind(neumaier_add if _guarded(backend) else compensated_add, backend)
        add = bind(add_increments, backend)

        def add_to(state, increments):
            return add(step, state, increments)

    _ADDERS[key] = add_to
    return add_to


def _add_flat(*arguments):
    """:func:`add_increments` (Neumaier's step) over flat tensors, as one
    fused kernel takes them: the state's entries ``keys`` (the sums ``names``
    and their twins, where the state has them), then the increments of
    ``names``; ``names`` and ``keys`` are the last two arguments."""
    *flat, names, keys = arguments
    state = dict(zip(keys, flat[: len(keys)], strict=True))
    increments = dict(zip(names, flat[len(keys) :], strict=True))
    out = add_increments(neumaier_add, state, increments)
    return tuple(out[k] for k in keys)


def read_sum(state, name):
    """The value of running sum ``name``: the sum plus its compensation where
    the state holds one (a float32 sum), the sum itself otherwise."""
    twin = name + COMPENSATION
    return state[name] + state[twin] if twin in state else state[name]


def merge_sums(state, other):
    """``state + other`` entry by entry; a compensated pair is added as such, so
    merging shards loses no more than updating one metric with all data."""
    return combine_states(state, other, {})


def combine_states(state, other, reductions):
    """The state of the union of the data behind ``state`` and ``other`` (two
    states of one layout): each entry combined as ``reductions`` declares
    (an entry it lacks is summed): ``SUM`` adds (a compensated pair as such,
    its rounding error kept; a float64 sum plainly, one rounding, as one more
    update would: module docstring), ``MIN`` / ``MAX`` elementwise, ``CONCATENATE``
    joins ``other``'s rows after ``state``'s. The one rule of ``merge``;
    ``_replicas`` applies it across replicas with the matching collectives."""
    out = {}
    for name, value in state.items():
        how = reductions.get(name) or SUM
        if how == MIN:
            out[name] = K.minimum(value, other[name])
        elif how == MAX:
            out[name] = K.maximum(value, other[name])
        elif how == CONCATENATE:
            out[name] = K.concatenate([value, other[name]], axis=0)
        elif name.endswith(COMPENSATION) and name[: -len(COMPENSATION)] in state:
            continue  # added with its sum
        elif name + COMPENSATION in state:
            compensation = state[name + COMPENSATION] + other[name + COMPENSATION]
            out[name], out[name + COMPENSATION] = neumaier_add(value, compensation, other[name])
        else:
            out[name] = value + other[name]
    return out
