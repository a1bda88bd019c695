"""``losses.get`` / ``serialize`` / ``deserialize`` and ``register_loss``:
names, aliases, Keras config dicts, round trips of every catalogue loss,
custom losses on every backend, and configs that name anything unregistered."""

from __future__ import annotations

import builtins
import importlib
import json

import numpy as np
import pytest

import lossbridge
from lossbridge import K, losses
from lossbridge.losses import Loss, LossFunctionWrapper, registry
from tests.helpers import to_backend, to_numpy
from tests.reference import F32, keras_losses
from tests.test_loss_catalogue import CATALOGUE, CATALOGUE_IDS, make_inputs

CLASS_NAMES = sorted({name for name, _, _ in CATALOGUE})
FUNCTION_NAMES = [
    "mean_squared_error",
    "binary_crossentropy",
    "sparse_categorical_crossentropy",
    "huber",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
    "ctc",
    "dice",
    "tversky",
    "circle",
]


@pytest.fixture
def clean_registry():
    """Registrations made by a test are undone after it."""
    saved, aliases = dict(registry.LOSSES.classes), dict(registry.LOSSES.aliases)
    yield
    registry.LOSSES.classes.clear()
    registry.LOSSES.classes.update(saved)
    registry.LOSSES.aliases.clear()
    registry.LOSSES.aliases.update(aliases)


# ---------------------------------------------------------------- get
@pytest.mark.parametrize("name", CLASS_NAMES)
def test_get_class_name_gives_an_instance(name):
    loss = losses.get(name)
    assert type(loss) is getattr(losses, name)


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_get_function_name_gives_the_function(name):
    assert losses.get(name) is getattr(losses, name)


def test_get_passes_objects_through():
    loss = losses.Huber(delta=2.0)
    assert losses.get(loss) is loss
    assert type(losses.get(losses.Tversky)) is losses.Tversky
    assert losses.get(None) is None
    assert losses.get(losses.mse) is losses.mean_squared_error
    assert losses.get("bce") is losses.binary_crossentropy


def test_get_config_dict():
    loss = losses.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert isinstance(loss, losses.CategoricalCrossentropy) and loss.get_config()["from_logits"] is True


@pytest.mark.parametrize("bad", [42, 3.5, ["mse"], object()])
def test_get_rejects_what_is_not_a_loss(bad):
    with pytest.raises(ValueError, match="cannot interpret"):
        losses.get(bad)


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("case", CATALOGUE, ids=CATALOGUE_IDS)
def test_every_catalogue_loss_round_trips(backend, case):
    name, options, kind = case
    loss = getattr(losses, name)(reduction="sum", name="custom_name", **options)
    config = json.loads(json.dumps(losses.serialize(loss)))  # survives JSON (tuples become lists)
    assert config["class_name"] == name
    again = losses.deserialize(config)
    assert type(again) is type(loss)
    assert again.name == "custom_name" and again.reduction == "sum"
    y_true, y_pred = (to_backend(backend, x) for x in make_inputs(kind))
    np.testing.assert_allclose(to_numpy(backend, again(y_true, y_pred)), to_numpy(backend, loss(y_true, y_pred)))


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_functions_round_trip(name):
    config = losses.serialize(getattr(losses, name))
    assert config["class_name"] == "function" and config["config"] == name
    assert losses.deserialize(config) is getattr(losses, name)


def test_function_wrapper_round_trips():
    wrapper = LossFunctionWrapper(losses.huber, delta=0.3, reduction="none", name="h")
    again = losses.deserialize(json.loads(json.dumps(losses.serialize(wrapper))))
    assert isinstance(again, LossFunctionWrapper) and again.fn is losses.huber
    assert again.get_config() == wrapper.get_config()


def test_strings_serialize_to_themselves():
    assert losses.serialize("mse") == "mse"
    assert losses.deserialize("mse") is losses.mean_squared_error


# ---------------------------------------------------------------- Keras' configs
@pytest.mark.parametrize(
    "make",
    [
        lambda k: k.MeanSquaredError(reduction="sum"),
        lambda k: k.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        lambda k: k.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.0),
        lambda k: k.CategoricalFocalCrossentropy(alpha=0.5, from_logits=True),
        lambda k: k.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
        lambda k: k.Tversky(alpha=0.2, beta=0.8, axis=[1, 2]),
        lambda k: k.Circle(gamma=32.0, margin=0.3),
        lambda k: k.CategoricalGeneralizedCrossEntropy(q=0.3),
    ],
)
def test_keras_configs_deserialize(make):
    keras = keras_losses()
    keras_loss = make(keras)
    ours = losses.deserialize(keras.serialize(keras_loss))
    assert type(ours).__name__ == type(keras_loss).__name__
    ours_config = ours.get_config()
    for key, value in keras_loss.get_config().items():
        expected = tuple(value) if isinstance(value, list) else value
        assert ours_config[key] == expected, key


def test_keras_function_config_deserializes():
    keras = keras_losses()
    assert losses.deserialize(keras.serialize(keras.mean_squared_error)) is losses.mean_squared_error
    assert losses.get(keras.serialize(keras.huber)) is losses.huber


