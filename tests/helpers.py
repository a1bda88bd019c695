"""Small helpers for tests: moving data between NumPy and a backend, the
tensor class a backend returns, and which backend combinations a test exists
for."""

from __future__ import annotations

import numpy as np
import pytest


def to_backend(backend, array, dtype=None):
    """A NumPy array (or nested list) as a tensor of ``backend``."""
    array = np.asarray(array)
    return backend.convert_to_tensor(array, dtype=dtype)


def to_numpy(backend, tensor):
    """A backend tensor as a float64 NumPy array (for comparisons)."""
    out = backend.to_numpy(tensor)
    return np.asarray(out, dtype=np.float64) if out.dtype.kind in "fV" else out


def native_type(backend):
    """The tensor class a result on ``backend`` must have."""
    if backend.name == "torch":
        import torch

        return torch.Tensor
    if backend.name == "jax":
        import jax

        return jax.Array
    if backend.name == "mlx":
        import mlx.core as mx

        return mx.array
    if backend.name == "tensorflow":
        import tensorflow as tf

        return tf.Tensor
    return np.ndarray  # 0-d for a scalar: no np.float32 scalars (README, "What you get back")


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


# ------------------------------------------------ which combinations exist (conftest.py: exists_if)
#: backends whose adapter has gradients (value_and_grad) and a compiler
AUTOGRAD = COMPILERS = frozenset({"torch", "jax", "tensorflow", "mlx"})


def on(*names):
    """``@on("torch")``: the test exists on these backends only."""
    return pytest.mark.exists_if(lambda params: params["backend"] in names)


def not_on(*names):
    """``@not_on("torch")``: the test exists on every backend but these."""
    return pytest.mark.exists_if(lambda params: params["backend"] not in names)


#: the test exists where the backend has autograd / a compiler
with_autograd = on(*sorted(AUTOGRAD))
with_compiler = on(*sorted(COMPILERS))
#: the test exists on every backend but NumPy (a strong framework, replicas, ...)
beyond_numpy = not_on("numpy")


def holds_float64(name):
    """Whether backend ``name`` holds float64 tensors as they are (JAX only
    with ``jax_enable_x64``, which this run does not turn on)."""
    from lossbridge import backends

    return backends.get(name).accumulator_dtype == "float64"


#: a ``compiled`` parameter runs eagerly only on torch: torch.compile's cold
#: start costs seconds on CPU, and the compile-option tests cover it
eager_only_on_torch = pytest.mark.exists_if(lambda params: not (params["compiled"] and params["backend"] == "torch"))


def patch_module_global(monkeypatch, module, name, value, backend):
    """``monkeypatch.setattr(module, name, value)`` where ``module``'s
    functions run on ``backend`` too: ``lossbridge.k.bind`` runs them against
    a copy of the module's globals per backend, which a patch of the module
    alone does not reach. The copy is made first, so that the patch is undone
    in it as well."""
    import types

    from lossbridge import k

    source = vars(module)
    function = next(v for v in source.values() if isinstance(v, types.FunctionType) and v.__globals__ is source)
    k.bind(function, backend)
    monkeypatch.setattr(module, name, value)
    for (source_id, _), namespace in k._namespaces.items():
        if source_id == id(source):
            monkeypatch.setitem(namespace, name, value)


# ---------------------------------------------------------------- class ids of every dtype and value
#: every dtype a sparse class id arrives in
ID_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64")


def out_of_range_ids(classes):
    """Ids outside ``[0, classes)`` in every way one can be: negative, a void
    255, past int32 and uint32 (where a narrowing cast wraps 2**32 + 1 to 1)."""
    return (-(2**40), -(2**31) - 1, -(2**31), -3, -1, classes, 255, 2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**33 + 2)


def id_arrays(size, classes):
    """Hypothesis strategy: a NumPy array of ``size`` class ids in a drawn
    dtype of ``ID_DTYPES``, each in range or out of it as that dtype allows."""
    from hypothesis import strategies as st

    @st.composite
    def draw_ids(draw):
        dtype = draw(st.sampled_from(ID_DTYPES))
        limits = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
        edges = [v for v in out_of_range_ids(classes) if limits is None or limits.min <= v <= limits.max]
        ids = st.one_of(st.integers(0, classes - 1), st.sampled_from(edges))
        return np.array(draw(st.lists(ids, min_size=size, max_size=size)), dtype)

    return draw_ids()


def jax_would_wrap(backend, array):
    """Whether ``array`` is a 64-bit integer NumPy array with values beyond
    32 bits and ``backend`` is JAX without x64 (which refuses it)."""
    if backend.name != "jax" or backend.accumulator_dtype == "float64" or array.dtype.itemsize != 8:
        return False
    if array.dtype.kind not in "iu" or not array.size:
        return False
    narrow = np.iinfo(np.int32 if array.dtype.kind == "i" else np.uint32)
    return bool(array.min() < narrow.min or array.max() > narrow.max)
