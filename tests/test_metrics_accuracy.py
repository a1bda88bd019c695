"""The accuracy family: against keras.metrics and NumPy formulas, with bool,
int and float inputs on every backend, top-k ties, non-finite scores and bad
labels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings

from lossbridge import metrics
from tests.helpers import id_arrays, jax_would_wrap, on, precision, with_compiler
from tests.metric_support import F64_TOL, KERAS_TOL, compiled_value, eager_value, keras_value

RNG = np.random.default_rng(3)
B, C = 8, 5


def _scores():
    # a coarse grid makes ties between classes common
    return RNG.integers(0, 4, (B, C)).astype(np.float32) / 4


def _labels(shape=(B,)):
    return RNG.integers(0, C, shape)


def _one_hot():
    return np.eye(C, dtype=np.float32)[_labels()]


def _batches(make_pair):
    return [(make_pair(), RNG.uniform(0, 2, B).astype(np.float32)), (make_pair(), None)]


def _sorted_ids():
    return np.argsort(-RNG.random((B, C)), axis=-1)


# name: (ours, keras, batches)
CASES = {
    "Accuracy": (
        metrics.Accuracy,
        lambda km: km.Accuracy(),
        _batches(lambda: (_labels((B, 2)).astype(np.float32), _labels((B, 2)).astype(np.float32))),
    ),
    "BinaryAccuracy": (
        metrics.BinaryAccuracy,
        lambda km: km.BinaryAccuracy(),
        _batches(lambda: ((RNG.random((B, 3)) > 0.5).astype(np.float32), RNG.random((B, 3)).astype(np.float32))),
    ),
    "BinaryAccuracy-threshold": (
        lambda: metrics.BinaryAccuracy(threshold=0.7),
        lambda km: km.BinaryAccuracy(threshold=0.7),
        _batches(lambda: ((RNG.random((B, 1)) > 0.5).astype(np.float32), RNG.random((B, 1)).astype(np.float32))),
    ),
    "CategoricalAccuracy": (
        metrics.CategoricalAccuracy,
        lambda km: km.CategoricalAccuracy(),
        _batches(lambda: (_one_hot(), RNG.random((B, C)).astype(np.float32))),
    ),
    "SparseCategoricalAccuracy": (
        metrics.SparseCategoricalAccuracy,
        lambda km: km.SparseCategoricalAccuracy(),
        _batches(lambda: (_labels(), RNG.random((B, C)).astype(np.float32))),
    ),
    "SparseCategoricalAccuracy-column-labels": (
        metrics.SparseCategoricalAccuracy,
        lambda km: km.SparseCategoricalAccuracy(),
        _batches(lambda: (_labels((B, 1)), RNG.random((B, C)).astype(np.float32))),
    ),
    "TopKCategoricalAccuracy-k2-ties": (
        lambda: metrics.TopKCategoricalAccuracy(k=2),
        lambda km: km.TopKCategoricalAccuracy(k=2),
        _batches(lambda: (_one_hot(), _scores())),
    ),
    "TopKCategoricalAccuracy-k1-ties": (
        lambda: metrics.TopKCategoricalAccuracy(k=1),
        lambda km: km.TopKCategoricalAccuracy(k=1),
        _batches(lambda: (_one_hot(), _scores())),
    ),
    "SparseTopKCategoricalAccuracy-k3-ties": (
        lambda: metrics.SparseTopKCategoricalAccuracy(k=3),
        lambda km: km.SparseTopKCategoricalAccuracy(k=3),
        _batches(lambda: (_labels(), _scores())),
    ),
    "SparseTopKCategoricalAccuracy-sorted-ids": (
        lambda: metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True),
        lambda km: km.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True),
        _batches(lambda: (_labels(), _sorted_ids())),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_eager_matches_keras(backend, name):
    ours, theirs, batches = CASES[name]
    np.testing.assert_allclose(eager_value(backend, ours(), batches), keras_value(theirs, batches), **KERAS_TOL)


@pytest.mark.parametrize("name", CASES)
# jax.jit / tf.function / mx.compile here; torch.compile in test_sparse_accuracy_under_torch_compile
@on("jax", "tensorflow", "mlx")
def test_compiled_stateless_form_matches_keras(backend, name):
    ours, theirs, batches = CASES[name]
    np.testing.assert_allclose(compiled_value(backend, ours(), batches), keras_value(theirs, batches), **KERAS_TOL)


@on("torch")  # torch.compile only
def test_sparse_accuracy_under_torch_compile(backend):
    _, _, batches = CASES["SparseCategoricalAccuracy"]
    expected = _weighted([(t == p.argmax(-1)).astype(float) for (t, p), _ in batches], batches)
    value = compiled_value(backend, metrics.SparseCategoricalAccuracy(), batches)
    np.testing.assert_allclose(value, expected, **F64_TOL)


def _weighted(hits, batches):
    weights = [np.ones(B) if w is None else w.astype(np.float64) for _, w in batches]
    return sum((h * w).sum() for h, w in zip(hits, weights, strict=True)) / sum(w.sum() for w in weights)


def ref_in_top_k(labels, scores, k):
    """Hit when fewer than k scores are strictly above the label's, in a row of finite scores."""
    scores = np.asarray(scores, np.float64)
    at_label = scores[np.arange(len(labels)), labels]
    above = (scores > at_label[:, None]).sum(-1)
    return ((above < k) & np.isfinite(scores).all(-1)).astype(float)


