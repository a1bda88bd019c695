"""Loss objects travel: every built-in Loss class, LossFunctionWrapper and a
user-registered loss pickle and deep-copy to an equal object (same config)
that computes the same value on every backend. torch DDP ``spawn``,
multiprocessing, joblib and checkpoints all pickle the objects they hold."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import lossbridge
from lossbridge import K, losses

from .helpers import to_backend, to_numpy


@lossbridge.register_loss("test_pickle_scaled_mse", override=True, examples="regression")  # the parity suite checks it
def scaled_mse(y_true, y_pred, scale=2.0):
    """scale * mean((y_true - y_pred)**2) over the last axis."""
    return scale * K.mean(K.square(y_true - y_pred), axis=-1)


KERAS_LOSS_CLASSES = (
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CTC",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalGeneralizedCrossEntropy",
    "CategoricalHinge",
    "Circle",
    "CosineSimilarity",
    "Dice",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "Tversky",
)


def _objects():
    built_in = [  # every Keras class of the catalogue
        obj()
        for obj in vars(losses).values()
        if isinstance(obj, type) and issubclass(obj, losses.LossFunctionWrapper) and obj.function is not None
    ]
    # the enumeration finds at least Keras 3's 22 loss classes (beyond-Keras ones add to them)
    assert set(KERAS_LOSS_CLASSES) <= {type(obj).__name__ for obj in built_in}
    options = [
        losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum"),
        losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.5], gamma=1.5),
        losses.SparseCategoricalCrossentropy(ignore_class=0),
        losses.Huber(delta=0.5, reduction="none"),
        losses.LossFunctionWrapper(losses.huber, delta=0.25),
        losses.LossFunctionWrapper("mse", reduction="mean"),
        losses.LossFunctionWrapper(scaled_mse, scale=3.0),
        losses.MeanSquaredError(compile=True),
    ]
    return built_in + options


OBJECTS = _objects()


@pytest.mark.parametrize("loss", OBJECTS, ids=[repr(o)[:60] for o in OBJECTS])
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_every_loss_object_travels_with_its_config(loss, how):
    restored = pickle.loads(pickle.dumps(loss)) if how == "pickle" else copy.deepcopy(loss)
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
    assert restored is not loss


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_restored_loss_computes_the_same_value_after_use(backend, how):
    t = np.array([[0.0, 1.0], [2.0, 4.0]], np.float32)
    p = np.array([[1.0, 1.0], [0.0, 0.0]], np.float32)
    expected = {"mse": np.mean([0.5, 10.0]), "scaled": np.mean([1.5, 30.0])}
    for loss, key in (
        (losses.MeanSquaredError(), "mse"),
        (losses.LossFunctionWrapper(scaled_mse, scale=3.0), "scaled"),
    ):
        loss(to_backend(backend, t), to_backend(backend, p))  # used first: caches per backend exist
        restored = pickle.loads(pickle.dumps(loss)) if how == "pickle" else copy.deepcopy(loss)
        got = restored(to_backend(backend, t), to_backend(backend, p))
        np.testing.assert_allclose(to_numpy(backend, got), expected[key], rtol=1e-6)


def test_a_loss_function_pickles_by_reference():
    assert pickle.loads(pickle.dumps(losses.mean_squared_error)) is losses.mean_squared_error
