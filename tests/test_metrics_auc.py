"""AUC: against keras.metrics.AUC in-process and a float64 NumPy reference
(counts at Keras' thresholds, Riemann sums written out, the PR interpolation
integrated numerically), on every backend, eager and compiled; the exact
rank-statistic AUC as a sanity bound; input dtypes, multi-label, merging
shards and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lossbridge import metrics
from tests.helpers import on
from tests.metric_support import F64_TOL, KERAS_TOL, compiled_value, eager_value, fed_value, keras_value

RNG = np.random.default_rng(5)
B, L = 24, 3
EPS = 1e-7


def _batches(logits=False):
    def pair():
        scores = RNG.normal(0, 3, (B, L)) if logits else RNG.random((B, L))
        scores = scores.astype(np.float32)
        scores[0, 0], scores[1, 1] = (-9.0, 9.0) if logits else (0.0, 1.0)  # the end points
        return RNG.integers(0, 2, (B, L)), scores

    return [(pair(), RNG.uniform(0, 2, B).astype(np.float32)), (pair(), None)]


CONFIGS = {
    "ROC": {},
    "PR": {"curve": "PR"},
    "PR-minoring": {"curve": "PR", "summation_method": "minoring"},
    "ROC-majoring": {"summation_method": "majoring"},
    "PRGAIN": {"curve": "PRGAIN"},
    "ROC-7": {"num_thresholds": 7},
    "ROC-unsorted-thresholds": {"thresholds": [0.3, 0.1, 0.8]},
    "PR-even-thresholds": {"curve": "PR", "thresholds": [0.25, 0.5, 0.75]},
    "multi_label": {"multi_label": True},
    "multi_label-PR-label_weights": {"multi_label": True, "curve": "PR", "label_weights": [1.0, 2.0, 0.5]},
    "pooled-label_weights": {"label_weights": [1.0, 2.0, 0.5]},
    "multi_label-num_labels-thresholds": {"multi_label": True, "num_labels": L, "thresholds": [0.2, 0.4]},
    "from_logits": {"from_logits": True},
}
BATCHES = {name: _batches(logits="from_logits" in name) for name in CONFIGS}


@pytest.mark.parametrize("name", CONFIGS)
def test_eager_matches_keras(backend, name):
    expected = keras_value(lambda km: km.AUC(**CONFIGS[name]), BATCHES[name])
    np.testing.assert_allclose(eager_value(backend, metrics.AUC(**CONFIGS[name]), BATCHES[name]), expected, **KERAS_TOL)


@pytest.mark.parametrize("name", ["ROC", "ROC-unsorted-thresholds", "multi_label-PR-label_weights", "from_logits"])
# jax.jit / tf.function / mx.compile (torch.compile runs in the confusion and IoU tests)
@on("jax", "tensorflow", "mlx")
def test_compiled_stateless_form_matches_keras(backend, name):
    expected = keras_value(lambda km: km.AUC(**CONFIGS[name]), BATCHES[name])
    value = compiled_value(backend, metrics.AUC(**CONFIGS[name]), BATCHES[name])
    np.testing.assert_allclose(value, expected, **KERAS_TOL)


# ---------------------------------------------------------------- NumPy float64 reference
def ref_thresholds(num_thresholds=200, thresholds=None):
    inner = (
        sorted(thresholds)
        if thresholds is not None
        else [i / (num_thresholds - 1) for i in range(1, num_thresholds - 1)]
    )
    return np.asarray([-EPS, *inner, 1 + EPS], np.float32).astype(np.float64)


def ref_counts(y_true, y_pred, thresholds, weight):
    """(tp, fp, tn, fn), each (T, labels): ``y_pred > t`` is positive."""
    positive = np.asarray(y_true) != 0
    above = np.asarray(y_pred, np.float64)[None] > thresholds[:, None, None]
    w = np.broadcast_to(weight, positive.shape)
    tp = ((above & positive) * w).sum(1)
    fp = ((above & ~positive) * w).sum(1)
    return tp, fp, (~positive * w).sum(0) - fp, (positive * w).sum(0) - tp


def _ratio(a, b):
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def ref_pr_interpolated(tp, fp, fn):
    """Area under PR with tp linear in P = tp + fp between thresholds (Davis &
    Goadrich): precision(P) = tp(P) / P integrated against recall = tp / total
    by a 4000-point midpoint rule in P on each interval."""
    total = tp + fn
    areas = np.zeros(tp.shape[0] - 1)
    predicted = tp + fp
    for i in range(len(areas)):
        p_hi, p_lo = predicted[i], predicted[i + 1]
        if p_hi <= p_lo or total[i + 1] == 0:
            continue
        slope = (tp[i] - tp[i + 1]) / (p_hi - p_lo)
        steps = (np.arange(4000) + 0.5) / 4000
        p = p_lo + (p_hi - p_lo) * steps
        precision = (tp[i + 1] + slope * (p - p_lo)) / p
        areas[i] = np.mean(precision) * slope * (p_hi - p_lo) / total[i + 1]
    return areas.sum()


def ref_auc(y_true, y_pred, weight=None, curve="ROC", summation_method="interpolation", **threshold_options):
    """One label's (or the pooled) AUC from the counts."""
    thresholds = ref_thresholds(**threshold_options)
    y_true, y_pred = np.ravel(y_true)[:, None], np.ravel(y_pred)[:, None]
    weight = np.ones(y_pred.shape) if weight is None else np.ravel(weight)[:, None]
    tp, fp, tn, fn = (count[:, 0] for count in ref_counts(y_true, y_pred, thresholds, weight))
    if curve == "PR" and summation_method == "interpolation":
        return ref_pr_interpolated(tp, fp, fn)
    recall = _ratio(tp, tp + fn)
    if curve == "ROC":
        x, y = _ratio(fp, fp + tn), recall
    elif curve == "PR":
        x, y = recall, _ratio(tp, tp + fp)
    else:  # PRGAIN, with Keras' guards
        scale = _ratio(tp + fn, tn + fp)
        x = np.maximum(np.where(tp == 0, 0.0, 1 - scale * _ratio(fn, tp)), 0.0)
        y = np.where(tp == 0, 1.0, 1 - scale * _ratio(fp, tp))
    pick = {"interpolation": lambda a, b: (a + b) / 2, "minoring": np.minimum, "majoring": np.maximum}
    return np.sum((x[:-1] - x[1:]) * pick[summation_method](y[:-1], y[1:]))


