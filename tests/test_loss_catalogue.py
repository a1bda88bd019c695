"""The Keras 3 loss catalogue: every class and option against Keras itself,
the new functions against float64 NumPy references and native ops (torch,
optax), gradients against finite differences, and clear errors."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings

from lossbridge import losses
from tests import reference as ref
from tests.helpers import (
    id_arrays,
    jax_would_wrap,
    not_on,
    on,
    precision,
    to_backend,
    to_numpy,
    with_autograd,
    with_compiler,
)
from tests.reference import F32, KERAS, keras_losses

SPARSE_KINDS = ("sparse_probs", "sparse_logits", "ctc", "embeddings")


def make_inputs(kind, seed=0):
    """(y_true, y_pred) NumPy inputs of one kind; float32, labels int32."""
    rng = np.random.default_rng(seed)
    normal = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    binary = lambda *shape: (rng.random(shape) > 0.5).astype(np.float32)  # noqa: E731
    onehot = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 4)]
    probs = rng.random((4, 5)) + 0.1
    probs = (probs / probs.sum(-1, keepdims=True)).astype(np.float32)
    if kind == "regression":
        return normal(4, 3), normal(4, 3)
    if kind == "positive":
        return np.abs(normal(4, 3)), np.abs(normal(4, 3))
    if kind == "binary_scores":
        return binary(4, 3), normal(4, 3)
    if kind == "onehot_scores":
        return onehot, normal(4, 5)
    if kind == "distributions":
        other = rng.random((4, 5)) + 0.1
        return (other / other.sum(-1, keepdims=True)).astype(np.float32), probs
    if kind == "counts":
        return rng.poisson(2.0, (4, 3)).astype(np.float32), (rng.random((4, 3)) * 3 + 0.1).astype(np.float32)
    if kind == "binary_probs":
        return binary(4, 3), (rng.random((4, 3)) * 0.9 + 0.05).astype(np.float32)
    if kind == "binary_logits":
        return binary(4, 3), normal(4, 3)
    if kind == "onehot_probs":
        return onehot, probs
    if kind == "onehot_logits":
        return onehot, normal(4, 5)
    if kind == "sparse_probs":
        return rng.integers(0, 5, 4).astype(np.int32), probs
    if kind == "sparse_logits":
        return rng.integers(0, 5, 4).astype(np.int32), normal(4, 5)
    if kind == "ctc":
        return np.array([[1, 2, 2, 0], [3, 1, 0, 0], [4, 4, 1, 1]], np.int32), normal(3, 9, 5)
    if kind == "masks":
        return binary(2, 4, 4, 1), rng.random((2, 4, 4, 1)).astype(np.float32)
    if kind == "embeddings":
        emb = normal(8, 4)
        return rng.integers(0, 3, 8).astype(np.int32), emb / np.linalg.norm(emb, axis=1, keepdims=True)
    raise KeyError(kind)


CATALOGUE = [
    ("MeanSquaredError", {}, "regression"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "regression"),
    ("MeanSquaredLogarithmicError", {}, "positive"),
    ("CosineSimilarity", {}, "regression"),
    ("CosineSimilarity", {"axis": 0}, "regression"),
    ("Huber", {}, "regression"),
    ("Huber", {"delta": 0.3}, "regression"),
    ("LogCosh", {}, "regression"),
    ("Hinge", {}, "binary_scores"),
    ("SquaredHinge", {}, "binary_scores"),
    ("CategoricalHinge", {}, "onehot_scores"),
    ("KLDivergence", {}, "distributions"),
    ("Poisson", {}, "counts"),
    ("BinaryCrossentropy", {}, "binary_probs"),
    ("BinaryCrossentropy", {"from_logits": True}, "binary_logits"),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, "binary_probs"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1, "axis": 0}, "binary_logits"),
    ("BinaryFocalCrossentropy", {}, "binary_probs"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5}, "binary_probs"),
    ("BinaryFocalCrossentropy", {"from_logits": True}, "binary_logits"),
    (
        "BinaryFocalCrossentropy",
        {"from_logits": True, "apply_class_balancing": True, "label_smoothing": 0.1},
        "binary_logits",
    ),
    ("BinaryFocalCrossentropy", {"gamma": 0.0, "axis": 0}, "binary_probs"),
    ("CategoricalCrossentropy", {}, "onehot_probs"),
    ("CategoricalCrossentropy", {"from_logits": True}, "onehot_logits"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot_probs"),
    ("CategoricalFocalCrossentropy", {}, "onehot_probs"),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "alpha": 0.5, "gamma": 1.0}, "onehot_logits"),
    ("CategoricalFocalCrossentropy", {"label_smoothing": 0.2, "gamma": 3.0}, "onehot_probs"),
    ("SparseCategoricalCrossentropy", {}, "sparse_probs"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits"),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 1}, "sparse_logits"),
    ("CategoricalGeneralizedCrossEntropy", {}, "sparse_probs"),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.2}, "sparse_probs"),
    ("CTC", {}, "ctc"),
    ("Dice", {}, "masks"),
    ("Dice", {"axis": (1, 2)}, "masks"),
    ("Tversky", {}, "masks"),
    ("Tversky", {"alpha": 0.3, "beta": 0.7}, "masks"),
    ("Tversky", {"alpha": 0.8, "beta": 0.2, "axis": (1, 2, 3)}, "masks"),
    ("Circle", {}, "embeddings"),
    ("Circle", {"gamma": 10.0, "margin": 0.25}, "embeddings"),
    ("Circle", {"remove_diagonal": False}, "embeddings"),
]
CATALOGUE_IDS = [
    f"{name}-{'-'.join(f'{k}={v}' for k, v in options.items()) or 'default'}" for name, options, _ in CATALOGUE
]
_keras_cache: dict = {}


def keras_value(name, options, kind, reduction):
    key = (name, tuple(sorted(options.items())), kind, reduction)
    if key not in _keras_cache:
        keras = keras_losses()
        y_true, y_pred = make_inputs(kind)
        _keras_cache[key] = np.asarray(getattr(keras, name)(reduction=reduction, **options)(y_true, y_pred))
    return _keras_cache[key]


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", None])
@pytest.mark.parametrize("case", CATALOGUE, ids=CATALOGUE_IDS)
def test_class_matches_keras(backend, case, reduction):
    name, options, kind = case
    expected = keras_value(name, options, kind, reduction)
    y_true, y_pred = make_inputs(kind)
    out = getattr(losses, name)(reduction=reduction, **options)(
        to_backend(backend, y_true), to_backend(backend, y_pred)
    )
    assert backend.shape(out) == expected.shape
    np.testing.assert_allclose(to_numpy(backend, out), expected, **KERAS)


def test_catalogue_signatures_follow_keras():
    """Same argument names and defaults as keras.losses (plus ``compile`` and
    ``global_batch_size``, both defaulting to Keras' behaviour, and
    ``label_smoothing`` for sparse categorical cross-entropy)."""
    keras = keras_losses()
    extras = {"compile", "global_batch_size"}
    for name in sorted({name for name, _, _ in CATALOGUE}):
        ours = inspect.signature(getattr(losses, name)).parameters
        theirs = inspect.signature(getattr(keras, name)).parameters
        allowed = extras | ({"label_smoothing"} if name == "SparseCategoricalCrossentropy" else set())
        # in Keras' order too: a positional call means the same in both
        assert [p for p in ours if p not in allowed] == list(theirs), name
        for param in theirs.values():
            assert ours[param.name].default == param.default, (name, param.name)


def test_catalogue_classes_bind_what_they_are_given():
    """Every argument of a catalogue class reaches its loss, by position as by keyword."""
    loss = losses.SparseCategoricalCrossentropy(True, 3, "sum", 0)  # from_logits, ignore_class, reduction, axis
    assert (loss.from_logits, loss.ignore_class, loss.reduction, loss.axis) == (True, 3, "sum", 0)
    loss = losses.BinaryFocalCrossentropy(
        True, 0.5, 1.0, True, 0.1, -1, "sum_over_batch_size", "focal", "float64", False, 64
    )
    assert loss.get_config() == {
        "name": "focal",
        "reduction": "sum_over_batch_size",
        "dtype": "float64",
        "compile": False,
        "global_batch_size": 64,
        "apply_class_balancing": True,
        "alpha": 0.5,
        "gamma": 1.0,
        "from_logits": True,
        "label_smoothing": 0.1,
        "axis": -1,
    }


FUNCTIONS = ["huber", "binary_focal_crossentropy", "categorical_focal_crossentropy", "ctc", "dice", "tversky", "circle"]


@pytest.mark.parametrize("name", FUNCTIONS + ["categorical_generalized_cross_entropy"])
def test_functions_match_keras(name):
    keras = keras_losses()
    kind = {
        "huber": "regression",
        "binary_focal_crossentropy": "binary_probs",
        "categorical_focal_crossentropy": "onehot_probs",
        "ctc": "ctc",
        "dice": "masks",
        "tversky": "masks",
        "circle": "embeddings",
        "categorical_generalized_cross_entropy": "sparse_probs",
    }[name]
    options = {"q": 0.5} if name == "categorical_generalized_cross_entropy" else {}
    y_true, y_pred = make_inputs(kind, seed=9)
    expected = np.asarray(getattr(keras, name)(y_true, y_pred, **options))
    np.testing.assert_allclose(np.asarray(getattr(losses, name)(y_true, y_pred, **options)), expected, **KERAS)


# ---------------------------------------------------------------- float64 references
REFERENCE_CASES = [
    ("huber", {}, "regression"),
    ("huber", {"delta": 2.5}, "regression"),
    ("huber", {"delta": 0.0}, "regression"),
    ("binary_focal_crossentropy", {}, "binary_probs"),
    ("binary_focal_crossentropy", {"apply_class_balancing": True, "alpha": 0.9, "gamma": 3.0}, "binary_probs"),
    ("binary_focal_crossentropy", {"from_logits": True, "gamma": 0.5, "label_smoothing": 0.3}, "binary_logits"),
    ("binary_focal_crossentropy", {"from_logits": True, "axis": 0}, "binary_logits"),
    ("categorical_focal_crossentropy", {}, "onehot_probs"),
    ("categorical_focal_crossentropy", {"from_logits": True, "alpha": [0.1, 0.2, 0.3, 0.4, 0.5]}, "onehot_logits"),
    ("categorical_focal_crossentropy", {"from_logits": True, "axis": 0, "label_smoothing": 0.2}, "onehot_logits"),
    ("categorical_generalized_cross_entropy", {"q": 0.7}, "sparse_probs"),
    ("dice", {}, "masks"),
    ("dice", {"axis": (1, 2, 3)}, "masks"),
    ("dice", {"axis": -1}, "masks"),
    ("tversky", {"alpha": 0.2, "beta": 0.8, "axis": (1, 2)}, "masks"),
    ("circle", {}, "embeddings"),
    ("circle", {"gamma": 2.0, "margin": 0.1, "remove_diagonal": False}, "embeddings"),
    ("ctc", {}, "ctc"),
]


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(REFERENCE_CASES)])
def test_function_matches_float64_reference(backend, case):
    name, options, kind = case
    y_true, y_pred = make_inputs(kind, seed=2)
    out = getattr(losses, name)(to_backend(backend, y_true), to_backend(backend, y_pred), **options)
    expected = getattr(ref, f"ref_{name}")(y_true, y_pred, **options)
    assert backend.shape(out) == np.shape(expected)
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


def test_generalized_cross_entropy_accepts_column_labels(backend):
    y_true, y_pred = make_inputs("sparse_probs", seed=4)
    out = losses.categorical_generalized_cross_entropy(
        to_backend(backend, y_true[:, None]), to_backend(backend, y_pred), q=0.3
    )
    expected = ref.ref_categorical_generalized_cross_entropy(y_true, y_pred, q=0.3)
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


def test_circle_against_reference_embeddings(backend):
    labels, emb = make_inputs("embeddings", seed=6)
    ref_labels, ref_emb = make_inputs("embeddings", seed=7)
    out = losses.circle(
        to_backend(backend, labels), to_backend(backend, emb), ref_labels=ref_labels, ref_embeddings=ref_emb, gamma=8.0
    )
    expected = ref.ref_circle(labels, emb, ref_labels, ref_emb, gamma=8.0)
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


def test_circle_reduction_counts_positive_losses_only(backend):
    labels, emb = make_inputs("embeddings", seed=3)
    labels[0] = 7  # a class of its own: no positives, loss 0, masked out
    values = ref.ref_circle(labels, emb)
    assert values[0] == 0.0
    out = losses.Circle()(to_backend(backend, labels), to_backend(backend, emb))
    np.testing.assert_allclose(to_numpy(backend, out), values.sum() / np.count_nonzero(values), **F32)


def test_circle_of_an_empty_batch(backend):
    """No anchors: no values, and a mean over none of 0, on every backend (NumPy and MLX raised: their max
    over the empty row of pair scores has no identity; torch, JAX and TF gave these)."""
    labels, emb = to_backend(backend, np.zeros(0, np.int32), "int32"), to_backend(backend, np.zeros((0, 4), np.float32))
    assert to_numpy(backend, losses.circle(labels, emb)).shape == (0,)
    assert float(to_numpy(backend, losses.Circle()(labels, emb))) == 0.0


# ---------------------------------------------------------------- native ops
def test_sparse_crossentropy_matches_torch_cross_entropy(backend):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(6, 5)).astype(np.float32), rng.integers(0, 5, 6)
    for smoothing in (0.0, 0.15):
        expected = F.cross_entropy(
            torch.tensor(logits), torch.tensor(labels), reduction="none", label_smoothing=smoothing
        )
        out = losses.sparse_categorical_crossentropy(
            to_backend(backend, labels), to_backend(backend, logits), from_logits=True, label_smoothing=smoothing
        )
        np.testing.assert_allclose(to_numpy(backend, out), expected.numpy(), **F32)
    # torch's ignore_index mean is Keras' ignore_class mask reduction
    labels[[1, 4]] = 2
    expected = F.cross_entropy(torch.tensor(logits), torch.tensor(labels), ignore_index=2)
    out = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2)(
        to_backend(backend, labels), to_backend(backend, logits)
    )
    np.testing.assert_allclose(to_numpy(backend, out), expected.numpy(), **F32)


def test_binary_crossentropy_and_huber_match_torch(backend):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    labels, logits = make_inputs("binary_logits", seed=8)
    logits = logits * 20.0  # far into the tails, where log(sigmoid(x)) would round
    expected = F.binary_cross_entropy_with_logits(torch.tensor(logits), torch.tensor(labels), reduction="none")
    out = losses.binary_crossentropy(to_backend(backend, labels), to_backend(backend, logits), from_logits=True)
    np.testing.assert_allclose(to_numpy(backend, out), expected.mean(-1).numpy(), **F32)
    y_true, y_pred = make_inputs("regression", seed=8)
    for delta in (0.25, 1.0, 4.0):
        expected = F.huber_loss(torch.tensor(y_pred), torch.tensor(y_true), reduction="none", delta=delta)
        out = losses.huber(to_backend(backend, y_true), to_backend(backend, y_pred), delta=delta)
        np.testing.assert_allclose(to_numpy(backend, out), expected.mean(-1).numpy(), **F32)


def test_ctc_matches_torch_and_optax(backend):
    torch = pytest.importorskip("torch")
    optax = pytest.importorskip("optax")
    labels, logits = make_inputs("ctc", seed=5)
    out = to_numpy(backend, losses.ctc(to_backend(backend, labels), to_backend(backend, logits)))
    lengths = (labels != 0).sum(-1)
    log_probs = torch.log_softmax(torch.tensor(logits), -1).transpose(0, 1)
    expected = torch.nn.functional.ctc_loss(
        log_probs, torch.tensor(labels).long(), torch.full((3,), 9), torch.tensor(lengths), reduction="none"
    )
    np.testing.assert_allclose(out, expected.numpy(), **F32)
    via_optax = optax.ctc_loss(logits, np.zeros((3, 9), np.float32), labels, (labels == 0).astype(np.float32))
    np.testing.assert_allclose(out, np.asarray(via_optax), **F32)


def test_binary_focal_matches_optax(backend):
    optax = pytest.importorskip("optax")
    labels, logits = make_inputs("binary_logits", seed=11)
    logits = logits * 4.0
    for alpha, gamma in ((0.25, 2.0), (0.7, 0.5)):
        expected = np.mean(np.asarray(optax.sigmoid_focal_loss(logits, labels, alpha=alpha, gamma=gamma)), -1)
        out = losses.binary_focal_crossentropy(
            to_backend(backend, labels),
            to_backend(backend, logits),
            apply_class_balancing=True,
            alpha=alpha,
            gamma=gamma,
            from_logits=True,
        )
        np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


# ---------------------------------------------------------------- gradients
GRADIENT_CASES = [
    ("huber", {"delta": 0.8}, "regression"),
    ("binary_focal_crossentropy", {"apply_class_balancing": True}, "binary_probs"),
    ("binary_focal_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, "binary_logits"),
    ("categorical_focal_crossentropy", {"from_logits": True}, "onehot_logits"),
    ("categorical_focal_crossentropy", {}, "onehot_probs"),
    ("categorical_generalized_cross_entropy", {"q": 0.4}, "sparse_probs"),
    ("dice", {"axis": (1, 2)}, "masks"),
    ("tversky", {"alpha": 0.3, "beta": 0.7}, "masks"),
    ("circle", {"gamma": 4.0}, "embeddings"),
    ("ctc", {}, "ctc"),
]


def finite_difference(fn, x, h=1e-6):
    """d sum(fn(x)) / dx by central differences, in float64."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (np.sum(fn(up)) - np.sum(fn(down))) / (2 * h)
    return grad


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(GRADIENT_CASES)])
@with_autograd
def test_gradient_matches_finite_differences(backend, case):
    name, options, kind = case
    y_true, y_pred = make_inputs(kind, seed=12)
    y_pred = y_pred.astype(np.float64)
    reference = getattr(ref, f"ref_{name}")
    expected = finite_difference(lambda p: reference(y_true, p, **options), y_pred)
    with precision(backend, "float64"):
        labels = to_backend(backend, y_true if kind in SPARSE_KINDS else y_true.astype(np.float64))
        value, grad = backend.value_and_grad(lambda t, p: getattr(losses, name)(t, p, **options))(
            labels, to_backend(backend, y_pred)
        )
        grad = to_numpy(backend, grad)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: losses.Huber(delta=-1.0), "delta"),
        (lambda: losses.BinaryFocalCrossentropy(alpha=1.5), "alpha"),
        (lambda: losses.BinaryFocalCrossentropy(gamma=-2.0), "gamma"),
        (lambda: losses.CategoricalFocalCrossentropy(alpha=-0.1), "alpha"),
        (lambda: losses.CategoricalFocalCrossentropy(alpha=[0.5, 2.0]), "alpha"),
        (lambda: losses.BinaryCrossentropy(label_smoothing=1.5), "label_smoothing"),
        (lambda: losses.CategoricalCrossentropy(label_smoothing=-0.1), "label_smoothing"),
        (lambda: losses.SparseCategoricalCrossentropy(label_smoothing=2), "label_smoothing"),
        (lambda: losses.BinaryFocalCrossentropy(label_smoothing=-1), "label_smoothing"),
        (lambda: losses.CategoricalGeneralizedCrossEntropy(q=0.0), "q"),
        (lambda: losses.CategoricalGeneralizedCrossEntropy(q=1.0), "q"),
        (lambda: losses.Tversky(alpha=-0.5), "alpha"),
        (lambda: losses.Circle(gamma=-1.0), "gamma"),
        (lambda: losses.CategoricalCrossentropy(axis=True), "axis"),
        (lambda: losses.Dice(axis="all"), "axis"),
        (lambda: losses.huber([1.0], [2.0], delta=-0.5), "delta"),
        (lambda: losses.binary_focal_crossentropy([[1.0]], [[0.5]], alpha=2.0), "alpha"),
        (lambda: losses.categorical_generalized_cross_entropy([0], [[0.5, 0.5]], q=1.2), "q"),
    ],
)
def test_bad_options_name_the_argument(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        make()


@pytest.mark.parametrize(
    "call",
    [
        lambda b: losses.SparseCategoricalCrossentropy()(to_backend(b, [0, 7]), to_backend(b, np.ones((2, 5), "f4"))),
        lambda b: losses.CategoricalGeneralizedCrossEntropy()(
            to_backend(b, [0, -1]), to_backend(b, np.full((2, 3), 0.3, "f4"))
        ),
        lambda b: losses.CTC()(to_backend(b, [[1, 9]]), to_backend(b, np.zeros((1, 4, 5), "f4"))),
    ],
    ids=["sparse", "generalized", "ctc"],
)
def test_labels_out_of_range(backend, call):
    with pytest.raises(ValueError, match=r"`y_true` holds .*outside \[0, \d\)"):
        call(backend)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=id_arrays(6, 5))
