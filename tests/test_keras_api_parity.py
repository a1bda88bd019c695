"""Keras 3 API parity (issue 15 §1), against keras itself in-process:
the sample weight taken positionally (stateful and stateless), every function
``keras.metrics`` exports importable from ``lossbridge.metrics`` with Keras'
numbers on every backend, and CTC's label convention."""

from __future__ import annotations

import enum
import re

import numpy as np
import pytest

from lossbridge import losses, metrics
from tests.metric_support import KERAS_TOL, keras_metrics

RNG = np.random.default_rng(15)
N, C = 8, 6


def _probs(shape):
    x = RNG.random(shape).astype(np.float32) + 0.05
    return x / x.sum(-1, keepdims=True)


def _binary():
    return RNG.integers(0, 2, (N, 4)).astype(np.float32), RNG.uniform(0.02, 0.98, (N, 4)).astype(np.float32)


def _one_hot():
    return np.eye(C, dtype=np.float32)[RNG.integers(0, C, N)], _probs((N, C))


def _sparse():
    return RNG.integers(0, C, N).astype(np.int32), _probs((N, C))


def _signs():
    return RNG.choice([-1.0, 1.0], (N, 4)).astype(np.float32), RNG.normal(size=(N, 4)).astype(np.float32)


def _real():
    return RNG.normal(size=(N, 4)).astype(np.float32), RNG.normal(size=(N, 4)).astype(np.float32)


def _positive():
    return RNG.uniform(0.1, 3, (N, 4)).astype(np.float32), RNG.uniform(0.1, 3, (N, 4)).astype(np.float32)


#: every function keras.metrics exports (bar get/serialize/deserialize): its inputs and options
FUNCTIONS = {
    "binary_accuracy": (_binary, {}),
    "binary_crossentropy": (_binary, {}),
    "binary_focal_crossentropy": (_binary, {}),
    "categorical_accuracy": (_one_hot, {}),
    "categorical_crossentropy": (_one_hot, {}),
    "categorical_focal_crossentropy": (_one_hot, {}),
    "categorical_hinge": (_one_hot, {}),
    "concordance_correlation": (_real, {}),
    "hinge": (_signs, {}),
    "huber": (_real, {}),
    "kl_divergence": (_positive, {}),
    "log_cosh": (_real, {}),
    "mean_absolute_error": (_real, {}),
    "mean_absolute_percentage_error": (_positive, {}),
    "mean_squared_error": (_real, {}),
    "mean_squared_logarithmic_error": (_positive, {}),
    "pearson_correlation": (_real, {}),
    "poisson": (_positive, {}),
    "sparse_categorical_accuracy": (_sparse, {}),
    "sparse_categorical_crossentropy": (_sparse, {}),
    "sparse_top_k_categorical_accuracy": (_sparse, {"k": 2}),
    "squared_hinge": (_signs, {}),
    "top_k_categorical_accuracy": (_one_hot, {"k": 2}),
}
INPUTS = {name: make() for name, (make, _) in FUNCTIONS.items()}


def test_every_keras_metrics_function_is_exported():
    km = keras_metrics()
    names = {n for n in dir(km) if callable(getattr(km, n)) and n[0].islower()}
    assert names - {"get", "serialize", "deserialize"} == set(FUNCTIONS)
    for name in names:
        assert name in metrics.__all__ and callable(getattr(metrics, name)), name


