"""Maximum-margin losses. Labels are -1/+1; binary 0/1 labels are mapped to
-1/+1 first, as Keras does."""

from __future__ import annotations

from ..k import K
from ._bridge import loss_function


def _signed_labels(y_true):
    # Keras converts only when every label is 0 or 1; done without a Python
    # branch on the values so it traces under jit / compile.
    is_binary = K.all(K.logical_or(K.equal(y_true, 0), K.equal(y_true, 1)))
    return K.where(is_binary, 2.0 * y_true - 1.0, y_true)


@loss_function(reduce="mean")
def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)``."""
    return K.maximum(1.0 - _signed_labels(y_true) * y_pred, 0.0)


@loss_function(reduce="mean")
def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0)**2, axis=-1)``."""
    return K.square(K.maximum(1.0 - _signed_labels(y_true) * y_pred, 0.0))


@loss_function
def categorical_hinge(y_true, y_pred):
    """``max(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)`` and
    ``neg = max((1 - y_true) * y_pred)`` over the last axis; one-hot labels."""
    pos = K.sum(y_true * y_pred, axis=-1)
    neg = K.max((1.0 - y_true) * y_pred, axis=-1)
    return K.maximum(neg - pos + 1.0, 0.0)
