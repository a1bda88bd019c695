"""What is benchmarked: the losses and metrics, their inputs and sizes.

A loss case names the lossbridge function and Loss class, the options both
get, the matching Keras 3 class, and the kind of inputs it takes. Inputs are
made once in NumPy (seeded) and converted to each framework outside the
timed region.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# the metric cases live in their own module (44 of them); imported here so
# ``cases`` stays the one place the suite reads what it benchmarks
from .metric_cases import METRIC_SIZES, METRICS, SUITE_METRICS, MetricCase, metric_inputs, softmax  # noqa: F401

#: (rows, columns) per size; "large" is 10^7 float32 elements (40 MB) per tensor
SIZES = {"small": (32, 10), "large": (100_000, 100)}


@dataclass(frozen=True)
class LossCase:
    id: str
    function: str  # lossbridge.losses.<function>
    cls: str  # lossbridge.losses.<cls> and keras.losses.<cls>
    inputs: str  # regression | binary | onehot | sparse | probabilities
    options: dict = field(default_factory=dict)


LOSSES = (
    LossCase("mse", "mean_squared_error", "MeanSquaredError", "regression"),
    LossCase("mae", "mean_absolute_error", "MeanAbsoluteError", "regression"),
    LossCase("huber", "huber", "Huber", "regression", {"delta": 1.0}),
    LossCase("bce_logits", "binary_crossentropy", "BinaryCrossentropy", "binary", {"from_logits": True}),
    LossCase("cce_logits", "categorical_crossentropy", "CategoricalCrossentropy", "onehot", {"from_logits": True}),
    LossCase(
        "scce_logits",
        "sparse_categorical_crossentropy",
        "SparseCategoricalCrossentropy",
        "sparse",
        {"from_logits": True},
    ),
    LossCase("kld", "kl_divergence", "KLDivergence", "probabilities"),
    LossCase("cosine", "cosine_similarity", "CosineSimilarity", "regression"),
    LossCase("focal_logits", "binary_focal_crossentropy", "BinaryFocalCrossentropy", "binary", {"from_logits": True}),
)


def loss_inputs(kind: str, size: str, seed: int = 0):
    """``(y_true, y_pred)`` as NumPy arrays for an input kind and size."""
    rng = np.random.default_rng(seed)
    rows, cols = SIZES[size]
    shape = (rows, cols)
    if kind == "regression":
        return rng.standard_normal(shape, np.float32), rng.standard_normal(shape, np.float32)
    if kind == "binary":
        return (rng.random(shape) < 0.5).astype(np.float32), 3 * rng.standard_normal(shape, np.float32)
    labels = rng.integers(0, cols, rows)
    logits = 3 * rng.standard_normal(shape, np.float32)
    if kind == "onehot":
        return np.eye(cols, dtype=np.float32)[labels], logits
    if kind == "sparse":
        return labels.astype(np.int64), logits
    if kind == "probabilities":
        return softmax(rng.standard_normal(shape, np.float32)), softmax(rng.standard_normal(shape, np.float32))
    raise ValueError(kind)
