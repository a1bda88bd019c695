"""Shared helpers of the metric tests: Keras 3's metrics as the in-process
reference, and running a lossbridge metric eagerly or through its stateless
form under the backend's compiler.

Keras runs on TensorFlow (``KERAS_BACKEND`` is set before it is imported);
its numbers are float32, so comparisons with it use float32 tolerances.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "tensorflow"

#: agreement with Keras' float32 arithmetic (its state is float32, ours float64)
KERAS_TOL = {"rtol": 2e-5, "atol": 2e-6}
#: agreement with a float64 NumPy formula for float32 inputs
F64_TOL = {"rtol": 1e-5, "atol": 1e-6}


def keras_metrics():
    """``keras.metrics`` on the TensorFlow backend, or skip."""
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip(f"keras was imported with backend {keras.backend.backend()!r}, not tensorflow")
    return keras.metrics


def keras_value(make, batches):
    """Result of the Keras metric ``make(keras.metrics)`` after updating with
    each ``(inputs, sample_weight)`` of ``batches``, as float64 NumPy."""
    metric = make(keras_metrics())
    for inputs, weight in batches:
        metric.update_state(*inputs, sample_weight=weight)
    return np.asarray(metric.result(), dtype=np.float64)


def tensors(backend, arrays):
    """NumPy arrays (None kept) as tensors of ``backend``."""
    return [None if a is None else backend.convert_to_tensor(np.asarray(a)) for a in arrays]


def fed_value(backend, metric, *arrays, sample_weight=None):
    """``metric.result()`` after one ``update_state`` with ``arrays`` fed as
    tensors of ``backend`` (a sample weight positional last, as Keras takes
    it, or by keyword), as float64 NumPy."""
    *inputs, weight = tensors(backend, [*arrays, sample_weight])
    metric.update_state(*inputs, sample_weight=weight)
    return np.asarray(backend.to_numpy(metric.result()), np.float64)


def eager_value(backend, metric, batches):
    """``metric.result()`` after ``update_state`` with each batch, fed as tensors of ``backend``."""
    for inputs, weight in batches:
        *xs, w = tensors(backend, [*inputs, weight])
        metric.update_state(*xs, sample_weight=w)
    result = metric.result()
    assert backend.is_tensor(result) or backend.name == "numpy", type(result)
    return np.asarray(backend.to_numpy(result), dtype=np.float64)


def compiled_value(backend, metric, batches):
    """The same through ``stateless_update_state`` / ``stateless_result``
    compiled with ``backend.compile`` (jax.jit, tf.function, torch.compile)."""

    def step(state, inputs, weight):
        return metric.stateless_update_state(state, *inputs, sample_weight=weight)

    step = backend.compile(step)
    state = None
    for inputs, weight in batches:
        *xs, w = tensors(backend, [*inputs, weight])
        if state is None:
            state = metric.stateless_initial_state(xs[-1])
        state = step(state, tuple(xs), w)
    return np.asarray(backend.to_numpy(backend.compile(metric.stateless_result)(state)), dtype=np.float64)


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