@example(labels=np.array([2**32 + 1, 0, 1, 2, 3, 4], np.int64))  # int32 or JAX's narrowing wraps it to 1
def test_sparse_crossentropy_takes_ids_of_any_dtype_or_refuses_them(backend, labels):
    """Property: labels of any integer or float dtype, all in [0, 5), give
    -log softmax at the label (float64 NumPy); one out of range in any way
    raises, never wraps into a class (JAX without x64 refuses a 64-bit NumPy
    array it cannot hold)."""
    logits = np.random.default_rng(5).normal(size=(6, 5)).astype(np.float32)
    exact = labels.astype(np.float64)  # exact below 2**53
    y_true = labels if jax_would_wrap(backend, labels) else to_backend(backend, labels)
    if ((exact < 0) | (exact >= 5)).any():
        with pytest.raises(ValueError, match=r"`y_true`.*(outside \[0, 5\)|cannot become a JAX array)"):
            losses.sparse_categorical_crossentropy(y_true, to_backend(backend, logits), from_logits=True)
        return
    value = losses.sparse_categorical_crossentropy(y_true, to_backend(backend, logits), from_logits=True)
    wide = logits.astype(np.float64)
    log_softmax = wide - np.log(np.exp(wide).sum(-1, keepdims=True))
    np.testing.assert_allclose(to_numpy(backend, value), -log_softmax[np.arange(6), exact.astype(int)], **F32)


