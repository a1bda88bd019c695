"""Robust regression: the Huber loss."""

from __future__ import annotations

from ..k import K
from ..options import non_negative
from .definition import mean_of_terms
from .loss import SUM_OVER_BATCH_SIZE, LossFunctionWrapper, passed_on
from .registry import register_loss


@register_loss(
    per_sample=mean_of_terms,
    options={"delta": non_negative},
    examples=("regression", ("regression", {"delta": 0.5}, "delta=0.5")),
)
def huber(y_true, y_pred, delta=1.0):
    """``mean(h(y_pred - y_true), axis=-1)`` with ``h(e) = e**2 / 2`` where
    ``|e| <= delta`` and ``delta * |e| - delta**2 / 2`` beyond: quadratic near
    0, linear (and so less swayed by outliers) far out (Huber, 1964).
    ``delta`` must be >= 0."""
    abs_error = K.abs(y_pred - y_true)
    # with q = min(|e|, delta), h = q**2 / 2 + delta * (|e| - q) is both branches
    # in one expression: no branch to select, no e**2 to overflow far out, and a
    # gradient of +-delta at |e| = inf (q * (|e| - q / 2), the same values, gave
    # JAX and MLX 0 * inf = nan there, through q's zero derivative)
    clipped = K.minimum(abs_error, delta)
    return 0.5 * K.square(clipped) + delta * (abs_error - clipped)


class Huber(LossFunctionWrapper, function=huber):
    """Quadratic within ``delta`` of the target, linear beyond (``delta >= 0``)."""

    def __init__(
        self,
        delta=1.0,
        reduction=SUM_OVER_BATCH_SIZE,
        name="huber_loss",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


__all__ = ["Huber", "huber"]
