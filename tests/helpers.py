"""Small helpers for tests: moving data between NumPy and a backend."""

from __future__ import annotations

import numpy as np


def to_backend(backend, array, dtype=None):
    """A NumPy array (or nested list) as a tensor of ``backend``."""
    array = np.asarray(array)
    return backend.convert_to_tensor(array, dtype=dtype)


def to_numpy(backend, tensor):
    """A backend tensor as a float64 NumPy array (for comparisons)."""
    out = backend.to_numpy(tensor)
    return np.asarray(out, dtype=np.float64) if out.dtype.kind in "fV" else out


def precision(backend, dtype):
    """A context in which ``backend`` keeps ``dtype``: jax drops float64 and
    int64 to 32 bits unless x64 is enabled, so open that scope there; elsewhere
    nothing."""
    import contextlib

    name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    if backend.name == "jax" and name in ("float64", "int64"):
        import jax

        return jax.enable_x64(True)
    return contextlib.nullcontext()
