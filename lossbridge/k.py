"""``K``: the one interface a loss is written against.

``K.mean(x)`` runs the active backend's ``mean``: inside a bridged call that is
the backend the inputs chose, elsewhere the forced backend or NumPy. The list
of operations is the adapter contract in ``lossbridge.backends.base``.
"""

from __future__ import annotations

from . import dispatch


class _Facade:
    __slots__ = ()

    def __getattr__(self, name):
        return getattr(dispatch._active.backend or dispatch.default_backend(), name)

    def __dir__(self):
        return [n for n in dir(dispatch.default_backend()) if not n.startswith("_")]

    def __repr__(self):
        return f"<lossbridge.K on {dispatch.active().name}>"


K = _Facade()
