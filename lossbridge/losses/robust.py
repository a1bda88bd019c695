"""Robust regression: the Huber loss."""

from __future__ import annotations

from ..k import K
from ..options import non_negative
from ._bridge import loss_function


@loss_function(reduce="mean", options={"delta": non_negative})
def huber(y_true, y_pred, delta=1.0):
    """``mean(h(y_pred - y_true), axis=-1)`` with ``h(e) = e**2 / 2`` where
    ``|e| <= delta`` and ``delta * |e| - delta**2 / 2`` beyond: quadratic near
    0, linear (and so less swayed by outliers) far out (Huber, 1964).
    ``delta`` must be >= 0."""
    abs_error = K.abs(y_pred - y_true)
    # with q = min(|e|, delta), h = q * (|e| - q / 2) is both branches in one
    # expression: no branch to select, and no e**2 to overflow far out
    clipped = K.minimum(abs_error, delta)
    return clipped * (abs_error - 0.5 * clipped)
