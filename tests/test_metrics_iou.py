"""The IoU family (IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU):
against keras.metrics in-process and a float64 NumPy confusion matrix, on
every backend, eager and compiled (jax.jit, tf.function, torch.compile);
ignore_class, out-of-range labels and predictions (void 255, -1: left out as
Keras 3 does, eager and traced), fractional weights, input dtypes, counts past 2**24 in one
float32 batch, merging shards and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import lossbridge
from lossbridge import metrics
from tests.helpers import id_arrays, jax_would_wrap, on, precision
from tests.metric_support import (
    F64_TOL,
    KERAS_TOL,
    compiled_value,
    eager_value,
    fed_value,
    keras_metrics,
    keras_value,
    tensors,
)

RNG = np.random.default_rng(23)
C = 4
SHAPE = (3, 5, 6)  # batch, height, width


def _ids():
    return RNG.integers(0, C, SHAPE)


def _scores():
    return RNG.random((*SHAPE, C)).astype(np.float32)


def _one_hot(ids):
    return np.eye(C, dtype=np.float32)[ids]


def _weights():
    # integer weights: Keras 3 keeps IoU state as int and would truncate fractions
    return RNG.integers(0, 3, SHAPE)


def _with_void(ids, void):
    ids = ids.copy()
    ids[0, 0, :4] = void
    return ids


def _batches(make_pair):
    return [(make_pair(), _weights()), (make_pair(), None)]


CASES = {
    "MeanIoU": ("MeanIoU", {"num_classes": C}, _batches(lambda: (_ids(), _ids()))),
    "IoU-targets": ("IoU", {"num_classes": C, "target_class_ids": [1, 3]}, _batches(lambda: (_ids(), _ids()))),
    # consecutive ids are read as a slice, others (unsorted, repeated) taken one by one
    "IoU-consecutive": ("IoU", {"num_classes": C, "target_class_ids": [1, 2]}, _batches(lambda: (_ids(), _ids()))),
    "IoU-unsorted": ("IoU", {"num_classes": C, "target_class_ids": [2, 1, 1]}, _batches(lambda: (_ids(), _ids()))),
    "MeanIoU-ignore-255": (
        "MeanIoU",
        {"num_classes": C, "ignore_class": 255},
        _batches(lambda: (_with_void(_ids(), 255), _ids())),
    ),
    "IoU-ignore--1": (
        "IoU",
        {"num_classes": C, "target_class_ids": [0], "ignore_class": -1},
        _batches(lambda: (_with_void(_ids(), -1), _ids())),
    ),
    # void labels without ignore_class, and out-of-range predictions: Keras 3 drops those pixels
    "MeanIoU-void-255": ("MeanIoU", {"num_classes": C}, _batches(lambda: (_with_void(_ids(), 255), _ids()))),
    "IoU-void-pred": (
        "IoU",
        {"num_classes": C, "target_class_ids": [0, 2]},
        _batches(lambda: (_with_void(_ids(), -1), _with_void(_ids(), C))),
    ),
    "MeanIoU-ignore-1-void-255": (
        "MeanIoU",
        {"num_classes": C, "ignore_class": 1},
        _batches(lambda: (_with_void(_ids(), 255), _with_void(_ids(), -7))),
    ),
    "MeanIoU-dense-pred": (
        "MeanIoU",
        {"num_classes": C, "sparse_y_pred": False},
        _batches(lambda: (_ids(), _scores())),
    ),
    "BinaryIoU": (
        "BinaryIoU",
        {"target_class_ids": [1], "threshold": 0.3},
        _batches(lambda: (RNG.integers(0, 2, SHAPE), RNG.random(SHAPE).astype(np.float32))),
    ),
    "BinaryIoU-both": (
        "BinaryIoU",
        {},
        _batches(lambda: (RNG.integers(0, 2, SHAPE), RNG.random(SHAPE).astype(np.float32))),
    ),
    "OneHotIoU": (
        "OneHotIoU",
        {"num_classes": C, "target_class_ids": [0, 2]},
        _batches(lambda: (_one_hot(_ids()), _scores())),
    ),
    "OneHotMeanIoU": ("OneHotMeanIoU", {"num_classes": C}, _batches(lambda: (_one_hot(_ids()), _scores()))),
    # scores for more classes than num_classes: an argmax past C is left out (the general route); fewer:
    # every argmax is in range (the route without a border)
    "OneHotMeanIoU-wider-scores": (
        "OneHotMeanIoU",
        {"num_classes": C},
        _batches(lambda: (_one_hot(_ids()), RNG.random((*SHAPE, C + 2)).astype(np.float32))),
    ),
    "OneHotIoU-narrower-scores": (
        "OneHotIoU",
        {"num_classes": C, "target_class_ids": [0, 1, 3]},
        _batches(lambda: (_one_hot(_ids()), RNG.random((*SHAPE, C - 1)).astype(np.float32))),
    ),
    "OneHotMeanIoU-ignore-1": (
        "OneHotMeanIoU",
        {"num_classes": C, "ignore_class": 1},
        _batches(lambda: (_one_hot(_ids()), _scores())),
    ),
    "OneHotMeanIoU-sparse-pred": (
        "OneHotMeanIoU",
        {"num_classes": C, "sparse_y_pred": True},
        _batches(lambda: (_one_hot(_ids()), _ids())),
    ),
}


def _ours(name):
    cls, options, _ = CASES[name]
    return getattr(metrics, cls)(**options)


def _keras(name):
    cls, options, _ = CASES[name]
    return lambda km: getattr(km, cls)(**options)


@pytest.mark.parametrize("name", CASES)
def test_eager_matches_keras(backend, name):
    batches = CASES[name][2]
    np.testing.assert_allclose(
        eager_value(backend, _ours(name), batches), keras_value(_keras(name), batches), **KERAS_TOL
    )


@pytest.mark.parametrize("name", ["MeanIoU-ignore-255", "IoU-targets", "OneHotIoU", "OneHotMeanIoU", "BinaryIoU"])
# jax.jit / tf.function / mx.compile here; torch.compile in test_mean_iou_under_torch_compile
@on("jax", "tensorflow", "mlx")
def test_compiled_stateless_form_matches_keras(backend, name):
    batches = CASES[name][2]
    value = compiled_value(backend, _ours(name), batches)
    np.testing.assert_allclose(value, keras_value(_keras(name), batches), **KERAS_TOL)


@on("torch")  # torch.compile only
def test_mean_iou_under_torch_compile(backend):
    batches = CASES["MeanIoU-ignore-255"][2]
    value = compiled_value(backend, _ours("MeanIoU-ignore-255"), batches)
    np.testing.assert_allclose(value, keras_value(_keras("MeanIoU-ignore-255"), batches), **KERAS_TOL)


def test_out_of_range_ids_are_dropped_as_keras_does_eager_and_traced(backend):
    labels, predicted = _ids(), _ids()
    labels[0, 0, 0], labels[1, 1, 1], predicted[2, 2, 2] = 7, -3, 9
    batches = [((labels, predicted), None)]
    expected = keras_value(lambda km: km.MeanIoU(num_classes=C), batches)
    np.testing.assert_allclose(eager_value(backend, metrics.MeanIoU(num_classes=C), batches), expected, **KERAS_TOL)
    if backend.name in ("jax", "tensorflow", "mlx"):
        value = compiled_value(backend, metrics.MeanIoU(num_classes=C), batches)
        np.testing.assert_allclose(value, expected, **KERAS_TOL)


@on("jax", "tensorflow", "mlx")  # traced: jax.jit / tf.function / mx.compile (eagerly such ids raise)
def test_traced_fractional_and_nan_float_ids_are_left_out_not_truncated(backend):
    """A float id that is not an integer cannot raise under a compiler: it
    is left out like an id out of range. Before, the int cast counted 1.5 as
    class 1 and -0.5 as class 0, and XLA's cast counted NaN as class 0."""
    labels, predicted = RNG.integers(0, C, 40).astype(np.float32), RNG.integers(0, C, 40).astype(np.float32)
    labels[:4] = [1.5, np.nan, -0.5, np.inf]
    predicted[[4, 5]] = [2.5, np.nan]
    kept = slice(6, None)
    expected = ref_mean_iou(ref_confusion(labels[kept].astype(int), predicted[kept].astype(int), C))
    value = compiled_value(backend, metrics.MeanIoU(num_classes=C), [((labels, predicted), None)])
    np.testing.assert_allclose(value, expected, **F64_TOL)