def test_top_k_matches_a_numpy_count(backend):
    _, _, batches = CASES["SparseTopKCategoricalAccuracy-k3-ties"]
    expected = _weighted([ref_in_top_k(t, p, 3) for (t, p), _ in batches], batches)
    value = eager_value(backend, metrics.SparseTopKCategoricalAccuracy(k=3), batches)
    np.testing.assert_allclose(value, expected, **F64_TOL)


# ---------------------------------------------------------------- dtypes
BOOL_TRUE = np.array([[True], [False], [True], [False]])
BOOL_PRED = np.array([[True], [True], [False], [False]])


@pytest.mark.parametrize("true_dtype", ["bool", "int32", "float32"])
@pytest.mark.parametrize("pred_dtype", ["bool", "int32", "float32"])
def test_binary_and_exact_accuracy_take_any_dtype(backend, true_dtype, pred_dtype):
    y_true = backend.convert_to_tensor(BOOL_TRUE.astype(true_dtype))
    y_pred = backend.convert_to_tensor(BOOL_PRED.astype(pred_dtype))
    # hits at rows 0 and 3, by hand
    assert float(backend.to_numpy(metrics.BinaryAccuracy()(y_true, y_pred))) == 0.5
    assert float(backend.to_numpy(metrics.Accuracy()(y_true, y_pred))) == 0.5


@pytest.mark.parametrize("label_dtype", ["int32", "int64", "uint8", "float32", "bool"])
@pytest.mark.parametrize("score_dtype", ["bool", "int32", "float16", "float32"])
def test_categorical_family_takes_any_dtype(backend, label_dtype, score_dtype):
    ids = np.array([1, 0, 1, 0])
    scores = np.array([[0, 1], [1, 0], [1, 0], [1, 0]]).astype(score_dtype)  # argmax [1, 0, 0, 0]
    one_hot = np.eye(2)[ids].astype(label_dtype)
    labels = ids.astype(label_dtype)
    s = backend.convert_to_tensor(scores)
    expected = 0.75  # by hand: rows 0, 1, 3
    values = {
        "categorical": metrics.CategoricalAccuracy()(backend.convert_to_tensor(one_hot), s),
        "sparse": metrics.SparseCategoricalAccuracy()(backend.convert_to_tensor(labels), s),
        "top1": metrics.TopKCategoricalAccuracy(k=1)(backend.convert_to_tensor(one_hot), s),
        "sparse_top1": metrics.SparseTopKCategoricalAccuracy(k=1)(backend.convert_to_tensor(labels), s),
    }
    for name, value in values.items():
        assert float(backend.to_numpy(value)) == expected, name


