"""Mean, Sum and MeanMetricWrapper: Keras 3's sample_weight rules, dtypes,
edge inputs, against keras.metrics and float64 NumPy formulas."""

from __future__ import annotations

import numpy as np
import pytest

from lossbridge import K, losses, metrics
from tests.helpers import holds_float64, on, patch_module_global
from tests.metric_support import F64_TOL, KERAS_TOL, compiled_value, eager_value, keras_metrics, keras_value

RNG = np.random.default_rng(11)


def _f32(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def _weights(*shape):
    return RNG.uniform(0.0, 2.0, size=shape).astype(np.float32)


# (values shape, sample_weight shape or None), two batches each
SHAPES = [
    ((4,), None),
    ((4,), (4,)),
    ((4,), ()),
    ((4,), (4, 1)),
    ((4, 3), None),
    ((4, 3), (4,)),
    ((4, 3), (4, 3)),
    ((4, 3), (4, 1)),
    ((4, 3, 1), (4, 3)),
    ((4, 3, 2), (4,)),
    ((4, 3, 2), (4, 3)),
    ((), None),
]
CASES = {
    f"values{v}-weight{w}": [((_f32(*v),), None if w is None else _weights(*w)) for _ in range(2)] for v, w in SHAPES
}


def ref_samplewise(values, weight, reduce):
    """Keras' rule in float64 NumPy: (per-sample values * weights, per-sample weights)."""
    values = np.asarray(values, np.float64)
    if weight is not None:
        weight = np.asarray(weight, np.float64)
        if values.ndim == weight.ndim + 1 and values.shape[-1] == 1:
            values = values[..., 0]
        elif weight.ndim == values.ndim + 1 and weight.shape[-1] == 1:
            values = values[..., None] if values.ndim == 1 else values
            weight = weight if values.ndim == weight.ndim else weight[..., 0]
        if values.ndim > weight.ndim:
            values = reduce(values, axis=tuple(range(weight.ndim, values.ndim)))
        weight = np.broadcast_to(weight, values.shape)
        values = values * weight
        if weight.ndim > 1:
            weight = reduce(weight, axis=tuple(range(1, weight.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, weight


def ref_mean(batches):
    total = count = 0.0
    for (values,), weight in batches:
        v, w = ref_samplewise(values, weight, np.mean)
        total += v.sum()
        count += w.sum() if w is not None else (v.shape[0] if v.ndim else 1)
    return total / count if count else 0.0


def ref_sum(batches):
    return sum(ref_samplewise(values, weight, np.sum)[0].sum() for (values,), weight in batches)


@pytest.mark.parametrize("case", CASES)
def test_mean_matches_keras_and_numpy(backend, case):
    batches = CASES[case]
    value = eager_value(backend, metrics.Mean(), batches)
    np.testing.assert_allclose(value, ref_mean(batches), **F64_TOL)
    np.testing.assert_allclose(value, keras_value(lambda km: km.Mean(), batches), **KERAS_TOL)


@pytest.mark.parametrize("case", CASES)
def test_sum_matches_keras_and_numpy(backend, case):
    batches = CASES[case]
    value = eager_value(backend, metrics.Sum(), batches)
    np.testing.assert_allclose(value, ref_sum(batches), **F64_TOL)
    np.testing.assert_allclose(value, keras_value(lambda km: km.Sum(), batches), **KERAS_TOL)


@pytest.mark.parametrize("case", ["values(4, 3)-weight(4, 1)", "values(4, 3, 1)-weight(4, 3)", "values(4,)-weight()"])
# compiled separately in test_metrics_base (torch.compile is slow; numpy has no compiler)
@on("jax", "tensorflow", "mlx")
def test_compiled_stateless_form(backend, case):
    batches = CASES[case]
    np.testing.assert_allclose(compiled_value(backend, metrics.Mean(), batches), ref_mean(batches), **F64_TOL)
    np.testing.assert_allclose(compiled_value(backend, metrics.Sum(), batches), ref_sum(batches), **F64_TOL)


def test_hand_computed_weights():
    # per-sample means [0.5, 6.0] of values * weights, counts [0.5, 1]: 6.5 / 1.5
    m = metrics.Mean()
    m.update_state([[1.0, 3.0], [5.0, 7.0]], sample_weight=[[1, 0], [1, 1]])
    assert float(m.result()) == pytest.approx(6.5 / 1.5, rel=1e-7)
    # a 0-d weight makes the batch one sample of that weight: (4 * 2 + 0) / (2 + 1)
    m = metrics.Mean()
    m.update_state([1.0, 3.0, 5.0, 7.0], sample_weight=2.0)
    m.update_state([0.0])
    assert float(m.result()) == pytest.approx(8.0 / 3.0, rel=1e-7)
    assert float(metrics.Sum()([[1, 2], [3, 4]], sample_weight=[1, 0])) == 3.0


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([True, False, True, True], "bool"),
        ([1, 2, 3, 10], "int32"),
        ([1, 2, 3, 10], "int64"),
        ([0.1, 0.2, 0.3, 65504.0], "float16"),
        ([0.1, 0.2, 0.3, 1.0e38], "bfloat16"),
        ([0.1, 0.2, 0.3, 1e300], "float64"),
    ],
)
@pytest.mark.exists_if(lambda p: p["dtype"] != "float64" or holds_float64(p["backend"]))
def test_every_dtype_is_averaged_without_overflow(backend, values, dtype):
    if dtype == "bfloat16":
        import ml_dtypes

        array = np.asarray(values, dtype=ml_dtypes.bfloat16)
    else:
        array = np.asarray(values, dtype=dtype)
    expected = array.astype(np.float64)
    result_dtype = "float64" if dtype == "float64" else "float32"
    m = metrics.Mean(dtype=result_dtype)
    m.update_state(backend.convert_to_tensor(array))
    m.update_state(backend.convert_to_tensor(array))
    result = np.float64(backend.to_numpy(m.result()))
    # half-precision sums of these values overflow: the state is wide
    np.testing.assert_allclose(result, expected.mean(), rtol=1e-6)
    total = metrics.Sum(dtype=result_dtype)(backend.convert_to_tensor(array))
    np.testing.assert_allclose(np.float64(backend.to_numpy(total)), expected.sum(), rtol=1e-6)


def test_empty_batches_change_nothing(backend):
    m = metrics.Mean()
    m.update_state(backend.convert_to_tensor(np.zeros((0,), np.float32)))
    assert float(backend.to_numpy(m.result())) == 0.0
    m.update_state(backend.convert_to_tensor(np.zeros((0, 3), np.float32)), sample_weight=np.zeros((0,), np.float32))
    m.update_state(backend.convert_to_tensor(np.array([1.0, 2.0], np.float32)))
    assert float(backend.to_numpy(m.result())) == 1.5
    assert float(backend.to_numpy(metrics.Sum()(backend.convert_to_tensor(np.zeros((0, 2), np.float32))))) == 0.0


def test_zero_weights_read_zero(backend):
    m = metrics.Mean()
    m.update_state(backend.convert_to_tensor(np.array([1.0, 2.0], np.float32)), sample_weight=[0.0, 0.0])
    assert float(backend.to_numpy(m.result())) == 0.0


def test_nan_propagates(backend):
    m = metrics.Mean()
    m.update_state(backend.convert_to_tensor(np.array([1.0, np.nan], np.float32)))
    assert np.isnan(float(backend.to_numpy(m.result())))


@pytest.mark.parametrize(("values", "weight"), [((4, 3), (3,)), ((4,), (4, 3)), ((4,), (5,)), ((2, 3), (2, 4))])
def test_weights_that_do_not_fit_are_rejected(backend, values, weight):
    with pytest.raises(ValueError, match=r"`sample_weight` of shape .* cannot be broadcast"):
        metrics.Mean().update_state(backend.convert_to_tensor(_f32(*values)), sample_weight=_weights(*weight))


# ---------------------------------------------------------------- MeanMetricWrapper
def _pair(shape):
    return _f32(*shape), _f32(*shape)


def test_wrapper_of_a_function_written_against_k(backend):
    batches = [(_pair((5, 3)), _weights(5)), (_pair((5, 3)), _weights(5, 3))]
    m = metrics.MeanMetricWrapper(lambda y_true, y_pred: K.abs(y_true - y_pred))  # (B, 3) values
    value = eager_value(backend, m, batches)
    expected = ref_mean([((np.abs(t - p),), w) for (t, p), w in batches])
    np.testing.assert_allclose(value, expected, **F64_TOL)
    keras = pytest.importorskip("keras")
    keras_metrics()
    reference = keras_value(lambda km: km.MeanMetricWrapper(lambda t, p: keras.ops.abs(t - p)), batches)
    np.testing.assert_allclose(value, reference, **KERAS_TOL)


def test_wrapper_of_a_loss_with_options_matches_keras(backend):
    logits = _f32(6, 4) * 5
    labels = (RNG.random((6, 4)) > 0.5).astype(np.float32)
    batches = [((labels, logits), _weights(6)), ((labels[::-1], logits), None)]
    m = metrics.MeanMetricWrapper(losses.binary_crossentropy, name="bce", from_logits=True, label_smoothing=0.1)
    value = eager_value(backend, m, batches)
    keras = pytest.importorskip("keras")

    def make(km):
        return km.MeanMetricWrapper(keras.losses.binary_crossentropy, from_logits=True, label_smoothing=0.1)

    np.testing.assert_allclose(value, keras_value(make, batches), **KERAS_TOL)
    assert m.get_config() == {
        "name": "bce",
        "dtype": "float32",
        "fn": "binary_crossentropy",
        "from_logits": True,
        "label_smoothing": 0.1,
    }


def test_wrapper_of_a_batch_scalar_counts_one_sample_per_batch(backend):
    m = metrics.MeanMetricWrapper(lambda y_true, y_pred: K.max(y_pred - y_true))
    batches = [((np.zeros(3, np.float32), np.array([1.0, 5.0, 2.0], np.float32)), None)]
    batches.append(((np.zeros(2, np.float32), np.array([1.0, 2.0], np.float32)), None))
    assert eager_value(backend, m, batches) == pytest.approx((5.0 + 2.0) / 2)


def test_wrapper_fn_by_registered_name(backend):
    m = metrics.MeanMetricWrapper(fn="mean_absolute_error")
    assert m.fn is losses.mean_absolute_error
    y_true, y_pred = np.array([[0.0, 1.0], [0.0, 0.0]], np.float32), np.array([[1.0, 1.0], [0.0, 0.0]], np.float32)
    assert eager_value(backend, m, [((y_true, y_pred), np.array([1.0, 0.0], np.float32))]) == pytest.approx(0.5)


def test_wrapper_rejects_non_callables():
    with pytest.raises(TypeError, match="`fn` of MeanMetricWrapper must be a callable"):
        metrics.MeanMetricWrapper(fn=3)


@on("jax", "tensorflow", "mlx")  # jax.jit / tf.function / mx.compile only here
def test_wrapper_compiled(backend):
    batches = [(_pair((5, 3)), _weights(5)), (_pair((5, 3)), None)]
    m = metrics.MeanMetricWrapper(losses.mean_squared_error)
    expected = ref_mean([((np.mean((t.astype(np.float64) - p) ** 2, -1),), w) for (t, p), w in batches])
    np.testing.assert_allclose(compiled_value(backend, m, batches), expected, **F64_TOL)


@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 2)], ids=["rows", "steps"])
def test_unweighted_values_of_a_static_shape_reduce_in_one_pass(backend, shape, monkeypatch):
    """Mean and Sum of unweighted (batch, ...) values of a static shape: the
    per-sample means sum to the sum of all values over the row length (and
    per-sample sums to the sum of all values), so one reduction gives the
    batch total (``samplewise`` is made to fail here); the values are Keras'
    mean of per-sample means and sum of all values, against float64 NumPy."""
    from lossbridge.metrics import reduction

    rng = np.random.default_rng(3)
    batches = [rng.normal(3.0, 2.0, size=shape).astype(np.float32) for _ in range(3)]
    mean, total = metrics.Mean(), metrics.Sum()
    with monkeypatch.context() as patched:
        patch_module_global(patched, reduction, "samplewise", _no_per_sample_values, backend)
        for batch in batches:
            mean.update_state(backend.convert_to_tensor(batch))
            total.update_state(backend.convert_to_tensor(batch))
    per_sample = [b.astype(np.float64).reshape(shape[0], -1).mean(axis=1) for b in batches]
    np.testing.assert_allclose(float(backend.to_numpy(mean.result())), np.mean(np.concatenate(per_sample)), rtol=2e-6)
    all_values = np.concatenate([b.astype(np.float64).ravel() for b in batches])
    np.testing.assert_allclose(float(backend.to_numpy(total.result())), all_values.sum(), rtol=2e-6)
    state = mean.state  # the count: samples, not values (a float32 sum's compensation twin included)
    assert sum(float(backend.to_numpy(v)) for k, v in state.items() if k.startswith("count")) == 3 * shape[0]


def _no_per_sample_values(*args, **kwargs):
    pytest.fail("per-sample values made")
