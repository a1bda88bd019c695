"""The Metric base class: stateful and stateless APIs, precision of state,
config, the registry (get / serialize / deserialize / register_metric)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lossbridge
from lossbridge import K, metrics
from lossbridge.metrics import base
from tests.helpers import precision
from tests.metric_support import compiled_value, eager_value, keras_metrics

MEAN_BATCHES = ([1, 3, 5, 7], [1, 3, 5, 7], [1, 1, 1, 1], [2, 2])
MEAN_RESULT = 40.0 / 14.0  # (16 + 16 + 4 + 4) / 14, by hand


def _read(backend, state, name):
    """Running sum ``name`` of ``state`` in float64: the sum plus its
    compensation twin where it has one (float32 sums)."""
    return sum(float(backend.to_numpy(state[k])) for k in (name, name + "_compensation") if k in state)


def _float(backend, x):
    return float(backend.to_numpy(x))


# ---------------------------------------------------------------- a Mean over batches of different sizes
def test_mean_over_batches_forced_backend(backend):
    with lossbridge.use_backend(backend.name):
        m = metrics.Mean()
        for batch in MEAN_BATCHES:
            r = m(batch)
        assert backend.is_tensor(r)
        assert _float(backend, r) == pytest.approx(2.857143, abs=5e-7)
        assert _float(backend, m.result()) == pytest.approx(MEAN_RESULT, rel=1e-7)
        m.reset_state()
        assert _float(backend, m.result()) == 0.0
        m([4.0])
        m.reset_states()  # Keras 2's name of reset_state
        assert _float(backend, m.result()) == 0.0


def test_mean_over_batches_of_backend_tensors(backend):
    m = metrics.Mean()
    for batch in MEAN_BATCHES:  # int64 tensors: cast to float by the metric
        r = m(backend.convert_to_tensor(np.asarray(batch)))
    assert backend.is_tensor(r) and backend.is_tensor(m.result())
    assert _float(backend, r) == pytest.approx(2.857143, abs=5e-7)
    assert backend.dtype(r) == "float32"
    m.reset_state()
    assert _float(backend, m.result()) == 0.0


def test_result_before_any_update_is_zero(backend):
    with lossbridge.use_backend(backend.name):
        for metric in (metrics.Mean(), metrics.Sum(), metrics.MeanSquaredError(), metrics.R2Score()):
            r = metric.result()
            assert backend.is_tensor(r), metric
            assert _float(backend, r) == 0.0, metric


def test_call_updates_then_returns_the_running_result(backend):
    m = metrics.Sum()
    assert _float(backend, m(backend.convert_to_tensor(np.array([1.0, 2.0])))) == 3.0
    assert _float(backend, m(backend.convert_to_tensor(np.array([4.0])))) == 7.0


def test_state_is_sums_in_the_accumulator_dtype_compensated_only_in_float32(backend):
    m = metrics.Mean()
    m.update_state(backend.convert_to_tensor(np.array([1.0, 2.0], np.float32)))
    if backend.accumulator_dtype == "float64":  # a float64 sum has no twin (metrics/_state.py)
        assert set(m.state) == {"total", "count"}
    else:
        assert set(m.state) == {"total", "total_compensation", "count", "count_compensation"}
    for value in m.state.values():
        assert backend.dtype(value) == backend.accumulator_dtype
    expected = "float32" if backend.name == "jax" and backend.accumulator_dtype == "float32" else "float64"
    assert backend.accumulator_dtype == expected


def test_weak_inputs_follow_the_state(backend):
    m = metrics.Mean()
    m.update_state(backend.convert_to_tensor(np.array([1.0, 3.0])))
    m.update_state([5.0, 7.0])  # a list joins the state's framework
    assert backend.is_tensor(m.result())
    assert _float(backend, m.result()) == 4.0


def test_state_follows_a_forced_backend(backend):
    m = metrics.Mean()
    m.update_state(np.array([1.0, 3.0]))  # NumPy state
    with lossbridge.use_backend(backend.name):
        m.update_state([5.0, 7.0])
        r = m.result()
    assert backend.is_tensor(r)
    assert _float(backend, r) == 4.0


# ---------------------------------------------------------------- stateless API
def test_stateless_api_compiled_equals_eager(backend):
    batches = [((np.array([1.0, 3.0, 5.0, 7.0], np.float32),), None), ((np.array([2.0, 2.0], np.float32),), None)]
    batches.append(((np.array([[1.0, 2.0], [3.0, 4.0]], np.float32),), np.array([1.0, 0.5], np.float32)))
    expected = (16 + 4 + 1.5 + 0.5 * 3.5) / 7.5  # per-sample means, weighted, by hand
    eager = eager_value(backend, metrics.Mean(), batches)
    compiled = compiled_value(backend, metrics.Mean(), batches)
    assert eager == pytest.approx(expected, rel=1e-6)
    assert compiled == pytest.approx(expected, rel=1e-6)


def test_stateless_functions_are_pure(backend):
    m = metrics.Sum()
    x = backend.convert_to_tensor(np.array([1.0, 2.0], np.float32))
    s0 = m.stateless_initial_state(x)
    s1 = m.stateless_update_state(s0, x)
    s2 = m.stateless_update_state(s1, x)
    assert m.state is None  # the object saw nothing
    assert _float(backend, m.stateless_result(s0)) == 0.0
    assert _float(backend, m.stateless_result(s1)) == 3.0
    assert _float(backend, m.stateless_result(s2)) == 6.0
    assert _float(backend, m.stateless_result(m.stateless_merge_state(s1, s2))) == 9.0


# ---------------------------------------------------------------- precision
@pytest.mark.slow
def test_mean_of_ten_million_float32_values_is_exact_to_1e_6(backend):
    """10^7 float32 values near 1e4, in batches of 1000, against math.fsum.

    jax, tensorflow and mlx run the update through their compiler (one call per
    batch); numpy and torch run the stateful API eagerly."""
    rng = np.random.default_rng(7)
    values = (1e4 + rng.normal(0.0, 1.0, 10**7)).astype(np.float32)
    truth = math.fsum(values.astype(np.float64).tolist()) / values.size
    batches = backend.convert_to_tensor(values.reshape(-1, 1000))
    m = metrics.Mean()
    if backend.name in ("jax", "tensorflow", "mlx"):
        step = backend.compile(lambda state, batch: m.stateless_update_state(state, batch))
        state = m.stateless_initial_state(batches[0])
        for i in range(10**4):
            state = step(state, batches[i])
        result = m.stateless_result(state)
    else:
        for i in range(10**4):
            m.update_state(batches[i])
        state, result = m.state, m.result()
    total, count = (_read(backend, state, name) for name in ("total", "count"))
    assert count == 10**7
    assert abs(total / count - truth) / truth < 1e-6
    assert abs(_float(backend, result) - truth) / truth < 1e-6


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_counters_do_not_saturate(backend, dtype):
    # 2**24 + 1 is not a float32: a plain float32 counter stops there
    start = 2.0**24
    with precision(backend, dtype):
        state = {"count": backend.convert_to_tensor(np.array(start, dtype))}
        if dtype == "float32":  # the layout: a float32 sum has a compensation twin, a float64 one none
            state["count_compensation"] = backend.convert_to_tensor(np.array(0.0, dtype))
        for _ in range(10):
            state = lossbridge.dispatch.run_on(backend, base.accumulate, state, count=1)
        assert backend.dtype(state["count"]) == dtype
        assert _read(backend, state, "count") == start + 10


def test_mean_counts_exactly_past_2_to_the_24(backend):
    m = metrics.Mean()
    m.update_state(backend.convert_to_tensor(np.array([0.0], np.float32)), sample_weight=[2.0**24])
    for _ in range(8):
        m.update_state(backend.convert_to_tensor(np.array([1.0], np.float32)))
    assert _read(backend, m.state, "count") == 2.0**24 + 8
    assert _float(backend, m.result()) == pytest.approx(8 / (2.0**24 + 8), rel=1e-6)


@pytest.mark.parametrize(
    ("values", "expected"),
    [([1.0, np.inf], np.inf), ([1.0, np.nan], np.nan), ([np.inf, -np.inf], np.nan), ([-np.inf], -np.inf)],
)
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NumPy on inf - inf
def test_non_finite_values_propagate(backend, values, expected):
    m = metrics.Mean()
    m.update_state(backend.convert_to_tensor(np.array(values, np.float32)))
    m.update_state(backend.convert_to_tensor(np.array([2.0], np.float32)))
    np.testing.assert_equal(_float(backend, m.result()), expected)


# ---------------------------------------------------------------- errors
def test_wrong_number_of_inputs_is_a_type_error():
    # a second positional of Mean is its sample weight, as in Keras (tests/test_keras_api_parity.py)
    with pytest.raises(TypeError, match=r"Mean.update_state\(values, sample_weight=None\) takes 1 to 2 positional"):
        metrics.Mean().update_state([1.0], [2.0], [3.0])
    with pytest.raises(TypeError, match=r"\(y_true, y_pred, sample_weight=None\) takes 2 to 3 positional"):
        metrics.MeanSquaredError().update_state([1.0])


def test_two_frameworks_in_one_metric_is_an_error():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    m = metrics.Mean()
    m.update_state(torch.tensor([1.0]))
    with pytest.raises(TypeError, match=r"`values` is a jax tensor but `state of metric 'mean'` is a torch"):
        m.update_state(jnp.array([1.0]))


def test_invalid_dtype_is_rejected():
    with pytest.raises(ValueError, match=r"`dtype` of Mean must be one of"):
        metrics.Mean(dtype="int32")


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")  # JAX without x64 keeps float32
def test_result_dtype_option(backend):
    m = metrics.Mean(dtype="float64")
    r = m(backend.convert_to_tensor(np.array([1.0, 2.0], np.float32)))
    expected = "float64" if backend.accumulator_dtype == "float64" or backend.name != "jax" else "float32"
    assert backend.dtype(r) == expected


# ---------------------------------------------------------------- config and registry
def test_get_config_round_trip():
    m = metrics.Mean(name="loss_mean", dtype="float64")
    assert m.get_config() == {"name": "loss_mean", "dtype": "float64"}
    clone = metrics.Mean.from_config(m.get_config())
    assert clone.get_config() == m.get_config()
    assert repr(metrics.Sum()) == "Sum(name='sum', dtype='float32')"


@pytest.mark.parametrize(
    ("identifier", "cls"),
    [
        ("Mean", metrics.Mean),
        ("mean", metrics.Mean),
        ("mse", metrics.MeanSquaredError),
        ("MAE", metrics.MeanAbsoluteError),
        ("kl_divergence", metrics.KLDivergence),
        ("KLDivergence", metrics.KLDivergence),
        ("r2_score", metrics.R2Score),
        ("accuracy", metrics.Accuracy),
        ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy),
        ("logcosh", metrics.LogCoshError),
        ({"class_name": "BinaryCrossentropy", "config": {"from_logits": True}}, metrics.BinaryCrossentropy),
    ],
)
def test_get_resolves_registered_names(identifier, cls):
    metric = metrics.get(identifier)
    assert type(metric) is cls


def test_get_passes_through_instances_callables_and_none():
    m = metrics.Mean()
    assert metrics.get(m) is m
    assert metrics.get(None) is None
    assert isinstance(metrics.get(metrics.Sum), metrics.Sum)
    assert metrics.get(np.mean) is np.mean


def test_get_turns_a_loss_name_into_a_mean_metric(backend):
    metric = metrics.get("log_cosh")  # a loss, not a metric class name
    assert isinstance(metric, metrics.MeanMetricWrapper) and metric.name == "log_cosh"
    y_true, y_pred = np.array([[0.0, 1.0]], np.float32), np.array([[1.0, 1.0]], np.float32)
    value = _float(backend, metric(*(backend.convert_to_tensor(a) for a in (y_true, y_pred))))
    assert value == pytest.approx(np.log(np.cosh(1.0)) / 2, rel=1e-6)


def test_unknown_names_are_errors_with_suggestions():
    with pytest.raises(ValueError, match=r"unknown metric 'mean_sqared_error'.*Did you mean: mean_squared_error"):
        metrics.get("mean_sqared_error")
    with pytest.raises(ValueError, match="cannot interpret 3"):
        metrics.get(3)


def test_deserialize_never_imports_what_a_config_names():
    for config in (
        {"class_name": "os.system", "config": {}},
        {"module": "os", "class_name": "system", "config": {}},
        {"class_name": "subprocess.Popen", "registered_name": "subprocess.Popen"},
    ):
        with pytest.raises(ValueError, match="unknown metric class"):
            metrics.deserialize(config)
    with pytest.raises(ValueError, match="unknown metric function 'os.system'"):
        metrics.MeanMetricWrapper(fn="os.system")


def test_keras_style_config_dicts_are_accepted():
    config = {"module": "keras.metrics", "class_name": "Mean", "config": {"name": "m", "dtype": "float32"}}
    assert metrics.deserialize(config).get_config() == {"name": "m", "dtype": "float32"}
    km = keras_metrics()
    for keras_metric in (km.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), km.R2Score(num_regressors=1)):
        ours = metrics.deserialize(km.serialize(keras_metric))
        assert type(ours).__name__ == type(keras_metric).__name__
        assert ours.get_config() == keras_metric.get_config()


CATALOGUE = [
    metrics.Mean(name="m"),
    metrics.Sum(),
    metrics.MeanSquaredError(),
    metrics.MeanAbsoluteError(),
    metrics.MeanAbsolutePercentageError(),
    metrics.MeanSquaredLogarithmicError(),
    metrics.CosineSimilarity(axis=0),
    metrics.LogCoshError(),
    metrics.Hinge(),
    metrics.SquaredHinge(),
    metrics.CategoricalHinge(),
    metrics.KLDivergence(),
    metrics.Poisson(),
    metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
    metrics.CategoricalCrossentropy(label_smoothing=0.2, axis=1),
    metrics.SparseCategoricalCrossentropy(from_logits=True, ignore_class=3),
    metrics.RootMeanSquaredError(dtype="float64"),
    metrics.R2Score(class_aggregation=None, num_regressors=2),
    metrics.PearsonCorrelation(axis=0),
    metrics.ConcordanceCorrelation(),
    metrics.Accuracy(),
    metrics.BinaryAccuracy(threshold=0.7),
    metrics.CategoricalAccuracy(),
    metrics.SparseCategoricalAccuracy(),
    metrics.TopKCategoricalAccuracy(k=3),
    metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True),
    metrics.MeanMetricWrapper(fn=lossbridge.losses.poisson, name="p"),
    metrics.MeanMetricWrapper(fn=metrics.binary_accuracy, threshold=0.2),
]


@pytest.mark.parametrize("metric", CATALOGUE, ids=lambda m: type(m).__name__)
def test_serialize_round_trips_every_metric(metric):
    config = metrics.serialize(metric)
    assert config["class_name"] == type(metric).__name__
    clone = metrics.deserialize(config)
    assert type(clone) is type(metric)
    assert clone.get_config() == metric.get_config()
    assert metrics.deserialize(metrics.serialize(clone)).get_config() == metric.get_config()


def test_metric_functions_serialize_by_name():
    config = metrics.serialize(metrics.binary_accuracy)
    assert config["class_name"] == "function" and config["config"] == "binary_accuracy"
    assert metrics.deserialize(config) is metrics.binary_accuracy
    assert type(metrics.deserialize("binary_accuracy")) is metrics.BinaryAccuracy  # a bare name: as metrics.get
    assert metrics.serialize(lossbridge.losses.hinge)["config"] == "hinge"  # losses are metric functions too


def test_unregistered_callables_do_not_serialize():
    wrapped = metrics.MeanMetricWrapper(fn=lambda y_true, y_pred: y_true)
    with pytest.raises(ValueError, match=r"option 'fn' is the unregistered callable.*register_metric"):
        metrics.serialize(wrapped)

    class Unregistered(metrics.Mean):
        pass

    with pytest.raises(ValueError, match=r"Unregistered is not registered.*register_metric"):
        metrics.serialize(Unregistered())


def test_register_metric_function_runs_on_every_backend(backend):
    @lossbridge.register_metric("test_base_abs_gap")
    def abs_gap(y_true, y_pred):
        return K.mean(K.abs(y_true - y_pred), axis=-1)

    assert metrics.get("test_base_abs_gap") is abs_gap
    y_true, y_pred = np.array([[1.0, 2.0], [3.0, 5.0]], np.float32), np.array([[1.5, 2.0], [3.0, 4.0]], np.float32)
    wrapped = metrics.MeanMetricWrapper(fn="test_base_abs_gap", name="gap")
    value = wrapped(*(backend.convert_to_tensor(a) for a in (y_true, y_pred)))
    assert _float(backend, value) == pytest.approx(np.mean(np.abs(y_true - y_pred)), rel=1e-6)
    assert metrics.serialize(wrapped)["config"]["fn"] == "test_base_abs_gap"
    assert type(metrics.deserialize(metrics.serialize(wrapped))) is metrics.MeanMetricWrapper


def test_register_metric_class():
    @lossbridge.register_metric(aliases=("test_base_twice",))
    class TwiceMean(metrics.Mean):
        def compute(self, state):
            return 2.0 * super().compute(state)

    assert type(metrics.get("TwiceMean")) is TwiceMean
    assert type(metrics.get("test_base_twice")) is TwiceMean
    clone = metrics.deserialize(metrics.serialize(TwiceMean(name="t")))
    assert type(clone) is TwiceMean and clone.name == "t"
    assert float(clone([1.0, 2.0])) == 3.0
    with pytest.raises(TypeError, match="decorates a Metric subclass or a function"):
        lossbridge.register_metric("x")(3)