@on("jax", "tensorflow", "mlx")  # jax.jit / tf.function / mx.compile (torch.compile would recompile per dtype drawn)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=id_arrays(6, 5))
@example(labels=np.array([2**32 + 1, 0, 1, 2, 3, 4], np.int64))  # a narrowing cast wraps it to 1
@example(labels=np.array([255, 0, 1, 2, 3, -1], np.int16))  # a void label; a gather wraps -1 to the last class
def test_traced_sparse_crossentropy_of_ids_of_any_dtype_is_the_label_loss_or_nan(backend, labels):
    """Property, compiled: labels of any integer or float dtype give -log
    softmax at the label (float64 NumPy) where in [0, 5), NaN elsewhere
    however the id is out of range (nothing can raise under a compiler)."""
    assume(not jax_would_wrap(backend, labels))  # refused before tracing (test above)
    logits = np.random.default_rng(5).normal(size=(6, 5)).astype(np.float32)
    exact = labels.astype(np.float64)  # exact below 2**53
    inside = (exact >= 0) & (exact < 5)
    wide = logits.astype(np.float64)
    log_softmax = wide - np.log(np.exp(wide).sum(-1, keepdims=True))
    expected = np.where(inside, -log_softmax[np.arange(6), np.where(inside, exact, 0).astype(int)], np.nan)
    with precision(backend, labels.dtype):
        loss = backend.compile(lambda y, p: losses.sparse_categorical_crossentropy(y, p, from_logits=True))
        got = to_numpy(backend, loss(to_backend(backend, labels), to_backend(backend, logits)))
    np.testing.assert_allclose(got, expected, **F32)