# ---------------------------------------------------------------- ties and non-finite scores
def test_top_k_ties_count_every_tied_class(backend):
    scores = backend.convert_to_tensor(np.array([[0.5, 0.5, 0.1], [0.2, 0.4, 0.4], [0.3, 0.3, 0.3]], np.float32))

    def top_k(labels, k):
        metric = metrics.SparseTopKCategoricalAccuracy(k=k)
        return float(backend.to_numpy(metric(backend.convert_to_tensor(np.array(labels)), scores)))

    assert top_k([0, 1, 2], 1) == 1.0  # every label is tied for first place
    assert top_k([1, 2, 0], 1) == 1.0
    assert top_k([2, 0, 0], 1) == pytest.approx(1 / 3)  # 0.1 and 0.2 are below the best; row 2 all tied
    assert top_k([2, 0, 0], 2) == pytest.approx(1 / 3)  # two classes score strictly higher in rows 0 and 1


def test_top_k_agrees_with_tf_in_top_k_on_ties_and_non_finite_rows(backend):
    tf = pytest.importorskip("tensorflow")
    scores = np.array(
        [[1.0, 1.0, 1.0, 0.0], [2.0, np.nan, 1.0, 0.0], [np.inf, 1.0, 0.0, 0.0], [1.0, 2.0, 3.0, -np.inf]],
        np.float32,
    )
    labels = np.array([2, 0, 0, 2])
    for k in (1, 2):
        expected = tf.math.in_top_k(labels, scores, k).numpy().astype(float)
        value = metrics.sparse_top_k_categorical_accuracy(
            backend.convert_to_tensor(labels), backend.convert_to_tensor(scores), k=k
        )
        np.testing.assert_array_equal(backend.to_numpy(value), expected)


def test_k_larger_than_the_number_of_classes_always_hits(backend):
    value = metrics.SparseTopKCategoricalAccuracy(k=10)(
        backend.convert_to_tensor(np.array([0, 2])), backend.convert_to_tensor(np.eye(3, dtype=np.float32)[:2])
    )
    assert float(backend.to_numpy(value)) == 1.0


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("labels", [[0, 5], [-1, 0], [0.0, 7.0]])
def test_labels_out_of_range_are_rejected(backend, labels):
    scores = backend.convert_to_tensor(np.ones((2, 5), np.float32))
    y_true = backend.convert_to_tensor(np.array(labels))
    for metric in (metrics.SparseCategoricalAccuracy(), metrics.SparseTopKCategoricalAccuracy(k=2)):
        with pytest.raises(ValueError, match=r"`y_true` holds class id .*outside \[0, 5\)"):
            metric.update_state(y_true, scores)


#: per label dtype: 6 labels over 5 classes, some out of range (past the end, negative, past 32 bits)
TRACED_LABELS = {
    "int32": [1, 5, -1, 3, 2, 2**31 - 1],
    "int64": [1, 5, -1, 2**32 + 1, 2, 0],
    "float32": [1, 5, -1, 1.5, np.nan, 2],
}


@with_compiler
@pytest.mark.parametrize("dtype", sorted(TRACED_LABELS))
@pytest.mark.exists_if(lambda p: p["backend"] != "torch" or p["dtype"] == "int64")  # torch.compile: seconds each
def test_traced_labels_out_of_range_miss_never_hit_another_class(backend, dtype):
    """Compiled, where nothing can raise, a label outside [0, 5), fractional
    or NaN is a miss. Each such row's top scores sit where a wrap, clamp or
    truncation would land (-1 -> class 4, 2**32 + 1 -> 1, 1.5 -> 1, NaN -> 0):
    before, JAX's top-k read -1 as class 4 and a label past the end as NaN, a
    hit either way, the int cast made 1.5 class 1 and NaN class 0, and MLX
    compared an int64 label with its uint32 argmax by narrowing the label."""
    labels = np.array(TRACED_LABELS[dtype])
    best = np.array([1, 4, 4, 1, 0, 2])  # the argmax of each row (row 1: where a clamp to 4 lands)
    scores = np.full((6, 5), 0.1, np.float32)
    scores[np.arange(6), best] = 0.6
    scores[np.arange(6), (best + 1) % 5] = 0.3  # second place
    inside = (labels >= 0) & (labels < 5) & (labels == np.round(labels))
    safe = np.where(inside, labels, 0).astype(int)
    expected = {
        "accuracy": (inside & (safe == best)).mean(),
        "top2": (inside & ((safe == best) | (safe == (best + 1) % 5))).mean(),
    }
    with precision(backend, dtype):
        for name, metric in (
            ("accuracy", metrics.SparseCategoricalAccuracy()),
            ("top2", metrics.SparseTopKCategoricalAccuracy(k=2)),
        ):
            value = compiled_value(backend, metric, [((labels.astype(dtype), scores), None)])
            np.testing.assert_allclose(value, expected[name], **F64_TOL, err_msg=name)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=id_arrays(B, C))
