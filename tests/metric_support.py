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
