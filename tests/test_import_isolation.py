"""``import lossbridge`` imports NumPy at most (ARCHITECTURE.md, "Layers, and
who may import what"): no framework is loaded until a tensor of it arrives or it is
selected by name. Each check runs in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("torch", "jax", "jaxlib", "tensorflow", "keras")


def frameworks_loaded_by(statements):
    """The frameworks in ``sys.modules`` after running ``statements`` in a
    fresh interpreter at the repository root."""
    code = f"import sys\n{statements}\nprint(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    env = {key: value for key, value in os.environ.items() if key != "LOSSBRIDGE_BACKEND"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


@pytest.mark.parametrize(
    "statements",
    [
        "import lossbridge",
        "import lossbridge.losses",
        "from lossbridge import K, losses, dispatch, backends",
        "import lossbridge.backends as b; b.installed(); b.registered(); b.plugins()",
        "import lossbridge; lossbridge.losses.get('mse'); lossbridge.get_backend()",
        "import lossbridge; lossbridge.use_backend('numpy').__enter__()",
    ],
)
def test_importing_loads_no_framework(statements):
    assert frameworks_loaded_by(statements) == "[]"


def test_selecting_a_backend_loads_only_its_framework():
    if "torch" not in __import__("lossbridge").backends.installed():
        pytest.skip("needs torch")
    loaded = frameworks_loaded_by("import lossbridge; lossbridge.backends.get('torch')")
    assert loaded == "['torch']"
