"""Overlap losses for segmentation: Dice and Tversky.

Both compare soft masks over ``axis`` (None: the whole batch, giving one
scalar) and add ``epsilon()`` to the denominator so empty masks give 1, not
NaN, as in Keras.
"""

from __future__ import annotations

from ..k import K
from ..options import axes, non_negative
from .loss import SUM_OVER_BATCH_SIZE, LossFunctionWrapper, passed_on
from .registry import register_loss


#: half precision is computed in float32: the sums run over whole masks (axis=None: the batch), and float16
#: ends at 65504, so two 256 x 256 masks of mean 0.5 overflowed, and the Dice loss came out 1.0 (Keras 3 too)
@register_loss(options={"axis": axes}, half_as_float32=True, examples="binary_probs")
def dice(y_true, y_pred, axis=None):
    """``1 - 2 sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + eps)`` over
    ``axis`` (Milletari et al., 2016, V-Net); half precision computed in
    float32 and rounded back."""
    overlap = K.sum(y_true * y_pred, axis=axis)
    return 1.0 - 2.0 * overlap / (K.sum(y_true, axis=axis) + K.sum(y_pred, axis=axis) + K.epsilon())


class Dice(LossFunctionWrapper, function=dice):
    """``1 - 2 |y_true * y_pred| / (|y_true| + |y_pred|)`` over ``axis``."""

    def __init__(
        self, reduction=SUM_OVER_BATCH_SIZE, name="dice", axis=None, dtype=None, compile=None, global_batch_size=None
    ):
        super().__init__(**passed_on(locals()))


@register_loss(
    options={"alpha": non_negative, "beta": non_negative, "axis": axes}, half_as_float32=True, examples="binary_probs"
)
def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """``1 - TP / (TP + alpha * A + beta * B + eps)`` over ``axis`` with
    ``TP = sum(y_true * y_pred)``, ``A = sum(y_true * (1 - y_pred))`` and
    ``B = sum(y_pred * (1 - y_true))`` (Salehi et al., 2017). The roles of
    ``alpha`` and ``beta`` are Keras 3's: ``alpha`` weighs the missed
    positives ``A``. ``alpha = beta = 0.5`` gives the Dice loss. Half
    precision is computed in float32, as for :func:`dice`."""
    overlap = K.sum(y_true * y_pred, axis=axis)
    missed = K.sum((1.0 - y_pred) * y_true, axis=axis)
    spurious = K.sum(y_pred * (1.0 - y_true), axis=axis)
    return 1.0 - overlap / (overlap + missed * alpha + spurious * beta + K.epsilon())


class Tversky(LossFunctionWrapper, function=tversky):
    """Dice with the two kinds of error weighted by ``alpha`` and ``beta``."""

    def __init__(
        self,
        alpha=0.5,
        beta=0.5,
        reduction=SUM_OVER_BATCH_SIZE,
        name="tversky",
        axis=None,
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


__all__ = ["Dice", "Tversky", "dice", "tversky"]