@on("mlx")
def test_sparse_losses_under_a_bare_mx_compile_get_the_traced_rules(backend):
    """mx.compile called directly tells the function nothing, and its traced
    arrays cannot be read: value checks find that out by trying
    (``host_values``) and take the rules of a trace, as under jax.jit: an id
    out of range or fractional gives NaN, the others -log p at the label
    (float64 NumPy), and CTC runs. Before, MLX's "[eval] Attempting to eval
    an array during function transformations" ended every sparse loss there.
    Eagerly the same labels raise."""
    import mlx.core as mx

    probs = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5], [0.1, 0.9]], np.float32)
    for labels in (np.array([1, 0, 2, -1], np.int32), np.array([1.0, 0.0, 1.5, np.nan], np.float32)):
        args = (to_backend(backend, labels), to_backend(backend, probs))
        value = mx.compile(lambda y, p: losses.sparse_categorical_crossentropy(y, p))(*args)
        np.testing.assert_allclose(to_numpy(backend, value), [-np.log(0.8), -np.log(0.6), np.nan, np.nan], **F32)
        with pytest.raises(ValueError, match="`y_true` holds"):
            losses.sparse_categorical_crossentropy(*args)
    labels, logits = make_inputs("ctc", seed=14)
    value = mx.compile(losses.ctc)(to_backend(backend, labels), to_backend(backend, logits))
    np.testing.assert_allclose(to_numpy(backend, value), ref.ref_ctc(labels, logits), **F32)


