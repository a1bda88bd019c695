"""No import cycles between lossbridge's modules.

Every module under ``lossbridge/`` (and ``backends/``, shipped as
``lossbridge.backends``) is parsed with ``ast``; each ``import`` and
``from ... import`` naming a lossbridge module, at module level or inside a
function, is an edge. A cycle is a failure even when a function-local import
keeps it from breaking at import time: such a cycle is a layering knot, and
it is how the near-copies of the registry grew.

Edge rules, as Python resolves them: ``from .a import b`` is an edge to the
module ``a.b`` when ``b`` is a submodule, else to ``a``; importing a
submodule is not counted as importing its parent package (every submodule of
a package would otherwise close a cycle through the package's
``__init__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"lossbridge": ROOT / "lossbridge", "lossbridge.backends": ROOT / "backends"}


def module_files():
    """``{module name: path}`` of every Python file in the package trees."""
    found = {}
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _package_of(module, path):
    """The package a relative import in ``module`` starts from."""
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imported_modules(module, path, known):
    """The lossbridge modules ``module`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(module, path)
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in known else source)
    return {target for target in targets if target in known and target != module}


def import_graph():
    files = module_files()
    return {module: imported_modules(module, path, files) for module, path in files.items()}


def find_cycles(graph):
    """One cycle per strongly connected component with more than one module
    (Tarjan's algorithm), each as a closed path ``[a, b, ..., a]``."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_within(graph, component) for component in components]


def _path_within(graph, component):
    """A shortest cycle through the first module of ``component``."""
    start = min(component)
    paths, frontier = {start: [start]}, [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


# ---------------------------------------------------------------- the rule
def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles between lossbridge modules:\n" + "\n".join(" -> ".join(c) for c in cycles)


# ---------------------------------------------------------------- the checker itself
def test_the_graph_sees_module_level_and_function_local_imports(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text(
        "from . import sibling\n"
        "from .pkg import sub, name_in_pkg\n"
        "import lossbridge.top\n"
        "import numpy\n"
        "def later():\n"
        "    from ..up import thing\n"
        "    return thing\n"
    )
    known = {"lb.a.mod", "lb.a.sibling", "lb.a.pkg", "lb.a.pkg.sub", "lb.up", "lossbridge.top"}
    found = imported_modules("lb.a.mod", source, known)
    assert found == {"lb.a.sibling", "lb.a.pkg", "lb.a.pkg.sub", "lb.up", "lossbridge.top"}


def test_the_real_tree_is_parsed():
    graph = import_graph()
    assert "lossbridge.dispatch" in graph["lossbridge.k"]
    assert "lossbridge.losses" in graph["lossbridge"]  # `from .losses import register_loss`
    assert "lossbridge.backends.base" in graph["lossbridge.backends.numpy"]


def test_a_cycle_is_found_and_printed_as_a_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
