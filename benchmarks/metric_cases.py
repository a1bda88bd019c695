"""The metric cases: every metric class of the catalogue, its inputs and
options, and the torchmetrics class that computes the same number.

A case names the class (``lossbridge.metrics.<cls>`` and
``keras.metrics.<cls>``, built with the same ``options``), the kind of inputs
``update_state`` takes, and the torchmetrics equivalent where there is one:
its class (a path under ``torchmetrics``), its options, how the same NumPy
inputs are handed to it (``tm_args``) and how its result is read
(``tm_out``). Both adaptations happen outside the timed region; a case with
``tm=None`` has no torchmetrics equivalent (``tm_why`` says why).

Inputs are made once in NumPy (seeded) and converted to each framework
outside the timed region; every library gets the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COLUMNS = 10
#: (rows, columns) per size; "large" is 10^6 elements per tensor
METRIC_SIZES = {"small": (32, COLUMNS), "large": (100_000, COLUMNS)}
#: where a metric takes class scores, "large" is 10^6 rows of 10 scores
CLASS_SCORE_SIZES = {"small": (32, COLUMNS), "large": (1_000_000, COLUMNS)}
#: input kinds whose second tensor holds class scores per row
CLASS_SCORE_KINDS = ("onehot_probs", "sparse_probs")

#: what each input kind is
INPUT_KINDS = {
    "values": "one float32 tensor, standard normal",
    "regression": "y_true, y_pred float32, standard normal",
    "positive": "y_true, y_pred float32, uniform in [0.1, 2)",
    "binary_scores": "y_true 0/1 float32, y_pred probabilities correlated with it (sigmoid(1.5 (2y-1) + N(0,1)))",
    "class_ids": "y_true, y_pred int32 class ids in [0, 10)",
    "onehot_probs": "y_true one-hot float32 (N, 10), y_pred softmax probabilities (N, 10)",
    "sparse_probs": "y_true int32 class ids (N,), y_pred softmax probabilities (N, 10)",
    "probabilities": "y_true, y_pred softmax probabilities (N, 10)",
}

#: ``tm_args``: the torchmetrics call's positional inputs from the NumPy ones
#: (``pt``: preds, target; ``pt_ids``: preds, argmax of the one-hot target;
#: ``pt_long``: preds, target as int64; ``tp``: target first; ``values``: the
#: one tensor; ``pt_flat``: preds, target flattened (views))
#: ``tm_out``: how its result is read: None (as is), ``[i]`` (an element:
#: a tuple's or a stat-score vector's), ``mean[...]`` (the mean of the listed
#: classes of a per-class vector), ``x100`` (a percentage)


@dataclass(frozen=True)
class MetricCase:
    id: str
    cls: str  # lossbridge.metrics.<cls> and keras.metrics.<cls>
    inputs: str  # a key of INPUT_KINDS
    options: dict = field(default_factory=dict)
    tm: str | None = None  # torchmetrics.<tm>, None: no equivalent
    tm_options: dict = field(default_factory=dict)
    tm_args: str = "pt"
    tm_out: str | None = None
    tm_why: str = ""  # why there is no torchmetrics equivalent

    @property
    def class_scores(self) -> bool:
        return self.inputs in CLASS_SCORE_KINDS


_MC = "classification.MulticlassAccuracy"
_THRESH = {"thresholds": 200}

METRICS = (
    # reductions
    MetricCase("mean", "Mean", "values", tm="MeanMetric", tm_args="values"),
    MetricCase("sum", "Sum", "values", tm="SumMetric", tm_args="values"),
    # regression
    MetricCase("mse", "MeanSquaredError", "regression", tm="MeanSquaredError"),
    MetricCase("rmse", "RootMeanSquaredError", "regression", tm="MeanSquaredError", tm_options={"squared": False}),
    MetricCase("mae", "MeanAbsoluteError", "regression", tm="MeanAbsoluteError"),
    MetricCase("mape", "MeanAbsolutePercentageError", "positive", tm="MeanAbsolutePercentageError", tm_out="x100"),
    MetricCase("msle", "MeanSquaredLogarithmicError", "positive", tm="MeanSquaredLogError"),
    MetricCase("logcosh", "LogCoshError", "regression", tm="LogCoshError", tm_args="pt_flat"),
    MetricCase(
        "cosine",
        "CosineSimilarity",
        "regression",
        {"axis": -1},
        tm="CosineSimilarity",
        tm_options={"reduction": "mean"},
    ),
    MetricCase(
        "pearson",
        "PearsonCorrelation",
        "regression",
        {"axis": -1},
        tm_why="PearsonCorrCoef correlates each output column over samples; Keras' metric averages per-row correlations",
    ),
    MetricCase(
        "concordance",
        "ConcordanceCorrelation",
        "regression",
        {"axis": -1},
        tm_why="ConcordanceCorrCoef works per output column over samples; Keras' metric averages per-row values",
    ),
    MetricCase("r2", "R2Score", "regression", tm="R2Score", tm_options={"multioutput": "uniform_average"}),
    MetricCase(
        "poisson",
        "Poisson",
        "positive",
        tm_why="no Poisson-loss metric (TweedieDevianceScore(power=1) is the deviance)",
    ),
    # probabilistic
    MetricCase("bce", "BinaryCrossentropy", "binary_scores", tm_why="no cross-entropy metric"),
    MetricCase("cce", "CategoricalCrossentropy", "onehot_probs", tm_why="no cross-entropy metric"),
    MetricCase("scce", "SparseCategoricalCrossentropy", "sparse_probs", tm_why="no cross-entropy metric"),
    MetricCase(
        "kld", "KLDivergence", "probabilities", tm="KLDivergence", tm_options={"reduction": "mean"}, tm_args="tp"
    ),
    # hinge (probabilities in [0, 1], where torchmetrics applies no sigmoid/softmax)
    MetricCase("hinge", "Hinge", "binary_scores", tm="classification.BinaryHingeLoss", tm_args="pt_long"),
    MetricCase(
        "squared_hinge",
        "SquaredHinge",
        "binary_scores",
        tm="classification.BinaryHingeLoss",
        tm_options={"squared": True},
        tm_args="pt_long",
    ),
    MetricCase(
        "categorical_hinge",
        "CategoricalHinge",
        "onehot_probs",
        tm="classification.MulticlassHingeLoss",
        tm_options={"num_classes": COLUMNS, "multiclass_mode": "crammer-singer"},
        tm_args="pt_ids",
    ),
    # accuracy
    MetricCase("accuracy", "Accuracy", "class_ids", tm=_MC, tm_options={"num_classes": COLUMNS, "average": "micro"}),
    MetricCase(
        "binary_accuracy",
        "BinaryAccuracy",
        "binary_scores",
        {"threshold": 0.5},
        tm="classification.BinaryAccuracy",
        tm_options={"threshold": 0.5},
        tm_args="pt_long",
    ),
    MetricCase(
        "categorical_accuracy",
        "CategoricalAccuracy",
        "onehot_probs",
        tm=_MC,
        tm_options={"num_classes": COLUMNS, "average": "micro"},
        tm_args="pt_ids",
    ),
    MetricCase(
        "sparse_categorical_accuracy",
        "SparseCategoricalAccuracy",
        "sparse_probs",
        tm=_MC,
        tm_options={"num_classes": COLUMNS, "average": "micro"},
        tm_args="pt_long",
    ),
    MetricCase(
        "top_k",
        "TopKCategoricalAccuracy",
        "onehot_probs",
        {"k": 5},
        tm=_MC,
        tm_options={"num_classes": COLUMNS, "average": "micro", "top_k": 5},
        tm_args="pt_ids",
    ),
    MetricCase(
        "sparse_top_k",
        "SparseTopKCategoricalAccuracy",
        "sparse_probs",
        {"k": 5},
        tm=_MC,
        tm_options={"num_classes": COLUMNS, "average": "micro", "top_k": 5},
        tm_args="pt_long",
    ),
    # confusion counts at a threshold (0.5)
    *(
        MetricCase(
            id_,
            cls,
            "binary_scores",
            tm="classification.BinaryStatScores",
            tm_options={"threshold": 0.5},
            tm_args="pt_long",
            tm_out=f"[{i}]",
        )
        for i, (id_, cls) in enumerate(
            (("tp", "TruePositives"), ("fp", "FalsePositives"), ("tn", "TrueNegatives"), ("fn", "FalseNegatives"))
        )
    ),
    MetricCase(
        "precision",
        "Precision",
        "binary_scores",
        tm="classification.BinaryPrecision",
        tm_options={"threshold": 0.5},
        tm_args="pt_long",
    ),
    MetricCase(
        "recall",
        "Recall",
        "binary_scores",
        tm="classification.BinaryRecall",
        tm_options={"threshold": 0.5},
        tm_args="pt_long",
    ),
    # curves over 200 thresholds
    MetricCase("auc", "AUC", "binary_scores", tm="classification.BinaryAUROC", tm_options=_THRESH, tm_args="pt_long"),
    MetricCase(
        "precision_at_recall",
        "PrecisionAtRecall",
        "binary_scores",
        {"recall": 0.8},
        tm="classification.BinaryPrecisionAtFixedRecall",
        tm_options={"min_recall": 0.8, **_THRESH},
        tm_args="pt_long",
        tm_out="[0]",
    ),
    MetricCase(
        "recall_at_precision",
        "RecallAtPrecision",
        "binary_scores",
        {"precision": 0.8},
        tm="classification.BinaryRecallAtFixedPrecision",
        tm_options={"min_precision": 0.8, **_THRESH},
        tm_args="pt_long",
        tm_out="[0]",
    ),
    MetricCase(
        "sensitivity_at_specificity",
        "SensitivityAtSpecificity",
        "binary_scores",
        {"specificity": 0.8},
        tm="classification.BinarySensitivityAtSpecificity",
        tm_options={"min_specificity": 0.8, **_THRESH},
        tm_args="pt_long",
        tm_out="[0]",
    ),
    MetricCase(
        "specificity_at_sensitivity",
        "SpecificityAtSensitivity",
        "binary_scores",
        {"sensitivity": 0.8},
        tm="classification.BinarySpecificityAtSensitivity",
        tm_options={"min_sensitivity": 0.8, **_THRESH},
        tm_args="pt_long",
        tm_out="[0]",
    ),
    # F-scores (threshold None: the top class of each row counts as predicted)
    MetricCase(
        "f1",
        "F1Score",
        "onehot_probs",
        {"average": "macro"},
        tm="classification.MulticlassF1Score",
        tm_options={"num_classes": COLUMNS, "average": "macro"},
        tm_args="pt_ids",
    ),
    MetricCase(
        "fbeta",
        "FBetaScore",
        "onehot_probs",
        {"average": "macro", "beta": 2.0},
        tm="classification.MulticlassFBetaScore",
        tm_options={"num_classes": COLUMNS, "average": "macro", "beta": 2.0},
        tm_args="pt_ids",
    ),
    # IoU
    MetricCase(
        "iou",
        "IoU",
        "class_ids",
        {"num_classes": COLUMNS, "target_class_ids": [0, 1, 2]},
        tm="classification.MulticlassJaccardIndex",
        tm_options={"num_classes": COLUMNS, "average": "none"},
        tm_out="mean[0,1,2]",
    ),
    MetricCase(
        "mean_iou",
        "MeanIoU",
        "class_ids",
        {"num_classes": COLUMNS},
        tm="classification.MulticlassJaccardIndex",
        tm_options={"num_classes": COLUMNS, "average": "macro"},
    ),
    MetricCase(
        "binary_iou",
        "BinaryIoU",
        "binary_scores",
        {"target_class_ids": [1], "threshold": 0.5},
        tm="classification.BinaryJaccardIndex",
        tm_options={"threshold": 0.5},
        tm_args="pt_long",
    ),
    MetricCase(
        "onehot_iou",
        "OneHotIoU",
        "onehot_probs",
        {"num_classes": COLUMNS, "target_class_ids": [0, 1, 2]},
        tm="classification.MulticlassJaccardIndex",
        tm_options={"num_classes": COLUMNS, "average": "none"},
        tm_args="pt_ids",
        tm_out="mean[0,1,2]",
    ),
    MetricCase(
        "onehot_mean_iou",
        "OneHotMeanIoU",
        "onehot_probs",
        {"num_classes": COLUMNS},
        tm="classification.MulticlassJaccardIndex",
        tm_options={"num_classes": COLUMNS, "average": "macro"},
        tm_args="pt_ids",
    ),
)

#: the metric cases the main suite (``python -m benchmarks``) runs
SUITE_METRICS = ("mean", "auc", "mean_iou")


def shape_of(kind: str, size: str) -> tuple[int, int]:
    return (CLASS_SCORE_SIZES if kind in CLASS_SCORE_KINDS else METRIC_SIZES)[size]


def metric_inputs(kind: str, size: str, seed: int = 0):
    """Positional inputs of ``update_state`` as NumPy arrays."""
    rng = np.random.default_rng(seed)
    shape = shape_of(kind, size)
    rows = shape[0]
    if kind == "values":
        return (rng.standard_normal(shape, np.float32),)
    if kind == "regression":
        return rng.standard_normal(shape, np.float32), rng.standard_normal(shape, np.float32)
    if kind == "positive":
        return (rng.uniform(0.1, 2.0, shape).astype(np.float32), rng.uniform(0.1, 2.0, shape).astype(np.float32))
    if kind == "binary_scores":
        labels = (rng.random(shape) < 0.5).astype(np.float32)
        logits = 1.5 * (2 * labels - 1) + rng.standard_normal(shape, np.float32)
        return labels, (1 / (1 + np.exp(-logits))).astype(np.float32)
    if kind == "class_ids":
        return rng.integers(0, COLUMNS, shape).astype(np.int32), rng.integers(0, COLUMNS, shape).astype(np.int32)
    if kind in CLASS_SCORE_KINDS:
        ids = rng.integers(0, COLUMNS, rows)
        probs = softmax(2 * rng.standard_normal(shape, np.float32))
        if kind == "sparse_probs":
            return ids.astype(np.int32), probs
        return np.eye(COLUMNS, dtype=np.float32)[ids], probs
    if kind == "probabilities":
        return softmax(rng.standard_normal(shape, np.float32)), softmax(rng.standard_normal(shape, np.float32))
    raise ValueError(f"metric input kind {kind!r}: expected one of {sorted(INPUT_KINDS)}")


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
