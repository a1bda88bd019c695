"""The Keras 3 loss classes: each binds its function's options once and is
called as ``loss(y_true, y_pred, sample_weight=None)`` on any backend.

Names, arguments, defaults and default ``name`` strings follow
``keras.losses``; every class also takes ``compile``. Configs hold every
option (Keras leaves some out, e.g. Huber's ``delta``), so a round trip
through ``get_config`` / ``from_config`` rebuilds the same loss.
"""

from __future__ import annotations

from ..k import K
from .ctc import ctc
from .focal import binary_focal_crossentropy, categorical_focal_crossentropy, categorical_generalized_cross_entropy
from .hinge import categorical_hinge, hinge, squared_hinge
from .loss import Loss, LossFunctionWrapper
from .metric_learning import circle
from .probabilistic import (
    binary_crossentropy,
    categorical_crossentropy,
    kl_divergence,
    poisson,
    sparse_categorical_crossentropy,
)
from .regression import (
    cosine_similarity,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
)
from .robust import huber
from .segmentation import dice, tversky

_SUM = "sum_over_batch_size"


class _Catalogue(LossFunctionWrapper):
    """A built-in loss: its config is its options, its function implied."""

    def get_config(self):
        return {**Loss.get_config(self), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    __repr__ = Loss.__repr__


# ---------------------------------------------------------------- regression
class MeanSquaredError(_Catalogue):
    """``mean((y_true - y_pred)**2)`` over the last axis, then reduced."""

    def __init__(self, reduction=_SUM, name="mean_squared_error", dtype=None, compile=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype, compile=compile)


class MeanAbsoluteError(_Catalogue):
    """``mean(|y_true - y_pred|)`` over the last axis, then reduced."""

    def __init__(self, reduction=_SUM, name="mean_absolute_error", dtype=None, compile=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype, compile=compile)


class MeanAbsolutePercentageError(_Catalogue):
    """``100 * mean(|(y_true - y_pred) / y_true|)`` over the last axis."""

    def __init__(self, reduction=_SUM, name="mean_absolute_percentage_error", dtype=None, compile=None):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype, compile=compile)


class MeanSquaredLogarithmicError(_Catalogue):
    """``mean((log(y_pred + 1) - log(y_true + 1))**2)`` over the last axis."""

    def __init__(self, reduction=_SUM, name="mean_squared_logarithmic_error", dtype=None, compile=None):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype, compile=compile)


class CosineSimilarity(_Catalogue):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``."""

    def __init__(self, axis=-1, reduction=_SUM, name="cosine_similarity", dtype=None, compile=None):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, compile=compile, axis=axis)


class Huber(_Catalogue):
    """Quadratic within ``delta`` of the target, linear beyond (``delta >= 0``)."""

    def __init__(self, delta=1.0, reduction=_SUM, name="huber_loss", dtype=None, compile=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, compile=compile, delta=delta)


class LogCosh(_Catalogue):
    """``mean(log(cosh(y_pred - y_true)))`` over the last axis."""

    def __init__(self, reduction=_SUM, name="log_cosh", dtype=None, compile=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype, compile=compile)


# ---------------------------------------------------------------- hinge
class Hinge(_Catalogue):
    """``mean(max(1 - y_true * y_pred, 0))``; 0/1 labels are mapped to -1/+1."""

    def __init__(self, reduction=_SUM, name="hinge", dtype=None, compile=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype, compile=compile)


class SquaredHinge(_Catalogue):
    """``mean(max(1 - y_true * y_pred, 0)**2)``; 0/1 labels are mapped to -1/+1."""

    def __init__(self, reduction=_SUM, name="squared_hinge", dtype=None, compile=None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype, compile=compile)


class CategoricalHinge(_Catalogue):
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``."""

    def __init__(self, reduction=_SUM, name="categorical_hinge", dtype=None, compile=None):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype, compile=compile)


# ---------------------------------------------------------------- probabilistic
class KLDivergence(_Catalogue):
    """``sum(y_true * log(y_true / y_pred))`` with both clipped to [eps, 1]."""

    def __init__(self, reduction=_SUM, name="kl_divergence", dtype=None, compile=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype, compile=compile)


class Poisson(_Catalogue):
    """``mean(y_pred - y_true * log(y_pred + eps))`` over the last axis."""

    def __init__(self, reduction=_SUM, name="poisson", dtype=None, compile=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype, compile=compile)


