"""Numerical edges: huge logits in float32 and half precision (exact, finite
values and gradients), probabilities of exactly 0 and 1, zeros, NaN
propagation, sparse cross-entropy over any class axis with ignore_class and
label smoothing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lossbridge import losses
from tests import reference as ref
from tests.helpers import to_backend, to_numpy, with_autograd
from tests.reference import F32, HALF

TOL = {"float32": F32, **HALF}


def bce_logits(y_true, x):
    """mean(softplus(x) - y x), the exact binary cross-entropy of logits."""
    return np.mean(np.logaddexp(0.0, ref.as_float64(x)) - ref.as_float64(y_true) * ref.as_float64(x), axis=-1)


def cce_logits(y_true, x):
    return -np.sum(ref.as_float64(y_true) * ref.log_softmax(x), axis=-1)


def sparse_logits(labels, x):
    return -np.take_along_axis(ref.log_softmax(x), np.asarray(labels)[:, None], axis=-1)[:, 0]


def extreme_inputs(kind, size):
    """Labels and logits mixing +-size with moderate values."""
    if kind == "binary":
        y = np.array([[1, 0, 1, 0], [1, 1, 0, 0]], np.float32)
        x = np.array([[-size, size, size, -size], [0.5, -size, 2.0, size]], np.float32)
        return y, x
    x = np.array([[size, -size, 0.0], [size, 0.0, -size]], np.float32)
    if kind == "categorical":
        return np.array([[0, 1, 0], [0, 0, 1]], np.float32), x
    return np.array([1, 2], np.int32), x


EXTREME = [
    ("binary_crossentropy", {"from_logits": True}, "binary", bce_logits),
    ("binary_focal_crossentropy", {"from_logits": True}, "binary", ref.ref_binary_focal_crossentropy),
    (
        "binary_focal_crossentropy",
        {"from_logits": True, "apply_class_balancing": True, "gamma": 1.0, "label_smoothing": 0.1},
        "binary",
        ref.ref_binary_focal_crossentropy,
    ),
    ("categorical_crossentropy", {"from_logits": True}, "categorical", cce_logits),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.2}, "categorical", None),
    ("categorical_focal_crossentropy", {"from_logits": True}, "categorical", ref.ref_categorical_focal_crossentropy),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "sparse", sparse_logits),
]


def reference_value(case, y_true, x):
    name, options, _, reference = case
    if reference is None:  # smoothed one-hot labels, then the plain formula
        s = options["label_smoothing"]
        return cce_logits(ref.smoothed(y_true, s, y_true.shape[-1]), x)
    extra = {k: v for k, v in options.items() if k != "from_logits"} if reference is not bce_logits else {}
    if reference in (ref.ref_binary_focal_crossentropy, ref.ref_categorical_focal_crossentropy):
        extra["from_logits"] = True
    return reference(y_true, x, **extra)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("size", [100.0, 1e4])
@pytest.mark.parametrize("case", EXTREME, ids=[f"{c[0]}-{i}" for i, c in enumerate(EXTREME)])
def test_huge_logits_give_exact_finite_values_and_gradients(backend, case, size, dtype):
    name, options, kind, _ = case
    y_true, x = extreme_inputs(kind, size)
    labels = to_backend(backend, y_true, None if kind == "sparse" else dtype)
    logits = to_backend(backend, x, dtype)
    out = getattr(losses, name)(labels, logits, **options)
    assert backend.dtype(out) == dtype
    expected = reference_value(case, y_true, to_numpy(backend, logits))
    np.testing.assert_allclose(to_numpy(backend, out), expected, **TOL[dtype])
    if backend.name != "numpy":
        _, grad = backend.value_and_grad(lambda t, p: getattr(losses, name)(t, p, **options))(labels, logits)
        assert np.all(np.isfinite(to_numpy(backend, grad)))


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@with_autograd
def test_binary_crossentropy_gradient_at_huge_logits(backend, dtype):
    y_true, x = extreme_inputs("binary", 1e4)
    labels, logits = to_backend(backend, y_true, dtype), to_backend(backend, x, dtype)
    _, grad = backend.value_and_grad(lambda t, p: losses.binary_crossentropy(t, p, from_logits=True))(labels, logits)
    sigmoid = np.exp(ref.log_sigmoid(to_numpy(backend, logits)))
    expected = (sigmoid - y_true) / x.shape[-1]
    np.testing.assert_allclose(to_numpy(backend, grad), expected, **TOL[dtype])


@with_autograd
def test_huber_gradient_at_an_infinite_error_is_delta(backend):
    """Huber is linear far out: its gradient there is +-delta / (elements per sample), at |error| = inf too,
    as torch.nn.functional.huber_loss's own backward gives it (JAX and MLX gave nan: 0 * inf through the
    clipped error's zero derivative)."""
    torch = pytest.importorskip("torch")
    y_true = np.zeros((2, 3), np.float32)
    y_pred = np.array([[np.inf, -np.inf, 0.25], [3.0, -0.5, np.inf]], np.float32)
    for delta in (1.0, 0.5):
        value, grad = backend.value_and_grad(lambda t, p, delta=delta: losses.huber(t, p, delta=delta))(
            to_backend(backend, y_true), to_backend(backend, y_pred)
        )
        pred = torch.tensor(y_pred, requires_grad=True)
        native = torch.nn.functional.huber_loss(pred, torch.tensor(y_true), delta=delta, reduction="none").mean(-1)
        native.sum().backward()
        np.testing.assert_allclose(to_numpy(backend, grad), pred.grad.numpy(), **F32)
        np.testing.assert_allclose(to_numpy(backend, value), native.detach().numpy(), **F32)


