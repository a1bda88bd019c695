"""lossbridge metrics as torchmetrics Metrics (lossbridge.integrations.torchmetrics),
checked against float64 NumPy formulas written here and torchmetrics' own metrics,
and logged per epoch by a real Lightning Trainer."""

from __future__ import annotations

import csv

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchmetrics = pytest.importorskip("torchmetrics")

import lossbridge.metrics as lm  # noqa: E402
from lossbridge.integrations.torchmetrics import TorchMetric, as_torchmetric, reductions_of  # noqa: E402
from lossbridge.metrics.base import MAX, MIN, reduced_state, sum_state  # noqa: E402
from tests.extremes_metric import Extremes  # noqa: E402

BATCHES, BATCH, CLASSES, OUTPUTS = 4, 32, 3, 3


# ---------------------------------------------------------------- data and float64 references
def _binary(seed):
    rng = np.random.default_rng(seed)
    return [((rng.random(BATCH) < 0.4).astype("float32"), rng.random(BATCH).astype("float32")) for _ in range(BATCHES)]


def _regression(seed, width=None):
    rng = np.random.default_rng(seed)
    shape = (BATCH,) if width is None else (BATCH, width)
    return [
        (rng.normal(size=shape).astype("float32"), rng.normal(size=shape).astype("float32")) for _ in range(BATCHES)
    ]


def _one_hot(seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(BATCHES):
        labels = rng.integers(0, CLASSES, BATCH)
        out.append((np.eye(CLASSES, dtype="float32")[labels], rng.random((BATCH, CLASSES)).astype("float32")))
    return out


def _sparse(seed):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, CLASSES, BATCH), rng.integers(0, CLASSES, BATCH)) for _ in range(BATCHES)]


def _mean_reference(t, p):
    return np.mean(p.astype(np.float64))


def _mse_reference(t, p):
    return np.mean((t.astype(np.float64) - p) ** 2)


def _accuracy_reference(t, p):
    return np.mean((p > 0.5) == (t > 0.5))


def _precision_reference(t, p):
    predicted = p > 0.5
    return np.sum(predicted & (t > 0.5)) / np.sum(predicted)


def _recall_reference(t, p):
    positive = t > 0.5
    return np.sum((p > 0.5) & positive) / np.sum(positive)


def roc_auc_at_thresholds(t, p, num_thresholds=200):
    """Keras' binned ROC AUC: thresholds -eps, i/(n-1), 1+eps; ``p > threshold``
    is positive; trapezoids between consecutive (FPR, TPR) points."""
    eps = 1e-7
    thresholds = np.array([-eps, *(np.arange(1, num_thresholds - 1) / (num_thresholds - 1)), 1 + eps])
    above = p.astype(np.float64)[None, :] > thresholds[:, None]
    positive = t > 0.5
    tpr = np.sum(above & positive, axis=1) / np.sum(positive)
    fpr = np.sum(above & ~positive, axis=1) / np.sum(~positive)
    return np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)


def _f1_macro_reference(t, p):
    truth, predicted = np.argmax(t, axis=1), np.argmax(p, axis=1)
    scores = []
    for c in range(CLASSES):
        tp = np.sum((predicted == c) & (truth == c))
        fp, fn = np.sum((predicted == c) & (truth != c)), np.sum((predicted != c) & (truth == c))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return np.mean(scores)


def _mean_iou_reference(t, p):
    scores = []
    for c in range(CLASSES):
        intersection = np.sum((t == c) & (p == c))
        scores.append(intersection / np.sum((t == c) | (p == c)))
    return np.mean(scores)


def _r2_reference(t, p):
    t, p = t.astype(np.float64), p.astype(np.float64)
    per_output = 1 - np.sum((t - p) ** 2, axis=0) / np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    return np.mean(per_output)


