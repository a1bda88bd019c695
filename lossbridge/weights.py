"""Sample weights, masks and the one safe division, shared by losses and
metrics.

Like :mod:`lossbridge.inputs`, every helper here takes the backend as its
first argument: the machinery passes the backend it resolved, a formula
passes ``K`` (the facade, or the backend itself where ``K`` is bound).
"""

from __future__ import annotations

import math

from .inputs import check_weight_shape, squeeze_or_expand

#: loss reductions that divide by the element count: a mask rescales weights for them
COUNTING_REDUCTIONS = ("sum_over_batch_size", "mean")


def divide_no_nan(backend, numerator, denominator):
    """``numerator / denominator``, and 0 where the denominator is 0 (a
    metric that saw no data reads 0, as in Keras), with finite gradients
    there: the division never sees the zero. A Python-number denominator
    (an exact count, ``RunningSums.host_readable``) divides directly."""
    if type(denominator) is float:
        return numerator / denominator if denominator else backend.zeros_like(numerator)
    # the tensor first in each where: a Python number there costs TensorFlow an
    # isinstance check against a Protocol (~17 us)
    nonzero = denominator != 0
    return backend.where(nonzero, numerator / backend.where(nonzero, denominator, 1.0), 0.0)


def match_ranks(backend, values, weights):
    """Keras' ``squeeze_or_expand_to_same_rank`` for ranks differing by a
    trailing 1, after the weight shape passed
    :func:`~lossbridge.inputs.check_weight_shape`; then lower-rank weights
    gain trailing axes, so that ``(N,)`` weighs whole samples of ``(N, T)``
    values."""
    check_weight_shape(backend.shape(weights), backend.shape(values), values)
    values, weights = squeeze_or_expand(backend, values, weights)
    value_shape, weight_shape = backend.shape(values), backend.shape(weights)
    if 0 < len(weight_shape) < len(value_shape):
        for _ in range(len(value_shape) - len(weight_shape)):
            weights = backend.expand_dims(weights, -1)
    return values, weights


def apply_mask(backend, sample_weight, mask, dtype, reduction="sum"):
    """Keras' ``apply_mask``: fold a boolean ``mask`` into ``sample_weight``
    (either may be None), in ``dtype``. Masked-out entries weigh 0. For the
    counting loss reductions (:data:`COUNTING_REDUCTIONS`) a kept entry
    weighs ``total / kept``, so that dividing by the element count divides by
    the kept count instead."""
    if backend.dtype(mask) != "bool":
        mask = backend.cast(mask, "bool")
    if reduction in COUNTING_REDUCTIONS:
        total = math.prod(backend.shape(mask))
        kept = backend.sum(backend.cast(mask, dtype))
        none_kept = backend.equal(kept, 0)
        weight = backend.where(none_kept, 0.0, total / backend.where(none_kept, 1.0, kept))
        float_mask = backend.where(mask, weight, 0.0)
    else:
        float_mask = backend.cast(mask, dtype)
    if sample_weight is None:
        return float_mask
    if backend.dtype(sample_weight) != dtype:
        sample_weight = backend.cast(sample_weight, dtype)
    float_mask, sample_weight = match_ranks(backend, float_mask, sample_weight)
    return sample_weight * float_mask
