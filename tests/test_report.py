"""``python -m lossbridge report``, run as a user runs it: in subprocesses.

Expected numbers come from float64 NumPy formulas written here, on the same
seeded example the report uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lossbridge.testing import cases

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
ENV.pop("FORCE_COLOR", None)


def lossbridge(*args, code=None, env=None, timeout=300):
    """Run ``python -m lossbridge ARGS`` (or ``python -c CODE``) from the repository root."""
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "lossbridge", *args]
    return subprocess.run(command, cwd=ROOT, env=env or ENV, capture_output=True, text=True, timeout=timeout)


def test_default_table_covers_every_backend_and_entry():
    from lossbridge import backends

    done = lossbridge()
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("lossbridge ") and "float64 NumPy reference" in lines[0]
    for name in backends.installed():
        assert f"{name}:cpu:0" in lines[1]
    assert any(line.split()[:2] == ["loss", "mean_squared_error"] for line in lines)
    assert any(line.split()[:2] == ["metric", "mean"] for line in lines)
    assert "all within tolerance (float32: rtol 1e-05, atol 1e-06)" in lines[-1]


def test_json_holds_the_table_and_the_reference_values(tmp_path):
    path = tmp_path / "report.json"
    done = lossbridge("report", "--backend", "numpy,torch", "--filter", "squared_error", "--json", str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(path.read_text())
    assert report["dtype"] == "float32" and report["reference"] == "numpy float64"
    assert report["columns"] == ["numpy:cpu:0", "torch:cpu:0"]
    assert report["summary"]["out_of_tolerance"] == 0
    y_true, y_pred = cases.random_example("regression", np.random.default_rng(0))
    y_true, y_pred = (x.astype(np.float32).astype(np.float64) for x in (y_true, y_pred))
    expected = {
        "mean_squared_error": np.mean((y_true - y_pred) ** 2),
        "root_mean_squared_error": np.sqrt(np.mean((y_true - y_pred) ** 2)),
    }
    rows = {(row["family"], row["case"]): row for row in report["rows"]}
    assert rows[("loss", "mean_squared_error")]["reference"] == pytest.approx(expected["mean_squared_error"], rel=1e-12)
    metric = rows[("metric", "root_mean_squared_error")]
    assert metric["reference"] == pytest.approx(expected["root_mean_squared_error"], rel=1e-12)
    for column in report["columns"]:
        cell = metric["cells"][column]
        assert cell["within_tolerance"] and cell["value"] == pytest.approx(
            expected["root_mean_squared_error"], rel=1e-6
        )
        assert 0 <= cell["max_abs_dev"] <= 1e-5


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "heatmap.png"
    done = lossbridge("--backend", "numpy", "--filter", "hinge", "--plot", str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_an_unknown_backend_is_a_usage_error():
    done = lossbridge("--backend", "mxnet")
    assert done.returncode == 2
    assert "unknown backend 'mxnet'" in done.stderr and "registered backends: numpy" in done.stderr
    assert done.stdout == ""


def test_a_missing_device_is_skipped_gracefully():
    from lossbridge import backends

    if any(d != "cpu:0" for d in backends.get("torch").devices()):
        pytest.skip("this machine has a GPU")
    done = lossbridge("--backend", "torch", "--device", "cuda")
    assert done.returncode == 0
    assert "skipped torch: no cuda device here" in done.stderr and "nothing to report" in done.stderr


def test_a_deviation_beyond_tolerance_exits_nonzero():
    code = (
        "import sys, lossbridge\n"
        "from lossbridge import K\n"
        "from lossbridge.testing import cases\n"
        "@lossbridge.register_loss('broken_on_jax')\n"
        "def broken_on_jax(y_true, y_pred):\n"
        "    value = K.mean(K.square(y_true - y_pred), axis=-1)\n"
        "    return value * 1.01 if K.name == 'jax' else value\n"
        "cases.KNOWN['broken_on_jax'] = cases._cases('broken_on_jax', 'regression')\n"
        "from lossbridge.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    done = lossbridge("--backend", "numpy,jax", "--filter", "broken_on_jax", "--no-metrics", code=code)
    assert done.returncode == 1, done.stderr[-2000:]
    row = next(line for line in done.stdout.splitlines() if "broken_on_jax" in line)
    assert row.split()[-1] == "!" and "1 OUT OF TOLERANCE" in done.stdout


def test_plain_text_without_rich_and_colour_with_it():
    code = (
        "import sys; sys.modules['rich'] = None\nfrom lossbridge.cli import main\nraise SystemExit(main(sys.argv[1:]))"
    )
    plain = lossbridge("--backend", "numpy", "--filter", "poisson", code=code)
    assert plain.returncode == 0 and "\x1b[" not in plain.stdout and "poisson" in plain.stdout
    coloured = lossbridge("--backend", "numpy", "--filter", "poisson", env={**ENV, "FORCE_COLOR": "1"})
    assert coloured.returncode == 0 and "\x1b[" in coloured.stdout and "poisson" in coloured.stdout


def test_help_and_import_stay_light():
    done = lossbridge("--help")
    assert done.returncode == 0 and "report" in done.stdout
    code = "import sys, lossbridge; bad = {'lossbridge.report', 'lossbridge.cli', 'rich', 'matplotlib'} & set(sys.modules); assert not bad, bad"
    assert lossbridge(code=code).returncode == 0


def test_device_hooks(backend):
    """The adapter hooks the report places inputs with: the CPU comes first
    and a tensor moved there keeps its values."""
    found = backend.devices()
    assert found[0] == "cpu:0" and all(":" in name for name in found)
    moved = backend.to_device(backend.convert_to_tensor(np.array([1.5, -2.0], np.float32)), "cpu:0")
    assert backend.to_numpy(moved).tolist() == [1.5, -2.0]
    assert "cpu" in backend.device(moved).lower()
