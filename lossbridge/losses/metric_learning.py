"""Metric-learning losses on embeddings: the Circle loss."""

from __future__ import annotations

from .. import dispatch
from ..k import K
from ..options import non_negative
from .loss import SUM_OVER_BATCH_SIZE, LossFunctionWrapper, passed_on
from .registry import register_loss

# Masked similarities enter the log-sum-exp as a large negative number rather
# than -inf: an anchor without positives then has zero gradient, not NaN.
_FLOOR = {"float16": -3.0e4}
_DEFAULT_FLOOR = -1.0e30


@register_loss(
    sparse=True, options={"gamma": non_negative, "margin": non_negative}, examples="embeddings", couples_samples=True
)
def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80.0, margin=0.4):
    """Circle loss (Sun et al., CVPR 2020) per anchor, for integer labels
    ``y_true`` (N,) and L2-normalised embeddings ``y_pred`` (N, D), against
    ``ref_embeddings`` (M, D) with ``ref_labels`` (M,) (default: the batch).

    With cosine distance ``d = max(1 - y_pred @ ref.T, 0)``:
    ``softplus(lse_pos(-gamma * a_p * (m - d)) + lse_neg(gamma * a_n * (1 - m - d)))``,
    ``a_p = max(m + d, 0)`` over same-label pairs (self-pairs removed when
    ``remove_diagonal``), ``a_n = max(1 + m - d, 0)`` over the others.
    """
    labels = K.reshape(y_true, (-1,))
    ref_embeddings = y_pred if ref_embeddings is None else _on_active(ref_embeddings, y_pred, "ref_embeddings")
    if ref_labels is None:
        ref_labels = labels
    else:
        ref_labels = K.reshape(K.cast(_on_active(ref_labels, y_pred, "ref_labels"), K.dtype(labels)), (-1,))
    distances = K.maximum(1.0 - K.matmul(y_pred, K.transpose(ref_embeddings)), 0.0)
    positive = K.equal(K.expand_dims(labels, 1), K.expand_dims(ref_labels, 0))
    negative = K.logical_not(positive)
    if remove_diagonal:
        rows, cols = K.shape(distances)
        same = K.equal(K.expand_dims(K.arange(rows, like=y_pred), 1), K.expand_dims(K.arange(cols, like=y_pred), 0))
        positive = K.logical_and(positive, K.logical_not(same))
    pos_weights = K.maximum((margin + distances) * K.cast(positive, K.dtype(distances)), 0.0)
    neg_weights = K.maximum(((1.0 + margin) - distances) * K.cast(negative, K.dtype(distances)), 0.0)
    pos_logits = -gamma * pos_weights * (margin - distances)
    neg_logits = gamma * neg_weights * ((1.0 - margin) - distances)
    floor = _FLOOR.get(K.dtype(distances), _DEFAULT_FLOOR)
    pos_term = K.logsumexp(K.where(positive, pos_logits, floor), axis=1)
    neg_term = K.logsumexp(K.where(negative, neg_logits, floor), axis=1)
    return K.softplus(pos_term + neg_term)


class Circle(LossFunctionWrapper, function=circle):
    """Circle loss of integer labels and L2-normalised embeddings; anchors
    with a zero loss are masked out of the default reduction, as in Keras."""

    def __init__(
        self,
        gamma=80.0,
        margin=0.4,
        remove_diagonal=True,
        reduction=SUM_OVER_BATCH_SIZE,
        name="circle",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))

    def compute_mask(self, y_true, y_pred, values):
        return values > 0


def _on_active(x, like, argument):
    """An extra input brought to the backend of the call in progress."""
    backend = dispatch.active()
    source = dispatch.owner(x, argument)
    if source is backend:
        return x
    if source is None:
        return backend.convert_to_tensor(dispatch.to_numpy_weak(x, argument), like=like)
    return backend.from_foreign(x, source)


__all__ = ["Circle", "circle"]
