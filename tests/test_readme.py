"""Every ```python block of README.md runs on its own, as a user copies it:
each in a fresh interpreter, from a directory outside the checkout (with the
checkout on the path). A block followed by a ```text block that starts with
an exception (``AssertionError: ...``) is expected to raise it, with that
first line. A block is skipped only where a framework it imports is missing.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow(seconds=35)  # spawns processes: scheduled early (conftest.py)

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
RAISED = re.compile(r"^(\w+(?:Error|Exception)): (.*)$", re.MULTILINE)


def python_blocks():
    """``(number, code, expected first line of an exception or None)`` per python block."""
    fences = [(m.group(1), m.group(2), m.end()) for m in FENCE.finditer(README.read_text(encoding="utf-8"))]
    out = []
    for i, (language, code, end) in enumerate(fences):
        if language != "python":
            continue
        follower = fences[i + 1] if i + 1 < len(fences) else None
        raised = None
        if follower and follower[0] == "text" and README.read_text(encoding="utf-8").find("```text", end) == end:
            match = RAISED.match(follower[1])
            raised = match.group(0) if match else None
        out.append((len(out) + 1, code, raised))
    return out


BLOCKS = python_blocks()


def _missing_imports(code):
    """Top-level modules the block imports that are not installed here."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return sorted(name for name in names if importlib.util.find_spec(name) is None)


def test_the_readme_has_its_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("number, code, raised", BLOCKS, ids=[f"block{n}" for n, _, _ in BLOCKS])
def test_readme_block_runs_on_its_own(number, code, raised, tmp_path):
    missing = _missing_imports(code)
    if missing:
        pytest.skip(f"README block {number} imports {', '.join(missing)}, not installed here")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    if raised is None:
        assert done.returncode == 0, f"README block {number} failed:\n{code}\n{done.stderr[-3000:]}"
        return
    assert done.returncode != 0, f"README block {number} should raise {raised!r}"
    last = [line for line in done.stderr.splitlines() if line.strip()]
    error_line = next((line for line in last if line.startswith(raised.split(":", 1)[0] + ":")), "")
    # "k of n comparisons" counts the installed backends (MLX is optional): compare the words
    counted = re.compile(r"\b\d+ of \d+ comparisons")
    assert counted.sub("N of N comparisons", error_line) == counted.sub("N of N comparisons", raised), (
        f"README block {number} raised\n{done.stderr[-3000:]}"
    )