# ---------------------------------------------------------------- only registered names
HOSTILE = [
    {"class_name": "os.system", "config": {}},
    {"module": "os", "class_name": "system", "config": {}, "registered_name": None},
    {"module": "keras.losses", "class_name": "keras.losses.MeanSquaredError", "config": {}},
    {"class_name": "function", "config": "builtins.eval", "registered_name": "function"},
    {"class_name": "function", "config": "subprocess.run"},
    {"class_name": "NotALoss", "config": {}, "registered_name": "os.path.join"},
    {"class_name": "LossFunctionWrapper", "config": {"fn": {"class_name": "function", "config": "os.system"}}},
    {"class_name": "LossFunctionWrapper", "config": {"fn": "__import__"}},
]


@pytest.mark.parametrize("config", HOSTILE)
def test_unregistered_names_are_errors_never_imports(config, monkeypatch):
    real_import = builtins.__import__

    def only_lossbridge(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and not name.startswith("lossbridge"):
            raise AssertionError(f"deserialize tried to import {name!r}")
        return real_import(name, globals, locals, fromlist, level)

    def no_import_module(name, *args, **kwargs):
        raise AssertionError(f"deserialize tried to import {name!r}")

    monkeypatch.setattr(importlib, "import_module", no_import_module)
    monkeypatch.setattr(builtins, "__import__", only_lossbridge)
    with pytest.raises(ValueError, match="registered"):
        losses.deserialize(config)


@pytest.mark.parametrize("config", [None, 3, ["MeanSquaredError"], {"config": {}}])
def test_malformed_configs(config):
    with pytest.raises(ValueError, match="cannot deserialize"):
        losses.deserialize(config)


def test_unknown_options_are_a_value_error():
    with pytest.raises(ValueError, match="cannot rebuild 'Huber'.*detla"):
        losses.deserialize({"class_name": "Huber", "config": {"detla": 2.0}})


def test_config_options_are_validated():
    with pytest.raises(ValueError, match="`delta`"):
        losses.deserialize({"class_name": "Huber", "config": {"delta": -2.0}})


# ---------------------------------------------------------------- custom losses
def test_registered_function_runs_everywhere_and_round_trips(backend, clean_registry):
    @lossbridge.register_loss("test_quartic_error")
    def quartic_error(y_true, y_pred, scale=1.0):
        return scale * K.mean(K.square(K.square(y_pred - y_true)), axis=-1)

    assert losses.get("test_quartic_error") is quartic_error
    wrapper = LossFunctionWrapper(quartic_error, scale=0.5)
    again = losses.deserialize(json.loads(json.dumps(losses.serialize(wrapper))))
    y_true = np.array([[0.0, 1.0], [2.0, -1.0]], np.float32)
    y_pred = np.array([[1.0, 1.5], [0.0, 0.0]], np.float32)
    expected = 0.5 * np.mean((y_pred.astype(np.float64) - y_true) ** 4)
    t, p = to_backend(backend, y_true), to_backend(backend, y_pred)
    np.testing.assert_allclose(to_numpy(backend, again(t, p)), expected, **F32)
    if backend.name != "numpy":
        _, grad = backend.value_and_grad(lambda a, b: again(a, b))(t, p)
        np.testing.assert_allclose(to_numpy(backend, grad), 0.5 * 4 * (y_pred - y_true) ** 3 / 4, **F32)


def test_registered_subclass_round_trips(backend, clean_registry):
    @lossbridge.register_loss("TestMarginLoss")
    class MarginLoss(Loss):
        def __init__(self, margin=1.0, **kwargs):
            super().__init__(**kwargs)
            self.margin = margin

        def call(self, y_true, y_pred):
            return K.mean(K.maximum(self.margin - y_true * y_pred, 0.0), axis=-1)

        def get_config(self):
            return {**super().get_config(), "margin": self.margin}

    loss = MarginLoss(margin=2.0, reduction="sum")
    config = losses.serialize(loss)
    assert config["class_name"] == "TestMarginLoss"
    again = losses.deserialize(config)
    assert isinstance(again, MarginLoss) and again.margin == 2.0 and again.reduction == "sum"
    y_true = np.array([[1.0, -1.0]], np.float32)
    y_pred = np.array([[0.5, 0.5]], np.float32)
    t, p = to_backend(backend, y_true), to_backend(backend, y_pred)
    np.testing.assert_allclose(to_numpy(backend, again(t, p)), (1.5 + 2.5) / 2, **F32)
    if backend.name != "numpy":
        _, grad = backend.value_and_grad(lambda a, b: again(a, b))(t, p)
        np.testing.assert_allclose(to_numpy(backend, grad), [[-0.5, 0.5]], **F32)


def test_unregistered_subclass_cannot_be_serialized():
    class Unregistered(Loss):
        def call(self, y_true, y_pred):
            return K.mean(y_pred, axis=-1)

    with pytest.raises(ValueError, match="register_loss"):
        losses.serialize(Unregistered())
    with pytest.raises(ValueError, match="register_loss"):
        losses.serialize(lambda y_true, y_pred: y_pred)