#: per label dtype: labels of 6 samples over 5 classes, some out of range (past the end, negative, past 32 bits)
TRACED_LABELS = {
    "int32": [1, 5, -1, 3, 2, 2**31 - 1],
    "int64": [1, 5, -1, 2**32 + 1, 2, 0],
    "float32": [1, 5, -1, 1.5, 2, np.nan],  # 1.5 truncated to class 1 and NaN cast to class 0 before
}
TRACED_SPARSE_LOSSES = {
    "probabilities": (lambda y, p: losses.sparse_categorical_crossentropy(y, p), "probs"),
    "logits": (lambda y, p: losses.sparse_categorical_crossentropy(y, p, from_logits=True), "logits"),
    "smoothed": (
        lambda y, p: losses.sparse_categorical_crossentropy(y, p, from_logits=True, label_smoothing=0.2),
        "smooth",
    ),
    "ignore_class=2": (
        lambda y, p: losses.sparse_categorical_crossentropy(y, p, from_logits=True, ignore_class=2),
        "ignore",
    ),
    "generalized": (lambda y, p: losses.categorical_generalized_cross_entropy(y, p, q=0.5), "gce"),
}


def _ref_sparse(kind, labels, logits):
    """Per-sample float64 NumPy values of TRACED_SPARSE_LOSSES' entries, NaN where the label is out of range."""
    inside = (labels >= 0) & (labels < 5) & (labels == np.round(labels))
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    at_label = log_softmax[np.arange(6), np.where(inside, labels, 0).astype(int)]
    values = {
        "probs": -at_label,
        "logits": -at_label,
        "smooth": -(0.8 * at_label + 0.2 * log_softmax.mean(-1)),
        "ignore": np.where(labels == 2, 0.0, -at_label),
        "gce": (1 - np.exp(0.5 * at_label)) / 0.5,
    }[kind]
    return np.where(inside | ((kind == "ignore") & (labels == 2)), values, np.nan)


