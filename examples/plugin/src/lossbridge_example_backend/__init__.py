"""An example lossbridge backend plugin.

``ExampleBackend`` is a :class:`lossbridge.backends.Backend`: here the NumPy
adapter's primitives, reused, with two composites overridden by a fused NumPy
call each. A plugin for a new array library writes every primitive of the
contract instead (one or two library calls each) and lists the top-level
module of its array type in ``type_modules`` so that its arrays select it
without a ``use_backend``; this one claims no type, so it runs only when
selected by name (``use_backend("example")``, ``LOSSBRIDGE_BACKEND=example``).
"""

from __future__ import annotations

import math

import numpy as np
from lossbridge.backends.numpy import NumpyBackend

__all__ = ["ExampleBackend"]


class ExampleBackend(NumpyBackend):
    name = "example"
    type_modules = ()  # claims no array type: selected by name only
    extra = ""

    def softplus(self, x):
        # the contract's default composes max, abs, exp and log1p; one fused call here
        x = self.ensure_float(x)
        return np.logaddexp(x, np.zeros((), x.dtype)).astype(x.dtype)

    def logsumexp(self, x, axis=None, keepdims=False):
        # np.logaddexp.reduce is exact at -inf and +-1e4 without the max shift
        x = self.ensure_float(x)
        dtype = x.dtype
        if dtype.itemsize < 4:  # half precision accumulates in float32 (the contract's rule)
            x = x.astype(np.float32)
        axes = tuple(range(x.ndim)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
        axes = tuple(a % x.ndim for a in axes)
        moved = np.moveaxis(x, axes, tuple(range(x.ndim - len(axes), x.ndim)))
        kept = moved.shape[: x.ndim - len(axes)]
        flat = moved.reshape(*kept, math.prod(moved.shape[len(kept) :]))  # not -1: a (0, 0) input has no size to infer
        out = np.logaddexp.reduce(flat, axis=-1) if flat.shape[-1] else np.full(flat.shape[:-1], -np.inf, x.dtype)
        if keepdims:
            out = np.expand_dims(out, axes)
        return np.asarray(out).astype(dtype)