@example(labels=np.array([2**32 + 1] + [0] * (B - 1), np.int64))  # int32 or JAX's narrowing wraps it to 1
def test_ids_of_any_dtype_and_value_score_or_are_refused(backend, labels):
    """Property: sparse labels of any integer or float dtype score as NumPy
    scores them when all are in [0, C); one out of range in any way raises,
    never wraps into a class (JAX without x64 refuses a 64-bit NumPy array it
    cannot hold)."""
    scores = np.random.default_rng(len(labels)).random((B, C)).astype(np.float32)
    exact = labels.astype(np.float64)  # exact below 2**53
    y_true = labels if jax_would_wrap(backend, labels) else backend.convert_to_tensor(labels)
    y_pred = backend.convert_to_tensor(scores)
    for metric, hits in (
        (metrics.SparseCategoricalAccuracy(), lambda ids: ids == scores.argmax(-1)),
        (metrics.SparseTopKCategoricalAccuracy(k=2), lambda ids: np.argsort(-scores, -1)[:, :2] == ids[:, None]),
    ):
        if ((exact < 0) | (exact >= C)).any():
            with pytest.raises(ValueError, match=r"`y_true`.*(outside \[0, 5\)|cannot become a JAX array)"):
                metric.update_state(y_true, y_pred)
            continue
        metric.update_state(y_true, y_pred)
        expected = np.mean(np.reshape(hits(exact.astype(int)), (B, -1)).any(-1))
        np.testing.assert_allclose(
            float(np.asarray(backend.to_numpy(metric.result()), np.float64)), expected, **F64_TOL
        )


@on("jax", "tensorflow", "mlx")  # jax.jit / tf.function / mx.compile (torch.compile would recompile per dtype drawn)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=id_arrays(B, C))
@example(labels=np.array([2**32 + 1] + [0] * (B - 1), np.int64))  # a narrowing cast wraps it to 1
@example(labels=np.array([-1, 255] + [0] * (B - 2), np.int16))  # a gather wraps -1 to the last class
def test_traced_ids_of_any_dtype_and_value_hit_only_in_range(backend, labels):
    """Property, compiled (nothing can raise): sparse labels of any integer
    or float dtype score as NumPy scores them where in [0, C), and a label
    out of range in any way is a miss, never a hit on another class."""
    assume(not jax_would_wrap(backend, labels))  # refused before tracing (test above)
    scores = np.random.default_rng(len(labels)).random((B, C)).astype(np.float32)
    exact = labels.astype(np.float64)  # exact below 2**53
    inside = (exact >= 0) & (exact < C)
    safe = np.where(inside, exact, 0).astype(int)
    top2 = np.argsort(-scores, -1)[:, :2]
    for metric, hits in (
        (metrics.SparseCategoricalAccuracy(), inside & (safe == scores.argmax(-1))),
        (metrics.SparseTopKCategoricalAccuracy(k=2), inside & (top2 == safe[:, None]).any(-1)),
    ):
        with precision(backend, labels.dtype):
            value = compiled_value(backend, metric, [((labels, scores), None)])
        np.testing.assert_allclose(value, hits.mean(), **F64_TOL, err_msg=type(metric).__name__)


@on("mlx")
def test_sparse_accuracy_under_a_bare_mx_compile_misses_labels_out_of_range(backend):
    """A bare mx.compile cannot read its traced labels: the label check finds
    that out by trying and takes the traced rule (a miss) instead of ending in
    MLX's "[eval] Attempting to eval an array during function
    transformations"; in-range labels score as NumPy does."""
    import mlx.core as mx

    scores = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5], [0.1, 0.9]], np.float32)
    labels = np.array([1, 0, 2, -1], np.int32)
    args = (backend.convert_to_tensor(labels), backend.convert_to_tensor(scores))
    for fn in (metrics.sparse_categorical_accuracy, lambda y, p: metrics.sparse_top_k_categorical_accuracy(y, p, k=1)):
        np.testing.assert_array_equal(backend.to_numpy(mx.compile(fn)(*args)), [1.0, 1.0, 0.0, 0.0])