#: the cases torch.compile runs (~3 s a compile): its fused cross-entropy route, the generic pick, a float id
TORCH_TRACED = {("logits", "int64"), ("probabilities", "int32"), ("ignore_class=2", "float32")}


@with_compiler
@pytest.mark.parametrize("dtype", sorted(TRACED_LABELS))
@pytest.mark.parametrize("name", sorted(TRACED_SPARSE_LOSSES))
@pytest.mark.exists_if(lambda p: p["backend"] != "torch" or (p["name"], p["dtype"]) in TORCH_TRACED)
def test_traced_sparse_loss_of_a_label_out_of_range_is_nan_not_another_class(backend, name, dtype):
    """Compiled (jax.jit, tf.function, torch.compile, mx.compile), where no
    value can be read and nothing can raise, a label outside [0, 5) gives a
    NaN loss for its sample, and so does a fractional or NaN float label:
    before, JAX took -1 as class 4, an int64 2**32 + 1 as class 1, 1.5 as 1
    and NaN as 0 (finite, plausible, wrong), and an inductor or MLX gather
    read out of bounds. Every other sample equals float64 NumPy."""
    fn, kind = TRACED_SPARSE_LOSSES[name]
    labels = np.array(TRACED_LABELS[dtype])
    logits = np.random.default_rng(9).normal(size=(6, 5)).astype(np.float32)
    scores = (
        logits if kind in ("logits", "smooth", "ignore") else np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    )
    with precision(backend, dtype):
        value = backend.compile(fn)(to_backend(backend, labels, dtype), to_backend(backend, scores))
        got = to_numpy(backend, value)
    np.testing.assert_allclose(got, _ref_sparse(kind, labels, logits.astype(np.float64)), **F32)


def test_incompatible_shapes_name_both_inputs(backend):
    with pytest.raises(ValueError, match="y_true.*y_pred.*incompatible|incompatible.*y_true.*y_pred"):
        losses.MeanSquaredError()(
            to_backend(backend, np.ones((2, 3), "f4")), to_backend(backend, np.ones((2, 4), "f4"))
        )