class BinaryCrossentropy(_Catalogue):
    """Binary cross-entropy, from probabilities or (exactly) from logits."""

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_SUM,
        name="binary_crossentropy",
        dtype=None,
        compile=None,
    ):
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            compile=compile,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class BinaryFocalCrossentropy(_Catalogue):
    """Binary cross-entropy scaled by ``(1 - p_t)**gamma`` (and ``alpha`` balancing)."""

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_SUM,
        name="binary_focal_crossentropy",
        dtype=None,
        compile=None,
    ):
        super().__init__(
            binary_focal_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            compile=compile,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class CategoricalCrossentropy(_Catalogue):
    """``-sum(y_true * log p)`` over one-hot or soft labels."""

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_SUM,
        name="categorical_crossentropy",
        dtype=None,
        compile=None,
    ):
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            compile=compile,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class CategoricalFocalCrossentropy(_Catalogue):
    """Categorical cross-entropy scaled by ``alpha * (1 - p)**gamma`` per class."""

    def __init__(
        self,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_SUM,
        name="categorical_focal_crossentropy",
        dtype=None,
        compile=None,
    ):
        super().__init__(
            categorical_focal_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            compile=compile,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(_Catalogue):
    """Cross-entropy against integer class ids; ``ignore_class`` entries are
    masked out, so the default reduction averages over the kept ones only.
    ``label_smoothing`` (which Keras lacks here) mixes in a uniform target."""

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction=_SUM,
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
        label_smoothing=0.0,
        compile=None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            compile=compile,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
            label_smoothing=label_smoothing,
        )
        self.ignore_class = ignore_class

    def compute_mask(self, y_true, y_pred, values):
        if self.ignore_class is None:
            return None
        return K.reshape(K.logical_not(K.equal(y_true, self.ignore_class)), K.shape(values))


class CategoricalGeneralizedCrossEntropy(_Catalogue):
    """``(1 - p**q) / q`` of the true class's probability, ``q`` in (0, 1)."""

    def __init__(self, q=0.5, reduction=_SUM, name="categorical_generalized_cross_entropy", dtype=None, compile=None):
        super().__init__(
            categorical_generalized_cross_entropy, reduction=reduction, name=name, dtype=dtype, compile=compile, q=q
        )


# ---------------------------------------------------------------- sequences, segmentation, embeddings
class CTC(_Catalogue):
    """CTC of integer labels padded with 0 (the blank) against logits (N, T, C)."""

    def __init__(self, reduction=_SUM, name="ctc", dtype=None, compile=None):
        super().__init__(ctc, reduction=reduction, name=name, dtype=dtype, compile=compile)


class Dice(_Catalogue):
    """``1 - 2 |y_true * y_pred| / (|y_true| + |y_pred|)`` over ``axis``."""

    def __init__(self, reduction=_SUM, name="dice", axis=None, dtype=None, compile=None):
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, compile=compile, axis=axis)


class Tversky(_Catalogue):
    """Dice with the two kinds of error weighted by ``alpha`` and ``beta``."""

    def __init__(self, alpha=0.5, beta=0.5, reduction=_SUM, name="tversky", axis=None, dtype=None, compile=None):
        super().__init__(
            tversky, reduction=reduction, name=name, dtype=dtype, compile=compile, alpha=alpha, beta=beta, axis=axis
        )


class Circle(_Catalogue):
    """Circle loss of integer labels and L2-normalised embeddings; anchors
    with a zero loss are masked out of the default reduction, as in Keras."""

    def __init__(
        self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction=_SUM, name="circle", dtype=None, compile=None
    ):
        super().__init__(
            circle,
            reduction=reduction,
            name=name,
            dtype=dtype,
            compile=compile,
            gamma=gamma,
            margin=margin,
            remove_diagonal=remove_diagonal,
        )

    def compute_mask(self, y_true, y_pred, values):
        return values > 0


CLASSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    CosineSimilarity,
    Huber,
    LogCosh,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    KLDivergence,
    Poisson,
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    SparseCategoricalCrossentropy,
    CategoricalGeneralizedCrossEntropy,
    CTC,
    Dice,
    Tversky,
    Circle,
)

__all__ = [cls.__name__ for cls in CLASSES]
