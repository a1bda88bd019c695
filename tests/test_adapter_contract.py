"""The adapter contract (``lossbridge.backends.base.Backend``) is complete
and honoured: every built-in adapter implements every primitive, and the
library calls no backend operation the contract does not declare."""

from __future__ import annotations

import pathlib
import re

import pytest
from lossbridge.backends.base import Backend

from lossbridge import backends

PRIMITIVES = sorted(name for name, value in vars(Backend).items() if getattr(value, "is_primitive", False))
ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "lossbridge").rglob("*.py")) + sorted((ROOT / "backends").rglob("*.py"))
# K.op(...), backend.op(...), self._backend.op(...): the ways the library reaches an adapter
CALL = re.compile(r"\b(?:K|backend|self\._backend|other\._backend)\.([a-z_][a-z0-9_]*)\b")


def test_the_contract_declares_the_primitives_the_adapters_share():
    assert len(PRIMITIVES) >= 55
    for name in ("mean", "where", "take_along_axis", "segment_sum", "to_numpy", "from_dlpack"):
        assert name in PRIMITIVES


def test_a_primitive_of_the_base_raises_naming_itself():
    with pytest.raises(NotImplementedError, match="primitive mean"):
        Backend().mean(None)


@pytest.mark.parametrize("name", list(backends.BUILTIN))
def test_every_builtin_adapter_implements_every_primitive(name):
    if name not in backends.installed():
        pytest.skip(f"{name} is not installed")
    adapter = type(backends.get(name))
    missing = [op for op in PRIMITIVES if getattr(adapter, op) is getattr(Backend, op)]
    assert not missing, f"the {name} adapter lacks primitives {missing}"


def test_the_library_calls_only_operations_the_contract_declares():
    undeclared = {}
    for path in SOURCES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for name in CALL.findall(line):
                if not hasattr(Backend, name):
                    undeclared.setdefault(name, f"{path.relative_to(ROOT)}:{number}")
    assert not undeclared, f"backend operations used but not declared in Backend: {undeclared}"