def test_ctc_shapes_are_checked(backend):
    with pytest.raises(ValueError, match=r"\(batch, max_label_length\).*\(batch, time, classes\)"):
        losses.ctc(to_backend(backend, [1, 2]), to_backend(backend, np.zeros((2, 4, 5), "f4")))


def test_per_class_alpha_needs_one_weight_per_class(backend):
    y_true, y_pred = make_inputs("onehot_probs")
    with pytest.raises(ValueError, match="alpha.*per-class"):
        losses.categorical_focal_crossentropy(to_backend(backend, y_true), to_backend(backend, y_pred), alpha=[0.5] * 3)


# ---------------------------------------------------------------- K.ctc_loss with explicit lengths
def test_ctc_loss_with_lengths_and_the_default_matches_native(backend):
    """Per-sample label and input lengths, blank 3; the adapter's native op and
    the log-space default in backends/base.py agree with the float64 recursion."""
    from lossbridge.backends import Backend

    rng = np.random.default_rng(13)
    logits = rng.normal(size=(3, 7, 4)).astype(np.float32)
    labels = np.array([[1, 0, 0], [2, 2, 0], [0, 1, 2]], np.int32)  # class 0 is a label here, 3 the blank
    label_length, logit_length = np.array([1, 2, 0]), np.array([7, 5, 3])
    remapped = np.where(labels == 0, 5, labels)  # the reference pads with 0 = blank: move ids off 0
    expected = []
    for b in range(3):
        padded = np.pad(logits[b : b + 1, : logit_length[b]], ((0, 0), (0, 0), (0, 2)), constant_values=-1e9)
        padded[..., [0, 3, 5]] = padded[..., [3, 5, 0]]  # blank 3 -> 0, id 0 -> 5
        row = np.where(np.arange(3) < label_length[b], remapped[b], 0)[None]
        expected.append(ref.ref_ctc(row, padded)[0])
    args = [to_backend(backend, a) for a in (labels, logits, label_length, logit_length)]
    np.testing.assert_allclose(to_numpy(backend, backend.ctc_loss(*args, blank=3)), expected, **F32)
    np.testing.assert_allclose(to_numpy(backend, Backend.ctc_loss(backend, *args, blank=3)), expected, **F32)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_ctc_with_masked_tokens_matches_torch(backend):
    """A token whose score is -inf (masked out) has probability 0: an alignment
    through it counts for nothing, and a label that needs it is impossible
    (+inf), as torch's ctc_loss says. TensorFlow's own kernel gave NaN."""
    torch = pytest.importorskip("torch")
    inf = np.inf
    logits = np.array([[[0.0, -inf, 1.0, 0.5], [0.2, 0.1, -inf, 0.0], [0.3, 0.0, 0.1, -inf]]] * 3, np.float32)
    labels = np.array([[2, 3, 0], [1, 3, 2], [3, 0, 0]], np.int32)  # the second needs token 1 at step 0: impossible
    lengths = np.array([2, 3, 1])
    log_probs = torch.log_softmax(torch.tensor(logits, dtype=torch.float64), -1).transpose(0, 1)
    expected = torch.nn.functional.ctc_loss(
        log_probs, torch.tensor(labels).long(), torch.full((3,), 3), torch.tensor(lengths), reduction="none"
    ).numpy()
    assert np.isposinf(expected[1]) and np.isfinite(expected[[0, 2]]).all()
    out = to_numpy(backend, losses.ctc(to_backend(backend, labels), to_backend(backend, logits)))
    np.testing.assert_allclose(out, expected, **F32)


@with_autograd
def test_ctc_gradient_through_masked_tokens_is_finite(backend):
    """The gradient of the CTC loss through -inf scores (masked tokens) is 0 for those tokens and, elsewhere,
    torch's own gradient of the same problem with the tokens at a log-probability (-1e4) that counts for
    nothing in float64. torch's ctc_loss on the -inf scores gave nan throughout (lossbridge's torch adapter
    with it), JAX and MLX the finite gradient."""
    torch = pytest.importorskip("torch")
    inf = np.inf
    logits = np.array([[[0.0, -inf, 1.0, 0.5], [0.2, 0.1, -inf, 0.0], [0.3, 0.0, 0.1, -inf]]] * 2, np.float32)
    labels = np.array([[2, 3, 0], [3, 0, 0]], np.int32)  # both possible without a masked token
    lengths = np.array([2, 1])
    stand_in = torch.tensor(np.where(np.isinf(logits), -1e4, logits), dtype=torch.float64, requires_grad=True)
    native = torch.nn.functional.ctc_loss(
        torch.log_softmax(stand_in, -1).transpose(0, 1),
        torch.tensor(labels).long(),
        torch.full((2,), 3),
        torch.tensor(lengths),
        reduction="none",
    )
    native.sum().backward()
    value, grad = backend.value_and_grad(lambda t, p: losses.ctc(t, p))(
        to_backend(backend, labels), to_backend(backend, logits)
    )
    grad = to_numpy(backend, grad)
    np.testing.assert_allclose(to_numpy(backend, value), native.detach().numpy(), **F32)
    assert np.all(grad[np.isinf(logits)] == 0)
    np.testing.assert_allclose(grad, stand_in.grad.numpy(), rtol=1e-5, atol=1e-6)