def test_keras_numpy_backend_case_is_exact(backend):
    """keras' NumPy backend gives 16.03 here (log of a clipped sigmoid); the true value is 100."""
    out = losses.BinaryCrossentropy(from_logits=True)(to_backend(backend, [[1.0]]), to_backend(backend, [[-100.0]]))
    np.testing.assert_allclose(to_numpy(backend, out), 100.0, **F32)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_loss_objects(backend, dtype):
    y_true, x = extreme_inputs("categorical", 1e4)
    loss = losses.CategoricalFocalCrossentropy(from_logits=True, dtype=dtype, reduction="none")
    logits = to_backend(backend, x, dtype)
    out = loss(to_backend(backend, y_true), logits)
    assert backend.dtype(out) == dtype
    expected = ref.ref_categorical_focal_crossentropy(y_true, to_numpy(backend, logits), from_logits=True)
    np.testing.assert_allclose(to_numpy(backend, out), expected, **HALF[dtype])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["dice", "tversky", "Dice", "Tversky"])
def test_overlap_losses_of_half_precision_masks_whose_sums_pass_float16(backend, name, dtype):
    """Two 256 x 256 masks of mean 0.5: the sums over them (~65536) pass
    float16's 65504. Computed in float16 the Dice loss came out 1.0 (the
    float64 value is 0.5007; Keras 3 gives 1.0 too) and Tversky NaN with four
    masks; now half precision is computed in float32 and rounded back."""
    rng = np.random.default_rng(6)
    y_true = (rng.random((4, 256, 256)) > 0.5).astype(np.float32)
    y_pred = rng.random((4, 256, 256)).astype(np.float32)
    t, p = to_backend(backend, y_true, dtype), to_backend(backend, y_pred, dtype)
    wide_true, wide_pred = (np.asarray(to_numpy(backend, x), np.float64) for x in (t, p))  # the rounded inputs
    overlap = (wide_true * wide_pred).sum()
    if name.lower() == "dice":
        expected = 1 - 2 * overlap / (wide_true.sum() + wide_pred.sum())
    else:
        missed, spurious = ((1 - wide_pred) * wide_true).sum(), (wide_pred * (1 - wide_true)).sum()
        expected = 1 - overlap / (overlap + 0.5 * missed + 0.5 * spurious)
    fn = getattr(losses, name)(dtype=dtype) if name[0].isupper() else getattr(losses, name)
    out = fn(t, p)
    assert backend.dtype(out) == dtype
    np.testing.assert_allclose(to_numpy(backend, out), expected, **HALF[dtype])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    logits=st.lists(st.floats(-60.0, 60.0, width=32), min_size=4, max_size=4),
    labels=st.lists(st.integers(0, 1), min_size=4, max_size=4),
    gamma=st.sampled_from([0.0, 0.5, 2.0]),
)
def test_focal_from_logits_is_exact_and_below_crossentropy(backend, logits, labels, gamma):
    y_true = np.asarray([labels], np.float32)
    x = np.asarray([logits], np.float32)
    t, p = to_backend(backend, y_true), to_backend(backend, x)
    focal = to_numpy(backend, losses.binary_focal_crossentropy(t, p, gamma=gamma, from_logits=True))
    bce = to_numpy(backend, losses.binary_crossentropy(t, p, from_logits=True))
    expected = ref.ref_binary_focal_crossentropy(y_true, x, gamma=gamma, from_logits=True)
    np.testing.assert_allclose(focal, expected, rtol=1e-5, atol=1e-6)
    assert np.all(focal <= bce * (1 + 1e-6) + 1e-7)


