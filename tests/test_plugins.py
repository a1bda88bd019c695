"""Third-party backends: the example plugin distribution (examples/plugin),
installed and selected by name; a plugin whose adapter fails to import; an
array type no backend handles. Expected values are float64 NumPy formulas.

The example plugin is installed with ``pip install --no-deps --no-build-isolation
--target DIR`` (its own pyproject.toml, built by setuptools; seconds, no network)
and put on ``sys.path`` for the test only.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import lossbridge
from lossbridge import backends, dispatch, losses

pytestmark = pytest.mark.slow(seconds=7)  # spawns processes: scheduled early (conftest.py)

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "plugin"


@pytest.fixture(scope="session")  # built once (xdist: --dist=loadfile)
def plugin_dir(tmp_path_factory):
    target = tmp_path_factory.mktemp("plugin_site")
    if importlib.util.find_spec("setuptools") is None:  # a Python 3.12 venv has none: lay the install out by hand
        return _install_by_hand(target)
    # build from a copy: setuptools writes build/ and *.egg-info beside the sources
    source = tmp_path_factory.mktemp("plugin_source") / "plugin"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    command += ["--target", str(target), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "PIP_NO_INPUT": "1"})
    assert done.returncode == 0, done.stderr
    return target


def _install_by_hand(target):
    """What pip installs, written from the plugin's pyproject.toml: the package
    and a dist-info with its metadata and entry points."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml without setuptools needs Python 3.11+")
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    shutil.copytree(PLUGIN / "src" / "lossbridge_example_backend", target / "lossbridge_example_backend")
    dist = target / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, entries in project["entry-points"].items():
        lines += [f"[{group}]", *(f"{name} = {value}" for name, value in entries.items()), ""]
    (dist / "entry_points.txt").write_text("\n".join(lines))
    return target


@pytest.fixture
def fresh_registry(monkeypatch):
    """The backend registry as a new process would read it, restored afterwards."""
    monkeypatch.setattr(backends, "_plugins", None)
    monkeypatch.setattr(backends, "_broken", {})
    monkeypatch.setattr(backends, "_loaded", dict(backends._loaded))
    monkeypatch.setattr(dispatch, "_owner_by_type", {})
    yield


def ref_mse(y_true, y_pred):
    return np.mean((np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)) ** 2, axis=-1)


def ref_bce_logits(y_true, logits):
    y, x = np.asarray(y_true, np.float64), np.asarray(logits, np.float64)
    return np.mean(np.logaddexp(0.0, x) - y * x, axis=-1)


def test_the_installed_plugin_declares_its_entry_point(plugin_dir):
    dist_infos = list(plugin_dir.glob("lossbridge_example_backend-0.1.0.dist-info"))
    assert dist_infos, sorted(p.name for p in plugin_dir.iterdir())
    entry_points = (dist_infos[0] / "entry_points.txt").read_text()
    assert "[lossbridge.backends]" in entry_points
    assert "example = lossbridge_example_backend:ExampleBackend" in entry_points


def test_use_backend_selects_the_plugin_by_name(plugin_dir, fresh_registry, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_dir))
    assert "example" in backends.registered() and "example" in backends.installed()
    rng = np.random.default_rng(16)
    y_true, logits = (rng.uniform(size=(4, 5)) > 0.5).astype(np.float32), rng.normal(size=(4, 5)) * 30
    calls = []
    adapter = backends.get("example")
    assert type(adapter).__module__ == "lossbridge_example_backend" and adapter.name == "example"
    original = type(adapter).softplus
    monkeypatch.setattr(type(adapter), "softplus", lambda self, x: calls.append(1) or original(self, x))
    with lossbridge.use_backend("Example"):  # names are case-insensitive
        assert lossbridge.get_backend() == "example"
        got = losses.binary_crossentropy(y_true, logits.astype(np.float32), from_logits=True)
        mse = losses.mean_squared_error(y_true, logits.astype(np.float32))
    assert calls, "the plugin's own softplus never ran"
    np.testing.assert_allclose(got, ref_bce_logits(y_true, logits.astype(np.float32)), rtol=1e-5)
    np.testing.assert_allclose(mse, ref_mse(y_true, logits.astype(np.float32)), rtol=1e-5)


def test_environment_variable_and_conformance_kit_in_a_new_process(plugin_dir):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), str(ROOT)]), "LOSSBRIDGE_BACKEND": "example"}
    script = (
        "import numpy as np, lossbridge, lossbridge.losses as L;"
        "print(lossbridge.get_backend(), float(np.sum(L.mean_squared_error([[1.0, 2.0]], [[0.5, 4.0]]))))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    name, value = done.stdout.split()
    assert name == "example"
    assert float(value) == pytest.approx((0.5**2 + 2.0**2) / 2, rel=1e-6)
    kit = [sys.executable, "-m", "lossbridge", "check-backend", "example", "--failures-only"]
    done = subprocess.run(kit, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "lossbridge conformance of backend 'example' (quick profile): conforms" in done.stdout


def _broken_distribution(root: Path):
    """A distribution whose adapter module fails to import (it needs a library that is absent)."""
    dist = root / "lossbridge_broken_example-0.0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lossbridge-broken-example\nVersion: 0.0.1\n")
    (dist / "entry_points.txt").write_text("[lossbridge.backends]\nbroken = lossbridge_broken_example:Adapter\n")
    (root / "lossbridge_broken_example.py").write_text("import fastarray_not_installed_anywhere  # noqa\n")


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_keep_working(tmp_path, fresh_registry, monkeypatch):
    _broken_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "broken" in backends.registered()
    with pytest.warns(RuntimeWarning, match="other backends are unaffected") as caught:
        with pytest.raises(ImportError) as error:
            with lossbridge.use_backend("broken"):
                pass
    message = str(error.value)
    assert "lossbridge backend plugin 'broken'" in message
    assert "distribution lossbridge-broken-example 0.0.1" in message
    assert "lossbridge_broken_example:Adapter" in message and "fastarray_not_installed_anywhere" in message
    assert len(caught) == 1
    # reported once, then left out; every other backend keeps working
    assert "broken" not in backends.installed()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImportError, match="distribution lossbridge-broken-example"):
            backends.get("broken")
        got = losses.mean_squared_error([[1.0, 2.0]], [[0.0, 0.0]])
        np.testing.assert_allclose(got, [2.5], rtol=1e-6)
        torch = pytest.importorskip("torch")
        value = losses.mean_squared_error(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]]))
        assert isinstance(value, torch.Tensor) and float(value[0]) == pytest.approx(2.5)


class Opaque:
    """An array-like type no adapter claims and with no Array API namespace."""

    shape, dtype = (2, 3), "float32"


def test_an_unsupported_array_type_names_itself_and_the_two_ways_to_add_support():
    with pytest.raises(TypeError) as error:
        losses.mean_squared_error(Opaque(), np.zeros((2, 3)))
    message = str(error.value)
    assert "`y_true`" in message or "`y_pred`" in message or "input" in message
    assert f"{Opaque.__module__}.Opaque" in message and "shape (2, 3)" in message and "float32" in message
    assert "entry-point group 'lossbridge.backends'" in message  # way 1: a plugin
    assert "__array_namespace__" in message  # way 2: Array API compliance
    assert "docs/adapters.md" in message
