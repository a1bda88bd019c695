"""F1Score and FBetaScore: against keras.metrics in-process and the float64
F-beta formula from counts, on every backend, eager and compiled; every
average, thresholds and the argmax rule, input dtypes, merging shards and bad
arguments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lossbridge import metrics
from tests.helpers import on
from tests.metric_support import F64_TOL, KERAS_TOL, compiled_value, eager_value, fed_value, keras_value

RNG = np.random.default_rng(17)
B, C = 16, 4


def _pair():
    scores = (RNG.integers(0, 11, (B, C)) / 10).astype(np.float32)  # ties within rows
    scores[0] = 0.0  # a row of zeros predicts nothing under the argmax rule
    return RNG.integers(0, 2, (B, C)), scores


def _batches():
    return [(_pair(), RNG.uniform(0.5, 2, B).astype(np.float32)), (_pair(), None)]


CONFIGS = {
    "F1": ("F1Score", {}),
    "F1-micro": ("F1Score", {"average": "micro"}),
    "F1-macro-threshold": ("F1Score", {"average": "macro", "threshold": 0.4}),
    "F1-weighted": ("F1Score", {"average": "weighted"}),
    "FBeta-2-threshold": ("FBetaScore", {"beta": 2.0, "threshold": 0.6}),
    "FBeta-half-weighted": ("FBetaScore", {"beta": 0.5, "average": "weighted", "threshold": 0.5}),
}
BATCHES = {name: _batches() for name in CONFIGS}


def _make(name, module):
    cls, options = CONFIGS[name]
    return getattr(module, cls)(**options)


@pytest.mark.parametrize("name", CONFIGS)
def test_eager_matches_keras(backend, name):
    expected = keras_value(lambda km: _make(name, km), BATCHES[name])
    np.testing.assert_allclose(eager_value(backend, _make(name, metrics), BATCHES[name]), expected, **KERAS_TOL)


@pytest.mark.parametrize("name", ["F1", "FBeta-half-weighted"])
# jax.jit / tf.function / mx.compile (torch.compile runs in the confusion and IoU tests)
@on("jax", "tensorflow", "mlx")
def test_compiled_stateless_form_matches_keras(backend, name):
    expected = keras_value(lambda km: _make(name, km), BATCHES[name])
    np.testing.assert_allclose(compiled_value(backend, _make(name, metrics), BATCHES[name]), expected, **KERAS_TOL)


# ---------------------------------------------------------------- NumPy float64 reference
def ref_fbeta(y_true, y_pred, *, beta=1.0, threshold=None, average=None, weight=None):
    """F_beta = (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp) from weighted
    counts per class (pooled for "micro"); 0 where nothing was counted."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    if threshold is None:
        predicted = (y_pred == y_pred.max(-1, keepdims=True)) & (y_pred != 0)
    else:
        predicted = y_pred > threshold
    w = np.ones((len(y_true), 1)) if weight is None else np.asarray(weight, np.float64)[:, None]
    axis = None if average == "micro" else 0
    tp = (predicted * y_true * w).sum(axis)
    fp = (predicted * (1 - y_true) * w).sum(axis)
    fn = (~predicted * y_true * w).sum(axis)
    b2 = beta**2
    denominator = (1 + b2) * tp + b2 * fn + fp
    score = np.where(denominator == 0, 0.0, (1 + b2) * tp / np.where(denominator == 0, 1, denominator))
    if average == "weighted":
        support = (y_true * w).sum(0)
        return (score * support).sum() / support.sum()
    return score if average is None else score.mean()


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize(("beta", "threshold"), [(1.0, None), (2.0, 0.5), (0.3, 0.25)])
def test_matches_the_f_beta_formula(backend, average, beta, threshold):
    # enough samples that every class has true and predicted positives (eps is negligible)
    y_true, y_pred = RNG.integers(0, 2, (64, C)), RNG.random((64, C)).astype(np.float32)
    y_true[:C] = np.eye(C, dtype=int)
    y_pred[:C] = np.eye(C, dtype=np.float32)
    weight = RNG.uniform(0.5, 2, 64).astype(np.float32)
    metric = metrics.FBetaScore(average=average, beta=beta, threshold=threshold)
    expected = ref_fbeta(y_true, y_pred, beta=beta, threshold=threshold, average=average, weight=weight)
    np.testing.assert_allclose(fed_value(backend, metric, y_true, y_pred, weight), expected, **F64_TOL)


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")  # JAX without x64 keeps float32
@pytest.mark.parametrize("true_dtype", ["bool", "int32", "float32"])
@pytest.mark.parametrize("pred_dtype", ["float16", "bfloat16", "float64", "int32"])
def test_bool_int_and_float_inputs(backend, true_dtype, pred_dtype):
    y_true = RNG.integers(0, 2, (32, C))
    y_pred = RNG.integers(0, 2, (32, C)) if pred_dtype == "int32" else RNG.random((32, C))
    y_pred_t = backend.cast(backend.convert_to_tensor(y_pred.astype(np.float32)), pred_dtype)
    held = np.asarray(backend.to_numpy(backend.cast(y_pred_t, "float32")), np.float64)
    for threshold in (None, 0.5):
        metric = metrics.F1Score(average="macro", threshold=threshold)
        metric.update_state(backend.convert_to_tensor(y_true.astype(true_dtype)), y_pred_t)
        value = np.asarray(backend.to_numpy(metric.result()), np.float64)
        np.testing.assert_allclose(value, ref_fbeta(y_true, held, threshold=threshold, average="macro"), **F64_TOL)