# ---------------------------------------------------------------- probabilities at 0 and 1
PROBABILITY_EDGES = [
    ("binary_crossentropy", {}),
    ("binary_focal_crossentropy", {}),
    ("binary_focal_crossentropy", {"apply_class_balancing": True}),
    ("categorical_crossentropy", {}),
    ("categorical_focal_crossentropy", {}),
    ("kl_divergence", {}),
    ("poisson", {}),
]


@pytest.mark.parametrize("case", PROBABILITY_EDGES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(PROBABILITY_EDGES)])
def test_probabilities_of_zero_and_one_stay_finite(backend, case):
    name, options = case
    y_true = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    y_pred = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], np.float32)  # wrong, then certain and right
    fn = getattr(losses, name)
    out = to_numpy(backend, fn(to_backend(backend, y_true), to_backend(backend, y_pred), **options))
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    if backend.name != "numpy":
        _, grad = backend.value_and_grad(lambda t, p: fn(t, p, **options))(
            to_backend(backend, y_true), to_backend(backend, y_pred)
        )
        assert np.all(np.isfinite(to_numpy(backend, grad)))


def test_clipped_values_match_the_clipped_formula(backend):
    """Certain and wrong: p is clipped to [eps, 1 - eps] with both bounds in
    float32, where 1 - 1e-7 rounds to 1 - 2**-23 (Keras gives the same 16.03)."""
    y_true = np.array([[1.0, 0.0]], np.float32)
    y_pred = np.array([[0.0, 1.0]], np.float32)
    out = losses.binary_focal_crossentropy(to_backend(backend, y_true), to_backend(backend, y_pred))
    low, high = float(np.float32(1e-7)), float(np.float32(1 - 1e-7))
    expected = (-np.log(low) - np.log(1.0 - high)) / 2  # the focal factor (1 - p_t)**2 is 1 here
    np.testing.assert_allclose(to_numpy(backend, out), [expected], **F32)


# ---------------------------------------------------------------- zeros and NaN
def test_small_msle_terms_keep_float32_precision(backend):
    """MSLE's ``log(x + 1)`` of a small ``x`` in float32: ``1 + x`` rounds
    (``1 + 1e-4`` is 1.00010001659 in float32, an error of ~1e-4 of the log),
    so the loss is taken as ``log1p(x)`` and stays within float32 rounding of
    the float64 formula."""
    y_true = np.array([[0.0, 1e-4, 3e-6, 0.5]], np.float32)
    y_pred = np.array([[1e-4, 0.0, 2e-6, 0.5 + 1e-5]], np.float32)

    def log1p_clipped(v):
        return np.log1p(np.maximum(v.astype(np.float64), 1e-7))

    expected = np.mean((log1p_clipped(y_pred) - log1p_clipped(y_true)) ** 2, axis=-1)
    out = losses.mean_squared_logarithmic_error(to_backend(backend, y_true), to_backend(backend, y_pred))
    np.testing.assert_allclose(to_numpy(backend, out), expected, rtol=1e-5)


def test_zero_inputs(backend):
    zeros = to_backend(backend, np.zeros((2, 4, 4, 1), np.float32))
    for loss, expected in (
        (losses.MeanSquaredError(), 0.0),
        (losses.Huber(), 0.0),
        (losses.LogCosh(), 0.0),
        (losses.Dice(), 1.0),  # no mass on either side: 1 - 0 / eps
        (losses.Tversky(axis=(1, 2, 3)), 1.0),
    ):
        out = to_numpy(backend, loss(zeros, zeros))
        np.testing.assert_allclose(out, expected, atol=1e-6)


NAN_CASES = [
    ("mean_squared_error", {}, "regression"),
    ("huber", {}, "regression"),
    ("binary_crossentropy", {"from_logits": True}, "binary"),
    ("binary_focal_crossentropy", {"from_logits": True}, "binary"),
    ("categorical_crossentropy", {"from_logits": True}, "categorical"),
    ("categorical_focal_crossentropy", {"from_logits": True}, "categorical"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "sparse"),
]


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("case", NAN_CASES, ids=[c[0] for c in NAN_CASES])
def test_nan_propagates_to_its_sample_only(backend, case):
    name, options, kind = case
    if kind == "regression":
        y_true, x = np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)
    else:
        y_true, x = extreme_inputs(kind, 3.0)
    x = x.copy()
    x[0, 1] = np.nan
    out = to_numpy(backend, getattr(losses, name)(to_backend(backend, y_true), to_backend(backend, x), **options))
    assert np.isnan(out[0]) and np.isfinite(out[1])