def test_mismatched_shapes_are_rejected(backend):
    scores = backend.convert_to_tensor(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="`y_true` must be one-hot"):
        metrics.CategoricalAccuracy().update_state(backend.convert_to_tensor(np.ones((4, 2), np.float32)), scores)
    with pytest.raises(ValueError, match="`y_true` must hold one class id per prediction"):
        metrics.SparseCategoricalAccuracy().update_state(backend.convert_to_tensor(np.zeros((5,), np.int32)), scores)
    with pytest.raises(ValueError, match="`y_true` and `y_pred` have incompatible shapes"):
        metrics.BinaryAccuracy().update_state(backend.convert_to_tensor(np.ones((4, 2), np.float32)), scores)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_invalid_k_is_rejected(k):
    with pytest.raises(ValueError, match="`k` must be a positive int"):
        metrics.TopKCategoricalAccuracy(k=k)
    with pytest.raises(ValueError, match="`k` must be a positive int"):
        metrics.SparseTopKCategoricalAccuracy(k=k)


# ---------------------------------------------------------------- NaN scores
# A NaN ranks above every number (the K contract, NumPy's order: np.argmax takes the first NaN), so a
# NaN score is each backend's argmax and top-k pick; TensorFlow's kernels skipped it (Keras on TF
# gives 0.25 / 0.0833 / 0.6667 below), NumPy's and MLX's top-k put it last.
NAN_LABELS = np.array([1, 0, 2, 3])
NAN_SCORES = np.array(
    [[0.1, np.nan, 0.3, 0.2], [np.nan, 0.5, 0.9, np.nan], [0.1, 0.2, 0.6, 0.1], [0.2, 0.2, np.nan, 0.1]], np.float32
)
# by hand (row picks 1, 0, 2, 2 against labels 1, 0, 2, 3), and what Keras 3 gives on JAX and torch
NAN_CASES = {
    "CategoricalAccuracy": (lambda: metrics.CategoricalAccuracy(), True, 0.75),  # three hits of four
    "SparseCategoricalAccuracy": (lambda: metrics.SparseCategoricalAccuracy(), False, 0.75),
    # IoU per class 1, 1, 1/2 (class 2 predicted twice), 0 (class 3 never predicted)
    "OneHotIoU": (lambda: metrics.OneHotIoU(num_classes=4, target_class_ids=[0, 1, 2, 3]), True, 0.625),
    # a NaN that fills the top k never scores above the threshold: one positive prediction (row 2), a hit
    "Precision-top1": (lambda: metrics.Precision(top_k=1), True, 1.0),
    # top 2 of each row: only row 2 has a score above 0.5, so one of four labels is found
    "Recall-top2": (lambda: metrics.Recall(top_k=2), True, 0.25),
    # a row with a NaN score misses (in_top_k): only row 2 hits
    "TopKCategoricalAccuracy": (lambda: metrics.TopKCategoricalAccuracy(k=2), True, 0.25),
}


@pytest.mark.parametrize("name", NAN_CASES)
def test_a_nan_score_ranks_above_every_number_on_every_backend(backend, name):
    make, one_hot, expected = NAN_CASES[name]
    labels = np.eye(4, dtype=np.float32)[NAN_LABELS] if one_hot else NAN_LABELS
    batches = [((labels, NAN_SCORES), None)]
    np.testing.assert_allclose(eager_value(backend, make(), batches), expected, rtol=1e-6)


@pytest.mark.parametrize("name", ["CategoricalAccuracy", "OneHotIoU", "Precision-top1"])
@on("jax", "tensorflow", "mlx")  # jax.jit / tf.function (a graph's branch) / mx.compile
def test_a_nan_score_ranks_above_every_number_compiled(backend, name):
    make, one_hot, expected = NAN_CASES[name]
    labels = np.eye(4, dtype=np.float32)[NAN_LABELS] if one_hot else NAN_LABELS
    batches = [((labels, NAN_SCORES), None)]
    np.testing.assert_allclose(compiled_value(backend, make(), batches), expected, rtol=1e-6)