@pytest.mark.parametrize("name", ["binary_crossentropy", "kl_divergence", "mean_squared_error", "poisson"])
def test_loss_named_functions_are_the_loss_functions(name):
    assert getattr(metrics, name) is getattr(losses, name)  # no twins


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_matches_keras(backend, name):
    options = FUNCTIONS[name][1]
    y_true, y_pred = INPUTS[name]
    expected = np.asarray(getattr(keras_metrics(), name)(y_true, y_pred, **options), np.float64)
    ours = getattr(metrics, name)(backend.convert_to_tensor(y_true), backend.convert_to_tensor(y_pred), **options)
    assert backend.is_tensor(ours) or backend.name == "numpy"
    np.testing.assert_allclose(np.asarray(backend.to_numpy(ours), np.float64), expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- positional sample weight
def _weights():
    return RNG.uniform(0, 2, N).astype(np.float32)


WEIGHTED = {
    "F1Score": ({"average": "macro", "threshold": 0.5}, _binary),
    "FBetaScore": ({"beta": 2.0, "threshold": 0.5}, _binary),
    "R2Score": ({}, _real),
    "MeanSquaredError": ({}, _real),
    "BinaryAccuracy": ({}, _binary),
    "SparseCategoricalAccuracy": ({}, _sparse),
    "Precision": ({}, _binary),
    "AUC": ({}, _binary),
    "CosineSimilarity": ({}, _real),
}
WEIGHTED_INPUTS = {name: (*make(), _weights()) for name, (_, make) in WEIGHTED.items()}


def _keras_positional(name, args):
    metric = getattr(keras_metrics(), name)(**WEIGHTED[name][0])
    metric.update_state(*args)  # positional weight, Keras' own signature
    return np.asarray(metric.result(), np.float64)


@pytest.mark.parametrize("name", sorted(WEIGHTED))
def test_positional_sample_weight_matches_keras(backend, name):
    args = WEIGHTED_INPUTS[name]
    expected = _keras_positional(name, args)
    assert not np.allclose(expected, _keras_positional_unweighted(name, args[:2]))  # the weight matters here
    tensors = [backend.convert_to_tensor(a) for a in args]
    metric = getattr(metrics, name)(**WEIGHTED[name][0])
    metric.update_state(*tensors)
    np.testing.assert_allclose(np.asarray(backend.to_numpy(metric.result()), np.float64), expected, **KERAS_TOL)
    stateless = getattr(metrics, name)(**WEIGHTED[name][0])
    state = stateless.stateless_update_state(stateless.stateless_initial_state(tensors[1]), *tensors)
    value = np.asarray(backend.to_numpy(stateless.stateless_result(state)), np.float64)
    np.testing.assert_allclose(value, expected, **KERAS_TOL)


def _keras_positional_unweighted(name, args):
    metric = getattr(keras_metrics(), name)(**WEIGHTED[name][0])
    metric.update_state(*args)
    return np.asarray(metric.result(), np.float64)


@pytest.mark.parametrize("name", ["Mean", "Sum"])
def test_mean_and_sum_take_values_then_weight(backend, name):
    values, weight = RNG.normal(size=N).astype(np.float32), _weights()
    reference = getattr(keras_metrics(), name)()
    reference.update_state(values, weight)
    metric = getattr(metrics, name)()
    metric(backend.convert_to_tensor(values), backend.convert_to_tensor(weight))  # __call__ too
    np.testing.assert_allclose(
        np.asarray(backend.to_numpy(metric.result()), np.float64), np.asarray(reference.result()), **KERAS_TOL
    )


def test_too_many_positionals_or_weight_twice_name_the_signature():
    y = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match=r"F1Score.update_state\(y_true, y_pred, sample_weight=None\) takes 2 to 3"):
        metrics.F1Score().update_state(y, y, np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match=r"Sum.stateless_update_state\(values, sample_weight=None\) takes 1 to 2"):
        metrics.Sum().stateless_update_state({}, y, y, y)
    with pytest.raises(TypeError, match=r"R2Score.update_state.*both positionally and by keyword"):
        metrics.R2Score().update_state(y, y, np.ones(2), sample_weight=np.ones(2))


# ---------------------------------------------------------------- CTC
CTC_LOGITS = ((np.arange(24).reshape(2, 4, 3) - 12) / 100).astype(np.float32)
CTC_LABELS = np.array([[1, 2, 1, 0], [1, 2, 0, 2]], np.int32)


def test_ctc_keras_reference_numbers():
    keras = pytest.importorskip("keras")
    np.testing.assert_allclose(keras.losses.ctc(CTC_LABELS, CTC_LOGITS), [2.44293, 2.45436], atol=1e-5)


def test_ctc_takes_the_first_label_length_entries_as_keras_does(backend):
    """Keras: a sample's label length is its count of non-zero entries and its
    labels are the first that many entries ([1, 2, 0] for [1, 2, 0, 2]); the
    0 among them is a label emitting the blank's class, reachable by a skip.
    Reference: keras.losses.ctc (2.44293, 2.45436), torch F.ctc_loss and optax
    agree. The base recursion (NumPy, JAX, TF float64) skips onto a label by
    its position, so a 0 label is reachable as in torch's native kernel and
    tf.nn.ctc_loss."""
    ours = losses.ctc(backend.convert_to_tensor(CTC_LABELS), backend.convert_to_tensor(CTC_LOGITS))
    np.testing.assert_allclose(np.asarray(backend.to_numpy(ours), np.float64), [2.44293, 2.45436], atol=1e-5)