# ids a cast to int32 would wrap into [0, C) (2**32 + 1 -> 1) or overflow (3e9 as a float)
WIDE_IDS = {
    "int64": [2**32 + 1, 2**33 + 2, -(2**40), 2**31 + 1, 2**32],
    "float64": [3e9, 2.0**32 + 1, -1e20, 1e300, 2.0**32 + 2],
    "float32": [3e9, 2.0**33, -1e20, 1e30, 2.0**32],
}


@pytest.mark.parametrize("dtype", sorted(WIDE_IDS))
def test_ids_past_int32_are_left_out_not_wrapped_eager_and_traced(backend, dtype):
    """Out-of-range ids are left out of the matrix (as Keras 3 on TensorFlow
    does; its JAX and torch backends wrap 2**32 + 1 to class 1), however
    wide: a wide id must be clipped before it is narrowed."""
    labels, predicted = RNG.integers(0, C, 40), RNG.integers(0, C, 40)
    labels, predicted = labels.astype(dtype), predicted.astype(dtype)
    labels[:5] = WIDE_IDS[dtype]
    predicted[[5, 6]] = WIDE_IDS[dtype][:2]
    kept = slice(7, None)  # every pixel before has an out-of-range id on one side
    expected = ref_mean_iou(ref_confusion(labels[kept].astype(int), predicted[kept].astype(int), C))
    batches = [((labels, predicted), None)]
    with precision(backend, dtype):  # JAX holds int64 and float64 with x64 only
        inputs = tensors(backend, [labels, predicted])
        assert backend.dtype(inputs[0]) == dtype
        np.testing.assert_allclose(eager_value(backend, metrics.MeanIoU(num_classes=C), batches), expected, **F64_TOL)
        if backend.name in ("jax", "tensorflow", "mlx"):  # traced: no value checks, the clip alone
            value = compiled_value(backend, metrics.MeanIoU(num_classes=C), batches)
            np.testing.assert_allclose(value, expected, **F64_TOL)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=id_arrays(16, C), predicted=id_arrays(16, C))
