"""Likelihood-based losses: cross-entropies, KL divergence, Poisson.

``from_logits=True`` paths are computed in log space (softplus,
log_softmax), so logits of any magnitude give finite values and gradients in
every float dtype; probability inputs are clipped away from 0 and 1 by an eps
that is representable in their dtype.
"""

from __future__ import annotations

from .. import dispatch
from ..k import K
from ..options import finite_number, one_axis, unit_interval
from .definition import mean_of_terms, sum_of_terms
from .loss import SUM_OVER_BATCH_SIZE, LossFunctionWrapper, passed_on
from .registry import register_loss

_LOGITS = {"from_logits": True}

# 1 - 1e-7 rounds to 1 in half precision and log(1 - p) becomes -inf; clip by
# the dtype's own spacing below 1 there instead.
_HALF_EPS = {"float16": 2.0**-11, "bfloat16": 2.0**-8}


def probability_eps(x):
    """The clip distance from 0 and 1 for probabilities of ``x``'s dtype."""
    return _HALF_EPS.get(K.dtype(x), K.epsilon())


@register_loss(
    per_sample=mean_of_terms,
    options={"label_smoothing": unit_interval, "axis": one_axis},
    aliases=("bce", "BCE"),
    examples=(
        "binary_probs",
        ("binary_logits", _LOGITS, "from_logits"),
        ("binary_probs", {"label_smoothing": 0.1}, "label_smoothing"),
    ),
)
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``mean(-(y log p + (1 - y) log(1 - p)), axis)``.

    With logits this is ``softplus(x) - y * x``, exact for any ``x``. Label
    smoothing squeezes targets towards 0.5: ``y * (1 - s) + s / 2``.
    """
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        return K.sigmoid_cross_entropy(y_true, y_pred)
    eps = probability_eps(y_pred)
    p = K.clip(y_pred, eps, 1.0 - eps)
    return -(y_true * K.log(p) + (1.0 - y_true) * K.log(1.0 - p))


class BinaryCrossentropy(LossFunctionWrapper, function=binary_crossentropy):
    """Binary cross-entropy, from probabilities or (exactly) from logits."""

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=SUM_OVER_BATCH_SIZE,
        name="binary_crossentropy",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


def _log_probabilities(y_pred, from_logits, axis):
    if from_logits:
        return K.log_softmax(y_pred, axis=axis)
    eps = probability_eps(y_pred)
    # Keras renormalises probabilities before the log
    p = y_pred / K.sum(y_pred, axis=axis, keepdims=True)
    return K.log(K.clip(p, eps, 1.0 - eps))


@register_loss(
    per_sample=-sum_of_terms,
    options={"label_smoothing": unit_interval, "axis": one_axis},
    examples=(
        "categorical_probs",
        ("categorical_logits", _LOGITS, "from_logits"),
        ("categorical_logits", {"from_logits": True, "label_smoothing": 0.1}, "label_smoothing"),
    ),
)
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``-sum(y_true * log_softmax(logits), axis)`` (or ``log p`` for
    probabilities). Shapes ``(..., C)`` one-hot or soft labels. Label
    smoothing: ``y * (1 - s) + s / C``."""
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / K.shape(y_pred)[axis]
    return y_true * _log_probabilities(y_pred, from_logits, axis)


class CategoricalCrossentropy(LossFunctionWrapper, function=categorical_crossentropy):
    """``-sum(y_true * log p)`` over one-hot or soft labels."""

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=SUM_OVER_BATCH_SIZE,
        name="categorical_crossentropy",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


@register_loss(
    aliases=("poly_loss_cross_entropy",),
    options={"epsilon": finite_number, "axis": one_axis},
    examples=("categorical_probs", ("categorical_logits", {"from_logits": True, "epsilon": -1.0}, "from_logits")),
)
def poly_crossentropy(y_true, y_pred, from_logits=False, epsilon=2.0, axis=-1):
    """Poly-1 cross-entropy: ``-sum(y * log p, axis) + epsilon * (1 - sum(y * p, axis))``.

    Cross-entropy with the first term of its Taylor series in ``(1 - p_t)``
    reweighted (Leng et al., "PolyLoss", ICLR 2022; optax's
    ``poly_loss_cross_entropy``, which takes logits). ``epsilon=0`` is
    ``categorical_crossentropy``; the paper uses 2 for ImageNet and -1 for
    detection. Shapes ``(..., C)`` one-hot or soft labels -> ``(...)``.
    """
    log_p = _log_probabilities(y_pred, from_logits, axis)
    p_true = K.sum(y_true * K.exp(log_p), axis=axis)
    return -K.sum(y_true * log_p, axis=axis) + epsilon * (1.0 - p_true)


class PolyCrossentropy(LossFunctionWrapper, function=poly_crossentropy):
    """Poly-1 cross-entropy over one-hot or soft labels (``poly_crossentropy``)."""

    def __init__(
        self,
        from_logits=False,
        epsilon=2.0,
        axis=-1,
        reduction=SUM_OVER_BATCH_SIZE,
        name="poly_crossentropy",
        dtype=None,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))


