"""The backend registry: the four built-in adapters by name, and any installed
distribution that declares the entry-point group ``lossbridge.backends``.

Only this package imports a framework, and only when its adapter is loaded:
listing, naming or detecting backends imports nothing.
"""

from __future__ import annotations

import importlib
import importlib.util

from .base import Backend

ENTRY_POINT_GROUP = "lossbridge.backends"

#: name -> (adapter "module:Class", framework import name, pip extra)
BUILTIN = {
    "numpy": ("lossbridge.backends.numpy:NumpyBackend", "numpy", ""),
    "torch": ("lossbridge.backends.torch:TorchBackend", "torch", "torch"),
    "jax": ("lossbridge.backends.jax:JaxBackend", "jax", "jax"),
    "tensorflow": ("lossbridge.backends.tensorflow:TensorflowBackend", "tensorflow", "tensorflow"),
    "mlx": ("lossbridge.backends.mlx:MlxBackend", "mlx", "mlx"),
}
ALIASES = {"np": "numpy", "pytorch": "torch", "tf": "tensorflow"}

_loaded: dict[str, Backend] = {}
_plugins: dict[str, object] | None = None


def plugins() -> dict[str, object]:
    """Entry points of third-party backends, read once from installed metadata."""
    global _plugins
    if _plugins is None:
        # importlib.metadata costs ~20 ms to import: pay it only when asked
        from importlib.metadata import entry_points

        _plugins = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN}
    return _plugins


def registered() -> list[str]:
    """Every backend name lossbridge knows, installed or not."""
    return [*BUILTIN, *plugins()]


def installed() -> list[str]:
    """Backends whose framework can be imported here (checked without importing it)."""
    names = [name for name, (_, module, _) in BUILTIN.items() if importlib.util.find_spec(module) is not None]
    return names + list(plugins())


def get(name: str) -> Backend:
    """The adapter instance for ``name`` (imports its framework on first use)."""
    backend = _loaded.get(name)
    if backend is not None:
        return backend
    canonical = ALIASES.get(name, name) if isinstance(name, str) else name
    if canonical in _loaded:
        return _loaded[canonical]
    if canonical in BUILTIN:
        target, module, extra = BUILTIN[canonical]
        try:
            module_name, class_name = target.split(":")
            cls = getattr(importlib.import_module(module_name), class_name)
        except ModuleNotFoundError as error:
            if error.name is None or not error.name.startswith(module):
                raise
            raise ImportError(
                f"backend {canonical!r} needs {module}, which is not installed; "
                f"install it with: pip install 'lossbridge[{extra}]'"
            ) from error
    elif canonical in plugins():
        cls = plugins()[canonical].load()
    else:
        raise ValueError(
            f"unknown backend {name!r}; registered backends: {', '.join(registered())}; "
            f"installed here: {', '.join(installed())}"
        )
    backend = cls() if isinstance(cls, type) else cls
    _loaded[canonical] = _loaded[name] = backend
    return backend


def owner_of_module(root: str) -> str | None:
    """The backend that owns arrays whose type is defined in top-level module ``root``."""
    for name, roots in _TYPE_MODULES.items():
        if root in roots:
            return name
    for name in plugins():
        if root in getattr(get(name), "type_modules", ()):
            return name
    return None


# Read from this table rather than from the adapter classes: detection must
# not import an adapter (which imports its framework). Plugins declare theirs
# as ``type_modules`` on their Backend class.
_TYPE_MODULES = {
    "torch": ("torch",),
    "jax": ("jax", "jaxlib"),
    "tensorflow": ("tensorflow", "tf_keras"),
    "mlx": ("mlx",),
}

__all__ = ["Backend", "BUILTIN", "ENTRY_POINT_GROUP", "get", "installed", "owner_of_module", "plugins", "registered"]
