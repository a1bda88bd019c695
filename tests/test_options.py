"""Option checks are declared once per loss (``@loss_function(options=...)``)
and run the same for the function form and the class: a bad option is a
ValueError naming it in both, at construction for objects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lossbridge import losses, metrics

T = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
P = np.array([[0.8, 0.2], [0.3, 0.7]], np.float32)

BAD = [
    # (function, class, option, bad value)
    (losses.binary_crossentropy, losses.BinaryCrossentropy, "label_smoothing", -0.1),
    (losses.binary_crossentropy, losses.BinaryCrossentropy, "label_smoothing", 1.5),
    (losses.categorical_crossentropy, losses.CategoricalCrossentropy, "label_smoothing", math.nan),
    (losses.binary_focal_crossentropy, losses.BinaryFocalCrossentropy, "gamma", -1.0),
    (losses.binary_focal_crossentropy, losses.BinaryFocalCrossentropy, "alpha", 2.0),
    (losses.categorical_focal_crossentropy, losses.CategoricalFocalCrossentropy, "alpha", [0.5, 1.5]),
    (losses.huber, losses.Huber, "delta", -0.5),
    (losses.cosine_similarity, losses.CosineSimilarity, "axis", 1.5),
    (losses.dice, losses.Dice, "axis", "rows"),
    (losses.tversky, losses.Tversky, "beta", -1.0),
]


@pytest.mark.parametrize(("fn", "cls", "option", "value"), BAD, ids=[f"{b[2]}={b[3]}" for b in BAD])
def test_a_bad_option_raises_in_the_function_and_the_class(fn, cls, option, value):
    with pytest.raises(ValueError, match=f"`{option}`"):
        fn(T, P, **{option: value})
    with pytest.raises(ValueError, match=f"`{option}`"):
        cls(**{option: value})
    with pytest.raises(ValueError, match=f"`{option}`"):
        losses.LossFunctionWrapper(fn, **{option: value})
    with pytest.raises(ValueError, match=f"`{option}`"):
        metrics.MeanMetricWrapper(fn, **{option: value})


def test_a_positional_option_is_checked_too():
    with pytest.raises(ValueError, match="`label_smoothing`"):
        losses.binary_crossentropy(T, P, False, -0.1)
    # and a good one still gives the float64 value: smoothing 0.2 squeezes labels to 0.9 / 0.1
    y = T.astype(np.float64) * 0.8 + 0.1
    expected = np.mean(-(y * np.log(P) + (1 - y) * np.log(1 - P)), axis=-1)
    np.testing.assert_allclose(losses.binary_crossentropy(T, P, False, 0.2), expected, rtol=1e-6)


@pytest.mark.parametrize("threshold", [math.nan, math.inf, "0.5", None])
def test_binary_accuracy_rejects_a_threshold_that_is_not_a_finite_number(threshold):
    with pytest.raises(ValueError, match="`threshold`"):
        metrics.BinaryAccuracy(threshold=threshold)
    with pytest.raises(ValueError, match="`threshold`"):
        metrics.binary_accuracy(T, P, threshold=threshold)


def test_valid_options_keep_their_values_in_the_config():
    loss = losses.CategoricalFocalCrossentropy(alpha=(0.25, 0.75), axis=[-1][0])
    assert loss.get_config()["alpha"] == [0.25, 0.75]
    assert losses.Dice(axis=[0, 1]).get_config()["axis"] == (0, 1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        lambda: metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
    ],
    ids=["loss", "metric"],
)
def test_bound_options_read_as_attributes_and_dir_lists_them(make):
    """As Keras' loss and metric classes show them (``loss.from_logits``), on
    the Loss object and on the metric that wraps the same function."""
    obj = make()
    assert obj.from_logits is True
    assert obj.label_smoothing == 0.1
    names = dir(obj)
    assert {"from_logits", "label_smoothing"} <= set(names)
    assert {"get_config", "name"} <= set(names)  # the class's own names stay listed
    assert names == sorted(names)
    with pytest.raises(AttributeError, match="'BinaryCrossentropy' object has no attribute 'gamma'"):
        _ = obj.gamma


def test_objects_without_bound_options_list_only_their_own_names():
    assert "from_logits" not in dir(metrics.Mean())
    assert "from_logits" not in dir(losses.MeanSquaredError())
