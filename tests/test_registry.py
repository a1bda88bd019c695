"""The closed registry (``lossbridge.registry``) behind losses and metrics:
a taken name or alias is refused with the holder named, a refused
registration changes nothing, ``override=True`` replaces, and registering
the same object (or the same definition, as a reload does) again is fine."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

import lossbridge
from lossbridge import K, losses, metrics
from lossbridge.losses import registry as loss_registry
from lossbridge.metrics import registry as metric_registry
from lossbridge.registry import Registry, snake_case
from tests.helpers import to_backend, to_numpy

F32 = {"rtol": 1e-6, "atol": 1e-7}


@pytest.fixture
def restored():
    """Every registration a test makes is undone after it."""
    tables = (
        loss_registry.LOSSES.classes,
        loss_registry.LOSSES.aliases,
        metric_registry._CLASSES,
        metric_registry._FUNCTIONS,
        metric_registry._ALIASES,
    )
    saved = [dict(table) for table in tables]
    yield
    for table, before in zip(tables, saved, strict=True):
        table.clear()
        table.update(before)


def _cube_error(y_true, y_pred):
    return K.mean(K.abs(y_pred - y_true) ** 3, axis=-1)


def _data():
    return np.array([[0.0, 1.0], [2.0, -1.0]], np.float32), np.array([[1.0, 3.0], [0.5, 0.0]], np.float32)


def _mse_reference(y_true, y_pred):
    return np.mean((y_pred.astype(np.float64) - y_true) ** 2, axis=-1)


# ---------------------------------------------------------------- losses: refused
@pytest.mark.parametrize(
    ("name", "holder"),
    [
        ("mean_squared_error", "lossbridge.losses.regression.mean_squared_error"),
        ("mse", "lossbridge.losses.regression.mean_squared_error"),  # an alias
        ("Huber", "lossbridge.losses.robust.Huber"),  # a class name
    ],
)
def test_a_taken_loss_name_is_refused_naming_the_holder(name, holder, restored):
    with pytest.raises(ValueError, match=rf"'{name}'.*held by {holder}.*override=True"):
        lossbridge.register_loss(name)(_cube_error)


def test_a_taken_loss_alias_is_refused(restored):
    with pytest.raises(ValueError, match=r"loss 'MAE'.*an alias of 'mean_absolute_error'"):
        lossbridge.register_loss("test_registry_cube", aliases=("MAE",))(_cube_error)
    # nothing was registered: every name is checked before anything changes
    assert "test_registry_cube" not in loss_registry.names()


def test_after_a_refused_loss_registration_everything_resolves_as_before(backend, restored):
    with pytest.raises(ValueError):
        lossbridge.register_loss("mse")(_cube_error)
    with pytest.raises(ValueError):
        lossbridge.register_loss("MeanSquaredError")(_cube_error)
    assert losses.get("mse") is losses.mean_squared_error
    config = json.loads(json.dumps(losses.serialize(losses.mean_squared_error)))
    assert losses.deserialize(config) is losses.mean_squared_error
    again = losses.deserialize({"class_name": "MeanSquaredError", "config": {"reduction": "none"}})
    assert type(again) is losses.MeanSquaredError
    y_true, y_pred = _data()
    out = again(to_backend(backend, y_true), to_backend(backend, y_pred))
    np.testing.assert_allclose(to_numpy(backend, out), _mse_reference(y_true, y_pred), **F32)


# ---------------------------------------------------------------- losses: allowed
def test_override_replaces_a_loss_name(backend, restored):
    cube = lossbridge.register_loss("mse", override=True)(_cube_error)
    assert losses.get("mse") is cube and losses.get("mean_squared_error") is losses.mean_squared_error
    y_true, y_pred = _data()
    out = losses.deserialize("mse")(to_backend(backend, y_true), to_backend(backend, y_pred))
    expected = np.mean(np.abs(y_pred.astype(np.float64) - y_true) ** 3, axis=-1)
    np.testing.assert_allclose(to_numpy(backend, out), expected, **F32)


def test_override_of_an_alias_moves_it(restored):
    lossbridge.register_loss("test_registry_cube", aliases=("mse",), override=True)(_cube_error)
    assert losses.get("mse") is losses.get("test_registry_cube")
    assert losses.get("MSE") is losses.mean_squared_error  # the other aliases stay


def test_registering_the_same_function_again_changes_nothing(restored):
    first = lossbridge.register_loss("test_registry_cube", aliases=("test_registry_cube_alias",))(_cube_error)
    second = lossbridge.register_loss("test_registry_cube", aliases=("test_registry_cube_alias",))(_cube_error)
    assert second is first and losses.get("test_registry_cube_alias") is first
    loss_registry.register("mean_squared_error", losses.mean_squared_error)  # a built-in, as a reload would
    assert losses.get("mse") is losses.mean_squared_error


def test_the_same_definition_replaces_its_earlier_self(restored):
    registered = []
    for power in (2.0, 3.0):  # one definition, run twice: what importlib.reload does

        @lossbridge.register_loss("test_registry_power")
        def power_error(y_true, y_pred, power=power):
            return K.mean(K.abs(y_pred - y_true) ** power, axis=-1)

        registered.append(power_error)
    assert losses.get("test_registry_power") is registered[1]
    y_true, y_pred = _data()
    expected = np.mean(np.abs(y_pred.astype(np.float64) - y_true) ** 3, axis=-1)
    np.testing.assert_allclose(losses.get("test_registry_power")(y_true, y_pred), expected, **F32)


PLUGIN = """
import lossbridge
from lossbridge import K, metrics

