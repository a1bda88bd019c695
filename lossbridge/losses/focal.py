"""Focal cross-entropies (Lin et al., 2017) and the generalized cross-entropy
(Zhang & Sabuncu, 2018).

Focal losses scale the cross-entropy of each prediction by ``(1 - p_t)**gamma``
so that confident, correct predictions weigh little. From logits, ``log p`` and
``log(1 - p)`` come from ``softplus`` / ``log_softmax`` (never ``log`` of a
rounded probability), so logits of any size give exact, finite values and
gradients in every float dtype; probabilities are clipped as in Keras.
"""

from __future__ import annotations

from .. import dispatch
from ..k import K
from ..options import alpha_per_class, non_negative, one_axis, open_unit_interval, unit_interval
from .definition import mean_of_terms, sum_of_terms
from .loss import SUM_OVER_BATCH_SIZE, LossFunctionWrapper, passed_on
from .probabilistic import probability_eps
from .registry import register_loss

_LOGITS = {"from_logits": True}


def _clipped(y_pred):
    eps = probability_eps(y_pred)
    return K.clip(y_pred, eps, 1.0 - eps)


@register_loss(
    per_sample=mean_of_terms,
    options={"alpha": unit_interval, "gamma": non_negative, "label_smoothing": unit_interval, "axis": one_axis},
    examples=("binary_probs", ("binary_logits", _LOGITS, "from_logits")),
)
def binary_focal_crossentropy(
    y_true,
    y_pred,
    apply_class_balancing=False,
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
    axis=-1,
):
    """``mean(w * (1 - p_t)**gamma * bce, axis)`` with ``p_t = y p + (1 - y)(1 - p)``,
    ``bce = -(y log p + (1 - y) log(1 - p))`` and, when ``apply_class_balancing``,
    ``w = y alpha + (1 - y)(1 - alpha)`` (else 1). Label smoothing squeezes
    targets towards 0.5. From logits ``x``: ``bce = softplus(x) - y x`` and
    ``1 - p_t = y sigmoid(-x) + (1 - y) sigmoid(x)``."""
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        # sigmoid(-x) = exp(-softplus(x)) reuses the softplus (exact where it
        # is small, gradient -sigmoid(x) sigmoid(-x) without cancellation)
        softplus = K.softplus(y_pred)
        bce = softplus - y_true * y_pred
        miss = y_true * K.exp(-softplus) + (1.0 - y_true) * K.sigmoid(y_pred)
    else:
        p = _clipped(y_pred)
        bce = -(y_true * K.log(p) + (1.0 - y_true) * K.log(1.0 - p))
        miss = 1.0 - (y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred))
    focal = K.power(miss, gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return focal


class BinaryFocalCrossentropy(LossFunctionWrapper, function=binary_focal_crossentropy):
    """Binary cross-entropy scaled by ``(1 - p_t)**gamma`` (and ``alpha`` balancing)."""

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=SUM_OVER_BATCH_SIZE,
        name="binary_focal_crossentropy",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


@register_loss(
    per_sample=-sum_of_terms,
    options={"alpha": alpha_per_class, "gamma": non_negative, "label_smoothing": unit_interval, "axis": one_axis},
    examples=("categorical_probs", ("categorical_logits", _LOGITS, "from_logits")),
)
def categorical_focal_crossentropy(
    y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1
):
    """``sum(alpha * (1 - p)**gamma * (-y_true * log p), axis)`` over one-hot
    or soft labels; ``alpha`` a number or one per class. Probabilities are
    renormalised and clipped as in Keras; logits go through ``log_softmax``.
    Label smoothing: ``y * (1 - s) + s / C``."""
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / K.shape(y_pred)[axis]
    if from_logits:
        log_p = K.log_softmax(y_pred, axis=axis)
        p = K.exp(log_p)
    else:
        p = _clipped(y_pred / K.sum(y_pred, axis=axis, keepdims=True))
        log_p = K.log(p)
    if isinstance(alpha, (list, tuple)):
        alpha = _per_class(alpha, y_pred, axis)
    return K.power(1.0 - p, gamma) * alpha * (y_true * log_p)


class CategoricalFocalCrossentropy(LossFunctionWrapper, function=categorical_focal_crossentropy):
    """Categorical cross-entropy scaled by ``alpha * (1 - p)**gamma`` per class."""

    def __init__(
        self,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=SUM_OVER_BATCH_SIZE,
        name="categorical_focal_crossentropy",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


def _per_class(alpha, y_pred, axis):
    """One weight per class, shaped to broadcast along ``axis``."""
    shape = [1] * len(K.shape(y_pred))
    shape[axis] = len(alpha)
    if K.shape(y_pred)[axis] != len(alpha):
        raise ValueError(
            f"`alpha` holds {len(alpha)} per-class weights but y_pred {dispatch.describe(y_pred)} has "
            f"{K.shape(y_pred)[axis]} classes on axis {axis}. Accepted: a number, or one weight per class."
        )
    return K.reshape(K.convert_to_tensor([float(a) for a in alpha], dtype=K.dtype(y_pred), like=y_pred), shape)


@register_loss(sparse=True, options={"q": open_unit_interval}, examples=(("sparse_probs", {"q": 0.5}, ""),))
def categorical_generalized_cross_entropy(y_true, y_pred, q=0.5):
    """``(1 - p**q) / q`` with ``p`` the probability of the true class:
    ``y_true`` (N,) or (N, 1) integer ids, ``y_pred`` (N, C) probabilities.
    ``q -> 0`` approaches the cross-entropy, ``q = 1`` the mean absolute
    error; ``q`` must lie in (0, 1)."""
    if len(K.shape(y_true)) == len(K.shape(y_pred)) and K.shape(y_true)[-1] == 1:
        y_true = K.squeeze(y_true, -1)
    if K.shape(y_true) != K.shape(y_pred)[:-1]:
        raise ValueError(
            f"`y_true` must hold one class id per sample, shape {K.shape(y_pred)[:-1]} for y_pred "
            f"{dispatch.describe(y_pred)}; received {dispatch.describe(y_true)}."
        )
    try:
        p = K.pick_along_axis(y_pred, y_true, -1)
    except IndexError:
        labels, classes = K.to_numpy(y_true), K.shape(y_pred)[-1]
        raise ValueError(
            f"`y_true` holds class ids in [{labels.min()}, {labels.max()}], outside [0, {classes}) for "
            f"y_pred with {classes} classes. Accepted: integer ids 0 .. {classes - 1}."
        ) from None
    return (1.0 - K.power(p, q)) / q


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper, function=categorical_generalized_cross_entropy):
    """``(1 - p**q) / q`` of the true class's probability, ``q`` in (0, 1)."""

    def __init__(
        self,
        q=0.5,
        reduction=SUM_OVER_BATCH_SIZE,
        name="categorical_generalized_cross_entropy",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


__all__ = [
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalGeneralizedCrossEntropy",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
]
