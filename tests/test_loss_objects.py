"""Loss objects: the Loss base class, LossFunctionWrapper, Keras 3's
reductions with sample weights and masks, dtypes, configs, subclassing and the
compile option, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lossbridge import K, compiling, losses
from lossbridge.losses import Loss, LossFunctionWrapper
from tests.helpers import COMPILERS, precision, to_backend, to_numpy, with_autograd
from tests.reference import F32, KERAS, keras_losses, ref_reduce

ISSUE_TRUE = [[1.0, 9.0, 2.0], [-5.0, -2.0, 6.0]]
ISSUE_PRED = [[4.0, 8.0, 12.0], [8.0, 1.0, 3.0]]
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none"]


def native(backend, x):
    return backend.is_tensor(x)  # on NumPy an ndarray, 0-d for a scalar (README, "What you get back")


def sequence_batch(seed=0, n=3, t=4, c=2):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, t, c)).astype(np.float32), rng.normal(size=(n, t, c)).astype(np.float32)


# ---------------------------------------------------------------- the issue's numbers
def test_issue_example_mean_squared_error(backend):
    y_true, y_pred = to_backend(backend, ISSUE_TRUE, "float32"), to_backend(backend, ISSUE_PRED, "float32")
    loss = losses.MeanSquaredError()
    out = loss(y_true, y_pred)
    assert native(backend, out)
    np.testing.assert_allclose(to_numpy(backend, out), 49.5, **F32)
    np.testing.assert_allclose(to_numpy(backend, loss(y_true, y_pred, sample_weight=2.3)), 113.85, **F32)
    per_sample = losses.MeanSquaredError(reduction="none")(y_true, y_pred)
    np.testing.assert_allclose(to_numpy(backend, per_sample), [110 / 3, 187 / 3], **F32)
    both = losses.MeanSquaredError(reduction=None)(y_true, y_pred, sample_weight=2.3)
    np.testing.assert_allclose(to_numpy(backend, both), [2.3 * 110 / 3, 2.3 * 187 / 3], **F32)


def test_issue_example_binary_crossentropy(backend):
    y_pred = [[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]]
    out = losses.BinaryCrossentropy()(to_backend(backend, np.eye(3), "float32"), to_backend(backend, y_pred, "float32"))
    p = np.clip(np.asarray(y_pred), 1e-7, 1 - 1e-7)
    expected = np.mean(-(np.eye(3) * np.log(p) + (1 - np.eye(3)) * np.log(1 - p)))
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)
    np.testing.assert_allclose(expected, 0.20046918, rtol=1e-7)  # Keras 3.15 on TensorFlow gives 0.20046918


def test_lists_and_numpy_run_on_numpy():
    out = losses.MeanSquaredError()(ISSUE_TRUE, ISSUE_PRED)
    assert type(out) is np.ndarray and out.shape == () and out.dtype == np.float32
    np.testing.assert_allclose(out, 49.5, **F32)


# ---------------------------------------------------------------- reductions x sample weights
WEIGHTS = {
    "none": None,
    "scalar": 2.5,
    "per_sample": [1.0, 0.0, 3.0],
    "per_sample_column": [[1.0], [0.0], [3.0]],
    "temporal": [[1.0, 2.0, 0.0, 1.0], [0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 0.0, 3.0]],
}


@pytest.mark.parametrize("weights", list(WEIGHTS), ids=list(WEIGHTS))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_reduction_with_sample_weight_on_sequences(backend, reduction, weights):
    """(N, T, C) outputs give (N, T) losses; weights scalar, (N,), (N, 1) or (N, T)."""
    y_true, y_pred = sequence_batch()
    sample_weight = WEIGHTS[weights]
    if sample_weight is not None:
        sample_weight = to_backend(backend, np.asarray(sample_weight, np.float32))
    loss = losses.MeanSquaredError(reduction=reduction)
    out = loss(to_backend(backend, y_true), to_backend(backend, y_pred), sample_weight=sample_weight)
    values = np.mean((y_true.astype(np.float64) - y_pred) ** 2, axis=-1)
    expected = ref_reduce(values, WEIGHTS[weights], reduction)
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


@pytest.mark.parametrize("weights", ["none", "scalar", "per_sample_column", "temporal"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_reductions_match_keras(reduction, weights):
    """Keras 3 itself on the cases it accepts ((N,) weights on (N, T) losses it cannot broadcast)."""
    keras = keras_losses()
    y_true, y_pred = sequence_batch(seed=4)
    sample_weight = None if WEIGHTS[weights] is None else np.asarray(WEIGHTS[weights], np.float32)
    expected = keras.MeanSquaredError(reduction=reduction)(y_true, y_pred, sample_weight=sample_weight)
    out = losses.MeanSquaredError(reduction=reduction)(y_true, y_pred, sample_weight=sample_weight)
    np.testing.assert_allclose(np.asarray(out), np.asarray(expected), **KERAS)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_per_sample_losses_with_column_weights_follow_keras_ranks(backend, reduction):
    """Losses (N,) and weights (N, 1): Keras expands the losses, so "none" gives (N, 1)."""
    y_true, y_pred = np.asarray(ISSUE_TRUE, np.float32), np.asarray(ISSUE_PRED, np.float32)
    weights = np.array([[1.0], [2.0]], np.float32)
    out = losses.MeanSquaredError(reduction=reduction)(
        to_backend(backend, y_true), to_backend(backend, y_pred), sample_weight=to_backend(backend, weights)
    )
    expected = ref_reduce([110 / 3, 187 / 3], weights, reduction)
    assert backend.shape(out) == np.shape(expected)
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(0, 5),
    t=st.integers(1, 4),
    weight_rank=st.integers(0, 2),
    reduction=st.sampled_from(REDUCTIONS),
    seed=st.integers(0, 2**16),
)
def test_reductions_property(backend, n, t, weight_rank, reduction, seed):
    """Any batch size (0 included), sequence length and weight rank."""
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.normal(size=(2, n, t, 3)).astype(np.float32)
    weights = rng.random((n, t)[:weight_rank]).astype(np.float32)
    out = losses.MeanSquaredError(reduction=reduction)(
        to_backend(backend, y_true), to_backend(backend, y_pred), sample_weight=to_backend(backend, weights)
    )
    values = np.mean((y_true.astype(np.float64) - y_pred) ** 2, axis=-1)
    expected = ref_reduce(values, weights, reduction)
    result = to_numpy(backend, out)
    assert result.shape == np.shape(expected) and not np.any(np.isnan(result))
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


def test_sample_weight_from_numpy_follows_the_tensors(backend):
    y_true, y_pred = sequence_batch(n=2, t=3)
    out = losses.MeanAbsoluteError(reduction="sum")(
        to_backend(backend, y_true), to_backend(backend, y_pred), sample_weight=np.array([2.0, 0.5])
    )
    assert native(backend, out)
    values = np.mean(np.abs(y_true.astype(np.float64) - y_pred), axis=-1)
    np.testing.assert_allclose(to_numpy(backend, out), np.sum(values * [[2.0], [0.5]]), **F32)


def test_sample_weight_of_another_framework_is_an_error():
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("tensorflow")
    with pytest.raises(TypeError, match="sample_weight"):
        losses.MeanSquaredError()(torch.ones(2, 3), torch.zeros(2, 3), sample_weight=tf.ones(2))


def test_sample_weight_that_does_not_broadcast_names_it(backend):
    y = to_backend(backend, np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"`sample_weight` of shape \(3,\).*\(4,\)"):
        losses.MeanSquaredError()(y, y, sample_weight=to_backend(backend, np.ones(3, np.float32)))


def test_mean_with_sample_weight_of_zero_weights_is_zero(backend):
    y_true, y_pred = sequence_batch(n=2, t=3)
    out = losses.MeanSquaredError(reduction="mean_with_sample_weight")(
        to_backend(backend, y_true), to_backend(backend, y_pred), sample_weight=to_backend(backend, np.zeros(2))
    )
    assert to_numpy(backend, out) == 0.0


# ---------------------------------------------------------------- masks (ignore_class, circle)
IGNORE_TRUE = np.array([0, 1, 2, 1, 3, 1])
IGNORE_WEIGHT = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 1.0], np.float32)


def ignore_inputs(seed=3):
    return (np.random.default_rng(seed).random((6, 4)) * 0.9 + 0.05).astype(np.float32)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ignore_class_counts_only_kept_entries(backend, reduction, weighted):
    y_pred = ignore_inputs()
    weight = IGNORE_WEIGHT if weighted else None
    loss = losses.SparseCategoricalCrossentropy(ignore_class=1, reduction=reduction)
    out = loss(
        to_backend(backend, IGNORE_TRUE),
        to_backend(backend, y_pred),
        sample_weight=None if weight is None else to_backend(backend, weight),
    )
    p = y_pred.astype(np.float64) / y_pred.sum(-1, keepdims=True)
    kept = IGNORE_TRUE != 1
    values = np.where(kept, -np.log(p[np.arange(6), np.where(kept, IGNORE_TRUE, 0)]), 0.0)
    w = np.ones(6) if weight is None else weight.astype(np.float64)
    weighted_values = values * w
    expected = {
        "none": weighted_values,
        "sum": weighted_values.sum(),
        # the mask makes the element count the count of kept entries
        "sum_over_batch_size": weighted_values.sum() / kept.sum(),
        "mean": weighted_values.sum() / kept.sum(),
        "mean_with_sample_weight": weighted_values.sum() / (w * kept).sum(),
    }[reduction]
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ignore_class_matches_keras(reduction):
    keras = keras_losses()
    y_pred = ignore_inputs(seed=5)
    for weight in (None, IGNORE_WEIGHT):
        expected = keras.SparseCategoricalCrossentropy(ignore_class=1, reduction=reduction)(
            IGNORE_TRUE, y_pred, sample_weight=weight
        )
        out = losses.SparseCategoricalCrossentropy(ignore_class=1, reduction=reduction)(
            IGNORE_TRUE, y_pred, sample_weight=weight
        )
        np.testing.assert_allclose(np.asarray(out), np.asarray(expected), **KERAS)


def test_everything_ignored_gives_zero(backend):
    out = losses.SparseCategoricalCrossentropy(ignore_class=1)(
        to_backend(backend, np.ones(6, np.int32)), to_backend(backend, ignore_inputs())
    )
    assert to_numpy(backend, out) == 0.0


# ---------------------------------------------------------------- empty batches
EMPTY_CASES = [
    (losses.MeanSquaredError, {}, (0, 3), (0, 3), "float32"),
    (losses.BinaryCrossentropy, {"from_logits": True}, (0, 3), (0, 3), "float32"),
    (losses.CategoricalCrossentropy, {"from_logits": True}, (0, 4), (0, 4), "float32"),
    (losses.SparseCategoricalCrossentropy, {"from_logits": True}, (0,), (0, 4), "int32"),
    (losses.BinaryFocalCrossentropy, {"from_logits": True}, (0, 3), (0, 3), "float32"),
    (losses.CategoricalFocalCrossentropy, {}, (0, 4), (0, 4), "float32"),
    (losses.Huber, {}, (0, 2, 3), (0, 2, 3), "float32"),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", EMPTY_CASES, ids=[c[0].__name__ for c in EMPTY_CASES])
def test_empty_batch_reduces_to_zero(backend, case, reduction):
    cls, options, true_shape, pred_shape, label_dtype = case
    y_true = to_backend(backend, np.zeros(true_shape, label_dtype))
    y_pred = to_backend(backend, np.zeros(pred_shape, np.float32))
    out = cls(reduction=reduction, **options)(y_true, y_pred)
    result = to_numpy(backend, out)
    if reduction == "none":
        assert result.shape == pred_shape[:-1]
    else:
        assert result.shape == () and result == 0.0


def test_empty_batch_with_sample_weight(backend):
    y = to_backend(backend, np.zeros((0, 3), np.float32))
    for reduction in ("sum_over_batch_size", "mean_with_sample_weight"):
        out = losses.MeanSquaredError(reduction=reduction)(y, y, sample_weight=to_backend(backend, np.zeros(0)))
        assert to_numpy(backend, out) == 0.0


# ---------------------------------------------------------------- dtypes
def test_default_dtype_is_float32(backend):
    with precision(backend, "float64"):
        y_true = to_backend(backend, np.ones((2, 3)), "float64")
        y_pred = to_backend(backend, np.zeros((2, 3)), "float64")
        assert backend.dtype(losses.MeanSquaredError()(y_true, y_pred)) == "float32"
        out = losses.MeanSquaredError(dtype="float64")(y_true, y_pred)
        assert backend.dtype(out) == "float64"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_dtype_computes_in_it(backend, dtype):
    y_true = to_backend(backend, np.eye(3, dtype=np.float32))
    y_pred = to_backend(backend, np.full((3, 3), 2.0, np.float32))
    out = losses.CategoricalCrossentropy(from_logits=True, dtype=dtype)(y_true, y_pred)
    assert backend.dtype(out) == dtype
    np.testing.assert_allclose(to_numpy(backend, out), np.log(3.0), rtol=1e-2)


def test_integer_labels_stay_integers_for_sparse_losses(backend):
    seen = {}

    def spy(y_true, y_pred):
        seen["dtype"] = K.dtype(y_true)
        return K.mean(y_pred, axis=-1)

    spy.sparse = True
    LossFunctionWrapper(spy)(to_backend(backend, np.array([1, 2])), to_backend(backend, np.ones((2, 3), np.float32)))
    assert seen["dtype"] in ("int32", "int64")


@pytest.mark.parametrize("bad", ["int32", "float128", 3])
def test_invalid_dtype(bad):
    with pytest.raises(ValueError, match="dtype"):
        losses.MeanSquaredError(dtype=bad)


@pytest.mark.parametrize("bad", ["average", "SUM", "auto", 1])
def test_invalid_reduction_lists_the_valid_ones(bad):
    with pytest.raises(ValueError, match="sum_over_batch_size.*mean_with_sample_weight"):
        losses.MeanSquaredError(reduction=bad)


# ---------------------------------------------------------------- config and repr
def test_config_round_trip_and_repr():
    loss = losses.BinaryFocalCrossentropy(gamma=3.0, from_logits=True, reduction="sum", name="bfce")
    config = loss.get_config()
    assert config == {
        "name": "bfce",
        "reduction": "sum",
        "apply_class_balancing": False,
        "alpha": 0.25,
        "gamma": 3.0,
        "from_logits": True,
        "label_smoothing": 0.0,
        "axis": -1,
    }
    again = losses.BinaryFocalCrossentropy.from_config(config)
    assert again.get_config() == config
    assert repr(loss) == (
        "BinaryFocalCrossentropy(name='bfce', reduction='sum', apply_class_balancing=False, alpha=0.25, "
        "gamma=3.0, from_logits=True, label_smoothing=0.0, axis=-1)"
    )


def test_config_keeps_explicit_dtype_and_compile():
    config = losses.Huber(delta=0.5, dtype="float64", compile=False).get_config()
    assert config == {
        "name": "huber_loss",
        "reduction": "sum_over_batch_size",
        "dtype": "float64",
        "compile": False,
        "delta": 0.5,
    }


def test_default_configs_equal_keras_ones():
    keras = keras_losses()
    for name in ("MeanSquaredError", "LogCosh", "BinaryCrossentropy", "CategoricalCrossentropy", "Dice", "Tversky"):
        expected = getattr(keras, name)().get_config()
        assert getattr(losses, name)().get_config() == expected, name


# ---------------------------------------------------------------- subclassing and wrapping
class ScaledAbsoluteError(Loss):
    """A user loss written against K only."""

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * K.mean(K.abs(y_true - y_pred), axis=-1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def test_subclass_gets_reductions_weights_and_backends(backend):
    y_true, y_pred = sequence_batch(n=2, t=3)
    loss = ScaledAbsoluteError(scale=2.0, reduction="sum")
    assert loss.name == "scaled_absolute_error"
    out = loss(to_backend(backend, y_true), to_backend(backend, y_pred), sample_weight=[1.0, 3.0])
    values = 2.0 * np.mean(np.abs(y_true.astype(np.float64) - y_pred), axis=-1)
    np.testing.assert_allclose(to_numpy(backend, out), np.sum(values * [[1.0], [3.0]]), **F32)
    assert ScaledAbsoluteError.from_config(loss.get_config()).get_config() == loss.get_config()


@with_autograd
def test_subclass_gradients(backend):
    y_true = to_backend(backend, np.zeros((2, 3), np.float32))
    y_pred = to_backend(backend, np.array([[1.0, -2.0, 3.0], [-1.0, 0.5, 2.0]], np.float32))
    loss = ScaledAbsoluteError(scale=3.0)
    _, grad = backend.value_and_grad(lambda t, p: loss(t, p))(y_true, y_pred)
    # d/dp of mean over 6 entries of 3|p|: 3 sign(p) / 6
    np.testing.assert_allclose(to_numpy(backend, grad), 0.5 * np.sign(to_numpy(backend, y_pred)), **F32)


def test_base_class_call_is_abstract():
    with pytest.raises(NotImplementedError, match="call"):
        Loss()([1.0], [1.0])


def test_function_wrapper_binds_options(backend):
    wrapper = LossFunctionWrapper(losses.huber, delta=0.5, reduction="none")
    assert wrapper.name == "huber"
    y_true, y_pred = np.zeros((2, 3), np.float32), np.array([[0.2, -1.0, 3.0], [0.0, 0.4, -0.6]], np.float32)
    out = wrapper(to_backend(backend, y_true), to_backend(backend, y_pred))
    e = np.abs(y_pred.astype(np.float64))
    expected = np.mean(np.where(e <= 0.5, 0.5 * e**2, 0.5 * e - 0.125), axis=-1)
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)
    assert "delta=0.5" in repr(wrapper) and repr(wrapper).startswith("LossFunctionWrapper(huber,")


def test_function_wrapper_lines_up_ranks(backend):
    y_true = to_backend(backend, np.array([[1.0], [0.0]], np.float32))
    y_pred = to_backend(backend, np.array([0.25, 0.5], np.float32))
    out = LossFunctionWrapper(losses.mean_squared_error)(y_true, y_pred)
    np.testing.assert_allclose(to_numpy(backend, out), (0.75**2 + 0.5**2) / 2, **F32)


def test_function_wrapper_rejects_non_functions():
    with pytest.raises(TypeError, match="`fn`"):
        LossFunctionWrapper(losses.MeanSquaredError)


# ---------------------------------------------------------------- compile
def test_compile_option_routes_through_compiling(monkeypatch):
    calls = []

    def fake_call(owner, backend, fn, *args):
        calls.append((owner, backend.name, len(args)))
        return fn(*args)

    monkeypatch.setattr(compiling, "call", fake_call)
    loss = losses.MeanSquaredError(compile=True)
    np.testing.assert_allclose(loss(ISSUE_TRUE, ISSUE_PRED, sample_weight=2.3), 113.85, **F32)
    assert calls == [(loss, "numpy", 3)]
    losses.MeanSquaredError(compile=False)(ISSUE_TRUE, ISSUE_PRED)
    assert len(calls) == 1


def test_invalid_compile_mode():
    with pytest.raises(ValueError, match="compile"):
        losses.MeanSquaredError(compile="always")


COMPILED = [
    (losses.MeanSquaredError(), lambda rng: (rng.normal(size=(4, 3)), rng.normal(size=(4, 3)))),
    (
        losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        lambda rng: (np.array([0, 2, 1, 0], np.int32), rng.normal(size=(4, 3))),
    ),
    (
        losses.BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=True),
        lambda rng: ((rng.random((4, 3)) > 0.5).astype(np.float32), rng.normal(size=(4, 3))),
    ),
    (losses.Huber(delta=0.7, reduction="sum"), lambda rng: (rng.normal(size=(4, 3)), rng.normal(size=(4, 3)))),
]


# numpy has no compiler; torch.compile is exercised on one loss only (slow on CPU)
@pytest.mark.exists_if(
    lambda p: p["backend"] in COMPILERS - {"torch"} or isinstance(p["case"][0], losses.MeanSquaredError)
)
@pytest.mark.parametrize("case", COMPILED, ids=[type(c[0]).__name__ for c in COMPILED])
def test_compiled_equals_eager(backend, case):
    loss, make = case
    y_true, y_pred = make(np.random.default_rng(0))
    y_true = to_backend(backend, y_true if y_true.dtype.kind == "i" else y_true.astype(np.float32))
    y_pred = to_backend(backend, y_pred.astype(np.float32))
    weights = to_backend(backend, np.array([1.0, 2.0, 0.0, 0.5], np.float32))
    eager = loss(y_true, y_pred, sample_weight=weights)
    compiled = backend.compile(lambda t, p, w: loss(t, p, sample_weight=w))(y_true, y_pred, weights)
    np.testing.assert_allclose(to_numpy(backend, compiled), to_numpy(backend, eager), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- devices
GPU_CASES = [
    (losses.MeanSquaredError(), "regression"),
    (losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0), "sparse"),
    (losses.CategoricalFocalCrossentropy(alpha=[0.1, 0.2, 0.3]), "categorical"),
    (losses.CTC(), "ctc"),
    (losses.Circle(), "embeddings"),
]


@pytest.mark.gpu
@pytest.mark.parametrize("case", GPU_CASES, ids=[type(c[0]).__name__ for c in GPU_CASES])
def test_loss_objects_stay_on_the_gpu(case):
    """Inputs on CUDA (torch), NumPy sample weights: the result is on the same
    device and equals the CPU result."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    loss, kind = case
    rng = np.random.default_rng(0)
    y_true, y_pred = {
        "regression": (rng.normal(size=(4, 3)), rng.normal(size=(4, 3))),
        "sparse": (rng.integers(0, 3, 4), rng.normal(size=(4, 3))),
        "categorical": (np.eye(3)[rng.integers(0, 3, 4)], rng.random((4, 3)) + 0.1),
        "ctc": (np.array([[1, 2, 0], [2, 2, 1], [1, 0, 0], [2, 1, 0]]), rng.normal(size=(4, 6, 3))),
        "embeddings": (rng.integers(0, 2, 4), rng.normal(size=(4, 3)) / 2),
    }[kind]
    y_true = torch.tensor(y_true if y_true.dtype.kind == "i" else y_true.astype(np.float32))
    y_pred = torch.tensor(y_pred.astype(np.float32))
    weights = np.array([1.0, 0.5, 2.0, 0.0], np.float32)
    on_gpu = loss(y_true.cuda(), y_pred.cuda(), sample_weight=weights)
    assert on_gpu.device.type == "cuda"
    np.testing.assert_allclose(on_gpu.cpu().numpy(), loss(y_true, y_pred, sample_weight=weights).numpy(), rtol=1e-5)