@lossbridge.register_loss("test_registry_plugin_loss", aliases=("test_registry_plugin_alias",))
def plugin_loss(y_true, y_pred):
    return K.mean(K.abs(y_pred - y_true), axis=-1)

@lossbridge.register_metric("TestRegistryPluginMetric")
class PluginMetric(metrics.Mean):
    pass
"""


def test_reloading_a_module_that_registers_is_no_conflict(tmp_path, monkeypatch, restored):
    (tmp_path / "test_registry_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("test_registry_plugin")
    try:
        reloaded = importlib.reload(module)  # new objects, same definitions
        assert losses.get("test_registry_plugin_alias") is reloaded.plugin_loss
        assert type(metrics.get("TestRegistryPluginMetric")) is reloaded.PluginMetric
    finally:
        import sys

        sys.modules.pop("test_registry_plugin", None)


# ---------------------------------------------------------------- metrics
@pytest.mark.parametrize(
    ("name", "holder"),
    [
        ("AUC", "lossbridge.metrics.auc.AUC"),
        ("auc", "lossbridge.metrics.auc.AUC"),  # the snake_case name
        ("mse", "lossbridge.metrics.wrappers.MeanSquaredError"),  # an alias
        ("binary_accuracy", "lossbridge.metrics.accuracy.BinaryAccuracy"),
    ],
)
def test_a_taken_metric_name_is_refused_naming_the_holder(name, holder, restored):
    class Shadow(metrics.Mean):
        pass

    with pytest.raises(ValueError, match=rf"metric '{name}'.*held by {holder}.*override=True"):
        lossbridge.register_metric(name)(Shadow)
    with pytest.raises(ValueError, match=rf"metric '{name}'.*held by"):
        lossbridge.register_metric(name)(_cube_error)


def test_a_taken_metric_alias_is_refused_and_nothing_changes(restored):
    class Shadow(metrics.Mean):
        pass

    with pytest.raises(ValueError, match=r"metric 'rmse'.*an alias of 'RootMeanSquaredError'"):
        lossbridge.register_metric("TestRegistryShadow", aliases=("rmse",))(Shadow)
    assert "TestRegistryShadow" not in metric_registry.names()
    assert type(metrics.get("rmse")) is metrics.RootMeanSquaredError


def test_after_a_refused_metric_registration_deserialize_resolves_the_original(restored):
    class Shadow(metrics.Mean):
        pass

    with pytest.raises(ValueError):
        lossbridge.register_metric("AUC")(Shadow)
    auc = metrics.deserialize({"class_name": "AUC", "config": {"num_thresholds": 7}})
    assert type(auc) is metrics.AUC and auc.num_thresholds == 7
    assert type(metrics.deserialize(metrics.serialize(metrics.AUC()))) is metrics.AUC
    y_true, y_pred = np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.1, 0.6, 0.4, 0.9])
    auc.update_state(y_true, y_pred)
    # the exact ROC AUC: of the 4 (positive, negative) pairs, 3 are ordered right
    # (0.4 < 0.6 is the swap); the 7 thresholds 0, 1/6, ..., 1 put each score in
    # its own bin, so the thresholded area is exact too
    assert float(auc.result()) == pytest.approx(0.75, abs=1e-6)


def test_override_replaces_a_metric_class(restored):
    @lossbridge.register_metric("AUC", override=True)
    class NotAnAUC(metrics.Mean):
        pass

    assert type(metrics.get("AUC")) is NotAnAUC
    assert type(metrics.deserialize({"class_name": "AUC", "config": {"name": "x"}})) is NotAnAUC
    assert type(metrics.get("auc")) is metrics.AUC  # only the name given was replaced


def test_registering_the_same_metric_again_changes_nothing(restored):
    class Twice(metrics.Mean):
        pass

    assert lossbridge.register_metric("TestRegistryTwice")(Twice) is Twice
    assert lossbridge.register_metric("TestRegistryTwice")(Twice) is Twice
    first = lossbridge.register_metric("test_registry_cube")(_cube_error)
    assert lossbridge.register_metric("test_registry_cube")(_cube_error) is first


def test_a_metric_name_and_a_loss_name_do_not_clash(restored):
    # metrics and losses are separate registries: a metric "huber" hides the loss only for metrics
    gap = lossbridge.register_metric("huber")(_cube_error)
    assert metrics.get("huber") is gap and losses.get("huber") is losses.huber


# ---------------------------------------------------------------- the class itself
def test_one_registry_class_serves_both():
    assert isinstance(loss_registry.LOSSES, Registry) and isinstance(metric_registry.METRICS, Registry)
    assert type(loss_registry.LOSSES) is type(metric_registry.METRICS)
    assert metric_registry.snake_case is snake_case


def test_a_fresh_registry_suggests_and_refuses():
    table = {}
    registry = Registry("widget", "pkg.widgets", "@pkg.register_widget", classes=table, aliases={"w": "widget_one"})

    def widget_one():
        return 1

    def widget_two():
        return 2

    registry.register("widget_one", widget_one)
    assert registry.lookup("w") is widget_one and registry.name_of(widget_one) == "widget_one"
    with pytest.raises(ValueError, match=r"unknown widget 'widget_onw'.*Did you mean: widget_one"):
        registry.lookup("widget_onw")
    with pytest.raises(ValueError, match=r"widget 'w'.*alias of 'widget_one'.*held by .*widget_one"):
        registry.register("w", widget_two)
    assert registry.serialize(widget_one) == {
        "module": "pkg.widgets",
        "class_name": "function",
        "config": "widget_one",
        "registered_name": "function",
    }
    assert registry.deserialize(registry.serialize(widget_one)) is widget_one