@example(labels=np.array([2**32 + 1] + [0] * 15, np.int64), predicted=np.array([2] + [0] * 15, np.int32))
def test_ids_of_any_dtype_and_value_count_or_are_left_out_as_numpy_says(backend, labels, predicted):
    """Property: sparse ids of any integer or float dtypes (the two sides
    drawn apart), in range or out of it in any way, give the matrix of
    exactly the pixels whose two ids are in [0, C) (NumPy on the exact
    values). JAX without x64 refuses a 64-bit NumPy array it cannot hold
    rather than wrap it."""
    exact_labels, exact_predicted = labels.astype(np.float64), predicted.astype(np.float64)  # exact below 2**53
    kept = (exact_labels >= 0) & (exact_labels < C) & (exact_predicted >= 0) & (exact_predicted < C)
    expected = ref_mean_iou(ref_confusion(exact_labels[kept].astype(int), exact_predicted[kept].astype(int), C))
    batches = [((labels, predicted), None)]
    if jax_would_wrap(backend, labels) or jax_would_wrap(backend, predicted):
        with pytest.raises(ValueError, match="cannot become a JAX array"):
            eager_value(backend, metrics.MeanIoU(num_classes=C), batches)
        return
    np.testing.assert_allclose(eager_value(backend, metrics.MeanIoU(num_classes=C), batches), expected, **F64_TOL)


