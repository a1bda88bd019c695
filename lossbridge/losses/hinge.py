"""Maximum-margin losses. Labels are -1/+1; binary 0/1 labels are mapped to
-1/+1 first, as Keras does."""

from __future__ import annotations

from ..k import K
from .definition import mean_of_terms
from .loss import SUM_OVER_BATCH_SIZE, LossFunctionWrapper, passed_on
from .registry import register_loss

#: -1/+1 labels, and 0/1 labels (mapped to -1/+1 as in Keras)
_SIGNED = ("signed", ("binary_probs", {}, "0/1 labels"))


def _signed_labels(y_true):
    # Keras converts only when every label is 0 or 1; done without a Python
    # branch on the values so it traces under jit / compile.
    is_binary = K.all(K.logical_or(K.equal(y_true, 0), K.equal(y_true, 1)))
    return K.where(is_binary, 2.0 * y_true - 1.0, y_true)


@register_loss(per_sample=mean_of_terms, examples=_SIGNED)
def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)``."""
    return K.maximum(1.0 - _signed_labels(y_true) * y_pred, 0.0)


class Hinge(LossFunctionWrapper, function=hinge):
    """``mean(max(1 - y_true * y_pred, 0))``; 0/1 labels are mapped to -1/+1."""

    def __init__(self, reduction=SUM_OVER_BATCH_SIZE, name="hinge", dtype=None, compile=None, global_batch_size=None):
        super().__init__(**passed_on(locals()))


@register_loss(per_sample=mean_of_terms, examples=_SIGNED)
def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0)**2, axis=-1)``."""
    return K.square(K.maximum(1.0 - _signed_labels(y_true) * y_pred, 0.0))


class SquaredHinge(LossFunctionWrapper, function=squared_hinge):
    """``mean(max(1 - y_true * y_pred, 0)**2)``; 0/1 labels are mapped to -1/+1."""

    def __init__(
        self, reduction=SUM_OVER_BATCH_SIZE, name="squared_hinge", dtype=None, compile=None, global_batch_size=None
    ):
        super().__init__(**passed_on(locals()))


@register_loss(examples="categorical_scores")
def categorical_hinge(y_true, y_pred):
    """``max(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)`` and
    ``neg = max((1 - y_true) * y_pred)`` over the last axis; one-hot labels."""
    pos = K.sum(y_true * y_pred, axis=-1)
    neg = K.max((1.0 - y_true) * y_pred, axis=-1)
    return K.maximum(neg - pos + 1.0, 0.0)


class CategoricalHinge(LossFunctionWrapper, function=categorical_hinge):
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``."""

    def __init__(
        self, reduction=SUM_OVER_BATCH_SIZE, name="categorical_hinge", dtype=None, compile=None, global_batch_size=None
    ):
        super().__init__(**passed_on(locals()))


__all__ = ["CategoricalHinge", "Hinge", "SquaredHinge", "categorical_hinge", "hinge", "squared_hinge"]
