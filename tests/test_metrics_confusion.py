"""The confusion-matrix metrics (TruePositives ... RecallAtPrecision): against
keras.metrics in-process and float64 NumPy counts, on every backend, eager and
compiled; bool/int/float inputs, top_k ties, NaN, empty batches, merging
shards, bad arguments, and float32 state counting past 2**24."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lossbridge
from lossbridge import metrics
from tests.helpers import on
from tests.metric_support import F64_TOL, KERAS_TOL, compiled_value, eager_value, fed_value, keras_value

RNG = np.random.default_rng(11)
B, C = 16, 4


def _scores():
    # a 0.05 grid: ties between classes (top_k) and predictions on thresholds
    return (RNG.integers(0, 21, (B, C)) / 20).astype(np.float32)


def _labels():
    return RNG.integers(0, 2, (B, C))


def _batches():
    return [((_labels(), _scores()), RNG.uniform(0, 2, B).astype(np.float32)), ((_labels(), _scores()), None)]


# name: (ours, keras); the keyword arguments are the same for both
CONFIGS = {
    "TruePositives": ("TruePositives", {}),
    "FalsePositives-list": ("FalsePositives", {"thresholds": [0.15, 0.5, 0.85]}),
    "TrueNegatives-scalar": ("TrueNegatives", {"thresholds": 0.3}),
    "FalseNegatives-even": ("FalseNegatives", {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}),
    "Precision": ("Precision", {}),
    "Precision-top_k": ("Precision", {"top_k": 2}),
    "Precision-class_id": ("Precision", {"thresholds": [0.3, 0.6], "class_id": 1}),
    "Precision-top_k-class_id": ("Precision", {"top_k": 2, "class_id": 3}),
    "Recall": ("Recall", {}),
    "Recall-top_k": ("Recall", {"top_k": 1}),
    "Recall-even-class_id": ("Recall", {"thresholds": [0.0, 0.5, 1.0], "class_id": 2}),
    "SensitivityAtSpecificity": ("SensitivityAtSpecificity", {"specificity": 0.7}),
    "SpecificityAtSensitivity": ("SpecificityAtSensitivity", {"sensitivity": 0.4, "num_thresholds": 11}),
    "PrecisionAtRecall-class_id": ("PrecisionAtRecall", {"recall": 0.5, "class_id": 0}),
    "RecallAtPrecision-1": ("RecallAtPrecision", {"precision": 0.6, "num_thresholds": 1}),
    "RecallAtPrecision-2": ("RecallAtPrecision", {"precision": 0.8, "num_thresholds": 2}),
}
BATCHES = {name: _batches() for name in CONFIGS}


def _ours(name):
    cls, options = CONFIGS[name]
    return getattr(metrics, cls)(**options)


def _keras(name):
    cls, options = CONFIGS[name]
    return lambda km: getattr(km, cls)(**options)


@pytest.mark.parametrize("name", CONFIGS)
def test_eager_matches_keras(backend, name):
    expected = keras_value(_keras(name), BATCHES[name])
    np.testing.assert_allclose(eager_value(backend, _ours(name), BATCHES[name]), expected, **KERAS_TOL)


# one configuration of each class keeps the compile count small
COMPILED = [
    "TruePositives",
    "FalsePositives-list",
    "TrueNegatives-scalar",
    "FalseNegatives-even",
    "Precision-top_k-class_id",
    "Recall-even-class_id",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "PrecisionAtRecall-class_id",
    "RecallAtPrecision-2",
]


@pytest.mark.parametrize("name", COMPILED)
# jax.jit / tf.function / mx.compile here; torch.compile in test_precision_under_torch_compile
@on("jax", "tensorflow", "mlx")
def test_compiled_stateless_form_matches_keras(backend, name):
    expected = keras_value(_keras(name), BATCHES[name])
    np.testing.assert_allclose(compiled_value(backend, _ours(name), BATCHES[name]), expected, **KERAS_TOL)


@on("torch")  # torch.compile only
def test_precision_under_torch_compile(backend):
    name = "Precision-class_id"
    expected = keras_value(_keras(name), BATCHES[name])
    np.testing.assert_allclose(compiled_value(backend, _ours(name), BATCHES[name]), expected, **KERAS_TOL)


# ---------------------------------------------------------------- NumPy float64 references
def ref_counts(y_true, y_pred, thresholds, weight=None):
    """(tp, fp, tn, fn) per threshold: a prediction is positive when
    ``y_pred > t`` (thresholds and predictions in float32, as Keras compares),
    a label when non-zero; ``weight`` broadcasts to the inputs."""
    y_pred = np.asarray(y_pred, np.float32).astype(np.float64)
    positive = np.asarray(y_true, np.float64) != 0
    weight = np.broadcast_to(np.ones(()) if weight is None else np.asarray(weight, np.float64), y_pred.shape)
    above = y_pred.ravel()[None, :] > np.asarray(thresholds, np.float32).astype(np.float64)[:, None]
    positive, weight = positive.ravel(), weight.ravel()
    tp = (above & positive) @ weight
    fp = (above & ~positive) @ weight
    return tp, fp, (~positive) @ weight - fp, positive @ weight - tp


def _ratio(a, b):
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def test_counts_precision_and_recall_match_numpy(backend):
    y_true, y_pred = _labels(), _scores()
    weight = RNG.uniform(0, 3, (B, C)).astype(np.float32)  # one weight per entry
    thresholds = [0.1, 0.35, 0.5, 0.9]
    tp, fp, tn, fn = ref_counts(y_true, y_pred, thresholds, weight)
    expected = {
        "TruePositives": tp,
        "FalsePositives": fp,
        "TrueNegatives": tn,
        "FalseNegatives": fn,
        "Precision": _ratio(tp, tp + fp),
        "Recall": _ratio(tp, tp + fn),
    }
    for cls, value in expected.items():
        metric = getattr(metrics, cls)(thresholds=thresholds)
        np.testing.assert_allclose(fed_value(backend, metric, y_true, y_pred, sample_weight=weight), value, **F64_TOL)


@pytest.mark.parametrize("num_thresholds", [1, 2, 9, 200])
def test_operating_points_match_numpy(backend, num_thresholds):
    y_true, y_pred = _labels(), RNG.random((B, C)).astype(np.float32)
    weight = RNG.uniform(0, 2, B).astype(np.float32)
    if num_thresholds == 1:
        thresholds = [0.5]
    else:
        thresholds = [i / (num_thresholds - 1) for i in range(num_thresholds)]
    tp, fp, tn, fn = ref_counts(y_true, y_pred, thresholds, weight[:, None])
    sensitivity, specificity, precision = _ratio(tp, tp + fn), _ratio(tn, tn + fp), _ratio(tp, tp + fp)

    def best(constrained, value, dependent):
        return np.max(np.where(constrained >= value, dependent, 0.0))

    cases = {
        metrics.SensitivityAtSpecificity(0.6, num_thresholds): best(specificity, 0.6, sensitivity),
        metrics.SpecificityAtSensitivity(0.6, num_thresholds): best(sensitivity, 0.6, specificity),
        metrics.PrecisionAtRecall(0.3, num_thresholds): best(sensitivity, 0.3, precision),
        metrics.RecallAtPrecision(0.55, num_thresholds): best(precision, 0.55, sensitivity),
    }
    for metric, value in cases.items():
        np.testing.assert_allclose(fed_value(backend, metric, y_true, y_pred, sample_weight=weight), value, **F64_TOL)


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")  # JAX without x64 keeps float32
@pytest.mark.parametrize("true_dtype", ["bool", "int32", "float32"])
@pytest.mark.parametrize("pred_dtype", ["float16", "bfloat16", "float32", "float64", "int32", "bool"])
def test_bool_int_and_float_inputs(backend, true_dtype, pred_dtype):
    y_true = _labels()
    if pred_dtype in ("int32", "bool"):
        y_pred = RNG.integers(0, 2, (B, C))
    else:
        y_pred = RNG.random((B, C))
    y_true_t = backend.convert_to_tensor(y_true.astype(true_dtype))
    y_pred_t = backend.cast(backend.convert_to_tensor(np.asarray(y_pred, np.float32)), pred_dtype)
    # the reference sees exactly the values the backend holds
    held = np.asarray(backend.to_numpy(backend.cast(y_pred_t, "float32")), np.float64)
    thresholds = [0.0, 0.3, 0.5, 0.7, 1.0]
    tp, fp, _, fn = ref_counts(y_true, held, thresholds)
    for metric, value in (
        (metrics.Precision(thresholds), _ratio(tp, tp + fp)),
        (metrics.Recall(thresholds), _ratio(tp, tp + fn)),
    ):
        metric.update_state(y_true_t, y_pred_t)
        np.testing.assert_allclose(np.asarray(backend.to_numpy(metric.result()), np.float64), value, **F64_TOL)


# ---------------------------------------------------------------- edges
ALL_CLASSES = [
    lambda: metrics.TruePositives(),
    lambda: metrics.FalsePositives([0.2, 0.8]),
    lambda: metrics.TrueNegatives(),
    lambda: metrics.FalseNegatives(),
    lambda: metrics.Precision(),
    lambda: metrics.Recall(top_k=2),
    lambda: metrics.SensitivityAtSpecificity(0.5),
    lambda: metrics.SpecificityAtSensitivity(0.5),
    lambda: metrics.PrecisionAtRecall(0.5),
    lambda: metrics.RecallAtPrecision(0.5),
]


@pytest.mark.parametrize("make", ALL_CLASSES, ids=lambda make: repr(make())[:40])
def test_result_before_any_update_is_zero(make):
    value = np.asarray(make().result())
    assert value.dtype == np.float32
    np.testing.assert_array_equal(value, np.zeros_like(value))  # Keras: 0 (per threshold)


def test_an_empty_batch_changes_nothing(backend):
    for make in ALL_CLASSES:
        metric = make()
        empty = backend.convert_to_tensor(np.zeros((0, C), np.float32))
        metric.update_state(empty, empty)
        np.testing.assert_array_equal(np.asarray(backend.to_numpy(metric.result())), 0.0)
        y_true, y_pred = _labels(), _scores()
        fresh = make()
        np.testing.assert_allclose(
            fed_value(backend, metric, y_true, y_pred), fed_value(backend, fresh, y_true, y_pred)
        )


def test_nan_predictions_are_never_positive(backend):
    y_true = np.array([1, 0, 1, 0])
    y_pred = np.array([np.nan, np.nan, 0.9, 0.1], np.float32)
    # bucketed (evenly spaced) and compared thresholds agree: NaN counts as below
    for thresholds in ([0.5], [0.0, 0.5, 1.0]):
        counts = [
            fed_value(backend, cls(thresholds), y_true, y_pred)
            for cls in (metrics.TruePositives, metrics.FalsePositives, metrics.TrueNegatives, metrics.FalseNegatives)
        ]
        np.testing.assert_array_equal(counts[0][..., 1] if len(thresholds) > 1 else counts[0], 1.0)
        np.testing.assert_array_equal(counts[1][..., 1] if len(thresholds) > 1 else counts[1], 0.0)
        np.testing.assert_array_equal(counts[2][..., 1] if len(thresholds) > 1 else counts[2], 2.0)
        np.testing.assert_array_equal(counts[3][..., 1] if len(thresholds) > 1 else counts[3], 1.0)


def test_top_k_ties_go_to_the_lower_index(backend):
    # Keras' documented values: the top 2 of four equal scores are the first two
    assert fed_value(backend, metrics.Precision(top_k=2), [0, 0, 1, 1], [1.0, 1.0, 1.0, 1.0]) == 0.0
    assert fed_value(backend, metrics.Precision(top_k=4), [0, 0, 1, 1], [1.0, 1.0, 1.0, 1.0]) == 0.5
    rows = np.array([[0.5, 0.9, 0.5, 0.5], [0.2, 0.2, 0.2, 0.2]], np.float32)
    labels = np.array([[0, 0, 1, 0], [0, 1, 0, 0]])
    # top 2: {1, 0} in row 0 and {0, 1} in row 1 -> one hit (row 1, class 1) of 4
    assert fed_value(backend, metrics.Precision(top_k=2), labels, rows) == 0.25


def test_precision_and_recall_keras_doc_examples(backend):
    assert fed_value(backend, metrics.Precision(), [0, 1, 1, 1], [1, 0, 1, 1]) == pytest.approx(2 / 3)
    weighted = metrics.Recall()
    assert fed_value(backend, weighted, [0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0]) == 1.0
    assert fed_value(backend, metrics.SensitivityAtSpecificity(0.5), [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]) == 0.5


def test_counts_stay_exact_past_2_24_in_float32_state(backend):
    # JAX's state is float32 (compensated); 2**24 + 3 is no float32
    with lossbridge.use_backend(backend.name):
        metric = metrics.TruePositives()
        metric.update_state([1.0], [1.0], sample_weight=[2.0**24])
        for _ in range(3):
            metric.update_state([1.0], [1.0])
    state = {k: np.asarray(backend.to_numpy(v), np.float64) for k, v in metric.state.items()}
    # a float32 count reads with its compensation twin; a float64 one has none (metrics/_state.py)
    assert float(state["true_positives"][0] + state.get("true_positives_compensation", [0.0])[0]) == 2**24 + 3


# ---------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: metrics.Precision(thresholds=1.5), "`thresholds` must be"),
        (lambda: metrics.TruePositives(thresholds=[0.5, -0.1]), "`thresholds` must be"),
        (lambda: metrics.Recall(top_k=0), "`top_k` must be"),
        (lambda: metrics.Recall(class_id=-1), "`class_id` must be"),
        (lambda: metrics.PrecisionAtRecall(recall=1.2), "`recall` must be"),
        (lambda: metrics.SensitivityAtSpecificity(specificity=-0.1), "`specificity` must be"),
        (lambda: metrics.RecallAtPrecision(0.5, num_thresholds=0), "`num_thresholds` must be"),
    ],
)
def test_invalid_arguments_are_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_are_rejected(backend):
    ones = backend.convert_to_tensor(np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"class_id.*shape \(num_samples, num_classes\)"):
        metrics.Precision(class_id=0).update_state(ones[:, 0], ones[:, 0])
    with pytest.raises(ValueError, match="`class_id`=5 is out of range"):
        metrics.Precision(class_id=5).update_state(ones, ones)
    with pytest.raises(ValueError, match="`y_true` and `y_pred` must have the same shape"):
        metrics.Recall().update_state(backend.convert_to_tensor(np.ones((3, 3), np.float32)), ones)


def test_config_round_trips_and_other_configs_do_not_merge():
    for make in ALL_CLASSES:
        metric = make()
        again = metrics.deserialize(metrics.serialize(metric))
        assert type(again) is type(metric) and again.get_config() == metric.get_config()
    with pytest.raises(ValueError, match="same type and config"):
        metrics.Precision(thresholds=0.4).merge_state([metrics.Precision(thresholds=0.6)])
    with pytest.raises(ValueError, match="same type and config"):
        metrics.Precision().merge_state([metrics.Recall()])


# ---------------------------------------------------------------- merging shards
N = 12
# shard boundaries on a grid of 4 keep the set of shapes (one JAX compile each) small
CUTS = st.lists(st.sampled_from(range(0, N + 1, 4)), max_size=3)


@pytest.mark.parametrize("make", ALL_CLASSES, ids=lambda make: repr(make())[:40])
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), cuts=CUTS, weighted=st.booleans())
def test_merged_shards_equal_one_metric_on_all_data(backend, make, seed, cuts, weighted):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, 2, (N, C)), rng.random((N, C)).astype(np.float32)
    weight = rng.uniform(0, 2, N).astype(np.float32) if weighted else None
    whole = make()
    expected = fed_value(backend, whole, y_true, y_pred, sample_weight=weight)
    bounds = [0, *sorted(cuts), N]
    shards = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        shard = make()
        if stop > start:
            part = None if weight is None else weight[start:stop]
            fed_value(backend, shard, y_true[start:stop], y_pred[start:stop], sample_weight=part)
        shards.append(shard)
    shards[0].merge_state(shards[1:])
    np.testing.assert_allclose(np.asarray(backend.to_numpy(shards[0].result()), np.float64), expected, **F64_TOL)


@pytest.mark.parametrize(
    "make",
    [
        lambda: metrics.Precision(thresholds=[0.2, 0.7], class_id=1),
        lambda: metrics.Recall(top_k=2),
        lambda: metrics.AUC(multi_label=True, curve="PR"),
        lambda: metrics.MeanIoU(2, ignore_class=255),
        lambda: metrics.F1Score(average="weighted"),
    ],
    ids=lambda make: type(make()).__name__,
)
@on("torch")  # torch.compile only
def test_no_graph_breaks_under_torch_compile(backend, make, monkeypatch):
    import torch._dynamo as dynamo

    metric = make()
    y_true = backend.convert_to_tensor(RNG.integers(0, 2, (B, C)))
    y_pred = backend.convert_to_tensor(RNG.random((B, C)).astype(np.float32))
    weight = backend.convert_to_tensor(np.ones(B, np.float32))
    if isinstance(metric, metrics.MeanIoU):  # class ids, one weight per pixel
        y_pred, weight = y_true, backend.convert_to_tensor(np.ones((B, C), np.float32))
    state = metric.stateless_initial_state(y_pred)
    # the first call of the process, as the test order cannot promise: nothing bound or fused yet (a cache
    # filled during the trace broke the graph, and passed only where an earlier test had filled it)
    monkeypatch.setattr(lossbridge.k, "_bound", {})
    monkeypatch.setattr(lossbridge.k, "_kernels", {})
    monkeypatch.setattr(lossbridge.metrics._state, "_ADDERS", {})
    update = dynamo.explain(lambda s, t, p: metric.stateless_update_state(s, t, p, sample_weight=weight))
    result = dynamo.explain(metric.stateless_result)
    assert update(state, y_true, y_pred).graph_break_count == 0
    assert result(state).graph_break_count == 0
