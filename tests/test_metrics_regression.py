"""Every loss as a mean metric, RMSE, R2, the correlations and cosine
similarity: against keras.metrics (in process) and float64 NumPy formulas,
eager on every backend and through the compiled stateless form."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lossbridge import LossbridgeWarning, metrics
from tests.helpers import holds_float64, on, precision, to_backend, to_numpy
from tests.metric_support import F64_TOL, KERAS_TOL, compiled_value, eager_value, keras_value

RNG = np.random.default_rng(5)
B, C = 6, 3


def _normal(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def _uniform(*shape, low=0.0, high=1.0):
    return RNG.uniform(low, high, size=shape).astype(np.float32)


def _probabilities(*shape):
    logits = RNG.normal(size=shape)
    return (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)


def _one_hot(*shape):
    return np.eye(shape[-1], dtype=np.float32)[RNG.integers(0, shape[-1], shape[:-1])]


def _binary(*shape):
    return (RNG.random(shape) > 0.5).astype(np.float32)


def _two_batches(make_pair):
    """A weighted batch, then an unweighted one (the second exercises accumulation)."""
    return [(make_pair(), _uniform(B, high=2.0)), (make_pair(), None)]


DATA = {
    "real": lambda: (_normal(B, C), _normal(B, C)),
    "real_3d": lambda: (_normal(B, C, 2), _normal(B, C, 2)),
    "positive": lambda: (_uniform(B, C, high=3.0), _uniform(B, C, low=0.01, high=3.0)),
    "probabilities": lambda: (_probabilities(B, C), _probabilities(B, C)),
    "binary_scores": lambda: (_binary(B, C), _normal(B, C)),
    "binary_probabilities": lambda: (_binary(B, C), _uniform(B, C)),
    "binary_logits": lambda: (_binary(B, C), _normal(B, C, scale=30.0)),
    "one_hot_scores": lambda: (_one_hot(B, C), _normal(B, C)),
    "one_hot_probabilities": lambda: (_one_hot(B, C), _probabilities(B, C)),
    "one_hot_logits": lambda: (_one_hot(B, C), _normal(B, C, scale=10.0)),
    "sparse_probabilities": lambda: (RNG.integers(0, C, B), _probabilities(B, C)),
    "sparse_logits": lambda: (RNG.integers(0, C, (B, 1)), _normal(B, C, scale=10.0)),
}

# name: (ours, keras, data)
CASES = {
    "MeanSquaredError": (metrics.MeanSquaredError, lambda km: km.MeanSquaredError(), "real"),
    "MeanAbsoluteError": (metrics.MeanAbsoluteError, lambda km: km.MeanAbsoluteError(), "real"),
    "MeanAbsolutePercentageError": (
        metrics.MeanAbsolutePercentageError,
        lambda km: km.MeanAbsolutePercentageError(),
        "real",
    ),
    "MeanSquaredLogarithmicError": (
        metrics.MeanSquaredLogarithmicError,
        lambda km: km.MeanSquaredLogarithmicError(),
        "positive",
    ),
    "CosineSimilarity": (metrics.CosineSimilarity, lambda km: km.CosineSimilarity(), "real"),
    "CosineSimilarity-axis1-3d": (
        lambda: metrics.CosineSimilarity(axis=1),
        lambda km: km.CosineSimilarity(axis=1),
        "real_3d",
    ),
    "LogCoshError": (metrics.LogCoshError, lambda km: km.LogCoshError(), "real"),
    "Hinge": (metrics.Hinge, lambda km: km.Hinge(), "binary_scores"),
    "SquaredHinge": (metrics.SquaredHinge, lambda km: km.SquaredHinge(), "binary_scores"),
    "CategoricalHinge": (metrics.CategoricalHinge, lambda km: km.CategoricalHinge(), "one_hot_scores"),
    "KLDivergence": (metrics.KLDivergence, lambda km: km.KLDivergence(), "probabilities"),
    "Poisson": (metrics.Poisson, lambda km: km.Poisson(), "positive"),
    "BinaryCrossentropy": (metrics.BinaryCrossentropy, lambda km: km.BinaryCrossentropy(), "binary_probabilities"),
    "BinaryCrossentropy-logits-smoothing": (
        lambda: metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.2),
        lambda km: km.BinaryCrossentropy(from_logits=True, label_smoothing=0.2),
        "binary_logits",
    ),
    "CategoricalCrossentropy": (
        metrics.CategoricalCrossentropy,
        lambda km: km.CategoricalCrossentropy(),
        "one_hot_probabilities",
    ),
    "CategoricalCrossentropy-logits-smoothing": (
        lambda: metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        lambda km: km.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        "one_hot_logits",
    ),
    "SparseCategoricalCrossentropy": (
        metrics.SparseCategoricalCrossentropy,
        lambda km: km.SparseCategoricalCrossentropy(),
        "sparse_probabilities",
    ),
    "SparseCategoricalCrossentropy-logits-ignore": (
        lambda: metrics.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1),
        lambda km: km.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1),
        "sparse_logits",
    ),
    "RootMeanSquaredError": (metrics.RootMeanSquaredError, lambda km: km.RootMeanSquaredError(), "real"),
    "R2Score": (metrics.R2Score, lambda km: km.R2Score(), "real"),
    "R2Score-per-output": (
        lambda: metrics.R2Score(class_aggregation=None),
        lambda km: km.R2Score(class_aggregation=None),
        "real",
    ),
    "R2Score-variance-weighted": (
        lambda: metrics.R2Score(class_aggregation="variance_weighted_average"),
        lambda km: km.R2Score(class_aggregation="variance_weighted_average"),
        "real",
    ),
    "R2Score-adjusted": (
        lambda: metrics.R2Score(num_regressors=2),
        lambda km: km.R2Score(num_regressors=2),
        "real",
    ),
    "PearsonCorrelation": (metrics.PearsonCorrelation, lambda km: km.PearsonCorrelation(), "real"),
    "ConcordanceCorrelation": (metrics.ConcordanceCorrelation, lambda km: km.ConcordanceCorrelation(), "real"),
}
BATCHES = {name: _two_batches(DATA[data]) for name, (_, _, data) in CASES.items()}


@pytest.mark.parametrize("name", CASES)
def test_eager_matches_keras(backend, name):
    ours, theirs, _ = CASES[name]
    batches = BATCHES[name]
    np.testing.assert_allclose(eager_value(backend, ours(), batches), keras_value(theirs, batches), **KERAS_TOL)


@pytest.mark.parametrize("name", CASES)
@on("jax", "tensorflow", "mlx")  # jax.jit / tf.function / mx.compile here; torch.compile in test_r2_under_torch_compile
def test_compiled_stateless_form_matches_keras(backend, name):
    ours, theirs, _ = CASES[name]
    batches = BATCHES[name]
    np.testing.assert_allclose(compiled_value(backend, ours(), batches), keras_value(theirs, batches), **KERAS_TOL)


@on("torch")  # torch.compile only
def test_r2_under_torch_compile(backend):
    batches = BATCHES["R2Score-adjusted"]
    expected = ref_r2(batches, num_regressors=2)
    np.testing.assert_allclose(compiled_value(backend, metrics.R2Score(num_regressors=2), batches), expected, **F64_TOL)


# ---------------------------------------------------------------- float64 NumPy formulas
def _weighted_mean(per_sample, batches):
    """sum(w * v) / sum(w) over every sample of every batch (w = 1 when absent)."""
    values = np.concatenate([per_sample(*inputs) for inputs, _ in batches])
    weights = np.concatenate([np.ones(B) if w is None else w.astype(np.float64) for _, w in batches])
    return np.sum(values * weights) / np.sum(weights)


def _f64(*arrays):
    return [np.asarray(a, np.float64) for a in arrays]


def ref_cosine(t, p, axis=-1):
    t, p = _f64(t, p)
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), 1e-7)  # noqa: E731
    return np.sum(unit(t) * unit(p), axis=axis)


def ref_pearson(t, p):
    t, p = _f64(t, p)
    return np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(t, p, strict=True)])


def ref_concordance(t, p):
    t, p = _f64(t, p)
    mt, mp = t.mean(-1), p.mean(-1)
    cov = ((t - mt[:, None]) * (p - mp[:, None])).mean(-1)
    return 2 * cov / (t.var(-1) + p.var(-1) + (mt - mp) ** 2 + 1e-7)


def ref_r2(batches, aggregation="uniform_average", num_regressors=0):
    """Weighted R2 per output over all batches, from the definition
    ``1 - sum w (y - p)^2 / sum w (y - mean_w(y))^2``."""
    t = np.concatenate([_f64(inputs[0])[0] for inputs, _ in batches])
    p = np.concatenate([_f64(inputs[1])[0] for inputs, _ in batches])
    w = np.concatenate([np.ones(len(i[0])) if wt is None else wt.astype(np.float64) for i, wt in batches])[:, None]
    mean = (w * t).sum(0) / w.sum(0)
    total = (w * (t - mean) ** 2).sum(0)
    scores = 1 - (w * (t - p) ** 2).sum(0) / total
    if aggregation == "uniform_average":
        scores = scores.mean()
    elif aggregation == "variance_weighted_average":
        scores = (scores * total).sum() / total.sum()
    n = t.size  # Keras counts every entry as a sample
    if num_regressors and n - 1 > num_regressors:
        scores = 1 - (1 - scores) * (n - 1) / (n - num_regressors - 1)
    return scores


def ref_bce_logits_smoothed(t, x):
    t, x = _f64(t, x)
    t = t * 0.8 + 0.1
    return np.mean(np.logaddexp(0, x) - t * x, axis=-1)


def ref_sparse_ce(labels, probabilities):
    labels, p = np.asarray(labels).reshape(-1), _f64(probabilities)[0]
    p = np.clip(p / p.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    return -np.log(p[np.arange(len(labels)), labels])


F64_CASES = {
    "MeanSquaredError": lambda bs: _weighted_mean(lambda t, p: np.mean((_f64(t)[0] - p) ** 2, -1), bs),
    "CosineSimilarity": lambda bs: _weighted_mean(ref_cosine, bs),
    "PearsonCorrelation": lambda bs: _weighted_mean(ref_pearson, bs),
    "ConcordanceCorrelation": lambda bs: _weighted_mean(ref_concordance, bs),
    "BinaryCrossentropy-logits-smoothing": lambda bs: _weighted_mean(ref_bce_logits_smoothed, bs),
    "SparseCategoricalCrossentropy": lambda bs: _weighted_mean(ref_sparse_ce, bs),
    "RootMeanSquaredError": lambda bs: np.sqrt(_weighted_mean(lambda t, p: np.mean((_f64(t)[0] - p) ** 2, -1), bs)),
    "R2Score": lambda bs: ref_r2(bs),
    "R2Score-per-output": lambda bs: ref_r2(bs, None),
    "R2Score-variance-weighted": lambda bs: ref_r2(bs, "variance_weighted_average"),
    "R2Score-adjusted": lambda bs: ref_r2(bs, num_regressors=2),
}


@pytest.mark.parametrize("name", F64_CASES)
def test_eager_matches_float64_formula(backend, name):
    ours, _, _ = CASES[name]
    batches = BATCHES[name]
    np.testing.assert_allclose(eager_value(backend, ours(), batches), F64_CASES[name](batches), **F64_TOL)


def test_hand_computed_values():
    # Keras' documented examples, recomputed by hand
    assert float(metrics.MeanSquaredError()([[0, 1], [0, 0]], [[1, 1], [0, 0]])) == 0.25
    rmse = metrics.RootMeanSquaredError()
    rmse.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    assert float(rmse.result()) == pytest.approx(np.sqrt(0.5), rel=1e-7)
    # y = [1, 4, 3], p = [2, 4, 4]: SS_res = 2, SS_tot = 14/3 -> 1 - 3/7
    r2 = metrics.R2Score()([[1.0], [4.0], [3.0]], [[2.0], [4.0], [4.0]])
    assert float(r2) == pytest.approx(4 / 7, rel=1e-7)
    cosine = metrics.CosineSimilarity(axis=1)
    cosine.update_state([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]], sample_weight=[0.3, 0.7])
    assert float(cosine.result()) == pytest.approx(0.7, rel=1e-6)


# ---------------------------------------------------------------- edges
def test_bool_and_int_labels(backend):
    labels = np.array([[True, False], [False, True]])
    scores = np.array([[0.3, -2.0], [1.0, 0.5]], np.float32)
    expected = np.mean([np.mean([0.7, 0.0]), np.mean([2.0, 0.5])])  # max(1 - y * s, 0), y = +-1
    for y_true in (labels, labels.astype(np.int32)):
        value = metrics.Hinge()(backend.convert_to_tensor(y_true), backend.convert_to_tensor(scores))
        assert float(backend.to_numpy(value)) == pytest.approx(expected, rel=1e-6)


def test_huge_logits_stay_finite(backend):
    batches = [((np.array([[1.0, 0.0]], np.float32), np.array([[1e4, -1e4]], np.float32)), None)]
    batches.append(((np.array([[0.0, 1.0]], np.float32), np.array([[100.0, -100.0]], np.float32)), None))
    for ours, theirs in [
        (lambda: metrics.BinaryCrossentropy(from_logits=True), lambda km: km.BinaryCrossentropy(from_logits=True)),
        (
            lambda: metrics.CategoricalCrossentropy(from_logits=True),
            lambda km: km.CategoricalCrossentropy(from_logits=True),
        ),
    ]:
        value = eager_value(backend, ours(), batches)
        assert np.isfinite(value)
        np.testing.assert_allclose(value, keras_value(theirs, batches), **KERAS_TOL)


def test_r2_edge_columns_follow_keras(backend):
    # column 0 constant with errors (SS_tot = 0: scores 0), column 1 ordinary
    y_true = np.array([[2.0, 1.0], [2.0, 3.0], [2.0, 4.0]], np.float32)
    y_pred = np.array([[1.0, 1.5], [2.0, 2.5], [3.0, 4.0]], np.float32)
    batches = [((y_true, y_pred), None)]
    ours = eager_value(backend, metrics.R2Score(class_aggregation=None), batches)
    theirs = keras_value(lambda km: km.R2Score(class_aggregation=None), batches)
    np.testing.assert_allclose(ours, theirs, **KERAS_TOL)
    assert ours[0] == 0.0


def test_r2_of_float32_data_far_from_zero_does_not_cancel(backend):
    """Columns whose mean dwarfs their spread (1e4 +- 0.5 and -3e3 +- 0.2,
    float32) in three unweighted batches. ``sum(y**2) - sum(y)**2 / n`` in
    float32 (Keras' state) keeps nothing of SS_tot here: Keras 3 scores these
    columns 0.99996 and 1.0012 against 0.911 and 0.754. lossbridge's sums
    are float64, whose cancellation costs u * (mean / spread)**2 ~ 1e-16 *
    4e8 of SS_tot. Reference: float64 NumPy from the definition on the same
    float32 values. (JAX holds float64 only with x64 on; its float32 state
    cancels, docs/keras-differences.md.)"""
    batches = _far_from_zero_batches()
    expected = ref_r2(batches, None)
    assert 0.5 < expected.min() and expected.max() < 0.95  # informative: neither 0 nor 1
    with precision(backend, "float64"):
        ours = eager_value(backend, metrics.R2Score(class_aggregation=None), batches)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)


def _far_from_zero_batches():
    rng = np.random.default_rng(11)
    batches = []
    for rows in (4000, 2500, 1):
        y = np.stack([1e4 + 0.5 * rng.normal(size=rows), -3e3 + 0.2 * rng.normal(size=rows)], axis=1)
        y = y.astype(np.float32)
        p = (y + np.array([0.15, 0.1]) * rng.normal(size=y.shape)).astype(np.float32)
        batches.append(((y, p), None))
    return batches


@pytest.mark.exists_if(lambda params: not holds_float64(params["backend"]))  # JAX without x64 here
def test_r2_of_a_float32_state_warns_where_it_cancels(backend):
    """Where the backend holds only float32, R2Score's compensated float32
    sums still cancel in ``sum(y**2) - sum(y)**2 / n`` on the data above:
    JAX without x64 scores it 1.0063 and 1.0143 where the R2 is 0.911 and
    0.754. ``result()`` says so instead of passing it silently. Targets
    near 0 and a constant column (SS_tot exactly 0, Keras' rule) do not
    warn: lossbridge's warnings are errors in this run."""
    far = metrics.R2Score(class_aggregation=None)
    for (y, p), _ in _far_from_zero_batches():
        far.update_state(to_backend(backend, y), to_backend(backend, p))
    with pytest.warns(LossbridgeWarning, match="cancels in this float32 state"):
        far.result()
    rng = np.random.default_rng(3)
    near = np.stack([rng.normal(size=64), np.full(64, 2.0)], axis=1).astype(np.float32)
    ordinary = metrics.R2Score(class_aggregation=None)
    ordinary.update_state(to_backend(backend, near), to_backend(backend, near + np.float32(0.1)))
    scores = to_numpy(backend, ordinary.result())
    column = near[:, :1]
    expected = ref_r2([((column, column + np.float32(0.1)), None)], None)  # the constant column has no R2
    np.testing.assert_allclose(scores[0], expected[0], rtol=1e-5)
    assert scores[1] == 0.0  # constant column with errors: Keras scores it 0


def test_r2_adjusted_falls_back_with_a_warning(backend):
    y = backend.convert_to_tensor(np.array([[1.0], [2.0], [4.0]], np.float32))
    p = backend.convert_to_tensor(np.array([[1.5], [2.0], [3.0]], np.float32))
    plain = float(backend.to_numpy(metrics.R2Score()(y, p)))
    with pytest.warns(UserWarning, match="falling back to the standard R2 score"):
        adjusted = float(backend.to_numpy(metrics.R2Score(num_regressors=2)(y, p)))
    assert adjusted == plain
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics.R2Score(num_regressors=1)(y, p)  # n - 1 = 2 > 1: no warning


def test_r2_rejects_bad_input(backend):
    with pytest.raises(ValueError, match="R2Score expects 2-D inputs"):
        metrics.R2Score()(backend.convert_to_tensor(_normal(4)), backend.convert_to_tensor(_normal(4)))
    m = metrics.R2Score()
    m(backend.convert_to_tensor(_normal(4, 2)), backend.convert_to_tensor(_normal(4, 2)))
    with pytest.raises(ValueError, match="R2Score has state for 2 outputs but y_pred has 3"):
        m(backend.convert_to_tensor(_normal(4, 3)), backend.convert_to_tensor(_normal(4, 3)))
    with pytest.raises(ValueError, match="`class_aggregation` must be one of"):
        metrics.R2Score(class_aggregation="mean")
    with pytest.raises(ValueError, match="`num_regressors` must be an int >= 0"):
        metrics.R2Score(num_regressors=-1)


def test_mismatched_shapes_are_rejected(backend):
    y_true, y_pred = backend.convert_to_tensor(_normal(4, 3)), backend.convert_to_tensor(_normal(4, 2))
    for metric in (metrics.MeanSquaredError(), metrics.RootMeanSquaredError(), metrics.PearsonCorrelation()):
        with pytest.raises(ValueError, match="`y_true` and `y_pred` have incompatible shapes"):
            metric.update_state(y_true, y_pred)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NumPy on 0 / 0: the NaN asked for
def test_constant_rows_give_nan_correlation_and_zero_cosine(backend):
    y_true = backend.convert_to_tensor(np.array([[1.0, 1.0, 1.0]], np.float32))
    y_pred = backend.convert_to_tensor(np.array([[1.0, 2.0, 3.0]], np.float32))
    assert np.isnan(float(backend.to_numpy(metrics.PearsonCorrelation()(y_true, y_pred))))
    zero = backend.convert_to_tensor(np.zeros((1, 3), np.float32))
    assert float(backend.to_numpy(metrics.CosineSimilarity()(zero, y_pred))) == 0.0
