"""The backend registry: the built-in adapters by name, any installed
distribution that declares the entry-point group ``lossbridge.backends``, and
the generic Array API adapter, one per namespace (``"array_api:<namespace>"``).

Only this package imports a framework, and only when its adapter is loaded:
listing, naming or detecting backends imports nothing. ``array_api_compat``
is imported only when an array arrives that no adapter claims.

A plugin whose adapter fails to load is reported (a warning naming its
distribution, and an ImportError when it is asked for by name); the other
backends keep working.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings

from .base import Backend
from .notices import LossbridgeRuntimeWarning, LossbridgeWarning

ENTRY_POINT_GROUP = "lossbridge.backends"
#: names of the generic Array API adapter: this prefix and the namespace's module
ARRAY_API_PREFIX = "array_api:"

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
#: plugin name -> why its adapter could not be loaded (reported once, then skipped)
_broken: dict[str, str] = {}


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
    """Backends whose framework can be imported here (checked without importing
    it), and plugins not known to be broken. The generic Array API adapters
    are not listed: they serve whatever array arrives (see :func:`get`)."""
    names = [name for name, (_, module, _) in BUILTIN.items() if importlib.util.find_spec(module) is not None]
    return names + [name for name in plugins() if name not in _broken]


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
        backend = _load_plugin(canonical)
        _loaded[canonical] = _loaded[name] = backend
        return backend
    elif isinstance(canonical, str) and canonical.startswith(ARRAY_API_PREFIX):
        return _array_api_by_name(canonical)
    else:
        raise ValueError(
            f"unknown backend {name!r}; registered backends: {', '.join(registered())}; "
            f"installed here: {', '.join(installed())}; and '{ARRAY_API_PREFIX}<module>' for any Array API "
            f"library (e.g. '{ARRAY_API_PREFIX}array_api_strict', '{ARRAY_API_PREFIX}dask.array')"
        )
    backend = cls() if isinstance(cls, type) else cls
    _loaded[canonical] = _loaded[name] = backend
    return backend


def _load_plugin(name: str) -> Backend:
    """The adapter a plugin's entry point names, instantiated; an ImportError
    naming the plugin's distribution when that fails (remembered, so that
    detection skips it from then on)."""
    entry = plugins()[name]
    if name not in _broken:
        try:
            target = entry.load()
            return target() if isinstance(target, type) else target
        except Exception as error:  # noqa: BLE001 - a third party's import may fail in any way
            dist = getattr(entry, "dist", None)
            origin = f"distribution {dist.name} {dist.version}" if dist is not None else "an unknown distribution"
            _broken[name] = (
                f"the lossbridge backend plugin {name!r} ({entry.value}, from {origin}) failed to load: "
                f"{type(error).__name__}: {error}"
            )
            warnings.warn(_broken[name] + "; the other backends are unaffected", LossbridgeRuntimeWarning, stacklevel=3)
    raise ImportError(_broken[name])


def _array_api_by_name(name: str) -> Backend:
    """``"array_api:<module>"``: the generic adapter over the namespace that
    array-api-compat resolves for the arrays of ``<module>``."""
    module_name = name[len(ARRAY_API_PREFIX) :]
    if importlib.util.find_spec("array_api_compat") is None:
        raise ImportError(f"backend {name!r} needs array-api-compat: pip install 'lossbridge[array-api]'")
    from .array_api import adapter_for_module

    try:
        backend = adapter_for_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"backend {name!r} needs the module {module_name!r}, which cannot be imported: {error}"
        ) from error
    except ValueError as error:
        raise ValueError(f"backend {name!r}: {error}") from error
    if backend is None:
        raise ValueError(f"backend {name!r}: array-api-compat resolves no Array API namespace for {module_name!r}")
    _loaded[name] = backend
    return backend


def array_api_backend(x) -> Backend | None:
    """The generic Array API adapter for ``x``'s namespace, which
    ``array_api_compat.array_namespace`` resolves; None where it resolves
    none. Imports array-api-compat (ImportError naming the extra when it is
    missing and ``x`` looks like an Array API array)."""
    if importlib.util.find_spec("array_api_compat") is None:
        if hasattr(x, "__array_namespace__"):
            raise ImportError(
                f"{type(x).__module__}.{type(x).__qualname__} is an Array API array; running lossbridge on it "
                "needs array-api-compat: pip install 'lossbridge[array-api]'"
            )
        return None
    import array_api_compat

    try:
        namespace = array_api_compat.array_namespace(x)
    except TypeError:
        return None
    from .array_api import adapter_for

    backend = adapter_for(namespace)
    _loaded.setdefault(backend.name, backend)
    return backend


def owner_of_module(root: str) -> str | None:
    """The backend that owns arrays whose type is defined in top-level module ``root``."""
    for name, roots in _TYPE_MODULES.items():
        if root in roots:
            return name
    for name in plugins():
        if name in _broken:
            continue
        try:
            backend = get(name)
        except ImportError:  # reported by _load_plugin; the other backends keep working
            continue
        if root in getattr(backend, "type_modules", ()):
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

__all__ = [
    "ARRAY_API_PREFIX",
    "BUILTIN",
    "Backend",
    "ENTRY_POINT_GROUP",
    "LossbridgeRuntimeWarning",
    "LossbridgeWarning",
    "array_api_backend",
    "get",
    "installed",
    "owner_of_module",
    "plugins",
    "registered",
]