@pytest.mark.parametrize("curve", ["ROC", "PR", "PRGAIN"])
@pytest.mark.parametrize("summation_method", ["interpolation", "minoring", "majoring"])
@pytest.mark.parametrize("threshold_options", [{}, {"num_thresholds": 13}, {"thresholds": [0.9, 0.05, 0.5, 0.51]}])
def test_matches_numpy_reference(backend, curve, summation_method, threshold_options):
    y_true, y_pred = RNG.integers(0, 2, 40), RNG.random(40).astype(np.float32)
    weight = RNG.uniform(0, 2, 40).astype(np.float32)
    metric = metrics.AUC(curve=curve, summation_method=summation_method, **threshold_options)
    expected = ref_auc(y_true, y_pred, weight, curve, summation_method, **threshold_options)
    np.testing.assert_allclose(fed_value(backend, metric, y_true, y_pred, weight), expected, **F64_TOL)


def test_roc_approaches_the_exact_rank_statistic(backend):
    # many thresholds and spread-out scores: the Riemann sum tends to P(score+ > score-)
    y_true, y_pred = RNG.integers(0, 2, 400), RNG.random(400).astype(np.float32)
    pos, neg = y_pred[y_true == 1].astype(np.float64), y_pred[y_true == 0].astype(np.float64)
    exact = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    value = fed_value(backend, metrics.AUC(num_thresholds=20001), y_true, y_pred)
    assert abs(value - exact) < 2e-3