@register_loss(
    sparse=True,
    options={"label_smoothing": unit_interval, "axis": one_axis},
    examples=("sparse_probs", ("sparse_logits", _LOGITS, "from_logits")),
)
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1, label_smoothing=0.0):
    """``-log_softmax(logits)[label]`` along ``axis``.

    ``y_true`` holds integer class ids of shape ``y_pred.shape`` without
    ``axis`` (a trailing size-1 axis is accepted); ``ignore_class`` marks
    positions whose loss is 0. Label smoothing, which Keras lacks here, mixes
    in ``s / C`` of the uniform target as in the dense loss. A label outside
    ``[0, C)`` raises a ``ValueError`` eagerly; compiled, where nothing can
    raise, its sample's loss is NaN (never another class's loss).
    """
    pred_shape, true_shape = K.shape(y_pred), K.shape(y_true)
    class_axis = axis % len(pred_shape)
    num_classes = pred_shape[class_axis]
    if len(true_shape) == len(pred_shape) and true_shape[class_axis] == 1:
        y_true = K.squeeze(y_true, class_axis)
        true_shape = K.shape(y_true)
    if true_shape != pred_shape[:class_axis] + pred_shape[class_axis + 1 :]:
        raise _label_shape_error(y_true, y_pred, class_axis)
    labels = y_true
    if ignore_class is not None:
        valid = K.logical_not(K.equal(y_true, ignore_class))
        labels = K.where(valid, y_true, K.zeros_like(y_true))
    try:
        if from_logits and not label_smoothing:  # a fused kernel where the framework has one
            loss = K.sparse_softmax_cross_entropy(labels, y_pred, class_axis)
        else:
            log_prob = _log_probabilities(y_pred, from_logits, class_axis)
            loss = -K.pick_along_axis(log_prob, labels, class_axis)
    except IndexError:
        raise _label_out_of_range(y_true, num_classes, ignore_class) from None
    if label_smoothing:
        loss = (1.0 - label_smoothing) * loss - label_smoothing * K.mean(log_prob, axis=class_axis)
    if ignore_class is not None:
        loss = K.where(valid, loss, K.zeros_like(loss))
    return loss


class SparseCategoricalCrossentropy(LossFunctionWrapper, function=sparse_categorical_crossentropy):
    """Cross-entropy against integer class ids; ``ignore_class`` entries are
    masked out, so the default reduction averages over the kept ones only.
    ``label_smoothing`` (which Keras lacks here) mixes in a uniform target."""

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction=SUM_OVER_BATCH_SIZE,
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
        label_smoothing=0.0,
        compile=None,
        global_batch_size=None,
    ):
        super().__init__(**passed_on(locals()))
        self.ignore_class = ignore_class

    def compute_mask(self, y_true, y_pred, values):
        if self.ignore_class is None:
            return None
        return K.reshape(K.logical_not(K.equal(y_true, self.ignore_class)), K.shape(values))


def _label_shape_error(y_true, y_pred, class_axis):
    expected = K.shape(y_pred)[:class_axis] + K.shape(y_pred)[class_axis + 1 :]
    return ValueError(
        f"`y_true` must hold one class id per prediction, shape {expected} for y_pred of shape "
        f"{K.shape(y_pred)} with classes on axis {class_axis}; received {dispatch.describe(y_true)}."
    )


def _label_out_of_range(y_true, num_classes, ignore_class):
    labels = K.to_numpy(y_true)
    if ignore_class is not None:
        labels = labels[labels != ignore_class]
    bad = labels[(labels < 0) | (labels >= num_classes)][0]
    return ValueError(
        f"`y_true` holds class id {bad}, outside [0, {num_classes}) for y_pred with {num_classes} "
        "classes. Accepted: integer ids in that range, or the id given as `ignore_class`."
    )


@register_loss(
    per_sample=sum_of_terms,
    half_as_float32=True,
    aliases=("kld", "KLD", "kullback_leibler_divergence"),
    examples="distributions",
)
def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred), axis=-1)`` with both clipped to
    ``[eps, 1]``, as in Keras."""
    y_true = K.clip(y_true, K.epsilon(), 1.0)
    y_pred = K.clip(y_pred, K.epsilon(), 1.0)
    return y_true * K.log(y_true / y_pred)


class KLDivergence(LossFunctionWrapper, function=kl_divergence):
    """``sum(y_true * log(y_true / y_pred))`` with both clipped to [eps, 1]."""

    def __init__(
        self, reduction=SUM_OVER_BATCH_SIZE, name="kl_divergence", dtype=None, compile=None, global_batch_size=None
    ):
        super().__init__(**passed_on(locals()))


@register_loss(per_sample=mean_of_terms, half_as_float32=True, examples="counts")
def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + eps), axis=-1)``. Half-precision
    inputs are computed in float32: there eps = 1e-7 is a subnormal whose
    reciprocal overflows, and TensorFlow's gradient at a zero rate, 0 * inf,
    came out nan where the slope is 1."""
    return y_pred - y_true * K.log(y_pred + K.epsilon())


class Poisson(LossFunctionWrapper, function=poisson):
    """``mean(y_pred - y_true * log(y_pred + eps))`` over the last axis."""

    def __init__(self, reduction=SUM_OVER_BATCH_SIZE, name="poisson", dtype=None, compile=None, global_batch_size=None):
        super().__init__(**passed_on(locals()))


__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "KLDivergence",
    "Poisson",
    "PolyCrossentropy",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "kl_divergence",
    "poisson",
    "poly_crossentropy",
    "sparse_categorical_crossentropy",
]
