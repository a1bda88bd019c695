"""The ``compile`` option of Loss and Metric objects (placeholder: eager).

``set_compile(mode)`` sets the process default; an object's own ``compile=``
argument wins. ``call(owner, backend, fn, *args)`` runs ``fn(*args)`` on
``backend``, compiled when the mode asks for it.
"""

from __future__ import annotations

_MODES = (False, True, "auto")
_default = False


def set_compile(mode) -> None:
    global _default
    if mode not in _MODES:
        raise ValueError(f"compile must be one of {_MODES}; received {mode!r}")
    _default = mode


def resolve(option):
    if option is not None and option not in _MODES:
        raise ValueError(f"compile must be one of {_MODES} or None; received {option!r}")
    return _default if option is None else option


def call(owner, backend, fn, *args):
    return fn(*args)