def test_multi_label_averages_per_label_areas(backend):
    y_true, y_pred = RNG.integers(0, 2, (30, L)), RNG.random((30, L)).astype(np.float32)
    per_label = np.array([ref_auc(y_true[:, j], y_pred[:, j], curve="PR") for j in range(L)])
    label_weights = np.array([0.5, 0.0, 2.0])
    plain = fed_value(backend, metrics.AUC(curve="PR", multi_label=True), y_true, y_pred)
    weighted = fed_value(
        backend, metrics.AUC(curve="PR", multi_label=True, label_weights=label_weights), y_true, y_pred
    )
    np.testing.assert_allclose(plain, per_label.mean(), **F64_TOL)
    np.testing.assert_allclose(weighted, (per_label * label_weights).sum() / label_weights.sum(), **F64_TOL)


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")  # JAX without x64 keeps float32
@pytest.mark.parametrize("true_dtype", ["bool", "int32", "float32"])
@pytest.mark.parametrize("pred_dtype", ["float16", "bfloat16", "float64", "int32"])
def test_bool_int_and_float_inputs(backend, true_dtype, pred_dtype):
    y_true = RNG.integers(0, 2, 32)
    y_pred = RNG.integers(0, 2, 32) if pred_dtype == "int32" else RNG.random(32)
    y_pred_t = backend.cast(backend.convert_to_tensor(y_pred.astype(np.float32)), pred_dtype)
    held = np.asarray(backend.to_numpy(backend.cast(y_pred_t, "float32")), np.float64)
    metric = metrics.AUC(num_thresholds=50)
    metric.update_state(backend.convert_to_tensor(y_true.astype(true_dtype)), y_pred_t)
    value = float(np.asarray(backend.to_numpy(metric.result()), np.float64))
    np.testing.assert_allclose(value, ref_auc(y_true, held, num_thresholds=50), **F64_TOL)


def test_huge_logits_and_nan_predictions(backend):
    y_true = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    logits = np.array([1e4, -1e4, 100.0, -100.0, 3.0, 0.5, -2.0, 1e4], np.float32)
    probabilities = 0.5 * (1 + np.tanh(logits.astype(np.float64) / 2))  # the sigmoid, without overflow
    for curve in ("ROC", "PR"):
        value = fed_value(backend, metrics.AUC(curve=curve, from_logits=True), y_true, logits)
        np.testing.assert_allclose(value, ref_auc(y_true, probabilities.astype(np.float32), curve=curve), **F64_TOL)
    # a NaN prediction clears no threshold (Keras drops it from every bucket)
    with_nan = np.array([0.9, np.nan, 0.2, 0.4], np.float32)
    value = fed_value(backend, metrics.AUC(num_thresholds=5), [1, 0, 0, 1], with_nan)
    expected = ref_auc([1, 0, 0, 1], np.nan_to_num(with_nan, nan=-1.0), num_thresholds=5)
    np.testing.assert_allclose(value, expected, **F64_TOL)


# ---------------------------------------------------------------- edges
def test_result_before_any_update_is_zero():
    for options in ({}, {"curve": "PR"}, {"multi_label": True}, {"multi_label": True, "num_labels": 4}):
        assert float(np.asarray(metrics.AUC(**options).result())) == 0.0


def test_keras_doc_example_and_an_empty_batch(backend):
    metric = metrics.AUC(num_thresholds=3)
    assert fed_value(backend, metric, np.zeros(0), np.zeros(0, np.float32)) == 0.0
    assert fed_value(backend, metric, [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]) == 0.75
    weighted = metrics.AUC(num_thresholds=3)
    assert fed_value(backend, weighted, [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], [1, 0, 0, 1]) == 1.0


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"curve": "roc_pr"}, "`curve` must be one of"),
        ({"summation_method": "trapezoid"}, "`summation_method` must be"),
        ({"num_thresholds": 1}, "`num_thresholds` must be an int > 1"),
        ({"num_labels": 3}, "`num_labels` is needed only when `multi_label` is True"),
        ({"thresholds": [0.2, 1.5]}, "`thresholds` must be"),
        ({"multi_label": True, "label_weights": [1.0, -1.0]}, "`label_weights` must be non-negative"),
    ],
)
def test_invalid_arguments_are_rejected(options, match):
    with pytest.raises(ValueError, match=match):
        metrics.AUC(**options)


def test_bad_multi_label_inputs_are_rejected(backend):
    flat = backend.convert_to_tensor(np.ones(4, np.float32))
    with pytest.raises(ValueError, match="multi_label=True, `y_pred` must have rank 2"):
        metrics.AUC(multi_label=True).update_state(flat, flat)
    metric = metrics.AUC(multi_label=True)
    three, two = (backend.convert_to_tensor(np.ones((4, n), np.float32)) for n in (3, 2))
    metric.update_state(three, three)
    with pytest.raises(ValueError, match="earlier batches had 3"):
        metric.update_state(two, two)
    with pytest.raises(ValueError, match="built with num_labels=3"):
        metrics.AUC(multi_label=True, num_labels=3).update_state(two, two)


