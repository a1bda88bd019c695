"""Reduction metrics: ``Sum`` and ``Mean``.

Both follow Keras 3's rules for ``values`` and ``sample_weight`` exactly:

* a weight whose rank differs from the values' by a trailing 1 is squeezed (or
  the values are expanded), then the values are reduced over the axes the
  weight lacks, the weight is broadcast to them and multiplied in;
* values are then reduced to one number per sample (axis 0), and ``Mean``
  counts samples: the batch size without weights, the (per-sample mean of the)
  weights with them. A 0-d weight makes the whole batch one sample.

So ``Mean`` of ``[[1, 2], [3, 4]]`` averages the two row means, and a weight of
``[[1, 0], [1, 1]]`` counts the first row as half a sample.

Keras also reads a mask that its layers attach to tensors (``_keras_mask``);
framework tensors carry no such thing, so a mask is passed as (a factor of)
``sample_weight``: :func:`lossbridge.weights.apply_mask` folds one in with
Keras' rule.
"""

from __future__ import annotations

import math

from ..backends.base import FULL_FLOAT_DTYPES
from ..inputs import check_weight_shape, squeeze_or_expand
from ..k import K
from ..weights import divide_no_nan
from .base import accumulate, read_sum
from .running_sums import RunningSums, derives_from_increments


def samplewise(values, sample_weight, reduce):
    """``(per-sample values, per-sample weights)``: Keras'
    ``reduce_to_samplewise_values``. ``values`` are already floats
    (:func:`batch_float`); weights are cast to their dtype. ``reduce`` is
    ``K.mean`` for ``Mean`` and ``K.sum`` for ``Sum``. Shapes: values ``(B, ...)`` become
    ``(B,)`` (a 0-d value stays 0-d); weights become ``(B,)`` or 0-d."""
    if sample_weight is not None:
        sample_weight = K.cast(sample_weight, K.dtype(values))
        check_weight_shape(K.shape(sample_weight), K.shape(values), values)
        values, sample_weight = squeeze_or_expand(K, values, sample_weight)
        rank_w, rank_v = len(K.shape(sample_weight)), len(K.shape(values))
        if rank_v > rank_w:
            values = reduce(values, axis=tuple(range(rank_w, rank_v)))
        sample_weight = K.broadcast_to(sample_weight, K.shape(values))
        values = values * sample_weight
        if rank_w > 1:
            sample_weight = reduce(sample_weight, axis=tuple(range(1, rank_w)))
    rank_v = len(K.shape(values))
    if rank_v > 1:
        values = reduce(values, axis=tuple(range(1, rank_v)))
    return values, sample_weight


def batch_size(values):
    """The length of axis 0 (1 for a 0-d value): a Python int when the shape
    is static (exact, and traced as a constant), else counted on the device."""
    shape = K.shape(values)
    if not shape:
        return 1
    if shape[0] is not None:
        return shape[0]
    return K.sum(K.ones_like(values))


def batch_float(x):
    """``x`` as the floats one batch is reduced in: float32 and float64 as
    they are (a float32 batch sum errs by ~1e-7 of that batch, and only its
    scalar enters the compensated running sum), everything else (bool, int,
    half precision, whose sums overflow) in the accumulator dtype."""
    return x if K.dtype(x) in FULL_FLOAT_DTYPES else K.cast(x, K.accumulator_dtype)


class Sum(RunningSums):
    """Weighted sum of every value seen: ``sum(values * sample_weight)``.

    >>> float(Sum()([1, 3, 5, 7], sample_weight=[1, 1, 0, 0]))
    4.0
    """

    examples = "values"
    input_names = ("values",)
    sums = ("total",)

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def increments(self, values, sample_weight=None):
        values = batch_float(values)
        if sample_weight is not None:  # unweighted, the sum of per-sample sums is one reduction of all values
            values, _ = samplewise(values, sample_weight, K.sum)
        return {"total": K.sum(values)}

    def compute(self, state):
        return read_sum(state, "total")


class Mean(RunningSums):
    """Weighted mean of every sample seen: ``sum(w * v) / sum(w)`` over
    per-sample values (module docstring); 0 before any update (Keras'
    ``divide_no_nan``).

    >>> m = Mean(); m([1, 3, 5, 7]); m([1, 3, 5, 7]); m([1, 1, 1, 1]); float(m([2, 2]))
    2.857142...
    """

    examples = "values"
    input_names = ("values",)
    sums = ("total", "count")
    host_readable = ("count",)  # compute divides by it (divide_no_nan takes a Python number)

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def increments(self, values, sample_weight=None):
        """``{"total": sum of per-sample values * weights, "count": the
        samples' weight}`` of one batch; the count is the batch size, a
        Python int, where the shape is static and no weight is given."""
        values = batch_float(values)
        if sample_weight is None:
            shape = K.shape(values)
            if len(shape) > 1 and None not in shape and 0 not in shape[1:]:
                # per-sample means of equal-length rows sum to the sum of all values over the row length: one
                # reduction, where a mean per sample first costs torch about a full pass over short rows
                return {"total": K.scale(K.sum(values), 1.0 / math.prod(shape[1:])), "count": shape[0]}
        values, sample_weight = samplewise(values, sample_weight, K.mean)
        if sample_weight is not None:
            count = K.sum(sample_weight)
        else:
            count = batch_size(values)
        return {"total": K.sum(values), "count": count}

    @derives_from_increments
    def update(self, state, *inputs, sample_weight=None):
        """``RunningSums.update``; and, called as ``Mean.update(self, state,
        values)`` by a subclass with other inputs that computed per-sample
        ``values`` itself (the pattern before ``increments`` existed), Mean's
        own increments of those values."""
        if len(inputs) != len(self.input_names):
            return accumulate(state, **Mean.increments(self, *inputs, sample_weight=sample_weight))
        return accumulate(state, **self.increments(*inputs, sample_weight=sample_weight))

    def compute(self, state):
        return divide_no_nan(K, read_sum(state, "total"), read_sum(state, "count"))


__all__ = [
    "Mean",
    "Sum",
]