INF_LOGITS = np.array([[0.0, np.inf, 1.0], [0.0, 1.0, 2.0], [np.inf, 0.0, -1.0], [-np.inf, 0.0, 1.0]], np.float32)
INF_LABELS = np.array([0, 2, 0, 1])


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "dense"])
def test_infinite_logits_give_what_torch_cross_entropy_gives(backend, sparse):
    """A +inf logit makes its row's cross-entropy NaN (+inf - +inf), whichever
    class it sits on, as ``torch.nn.functional.cross_entropy`` (and JAX's and
    TF's own kernels) give it; NumPy and MLX said inf for the first row of the
    sparse form, the others NaN. A -inf logit is a class of probability 0: the
    sparse form reads past it, the dense form's ``0 * -inf`` is NaN in torch's
    probability-target form as in Keras and optax's ``softmax_cross_entropy``."""
    torch = pytest.importorskip("torch")
    logits = torch.tensor(INF_LOGITS, dtype=torch.float64)
    one_hot = np.eye(3, dtype=np.float32)[INF_LABELS]
    target = torch.tensor(INF_LABELS) if sparse else torch.tensor(one_hot, dtype=torch.float64)
    expected = torch.nn.functional.cross_entropy(logits, target, reduction="none").numpy()
    assert np.isnan(expected[[0, 2]]).all() and np.isfinite(expected[1])  # the reference's own rule
    labels = INF_LABELS if sparse else one_hot
    fn = losses.sparse_categorical_crossentropy if sparse else losses.categorical_crossentropy
    out = to_numpy(backend, fn(to_backend(backend, labels), to_backend(backend, INF_LOGITS), from_logits=True))
    np.testing.assert_allclose(out, expected, rtol=1e-6, equal_nan=True)


# ---------------------------------------------------------------- sparse cross-entropy on any axis
def channels_first(seed=0, ignore=None):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(2, 4, 3, 5)).astype(np.float32)  # (N, C, H, W)
    labels = rng.integers(0, 4, (2, 3, 5)).astype(np.int32)
    if ignore is not None:
        labels[0, 1, :3] = ignore
    return labels, logits


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_sparse_crossentropy_class_axis_1_matches_torch(backend, smoothing):
    torch = pytest.importorskip("torch")
    labels, logits = channels_first()
    out = losses.sparse_categorical_crossentropy(
        to_backend(backend, labels), to_backend(backend, logits), from_logits=True, axis=1, label_smoothing=smoothing
    )
    expected = torch.nn.functional.cross_entropy(
        torch.tensor(logits), torch.tensor(labels).long(), reduction="none", label_smoothing=smoothing
    )
    assert backend.shape(out) == (2, 3, 5)
    np.testing.assert_allclose(to_numpy(backend, out), expected.numpy(), **F32)


def test_sparse_crossentropy_axis_1_with_ignore_class(backend):
    torch = pytest.importorskip("torch")
    labels, logits = channels_first(seed=1, ignore=255)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255, axis=1)
    out = loss(to_backend(backend, labels), to_backend(backend, logits))
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels).long(), ignore_index=255)
    np.testing.assert_allclose(to_numpy(backend, out), expected.numpy(), **F32)
    probabilities = np.exp(ref.log_softmax(logits, axis=1)).astype(np.float32)
    per_pixel = losses.SparseCategoricalCrossentropy(ignore_class=255, axis=1, reduction="none")(
        to_backend(backend, labels), to_backend(backend, probabilities)
    )
    kept = labels != 255
    dense = -np.take_along_axis(ref.log_softmax(logits, axis=1), np.where(kept, labels, 0)[:, None], axis=1)[:, 0]
    np.testing.assert_allclose(to_numpy(backend, per_pixel), np.where(kept, dense, 0.0), **F32)


def test_sparse_label_smoothing_equals_dense_on_one_hot(backend):
    labels, logits = channels_first(seed=2)
    logits = np.moveaxis(logits, 1, -1)
    one_hot = np.eye(4, dtype=np.float32)[labels]
    sparse = losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.3)
    dense = ref.as_float64(one_hot) * 0.7 + 0.3 / 4
    expected = np.mean(-np.sum(dense * ref.log_softmax(logits), axis=-1))
    np.testing.assert_allclose(
        to_numpy(backend, sparse(to_backend(backend, labels), to_backend(backend, logits))), expected, **F32
    )