# ---------------------------------------------------------------- NumPy float64 reference
def ref_confusion(labels, predicted, num_classes, weight=None, ignore_class=None):
    """``cm[t, p]`` = summed weight of the pixels labelled t and predicted p."""
    labels, predicted = np.ravel(labels), np.ravel(predicted)
    weight = np.broadcast_to(np.ones(()) if weight is None else np.ravel(weight).astype(np.float64), labels.shape)
    kept = np.ones(labels.shape, bool) if ignore_class is None else labels != ignore_class
    matrix = np.zeros((num_classes, num_classes))
    np.add.at(matrix, (labels[kept], predicted[kept]), weight[kept])
    return matrix


def ref_mean_iou(matrix, targets=None):
    """Mean over the target classes that occur of tp / (tp + fp + fn)."""
    tp = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - tp
    targets = np.arange(len(tp)) if targets is None else np.asarray(targets)
    tp, union = tp[targets], union[targets]
    present = union > 0
    return (tp[present] / union[present]).mean() if present.any() else 0.0


def test_fractional_weights_match_numpy(backend):
    labels, predicted = _with_void(_ids(), 255), _ids()
    weight = RNG.uniform(0, 2, SHAPE).astype(np.float32)
    expected = ref_mean_iou(ref_confusion(labels, predicted, C, weight, ignore_class=255), [0, 1, 3])
    metric = metrics.IoU(C, [0, 1, 3], ignore_class=255)
    np.testing.assert_allclose(fed_value(backend, metric, labels, predicted, weight), expected, **F64_TOL)
    scalar = metrics.MeanIoU(C)
    expected = ref_mean_iou(ref_confusion(labels % C, predicted, C))
    np.testing.assert_allclose(fed_value(backend, scalar, labels % C, predicted, 2.5), expected, **F64_TOL)


def test_channels_first_scores_with_axis_1(backend):
    labels, scores = _ids(), _scores()
    to_first = (0, 3, 1, 2)
    metric = metrics.OneHotMeanIoU(C, axis=1)
    value = fed_value(backend, metric, _one_hot(labels).transpose(to_first), scores.transpose(to_first))
    np.testing.assert_allclose(value, ref_mean_iou(ref_confusion(labels, scores.argmax(-1), C)), **F64_TOL)


@pytest.mark.parametrize("cls", [metrics.OneHotIoU, metrics.OneHotMeanIoU])
def test_bool_one_hot_labels(backend, cls):
    """One-hot labels as bool, as a mask often is: torch's argmax refused a bool tensor."""
    labels, scores = _ids(), _scores()
    metric = cls(C, list(range(C))) if cls is metrics.OneHotIoU else cls(C)
    value = fed_value(backend, metric, _one_hot(labels).astype(bool), scores)
    np.testing.assert_allclose(value, ref_mean_iou(ref_confusion(labels, scores.argmax(-1), C)), **F64_TOL)


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype")  # JAX without x64: 32-bit
@pytest.mark.parametrize("true_dtype", ["bool", "int8", "int32", "int64", "float32"])
@pytest.mark.parametrize("pred_dtype", ["bool", "int32", "float16", "float64"])
def test_bool_int_and_float_class_ids(backend, true_dtype, pred_dtype):
    labels, predicted = RNG.integers(0, 2, SHAPE), RNG.integers(0, 2, SHAPE)
    to = lambda ids, dtype: backend.cast(backend.convert_to_tensor(ids.astype(np.int32)), dtype)  # noqa: E731
    metric = metrics.MeanIoU(num_classes=2)
    metric.update_state(to(labels, true_dtype), to(predicted, pred_dtype))
    value = float(np.asarray(backend.to_numpy(metric.result()), np.float64))
    np.testing.assert_allclose(value, ref_mean_iou(ref_confusion(labels, predicted, 2)), **F64_TOL)
    binary = metrics.BinaryIoU()
    binary.update_state(to(labels, true_dtype), to(predicted, pred_dtype))
    np.testing.assert_allclose(np.asarray(backend.to_numpy(binary.result()), np.float64), value, **F64_TOL)