# ---------------------------------------------------------------- class-by-class audit (Keras 3.15)
#: the arguments a class needs to be built; every other argument keeps its default
REQUIRED = {
    "MeanIoU": {"num_classes": 3},
    "IoU": {"num_classes": 3, "target_class_ids": [0]},
    "OneHotIoU": {"num_classes": 3, "target_class_ids": [0]},
    "OneHotMeanIoU": {"num_classes": 3},
    "PrecisionAtRecall": {"recall": 0.5},
    "RecallAtPrecision": {"precision": 0.5},
    "SensitivityAtSpecificity": {"specificity": 0.5},
    "SpecificityAtSensitivity": {"sensitivity": 0.5},
}
#: (class, attribute) read differently on purpose (docs/keras-differences.md)
KEPT_ATTRIBUTE_DIFFERENCES = {
    # Keras' IoU family reports its int64 state's dtype; lossbridge's `dtype` is the result's (both results are float32)
    (name, "dtype")
    for name in ("BinaryIoU", "IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU")
}


def _keras_classes():
    import inspect

    keras = pytest.importorskip("keras")
    found = []
    for kind, module in (("metrics", keras.metrics), ("losses", keras.losses)):
        for name in sorted(dir(module)):
            if inspect.isclass(getattr(module, name)) and name not in ("Metric", "Loss", "Reduction"):
                found.append((kind, name))
    return found


def _public_values(obj):
    """Keras' public, non-method attributes (options and state variables)."""
    out = {}
    for key in dir(obj):
        if key.startswith("_") or key == "variables":
            continue
        value = getattr(obj, key)
        if not callable(value) or hasattr(value, "shape"):
            out[key] = value
    return out


@pytest.mark.parametrize("kind, name", _keras_classes() if __import__("importlib").util.find_spec("keras") else [])
def test_every_keras_attribute_reads_the_same(kind, name):
    """Every public attribute a fresh Keras object has (its options and its
    state variables: ``from_logits``, ``thresholds``, ``true_positives``,
    ``total_cm``, ``axis``...) exists on the lossbridge object, with Keras'
    value where it is a plain value and zeros where it is state."""
    keras_metrics()  # Keras on its TensorFlow backend, as every in-process Keras test here
    import keras

    theirs_module, ours_module = (keras.metrics, metrics) if kind == "metrics" else (keras.losses, losses)
    options = REQUIRED.get(name, {})
    if name == "MeanMetricWrapper":
        theirs, ours = (
            keras.metrics.MeanMetricWrapper(fn=keras.losses.mean_squared_error),
            metrics.MeanMetricWrapper(fn=losses.mean_squared_error),
        )
    else:
        theirs, ours = getattr(theirs_module, name)(**options), getattr(ours_module, name)(**options)
    for key, value in _public_values(theirs).items():
        assert hasattr(ours, key), f"{kind}.{name}: no attribute {key!r} (Keras has {value!r:.80})"
        if (name, key) in KEPT_ATTRIBUTE_DIFFERENCES:
            continue
        got = getattr(ours, key)
        if key == "name":  # Keras numbers a default name taken before in the process: `true_positives_6`
            value = re.sub(r"_\d+$", "", value) if value != got else value
        if isinstance(value, enum.Enum):  # AUC's curve / summation_method: lossbridge keeps the enum's string
            value = value.value
        if hasattr(value, "shape"):  # a state variable, zero before any update
            np.testing.assert_array_equal(np.asarray(got, np.float64).ravel().sum(), 0.0, err_msg=f"{name}.{key}")
        elif isinstance(value, list | tuple):
            assert list(np.asarray(got).tolist() if hasattr(got, "shape") else got) == list(value), (name, key)
        else:
            assert got == value, f"{kind}.{name}.{key}: lossbridge {got!r}, Keras {value!r}"


