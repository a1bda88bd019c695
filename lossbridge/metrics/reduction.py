"""Reduction metrics: ``Sum`` and ``Mean`` (the seed's worked example)."""

from __future__ import annotations

from ..k import K
from .base import Metric


class Sum(Metric):
    """Weighted sum of every value seen: ``sum(values * sample_weight)``."""

    input_names = ("values",)

    def initial_state(self, like):
        return {"total": K.zeros((), K.accumulator_dtype, like=like)}

    def update(self, state, values, sample_weight=None):
        values = K.ensure_float(values)
        if sample_weight is not None:
            values = values * K.cast(sample_weight, K.dtype(values))
        return {"total": state["total"] + K.cast(K.sum(values), K.dtype(state["total"]))}

    def compute(self, state):
        return state["total"]


class Mean(Metric):
    """Weighted mean of every value seen: ``sum(w * v) / sum(w)``; 0 before
    any update (Keras' ``divide_no_nan``).

    >>> m = Mean(); m([1, 3, 5, 7]); m([1, 3, 5, 7]); m([1, 1, 1, 1]); float(m([2, 2]))
    2.857142...
    """

    input_names = ("values",)

    def initial_state(self, like):
        zero = K.zeros((), K.accumulator_dtype, like=like)
        return {"total": zero, "count": zero}

    def update(self, state, values, sample_weight=None):
        values = K.ensure_float(values)
        acc = K.dtype(state["total"])
        if sample_weight is None:
            # a Python int: exact, and every framework adds it to a float tensor in its dtype
            total, count = K.sum(K.cast(values, acc)), _size(values)
        else:
            weight = K.cast(K.broadcast_to(K.cast(sample_weight, K.dtype(values)), K.shape(values)), acc)
            total, count = K.sum(K.cast(values, acc) * weight), K.sum(weight)
        return {"total": state["total"] + total, "count": state["count"] + count}

    def compute(self, state):
        count = state["count"]
        return K.where(count == 0, K.zeros_like(count), state["total"] / K.where(count == 0, K.ones_like(count), count))


def _size(x):
    size = 1
    for dim in K.shape(x):
        size *= dim
    return size