def test_keras_doc_examples(backend):
    assert fed_value(backend, metrics.IoU(2, [0]), [0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(1 / 3)
    assert fed_value(backend, metrics.MeanIoU(2), [0, 0, 1, 1], [0, 1, 0, 1], [0.3, 0.3, 0.3, 0.1]) == pytest.approx(
        (0.3 / 0.9 + 0.1 / 0.7) / 2
    )
    binary = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    assert fed_value(backend, binary, [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7]) == pytest.approx(1 / 3)


# ---------------------------------------------------------------- edges
ALL = [
    lambda: metrics.IoU(C, [1]),
    lambda: metrics.MeanIoU(C, ignore_class=255),
    lambda: metrics.BinaryIoU(),
    lambda: metrics.OneHotIoU(C, [0, 3]),
    lambda: metrics.OneHotMeanIoU(C),
]


@pytest.mark.parametrize("make", ALL, ids=lambda make: type(make()).__name__)
def test_result_before_any_update_is_zero_and_config_round_trips(make):
    assert float(np.asarray(make().result())) == 0.0
    metric = make()
    again = metrics.deserialize(metrics.serialize(metric))
    assert type(again) is type(metric) and again.get_config() == metric.get_config()


def test_an_empty_batch_changes_nothing(backend):
    metric = metrics.MeanIoU(C)
    assert fed_value(backend, metric, np.zeros(0, np.int32), np.zeros(0, np.int32)) == 0.0
    labels, predicted = _ids(), _ids()
    np.testing.assert_allclose(
        fed_value(backend, metric, labels, predicted), fed_value(backend, metrics.MeanIoU(C), labels, predicted)
    )


def test_void_pixels_are_left_out_with_fractional_weights(backend):
    """Keras 3 drops a pixel whose label or prediction is < 0 or >= num_classes
    (checked against keras in CASES); here against a float64 NumPy matrix of
    the kept pixels, with fractional weights Keras' int state would truncate."""
    labels, predicted = _with_void(_ids(), 255), _with_void(_ids(), -1)
    predicted[1, 2, :3] = C
    weight = RNG.uniform(0, 2, SHAPE).astype(np.float32)
    kept = (labels >= 0) & (labels < C) & (predicted >= 0) & (predicted < C)
    expected = ref_mean_iou(ref_confusion(labels[kept], predicted[kept], C, weight[kept]))
    value = fed_value(backend, metrics.MeanIoU(C), labels, predicted, weight)
    np.testing.assert_allclose(value, expected, **F64_TOL)


def test_mismatched_inputs_are_rejected(backend):
    with pytest.raises(ValueError, match="same number of pixels"):
        fed_value(backend, metrics.MeanIoU(C), np.zeros(4, np.int32), np.zeros(5, np.int32))
    with pytest.raises(ValueError, match="`sample_weight` of shape"):
        fed_value(backend, metrics.MeanIoU(C), np.zeros(4, np.int32), np.zeros(4, np.int32), np.ones(3, np.float32))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: metrics.MeanIoU(0), "`num_classes` must be a positive int"),
        (lambda: metrics.IoU(3, [3]), r"`target_class_ids` must be a non-empty list of class ids in \[0, 3\)"),
        (lambda: metrics.IoU(3, []), "`target_class_ids` must be"),
        (lambda: metrics.BinaryIoU(target_class_ids=[2]), "`target_class_ids` must be"),
        (lambda: metrics.MeanIoU(3, ignore_class=0.5), "`ignore_class` must be an int or None"),
        (lambda: metrics.BinaryIoU(threshold="half"), "`threshold` must be a number"),
    ],
)
def test_invalid_arguments_are_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_one_batch_of_more_than_2_24_pixels_counts_exactly(backend):
    # JAX's float32 state: a single class collecting 2**24 + 3 pixels in one
    # update must not stop at 2**24 (the batch count is an exact int32)
    pixels = 2**24 + 3
    with lossbridge.use_backend(backend.name):
        metric = metrics.MeanIoU(num_classes=2)
        zeros = backend.convert_to_tensor(np.zeros(pixels, np.int8))
        metric.update_state(zeros, zeros)
    state = {k: np.asarray(backend.to_numpy(v), np.float64) for k, v in metric.state.items()}
    # a float32 matrix reads with its compensation twin; int64 and float64 ones have none
    counted = state["total_confusion_matrix"] + state.get("total_confusion_matrix_compensation", 0.0)
    np.testing.assert_array_equal(counted, [[pixels, 0], [0, 0]])


