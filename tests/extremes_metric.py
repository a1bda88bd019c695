"""A test metric with a state entry of every reduction (sum, min, max,
concatenate), for merge and sync tests, and its float64 NumPy reference."""

from __future__ import annotations

import numpy as np

from lossbridge import K
from lossbridge.metrics.base import CONCATENATE, MAX, MIN, Metric, read_sum, reduced_state, sum_state


class Extremes(Metric):
    """A test metric with an entry of each reduction: the smallest and the
    largest value, every value seen (and its id, x10 rounded) in order, and
    their count. Its result, ``[min, max, sum_i i * seen_i, count,
    sum_i i * id_i]``, depends on the order of concatenation."""

    input_names = ("values",)

    def initial_state(self, like):
        return {
            **reduced_state(MIN, ("smallest",), like=like),
            **reduced_state(MAX, ("largest",), like=like),
            **reduced_state(CONCATENATE, ("seen",), like=like),
            **reduced_state(CONCATENATE, ("ids",), dtype="int32", like=like),
            **sum_state(("count",), like=like),
        }

    def update(self, state, values, sample_weight=None):
        values = K.cast(K.reshape(values, (-1,)), K.accumulator_dtype)
        if K.shape(values)[0] == 0:
            return state
        return {
            **state,
            "smallest": K.minimum(state["smallest"], K.min(values)),
            "largest": K.maximum(state["largest"], K.max(values)),
            "seen": K.concatenate([state["seen"], values], axis=0),
            "ids": K.concatenate([state["ids"], K.cast(values * 10.0, "int32")], axis=0),
            "count": state["count"] + float(K.shape(values)[0]),  # a float32 count's twin stays in **state
        }

    def compute(self, state):
        seen, ids = state["seen"], K.cast(state["ids"], K.accumulator_dtype)
        position = K.cumsum(K.ones_like(seen)) - 1.0  # 0, 1, ...: also where a graph knows no static length
        return K.stack(
            [
                state["smallest"],
                state["largest"],
                K.sum(seen * position),
                read_sum(state, "count"),
                K.sum(ids * position),
            ]
        )


def ref_extremes(values):
    """Extremes' result, in float64 NumPy."""
    values = np.ravel(values).astype(np.float64)
    position = np.arange(values.size)
    if not values.size:
        return np.array([np.inf, -np.inf, 0.0, 0.0, 0.0])
    ids = (values * 10.0).astype(np.int32)
    return np.array([values.min(), values.max(), np.sum(values * position), values.size, np.sum(ids * position)])