def test_keras_doc_example(backend):
    y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], np.int32)
    y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], np.float32)
    value = fed_value(backend, metrics.F1Score(threshold=0.5), y_true, y_pred)
    np.testing.assert_allclose(value, [0.5, 0.8, 2 / 3], rtol=1e-6)


def test_result_before_any_update_is_zero():
    # Keras cannot answer before its first batch (no variables yet); 0 here
    for average in (None, "micro", "weighted"):
        assert float(np.asarray(metrics.F1Score(average=average).result())) == 0.0


# ---------------------------------------------------------------- arguments and inputs
@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"average": "samples"}, "`average` must be one of"),
        ({"beta": 0.0}, "`beta` must be a number > 0"),
        ({"beta": True}, "`beta` must be a number > 0"),
        ({"threshold": 0.0}, "`threshold` must be None or a number with 0 < threshold <= 1"),
        ({"threshold": 1.5}, "`threshold` must be None"),
    ],
)
def test_invalid_arguments_are_rejected(options, match):
    with pytest.raises(ValueError, match=match):
        metrics.FBetaScore(**options)


def test_bad_inputs_are_rejected(backend):
    flat = backend.convert_to_tensor(np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"expects `y_pred` of shape \(batch_size, num_classes\)"):
        metrics.F1Score().update_state(flat, flat)
    metric = metrics.F1Score()
    three, two = (backend.convert_to_tensor(np.ones((4, n), np.float32)) for n in (3, 2))
    metric.update_state(three, three)
    with pytest.raises(ValueError, match="earlier batches had 3"):
        metric.update_state(two, two)
    with pytest.raises(ValueError, match="must have the same shape"):
        metrics.F1Score().update_state(two, three)
    with pytest.raises(ValueError, match="`sample_weight` must be a scalar or one weight per sample"):
        metrics.F1Score().update_state(three, three, sample_weight=three)


def test_config_round_trips():
    for cls, options in CONFIGS.values():
        metric = getattr(metrics, cls)(**options)
        again = metrics.deserialize(metrics.serialize(metric))
        assert type(again) is type(metric) and again.get_config() == metric.get_config()
    assert "beta" not in metrics.F1Score().get_config()
    with pytest.raises(ValueError, match="same type and config"):
        metrics.F1Score().merge_state([metrics.F1Score(average="macro")])


# ---------------------------------------------------------------- merging shards
N = 12
CUTS = st.lists(st.sampled_from(range(0, N + 1, 4)), max_size=3)


@pytest.mark.parametrize("options", [{}, {"average": "micro", "threshold": 0.5}, {"average": "weighted"}], ids=str)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), cuts=CUTS, weighted=st.booleans())
def test_merged_shards_equal_one_metric_on_all_data(backend, options, seed, cuts, weighted):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, 2, (N, C)), rng.random((N, C)).astype(np.float32)
    weight = rng.uniform(0, 2, N).astype(np.float32) if weighted else None
    expected = fed_value(backend, metrics.F1Score(**options), y_true, y_pred, weight)
    bounds = [0, *sorted(cuts), N]
    shards = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        shard = metrics.F1Score(**options)
        if stop > start:
            fed_value(
                backend, shard, y_true[start:stop], y_pred[start:stop], None if weight is None else weight[start:stop]
            )
        shards.append(shard)
    shards[0].merge_state(shards[1:])
    np.testing.assert_allclose(np.asarray(backend.to_numpy(shards[0].result()), np.float64), expected, **F64_TOL)
