"""Stateful metrics, written once against ``K``, on every backend.

Names, arguments and numbers follow ``keras.metrics`` (Keras 3); state is
kept as compensated sums in the backend's accumulator dtype (see
``lossbridge.metrics.base``), on the framework and device of the data.

State size is bounded: a metric whose size options (``num_thresholds``,
``thresholds``, ``num_labels``, ``num_classes``) would make its state need
more than :func:`state_limit` bytes (default 1 GiB) raises a ValueError when
it is built, before anything is allocated, so an untrusted config cannot
exhaust memory. :func:`set_state_limit` changes the limit for the process.
"""

from __future__ import annotations

# the loss functions keras.metrics exports under their loss names: the same functions, no twins
from ..losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from ._thresholds import set_state_limit, state_limit
from .accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from .auc import AUC
from .base import Metric
from .confusion import (
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from .f_score import F1Score, FBetaScore
from .iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from .reduction import Mean, Sum
from .registry import METRICS as _METRICS
from .registry import deserialize, get, register_metric, serialize
from .regression import (
    ConcordanceCorrelation,
    CosineSimilarity,
    PearsonCorrelation,
    R2Score,
    RootMeanSquaredError,
    concordance_correlation,
    cosine_similarity,
    pearson_correlation,
)
from .wrappers import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanMetricWrapper,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)

# get() instantiates Metric subclasses and serialize() writes Metric objects
# as class + config (the registry module cannot import base: base imports it)
_METRICS.base = Metric

__all__ = [
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "ConcordanceCorrelation",
    "CosineSimilarity",
    "Hinge",
    "KLDivergence",
    "LogCoshError",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "PearsonCorrelation",
    "Poisson",
    "R2Score",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SquaredHinge",
    "Sum",
    "TopKCategoricalAccuracy",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "concordance_correlation",
    "cosine_similarity",
    "deserialize",
    "get",
    "pearson_correlation",
    "register_metric",
    "serialize",
    "set_state_limit",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "state_limit",
    "top_k_categorical_accuracy",
]
# keras.metrics' loss-named functions (lossbridge.losses' own)
__all__ += [
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "sparse_categorical_crossentropy",
    "squared_hinge",
]
# the confusion-matrix family, AUC, F-scores and IoUs
__all__ += [
    "AUC",
    "BinaryIoU",
    "F1Score",
    "FBetaScore",
    "FalseNegatives",
    "FalsePositives",
    "IoU",
    "MeanIoU",
    "OneHotIoU",
    "OneHotMeanIoU",
    "Precision",
    "PrecisionAtRecall",
    "Recall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "TrueNegatives",
    "TruePositives",
]
