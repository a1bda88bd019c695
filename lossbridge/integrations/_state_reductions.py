"""How each state entry of a metric combines across processes, for the
bridges that hold lossbridge state in another library's storage and must say
how it is reduced (torchmetrics' ``dist_reduce_fx``, Keras' variable
``aggregation``). NumPy only.

A lossbridge metric declares it where its ``initial_state`` creates each
entry (``sum_state``, ``reduced_state``, ``declare``), and
``Metric.state_reductions`` reads those declarations: that is the answer.
Only a user metric that overrides ``merge`` and declares nothing (or whose
``initial_state`` needs data) has its reductions read from the merge itself,
by merging two probe states.
"""

from __future__ import annotations

import numpy as np

from ..metrics.base import COMPENSATION

REDUCTIONS = ("sum", "min", "max")


def _probe_states(metric, rng):
    """Two random NumPy states of ``metric``'s empty-state layout: positive
    integral values (exact in every dtype, so a sum, min or max reads exactly)."""
    empty = {k: np.asarray(v) for k, v in metric.stateless_initial_state(np.zeros((1, 1), "float32")).items()}
    return [
        {key: rng.integers(1, 1000, size=value.shape).astype(value.dtype) for key, value in empty.items()}
        for _ in range(2)
    ]


def _read(state, key):
    """The value an entry stands for: a compensated total reads with its twin
    (a float64 total has none: ``lossbridge.metrics._state``)."""
    twin = key + COMPENSATION
    return state[key] + state[twin] if twin in state else state[key]


def merge_reductions(metric, target, hint, backend=None):
    """``{state entry: "sum" | "min" | "max"}``: how ``metric`` combines each
    entry, as it declares (``Metric.state_reductions``), or for a user metric
    with its own ``merge`` and no declarations, as that merge does on two
    probe states (a compensation twin then takes its total's reduction, which
    must be ``"sum"``). ``backend``: the lossbridge backend the state will
    live on (its accumulator dtype decides which sums have twins). Raises
    ``TypeError`` naming the metric, the entry, ``target`` (what the
    reductions are for) and ``hint`` (the caller's way out) when an entry
    combines by none of these (a concatenation)."""
    try:
        declared = metric.state_reductions(backend)
    except TypeError:  # merges its own way and declares nothing: read the merge
        return _probed_reductions(metric, target, hint)
    for key, how in declared.items():
        if how not in REDUCTIONS:
            raise TypeError(
                f"{type(metric).__name__} declares state entry {key!r} combined by {how!r}, none of "
                f"{REDUCTIONS}, so it cannot be expressed as {target}; {hint}."
            )
    return declared


def _probed_reductions(metric, target, hint):
    """``merge_reductions`` read from ``metric.merge`` on two probe states."""
    first, second = _probe_states(metric, np.random.default_rng(0))
    merged = {k: np.asarray(v) for k, v in metric.stateless_merge_state(first, second).items()}
    candidates = {"sum": np.add, "min": np.minimum, "max": np.maximum}
    found = {}
    for key in first:
        if key.endswith(COMPENSATION) and key[: -len(COMPENSATION)] in first:
            continue
        read = [_read(s, key) for s in (first, second, merged)]
        match = [
            name
            for name, fn in candidates.items()
            if read[2].shape == read[0].shape and np.array_equal(read[2], fn(read[0], read[1]))
        ]
        if key + COMPENSATION in first:
            match = [m for m in match if m == "sum"]
        if not match:
            raise TypeError(
                f"{type(metric).__name__}.merge combines state entry {key!r} by none of {REDUCTIONS} "
                f"(checked on two probe states), so it cannot be expressed as {target}; {hint}."
            )
        found[key] = match[0]
        if key + COMPENSATION in first:
            found[key + COMPENSATION] = "sum"
    return found