def test_config_round_trips():
    for options in CONFIGS.values():
        metric = metrics.AUC(**options)
        again = metrics.deserialize(metrics.serialize(metric))
        assert again.get_config() == metric.get_config()
        assert again.thresholds == metric.thresholds
    with pytest.raises(ValueError, match="same type and config"):
        metrics.AUC().merge_state([metrics.AUC(curve="PR")])


# ---------------------------------------------------------------- merging shards
N = 12
CUTS = st.lists(st.sampled_from(range(0, N + 1, 4)), max_size=3)
MERGED = [{}, {"curve": "PR"}, {"multi_label": True, "thresholds": [0.1, 0.7, 0.3]}]


@pytest.mark.parametrize("options", MERGED, ids=str)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), cuts=CUTS, weighted=st.booleans())
def test_merged_shards_equal_one_metric_on_all_data(backend, options, seed, cuts, weighted):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, 2, (N, L)), rng.random((N, L)).astype(np.float32)
    weight = rng.uniform(0, 2, N).astype(np.float32) if weighted else None
    expected = fed_value(backend, metrics.AUC(**options), y_true, y_pred, weight)
    bounds = [0, *sorted(cuts), N]
    shards = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        shard = metrics.AUC(**options)
        if stop > start:
            fed_value(
                backend, shard, y_true[start:stop], y_pred[start:stop], None if weight is None else weight[start:stop]
            )
        shards.append(shard)
    shards[0].merge_state(shards[1:])
    np.testing.assert_allclose(float(np.asarray(backend.to_numpy(shards[0].result()))), expected, **F64_TOL)


# ---------------------------------------------------------------- the K ops the bucketing needs
@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")  # JAX without x64 keeps float32
@pytest.mark.parametrize("dtype", [None, "int32", "float32", "float64"])
def test_segment_sum_adds_or_counts_into_a_fixed_length(backend, dtype):
    ids = np.array([[0, 4, 4], [2, 4, 0]], np.int32)
    values = np.array([[1.5, 2.0, 3.0], [4.0, 5.0, 6.0]])
    data = None if dtype is None else backend.cast(backend.convert_to_tensor(values.astype(np.float32)), dtype)
    out = backend.segment_sum(data, backend.convert_to_tensor(ids), 6)
    expected = np.bincount(ids.ravel(), None if dtype is None else values.ravel().astype(dtype), 6)
    # counts in the framework's own integer (torch and NumPy count in int64), sums in the data's dtype
    assert backend.dtype(out) in (("int32", "int64") if dtype is None else (backend.dtype(data),))
    np.testing.assert_array_equal(np.asarray(backend.to_numpy(out), np.float64), expected.astype(np.float64))


def test_flip_and_ceil(backend):
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    t = backend.convert_to_tensor(x)
    np.testing.assert_array_equal(backend.to_numpy(backend.flip(t, -1)), x[:, ::-1])
    np.testing.assert_array_equal(backend.to_numpy(backend.flip(t, 0)), x[::-1])
    np.testing.assert_array_equal(backend.to_numpy(backend.flip(t)), x[::-1, ::-1])
    np.testing.assert_array_equal(backend.to_numpy(backend.ceil(t)), np.ceil(x))
    ints = backend.convert_to_tensor(np.array([1, 2], np.int32))
    assert backend.dtype(backend.ceil(ints)) == "float32"


def test_fused_kernels_equal_their_eager_function(backend):
    def kernel(x, y):
        return backend.clip(x, -1, 3) * 5 + y, backend.any(x > 2)

    x = backend.convert_to_tensor(np.array([-4, 0, 2, 9], np.int32))
    y = backend.convert_to_tensor(np.array([1, 1, 2, 2], np.int32))
    fused = backend.fused(kernel)
    for got, expected in zip(fused(x, y), kernel(x, y), strict=True):
        np.testing.assert_array_equal(backend.to_numpy(got), backend.to_numpy(expected))