@with_autograd
def test_ctc_gradient_at_a_huge_logit_matches_torch(backend):
    """A 1e4 logit on a token no alignment may use at that step: the loss is ~1e4, and its gradient
    (softmax minus the alignments' posterior) is torch's float64 one. TensorFlow's own kernel gave 0 for
    that step (its gradient fades once a log-probability nears float64's exp range)."""
    torch = pytest.importorskip("torch")
    logits = np.random.default_rng(2).normal(size=(2, 6, 4)).astype(np.float32)
    logits[0, 0, 1] = 1e4  # step 0 must be the blank or token 3
    labels = np.array([[3, 1], [3, 1]], np.int32)
    reference = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    native = torch.nn.functional.ctc_loss(
        torch.log_softmax(reference, -1).transpose(0, 1),
        torch.tensor(labels).long(),
        torch.tensor([6, 5]),
        torch.tensor([2, 2]),
        reduction="none",
    )
    native.sum().backward()
    lengths = [to_backend(backend, np.array(n), "int32") for n in ([2, 2], [6, 5])]
    value, grad = backend.value_and_grad(lambda t, p: backend.ctc_loss(t, p, *lengths))(
        to_backend(backend, labels), to_backend(backend, logits)
    )
    np.testing.assert_allclose(to_numpy(backend, value), native.detach().numpy(), **F32)
    # float32 log-space sums near -1e4 carry ~1e-3 of absolute error (an ulp there is 1e-3), which the
    # posterior inherits as probabilities; the failure this guards against was a 0 for a 1
    np.testing.assert_allclose(to_numpy(backend, grad), reference.grad.numpy(), rtol=0, atol=2e-3)


def test_ctc_without_any_alignment_is_inf(backend):
    from lossbridge.backends import Backend

    labels = np.array([[1, 1, 2], [1, 2, 0]], np.int32)  # the repeat needs a blank between: 4 steps
    logits = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    for ctc in (backend.ctc_loss, lambda *a, **k: Backend.ctc_loss(backend, *a, **k)):
        out = to_numpy(backend, ctc(*[to_backend(backend, a) for a in (labels, logits, [3, 2], [3, 3])], blank=0))
        assert np.isposinf(out[0]) and np.isfinite(out[1])


@not_on("numpy", "torch")  # numpy has no compiler; torch.compile is slow on CPU
def test_ctc_traces_under_the_compiler(backend):
    labels, logits = make_inputs("ctc", seed=14)
    t, p = to_backend(backend, labels), to_backend(backend, logits)
    loss = losses.CTC(reduction="none")
    compiled = backend.compile(lambda a, b: loss(a, b))(t, p)
    np.testing.assert_allclose(to_numpy(backend, compiled), ref.ref_ctc(labels, logits), **F32)
    _, grad = backend.value_and_grad(backend.compile(lambda a, b: losses.ctc(a, b)))(t, p)
    assert np.all(np.isfinite(to_numpy(backend, grad)))


#: per label dtype: a valid label, then labels holding an id outside [0, 4) (negative, past the end, past 32 bits)
TRACED_CTC_LABELS = {
    "int32": [[1, 2, 0], [1, -1, 0], [3, 4, 0], [2, 2**31 - 1, 1]],
    "int64": [[1, 2, 0], [1, -1, 0], [3, 4, 0], [2, 2**32 + 1, 1]],
}


@with_compiler
@pytest.mark.parametrize("dtype", sorted(TRACED_CTC_LABELS))
@pytest.mark.exists_if(lambda p: p["backend"] != "torch" or p["dtype"] == "int64")  # torch.compile: ~3 s each
def test_traced_ctc_of_a_label_out_of_range_is_nan_not_another_sequence(backend, dtype):
    """Compiled, where nothing can raise, a label sequence holding an id
    outside [0, 4) has a NaN loss: before, compiled JAX read -1 as class 3
    and an int64 2**32 + 1 as class 1, the loss of another sequence. The
    valid sequence's loss is the float64 forward algorithm's."""
    labels = np.array(TRACED_CTC_LABELS[dtype])
    logits = np.random.default_rng(4).normal(size=(4, 6, 4)).astype(np.float32)
    with precision(backend, dtype):
        out = backend.compile(lambda a, b: losses.ctc(a, b))(
            to_backend(backend, labels, dtype), to_backend(backend, logits)
        )
        got = to_numpy(backend, out)
    np.testing.assert_allclose(got[0], ref.ref_ctc(labels[:1], logits[:1])[0], **F32)
    assert np.isnan(got[1:]).all(), got