#: (module, class, arguments, what Keras does, what lossbridge raises). Where Keras raises, lossbridge
#: raises the same class; where Keras accepts a value that makes its numbers meaningless, lossbridge
#: refuses it (docs/keras-differences.md, "refused on purpose").
BAD_ARGUMENTS = [
    ("metrics", "AUC", {"num_thresholds": 1}, ValueError, ValueError),
    ("metrics", "AUC", {"curve": "XY"}, ValueError, ValueError),
    ("metrics", "AUC", {"summation_method": "x"}, ValueError, ValueError),
    ("metrics", "Precision", {"thresholds": 1.5}, ValueError, ValueError),
    ("metrics", "Recall", {"thresholds": -0.1}, ValueError, ValueError),
    ("metrics", "TruePositives", {"thresholds": 2.0}, ValueError, ValueError),
    ("metrics", "PrecisionAtRecall", {"recall": 1.5}, ValueError, ValueError),
    ("metrics", "PrecisionAtRecall", {"recall": 0.5, "num_thresholds": 0}, ValueError, ValueError),
    ("metrics", "RecallAtPrecision", {"precision": -1}, ValueError, ValueError),
    ("metrics", "SensitivityAtSpecificity", {"specificity": 2}, ValueError, ValueError),
    ("metrics", "SpecificityAtSensitivity", {"sensitivity": -0.5}, ValueError, ValueError),
    ("metrics", "FBetaScore", {"beta": 0}, ValueError, ValueError),
    ("metrics", "FBetaScore", {"average": "median"}, ValueError, ValueError),
    ("metrics", "F1Score", {"threshold": 1.5}, ValueError, ValueError),
    ("metrics", "F1Score", {"threshold": 0}, ValueError, ValueError),
    ("metrics", "IoU", {"num_classes": 3, "target_class_ids": []}, ValueError, ValueError),
    ("metrics", "IoU", {"num_classes": 3, "target_class_ids": [5]}, ValueError, ValueError),
    ("metrics", "R2Score", {"class_aggregation": "x"}, ValueError, ValueError),
    ("metrics", "R2Score", {"num_regressors": -1}, ValueError, ValueError),
    ("losses", "MeanSquaredError", {"reduction": "avg"}, ValueError, ValueError),
    ("losses", "CategoricalGeneralizedCrossEntropy", {"q": 0}, ValueError, ValueError),
    ("losses", "CategoricalGeneralizedCrossEntropy", {"q": 2}, ValueError, ValueError),
    # refused on purpose: Keras accepts these and computes meaningless numbers later
    ("metrics", "AUC", {"thresholds": [0.5, 1.5]}, None, ValueError),
    ("metrics", "Precision", {"top_k": 0}, None, ValueError),
    ("metrics", "MeanIoU", {"num_classes": 3, "ignore_class": "a"}, None, ValueError),
    ("metrics", "TopKCategoricalAccuracy", {"k": 0}, None, ValueError),
    ("metrics", "MeanMetricWrapper", {"fn": 3}, None, TypeError),
    ("metrics", "Mean", {"dtype": "int32"}, None, ValueError),
    ("metrics", "BinaryAccuracy", {"threshold": "a"}, None, ValueError),
    ("losses", "Huber", {"delta": -1}, None, ValueError),
    ("losses", "BinaryCrossentropy", {"label_smoothing": 2}, None, ValueError),
    ("losses", "CategoricalFocalCrossentropy", {"gamma": -1}, None, ValueError),
    ("losses", "Tversky", {"alpha": -1}, None, ValueError),
    ("losses", "Circle", {"gamma": -1}, None, ValueError),
    ("losses", "MeanSquaredError", {"dtype": "int32"}, None, ValueError),
]


@pytest.mark.parametrize(
    "kind, name, options, keras_raises, ours_raises", BAD_ARGUMENTS, ids=[f"{n}-{o}" for _, n, o, *_ in BAD_ARGUMENTS]
)
def test_bad_arguments_raise_as_keras_does_or_stricter(kind, name, options, keras_raises, ours_raises):
    keras_metrics()
    import keras

    theirs = getattr(keras.metrics if kind == "metrics" else keras.losses, name)
    if keras_raises is None:
        theirs(**options)  # Keras takes it (if it starts refusing, this table moves the row up)
    else:
        with pytest.raises(keras_raises):
            theirs(**options)
    with pytest.raises(ours_raises) as info:
        getattr(metrics if kind == "metrics" else losses, name)(**options)
    assert any(f"`{key}`" in str(info.value) or key in str(info.value) for key in options), str(info.value)
