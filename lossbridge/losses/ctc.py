"""Connectionist temporal classification (Graves et al., 2006) with Keras 3's
conventions: dense labels padded with 0, which is also the blank class."""

from __future__ import annotations

import math

from .. import dispatch
from ..inputs import within_classes
from ..k import K
from .loss import SUM_OVER_BATCH_SIZE, LossFunctionWrapper, passed_on
from .registry import register_loss

BLANK = 0


@register_loss(sparse=True, examples="ctc")
def ctc(y_true, y_pred):
    """``-log p(y_true | y_pred)`` per sample, summed over all alignments.

    ``y_true`` (N, L) integer labels in [1, C), padded at the end with 0;
    each label's length is its count of non-zero entries. ``y_pred``
    (N, T, C) logits (unnormalised; a log-softmax is applied), every sample
    using all T steps. Class 0 is the blank. Returns (N,); +inf where the
    labels cannot fit in T steps. A label outside ``[0, C)`` raises eagerly;
    compiled, where nothing can raise, its sample's loss is NaN.
    """
    labels = _checked_labels(y_true, y_pred)
    batch, steps, classes = K.shape(y_pred)
    invalid = None
    if labels is None:  # traced: the ids out of range, which raise eagerly, become the blank
        y_true, inside = within_classes(K, y_true, classes)
        invalid = K.logical_not(K.all(inside, axis=-1))
    label_length = K.sum(K.cast(K.logical_not(K.equal(y_true, BLANK)), "int32"), axis=-1)
    logit_length = K.ones((batch,), "int32", like=y_pred) * steps
    loss = K.ctc_loss(y_true, y_pred, label_length, logit_length, blank=BLANK)
    return loss if invalid is None else K.where(invalid, K.zeros_like(loss) + math.nan, loss)


class CTC(LossFunctionWrapper, function=ctc):
    """CTC of integer labels padded with 0 (the blank) against logits (N, T, C)."""

    def __init__(self, reduction=SUM_OVER_BATCH_SIZE, name="ctc", dtype=None, compile=None, global_batch_size=None):
        super().__init__(**passed_on(locals()))


def _checked_labels(y_true, y_pred):
    """The labels' values after checking shapes and range (None where they cannot be read: traced)."""
    true_shape, pred_shape = K.shape(y_true), K.shape(y_pred)
    if len(true_shape) != 2 or len(pred_shape) != 3 or true_shape[0] != pred_shape[0]:
        raise ValueError(
            "`y_true` must be integer labels of shape (batch, max_label_length) and `y_pred` logits of shape "
            f"(batch, time, classes); received y_true {dispatch.describe(y_true)}, y_pred {dispatch.describe(y_pred)}."
        )
    labels = K.host_values(y_true)
    classes = pred_shape[-1]
    if labels is not None and labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"`y_true` holds labels in [{labels.min()}, {labels.max()}], outside [0, {classes}) for y_pred with "
            f"{classes} classes. Accepted: ids 1 .. {classes - 1}, and 0 for padding (the blank)."
        )
    return labels


__all__ = ["CTC", "ctc"]