# ---------------------------------------------------------------- merging shards
N = 12
CUTS = st.lists(st.sampled_from(range(0, N + 1, 4)), max_size=3)


@pytest.mark.parametrize("make", ALL, ids=lambda make: type(make()).__name__)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), cuts=CUTS, weighted=st.booleans())
def test_merged_shards_equal_one_metric_on_all_data(backend, make, seed, cuts, weighted):
    rng = np.random.default_rng(seed)
    kind = type(make()).__name__
    labels, predicted = rng.integers(0, C, (N, 5)), rng.integers(0, C, (N, 5))
    if kind.startswith("OneHot"):
        labels, predicted = _one_hot(labels), rng.random((N, 5, C)).astype(np.float32)
    elif kind == "BinaryIoU":
        labels, predicted = labels % 2, rng.random((N, 5)).astype(np.float32)
    weight = rng.uniform(0, 2, (N, 5)).astype(np.float32) if weighted else None
    expected = fed_value(backend, make(), labels, predicted, weight)
    bounds = [0, *sorted(cuts), N]
    shards = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        shard = make()
        if stop > start:
            fed_value(
                backend,
                shard,
                labels[start:stop],
                predicted[start:stop],
                None if weight is None else weight[start:stop],
            )
        shards.append(shard)
    shards[0].merge_state(shards[1:])
    np.testing.assert_allclose(float(np.asarray(backend.to_numpy(shards[0].result()))), expected, **F64_TOL)


# ---------------------------------------------------------------- integer state while unweighted
def _state_arrays(backend, metric):
    return {key: np.asarray(backend.to_numpy(value)) for key, value in metric.state.items()}


def _counted(state):
    """The matrix in float64: a float32 matrix reads with its compensation
    twin; int64 and float64 ones have none (metrics/_state.py)."""
    return state["total_confusion_matrix"].astype(np.float64) + state.get("total_confusion_matrix_compensation", 0.0)


def test_unweighted_counts_past_2_24_stay_exact_then_weights_join_them(backend):
    # 2 * (2**24 + 3) pixels in class 0: 2**25 + 6 is not a float32 (its
    # neighbours are 2**25 + 4 and 2**25 + 8), so a plain float32 count is off
    pixels = 2**24 + 3
    zeros = np.zeros(pixels, np.int8)
    with lossbridge.use_backend(backend.name):
        metric = metrics.MeanIoU(num_classes=2)
        for _ in range(2):
            metric.update_state(backend.convert_to_tensor(zeros), backend.convert_to_tensor(zeros))
        state = _state_arrays(backend, metric)
        if backend.accumulator_dtype == "float64":  # int64 exists: integer counts, no twin
            assert set(state) == {"total_confusion_matrix"}
            assert state["total_confusion_matrix"].dtype == np.int64
        else:  # a compensated float32 sum from the start
            assert set(state) == {"total_confusion_matrix", "total_confusion_matrix_compensation"}
        counted = _counted(state)
        np.testing.assert_array_equal(counted, [[2 * pixels, 0], [0, 0]])
        # a weighted batch: the counts carry on in the compensated float form
        labels, predicted = np.array([1, 1, 0]), np.array([1, 0, 1])
        weight = np.array([0.5, 0.25, 2.0], np.float32)
        labels, predicted, weight = (backend.convert_to_tensor(a) for a in (labels, predicted, weight))
        metric.update_state(labels, predicted, sample_weight=weight)
    state = _state_arrays(backend, metric)
    if backend.accumulator_dtype == "float64":  # the weighted form: plain float64, still no twin
        assert set(state) == {"total_confusion_matrix"}
        assert state["total_confusion_matrix"].dtype == np.float64
    counted = _counted(state)
    np.testing.assert_array_equal(counted, [[2 * pixels, 2.0], [0.25, 0.5]])
    expected = ref_mean_iou(np.array([[2.0 * pixels, 2.0], [0.25, 0.5]]))
    np.testing.assert_allclose(float(np.asarray(backend.to_numpy(metric.result()))), expected, **F64_TOL)


