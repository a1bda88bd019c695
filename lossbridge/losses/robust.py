"""Robust regression: the Huber loss."""

from __future__ import annotations

from ..k import K
from ._bridge import loss_function
from ._options import check_non_negative


@loss_function
def huber(y_true, y_pred, delta=1.0):
    """``mean(h(y_pred - y_true), axis=-1)`` with ``h(e) = e**2 / 2`` where
    ``|e| <= delta`` and ``delta * |e| - delta**2 / 2`` beyond: quadratic near
    0, linear (and so less swayed by outliers) far out (Huber, 1964).
    ``delta`` must be >= 0."""
    check_non_negative("delta", delta)
    error = y_pred - y_true
    abs_error = K.abs(error)
    quadratic = 0.5 * K.square(error)
    linear = delta * abs_error - 0.5 * delta**2
    return K.mean(K.where(abs_error <= delta, quadratic, linear), axis=-1)