# name: (lossbridge metric, data, float64 reference over all data, torchmetrics equivalent, its input adapter)
CASES = {
    "Mean": (lambda: lm.Mean(), _binary, _mean_reference, lambda: torchmetrics.MeanMetric(), lambda t, p: (p,)),
    "MeanSquaredError": (
        lambda: lm.MeanSquaredError(),
        _regression,
        _mse_reference,
        lambda: torchmetrics.MeanSquaredError(),
        lambda t, p: (p, t),
    ),
    "BinaryAccuracy": (
        lambda: lm.BinaryAccuracy(),
        _binary,
        _accuracy_reference,
        lambda: torchmetrics.classification.BinaryAccuracy(threshold=0.5),
        lambda t, p: (p, t.long()),
    ),
    # lossbridge AUC(num_thresholds=200) vs BinaryAUROC(thresholds=200): the same 200-point grid up to the end
    # points (-eps / 1+eps vs 0 / 1, equivalent for scores in [0, 1)), trapezoidal ROC integration both
    "AUC": (
        lambda: lm.AUC(num_thresholds=200),
        _binary,
        roc_auc_at_thresholds,
        lambda: torchmetrics.classification.BinaryAUROC(thresholds=200),
        lambda t, p: (p, t.long()),
    ),
    "Precision": (
        lambda: lm.Precision(),
        _binary,
        _precision_reference,
        lambda: torchmetrics.classification.BinaryPrecision(threshold=0.5),
        lambda t, p: (p, t.long()),
    ),
    "Recall": (
        lambda: lm.Recall(),
        _binary,
        _recall_reference,
        lambda: torchmetrics.classification.BinaryRecall(threshold=0.5),
        lambda t, p: (p, t.long()),
    ),
    # F1Score(average="macro"), threshold=None: each row's argmax is its class, as MulticlassF1Score on argmaxes
    "F1Score": (
        lambda: lm.F1Score(average="macro"),
        _one_hot,
        _f1_macro_reference,
        lambda: torchmetrics.classification.MulticlassF1Score(num_classes=CLASSES, average="macro"),
        lambda t, p: (p.argmax(1), t.argmax(1)),
    ),
    "MeanIoU": (
        lambda: lm.MeanIoU(num_classes=CLASSES),
        _sparse,
        _mean_iou_reference,
        lambda: torchmetrics.classification.MulticlassJaccardIndex(num_classes=CLASSES, average="macro"),
        lambda t, p: (p, t),
    ),
    "R2Score": (
        lambda: lm.R2Score(),
        lambda seed: _regression(seed, OUTPUTS),
        _r2_reference,
        lambda: torchmetrics.R2Score(multioutput="uniform_average"),
        lambda t, p: (p, t),
    ),
}


def _all(batches):
    return tuple(np.concatenate(parts) for parts in zip(*batches, strict=True))


def _fed(wrapped, batches):
    arity = len(wrapped.metric.input_names)  # Mean takes the values only: feed it y_pred
    for t, p in batches:
        wrapped.update(*(torch.as_tensor(t), torch.as_tensor(p))[-arity:])
    return wrapped