def test_state_bytes_against_keras(backend):
    # Keras 3 keeps MeanIoU's matrix in its "int" dtype: int64 on TensorFlow
    # (8 bytes a cell), int32 on JAX/NumPy (4). Ours is 8 bytes a cell in
    # every form (metrics/_state.py): int64 unweighted, float64 weighted, and a
    # float32 matrix with its compensation twin where the accumulator is float32:
    # Keras-on-TensorFlow's size, twice int32's
    km = keras_metrics()
    classes = 64
    keras_bytes = sum(np.asarray(v.numpy()).nbytes for v in km.MeanIoU(num_classes=classes).variables)
    assert keras_bytes == classes * classes * 8  # int64 on the TensorFlow backend
    ids = RNG.integers(0, classes, 1000)
    metric = metrics.MeanIoU(num_classes=classes)
    fed_value(backend, metric, ids, ids[::-1])
    unweighted = sum(a.nbytes for a in _state_arrays(backend, metric).values())
    assert unweighted <= keras_bytes
    assert unweighted <= 2 * classes * classes * 4  # twice an int32 matrix
    fed_value(backend, metric, ids, ids, RNG.uniform(0, 1, 1000))
    assert sum(a.nbytes for a in _state_arrays(backend, metric).values()) <= keras_bytes


@pytest.mark.parametrize("weighted_first", [True, False])
def test_an_integer_and_a_weighted_shard_merge(backend, weighted_first):
    labels, predicted = RNG.integers(0, C, (2, 40)), RNG.integers(0, C, (2, 40))
    weight = RNG.uniform(0, 2, 40)
    weighted, plain = metrics.MeanIoU(num_classes=C), metrics.MeanIoU(num_classes=C)
    fed_value(backend, weighted, labels[0], predicted[0], weight)
    fed_value(backend, plain, labels[1], predicted[1])
    first, second = (weighted, plain) if weighted_first else (plain, weighted)
    stateless = first.stateless_merge_state(first.state, second.state)
    first.merge_state([second])
    matrix = ref_confusion(labels[0], predicted[0], C, weight) + ref_confusion(labels[1], predicted[1], C)
    for value in (first.result(), first.stateless_result(stateless)):
        np.testing.assert_allclose(float(np.asarray(backend.to_numpy(value))), ref_mean_iou(matrix), **F64_TOL)


@on("jax", "tensorflow", "mlx")  # jax.jit / tf.function / mx.compile here
def test_compiled_unweighted_then_weighted_updates(backend):
    (pair_a, weight), (pair_b, _) = CASES["MeanIoU"][2]
    batches = [(pair_b, None), (pair_a, weight)]  # the state changes form in the second step
    value = compiled_value(backend, metrics.MeanIoU(num_classes=C), batches)
    matrix = ref_confusion(*pair_b, C) + ref_confusion(*pair_a, C, weight)
    np.testing.assert_allclose(value, ref_mean_iou(matrix), **F64_TOL)