# ---------------------------------------------------------------- values
@pytest.mark.parametrize("name", CASES)
def test_compute_matches_numpy_and_torchmetrics(name):
    make, data, reference, native_make, native_inputs = CASES[name]
    batches = data(1)
    wrapped = _fed(as_torchmetric(make()), batches)
    value = float(wrapped.compute())
    assert value == pytest.approx(reference(*_all(batches)), rel=1e-6, abs=1e-7)
    native = native_make()
    for t, p in batches:
        native.update(*native_inputs(torch.as_tensor(t), torch.as_tensor(p)))
    assert value == pytest.approx(float(native.compute()), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_reset_gives_the_empty_value(name):
    make, data, *_ = CASES[name]
    wrapped = _fed(as_torchmetric(make()), data(2))
    wrapped.reset()
    with pytest.warns(UserWarning, match="called before the ``update`` method"):  # torchmetrics' own notice
        value = wrapped.compute()
    empty = make().result()  # lossbridge's value of a metric that saw nothing (0, as in Keras)
    np.testing.assert_allclose(value.numpy(), np.asarray(empty), rtol=0, atol=0)
    for key in wrapped._lb_keys:
        assert not torch.any(getattr(wrapped, key) != 0), key


@pytest.mark.parametrize("name", CASES)
def test_merge_state_equals_one_metric_over_all_data(name):
    make, data, reference, *_ = CASES[name]
    first, second = data(3), data(4)
    left, right = _fed(as_torchmetric(make()), first), _fed(as_torchmetric(make()), second)
    left.merge_state(right)
    expected = reference(*_all(first + second))
    assert float(left.compute()) == pytest.approx(expected, rel=1e-6, abs=1e-7)
    assert float(left.compute()) == pytest.approx(float(_fed(as_torchmetric(make()), first + second).compute()))


@pytest.mark.parametrize("name", CASES)
def test_dist_reductions_on_stacked_states_equal_one_metric(name):
    """What a distributed sync does: each state entry's ``_reductions`` function
    applied to the entries of all ranks stacked along a new first axis."""
    make, data, reference, *_ = CASES[name]
    shards = [data(10 + rank) for rank in range(3)]
    ranks = [_fed(as_torchmetric(make()), shard) for shard in shards]
    synced = ranks[0]
    for key in synced._lb_keys:
        stacked = torch.stack([getattr(rank, key) for rank in ranks])
        setattr(synced, key, synced._reductions[key](stacked))
    expected = reference(*_all([batch for shard in shards for batch in shard]))
    assert float(synced.compute()) == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_sample_weight_reaches_lossbridge_and_weighted_shards_merge_with_exact_ones():
    rng = np.random.default_rng(7)
    values, weights = rng.random(50), rng.random(50)
    mean = as_torchmetric(lm.Mean(dtype="float64"))  # a float64 result, so the check can be tight
    mean.update(torch.as_tensor(values[:20]), sample_weight=torch.as_tensor(weights[:20]))
    mean.update(torch.as_tensor(values[20:]), sample_weight=torch.as_tensor(weights[20:]))
    assert float(mean.compute()) == pytest.approx(np.average(values, weights=weights), rel=1e-12)
    # MeanIoU keeps exact int64 counts until a weight arrives, then compensated float64 ones: both merge
    (t1, p1), (t2, p2) = _sparse(8)[:2]
    w2 = rng.random(BATCH)
    exact, weighted = as_torchmetric(lm.MeanIoU(num_classes=CLASSES)), as_torchmetric(lm.MeanIoU(num_classes=CLASSES))
    exact.update(torch.as_tensor(t1), torch.as_tensor(p1))
    weighted.update(torch.as_tensor(t2), torch.as_tensor(p2), sample_weight=torch.as_tensor(w2))
    exact.merge_state(weighted)
    t, p, w = np.concatenate([t1, t2]), np.concatenate([p1, p2]), np.concatenate([np.ones(BATCH), w2])
    matrix = np.zeros((CLASSES, CLASSES))
    np.add.at(matrix, (t, p), w)
    diagonal = np.diag(matrix)
    expected = np.mean(diagonal / (matrix.sum(0) + matrix.sum(1) - diagonal))
    assert float(exact.compute()) == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- construction
def test_every_builtin_state_reduces_by_sum_and_torch_state_has_no_compensation_twin():
    reductions = reductions_of(lm.AUC(num_thresholds=5))
    counts = ("true_positives", "false_positives", "true_negatives", "false_negatives")
    assert set(reductions) == set(counts)  # torch's float64 sums: no twins (metrics/_state.py)
    assert set(reductions.values()) == {"sum"}
    wrapped = as_torchmetric(lm.AUC(num_thresholds=5))
    assert {key: getattr(wrapped, key).dtype for key in counts} == dict.fromkeys(counts, torch.float64)


def test_a_metric_merging_by_max_gets_max_and_an_unexpressible_merge_raises():
    class Peak(lm.Metric, register=False):
        def initial_state(self, like):
            from lossbridge.k import K

            return {"peak": K.zeros((), "float64", like=like)}

        def update(self, state, y_true, y_pred, sample_weight=None):
            from lossbridge.k import K

            return {"peak": K.maximum(state["peak"], K.cast(K.max(y_pred), "float64"))}

        def compute(self, state):
            return state["peak"]

        def merge(self, state, other):
            from lossbridge.k import K

            return {"peak": K.maximum(state["peak"], other["peak"])}

    assert reductions_of(Peak()) == {"peak": "max"}
    wrapped = _fed(as_torchmetric(Peak()), [(np.zeros(3, "float32"), np.array([0.1, 0.7, 0.2], "float32"))])
    assert float(wrapped.compute()) == pytest.approx(0.7)

    class Product(Peak):
        def merge(self, state, other):
            return {"peak": state["peak"] * other["peak"]}

    with pytest.raises(TypeError, match=r"Product\.merge combines state entry 'peak'"):
        as_torchmetric(Product())
    # the explicit escape hatch
    assert as_torchmetric(Product(), reductions={"peak": "max"})._reductions["peak"] is not None


def test_declared_reductions_are_taken_as_declared_without_probing_the_merge():
    """A metric that declares its entries (as every lossbridge metric does)
    gets its declarations; its merge is not run. A concatenated entry has no
    torchmetrics reduction of this kind and raises, naming the declaration."""

    class Spread(lm.Metric, register=False):
        input_names = ("values",)

        def initial_state(self, like):
            return {
                **reduced_state(MIN, ("low",), like=like),
                **reduced_state(MAX, ("high",), like=like),
                **sum_state(("count",), like=like),
            }

        def merge(self, state, other):
            raise AssertionError("the declarations answer: merge must not be probed")

    assert reductions_of(Spread()) == {"low": "min", "high": "max", "count": "sum"}
    with pytest.raises(TypeError, match=r"Extremes declares state entry 'seen' combined by 'concatenate'"):
        reductions_of(Extremes())


def test_not_a_lossbridge_metric_raises_naming_what_arrived():
    with pytest.raises(TypeError, match=r"`metric` must be a lossbridge.metrics.Metric; received .*MeanMetric"):
        TorchMetric(torchmetrics.MeanMetric())


def test_data_dependent_state_shape_is_taken_from_the_first_batch_or_like():
    batches = _regression(5, OUTPUTS)
    fixed = as_torchmetric(lm.R2Score(), like=torch.zeros((1, OUTPUTS)))
    assert tuple(fixed.sum.shape) == (OUTPUTS,)
    lazy = as_torchmetric(lm.R2Score())
    for wrapped in (fixed, lazy):
        assert float(_fed(wrapped, batches).compute()) == pytest.approx(_r2_reference(*_all(batches)), rel=1e-6)


def test_state_follows_module_dtype_and_device_moves():
    wrapped = _fed(as_torchmetric(lm.MeanSquaredError()), _regression(6))
    moved = wrapped.to("cpu")
    assert moved.total.dtype == torch.float64 and moved.total.device.type == "cpu"


# ---------------------------------------------------------------- Lightning
@pytest.mark.filterwarnings(
    r"ignore:.isinstance\(treespec, LeafSpec\). is deprecated:FutureWarning"
)  # Lightning vs torch 2.13
@pytest.mark.filterwarnings("ignore:The number of training batches")  # 8 batches, Lightning's logging interval is 50
def test_lightning_logs_the_bridged_metric_per_epoch(tmp_path):
    lightning = pytest.importorskip("lightning")
    from lightning.pytorch.loggers import CSVLogger

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    features = torch.as_tensor(rng.normal(size=(256, 4)), dtype=torch.float32)
    labels = (features[:, 0] + 0.5 * torch.as_tensor(rng.normal(size=256), dtype=torch.float32) > 0).float()
    data = torch.utils.data.TensorDataset(features, labels)

    class Tiny(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 1)
            self.val_auc = as_torchmetric(lm.AUC(num_thresholds=200))
            self.epochs = []  # (labels, scores) of each validation epoch

        def forward(self, x):
            return torch.sigmoid(self.linear(x)).squeeze(-1)

        def training_step(self, batch, _):
            x, y = batch
            return torch.nn.functional.binary_cross_entropy(self(x), y)

        def on_validation_epoch_start(self):
            self.epochs.append(([], []))

        def validation_step(self, batch, _):
            x, y = batch
            scores = self(x)
            self.epochs[-1][0].append(y.numpy())
            self.epochs[-1][1].append(scores.numpy())
            self.val_auc.update(y, scores)
            self.log("val_auc", self.val_auc, on_epoch=True)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.5)

    module = Tiny()
    trainer = lightning.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=CSVLogger(tmp_path),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    loader = torch.utils.data.DataLoader(data, batch_size=32)
    trainer.fit(module, loader, loader)
    trainer.validate(module, loader, verbose=False)

    logged = []
    with open(trainer.logger.log_dir + "/metrics.csv") as rows:
        logged = [float(row["val_auc"]) for row in csv.DictReader(rows) if row.get("val_auc")]
    assert len(logged) == len(module.epochs) == 3  # two fit epochs, one validate run
    for value, (ys, scores) in zip(logged, module.epochs, strict=True):
        y, p = np.concatenate(ys), np.concatenate(scores)
        direct = lm.AUC(num_thresholds=200)
        direct.update_state(y, p)
        assert value == pytest.approx(float(direct.result()), rel=1e-6)
        assert value == pytest.approx(roc_auc_at_thresholds(y, p), rel=1e-6)
    assert float(trainer.callback_metrics["val_auc"]) == pytest.approx(logged[-1], rel=1e-6)
