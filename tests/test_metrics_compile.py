"""The ``compile`` option of metrics: the stateful API running one compiled
update per batch (``jax.jit``, ``torch.compile``, ``tf.function``,
``mx.compile``), the state an input and an output of the compiled function.

For every metric class of the catalogue, on every backend with a compiler:
three updates of one shape trace once, really compile (no fallback to
eager, whose warning is an error in the test run), and give the result of
the float64 NumPy reference (the metric on NumPy in float64, as the parity
suite takes it). On torch the counting compiler is dynamo with its eager
backend: it still fails on a graph break or a recompile, in milliseconds
rather than inductor's seconds.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from lossbridge.backends.base import Backend

from lossbridge import compiling, metrics
from lossbridge.testing import cases, catalogue
from tests.helpers import to_backend, to_numpy, with_compiler

F32 = {"rtol": 1e-5, "atol": 1e-6}

METRIC_CASES = [
    pytest.param(entry.obj, case, id=case.id)
    for entry in catalogue.metrics()
    if isinstance(entry.obj, type)
    for case in entry.cases
]


@pytest.fixture
def traces(backend, monkeypatch):
    """Counts traces: the backend's compile hook wraps the function in a
    counter (jax, TF and MLX run Python only while tracing); on torch,
    dynamo hands its graphs to a counting backend instead (torch replays
    Python side effects, so a counter in the function would count calls)."""
    seen = []
    original = type(backend).compile
    if original is Backend.compile:
        return seen

    def counting_compile(self, fn):
        if self.name == "torch":
            import torch

            def count(graph_module, example_inputs):
                seen.append(graph_module)
                return graph_module.forward

            return torch.compile(fn, backend=count)

        def counted(*args):
            seen.append(1)
            return fn(*args)

        return original(self, counted)

    monkeypatch.setattr(type(backend), "compile", counting_compile)
    if backend.name == "torch":
        import torch

        torch._dynamo.reset()
    return seen


def _batches(kind, seed=0, rows=8):
    rng = np.random.default_rng(seed)
    return [cases.random_example(kind, rng, rows) for _ in range(3)]


def _on(backend, arrays, dtype=np.float32):
    return [to_backend(backend, a if a.dtype.kind in "iub" else a.astype(dtype)) for a in arrays]


@with_compiler
@pytest.mark.parametrize("cls, case", METRIC_CASES)
def test_every_metric_compiles_once_and_matches_the_reference(backend, traces, cls, case):
    batches = _batches(case.kind)
    metric = cls(**case.options)
    metric.compile = True
    for batch in batches:
        metric.update_state(*_on(backend, batch))
    compiled = compiling.compiled_function(metric, backend, metric._compiled_update)
    assert compiled is not None and compiled != metric._compiled_update, "the update did not compile"
    assert len(traces) == 1, f"{case.id} on {backend.name}: {len(traces)} traces for one input shape"

    reference = cls(**case.options)
    for batch in batches:
        reference.update_state(
            *(a if a.dtype.kind in "iub" else a.astype(np.float32).astype(np.float64) for a in batch)
        )
    expected = np.asarray(reference.result(), np.float64)
    np.testing.assert_allclose(np.asarray(to_numpy(backend, metric.result()), np.float64), expected, **F32)


@with_compiler
def test_a_new_shape_traces_again_and_reset_keeps_the_compiled_update(backend, traces):
    metric = metrics.MeanSquaredError()
    metric.compile = True
    values = []
    for rows in (4, 4, 6, 6):
        batch = _batches("regression", seed=rows, rows=rows)[0]
        metric.update_state(*_on(backend, batch))
        values.append(batch)
    assert len(traces) == 2, f"{len(traces)} traces for two shapes"
    metric.reset_state()
    metric.update_state(*_on(backend, values[0]))
    assert len(traces) == 2, "reset_state dropped the compiled update"
    y_true, y_pred = (np.asarray(a, np.float32).astype(np.float64) for a in values[0])
    np.testing.assert_allclose(to_numpy(backend, metric.result()), np.mean((y_true - y_pred) ** 2), **F32)


@with_compiler
def test_weights_follow_the_compiled_update(backend, traces):
    y_true = np.array([[0.0, 1.0], [1.0, 1.0], [0.5, 0.0]], np.float32)
    y_pred = np.array([[0.5, 1.0], [0.0, 1.0], [0.5, 2.0]], np.float32)
    weight = np.array([1.0, 0.0, 3.0], np.float32)
    metric = metrics.MeanAbsoluteError()
    metric.compile = True
    for _ in range(3):
        metric.update_state(*_on(backend, (y_true, y_pred)), sample_weight=to_backend(backend, weight))
    # per sample: 0.25, 0.5, 1.0; weighted mean (0.25 * 1 + 1.0 * 3) / 4
    np.testing.assert_allclose(to_numpy(backend, metric.result()), 3.25 / 4, **F32)
    assert len(traces) == 1


def test_the_mode_is_checked_when_set():
    metric = metrics.AUC()
    with pytest.raises(ValueError, match=r"compile must be one of \(False, True, 'auto'\) or None; received 'fast'"):
        metric.compile = "fast"
    assert metric.compile is None  # unchanged: follows the process default


def test_numpy_has_no_compiler_and_runs_eagerly():
    metric = metrics.Mean()
    metric.compile = True
    metric.update_state(np.array([1.0, 2.0, 6.0]))
    assert float(metric.result()) == 3.0
    assert compiling.compiled_function(metric, metric._backend, metric._compiled_update) is None


@with_compiler
def test_the_process_default_and_auto(backend, traces, monkeypatch):
    monkeypatch.setattr(compiling, "_default", True)
    metric = metrics.Mean()  # compile=None follows the default
    for _ in range(3):
        metric.update_state(to_backend(backend, np.array([1.0, 2.0, 6.0], np.float32)))
    assert float(to_numpy(backend, metric.result())) == pytest.approx(3.0, rel=1e-6)
    assert compiling.compiled_function(metric, backend, metric._compiled_update) is not None
    # "auto", as measured by benchmarks.compile_sweep: running sums (Mean) stay eager; an AUC compiles at
    # any size on JAX, torch and TF; MLX has no measured rule and stays eager
    made = {}
    for cls in (metrics.Mean, metrics.AUC):
        metric = cls()
        metric.compile = "auto"
        for _ in range(3):
            metric.update_state(
                *[to_backend(backend, np.array([0.0, 1.0, 1.0], np.float32))] * (2 if cls is metrics.AUC else 1)
            )
        made[cls.__name__] = compiling.compiled_function(metric, backend, metric._compiled_update) is not None
    assert made == {
        "Mean": False,
        "AUC": backend.name in ("jax", "torch", "tensorflow"),
    }


@with_compiler
def test_auto_compiles_the_mean_of_a_per_sample_function_from_its_measured_size(backend, traces):
    """A MeanMetricWrapper (here CategoricalAccuracy) stays eager below the
    size from which benchmarks.compile_sweep measured compiling to pay and
    compiles from there (MLX: no rule, never), with the value of the argmax
    comparison either way."""
    threshold = {"jax": 1 << 10, "torch": 1 << 18, "tensorflow": 1 << 20}.get(backend.name)
    rng = np.random.default_rng(7)
    for rows in [4] + ([threshold // 8] if threshold else []):
        labels = np.eye(8, dtype=np.float32)[rng.integers(0, 8, rows)]
        scores = rng.integers(0, 4, (rows, 8)).astype(np.float32)  # ties: the first index wins
        metric = metrics.CategoricalAccuracy()
        metric.compile = "auto"
        for _ in range(2):  # torch compiles at the second update (compiling.WARM_UP_EAGERLY)
            metric.update_state(to_backend(backend, labels), to_backend(backend, scores))
        compiled = compiling.compiled_function(metric, backend, metric._compiled_update) is not None
        assert compiled == (threshold is not None and rows * 8 >= threshold)
        expected = np.mean(labels.argmax(-1) == scores.argmax(-1))
        assert float(to_numpy(backend, metric.result())) == pytest.approx(expected, rel=1e-6)


@with_compiler
def test_a_compiled_metric_pickles_and_copies_without_its_compiled_update(backend, traces):
    metric = metrics.Mean()
    metric.compile = True
    for _ in range(2):
        metric.update_state(to_backend(backend, np.array([1.0, 3.0], np.float32)))
    for twin in (pickle.loads(pickle.dumps(metric)), copy.deepcopy(metric), copy.copy(metric)):
        assert twin.compile is True
        assert compiling.compiled_function(twin, backend, twin._compiled_update) is None
        twin.update_state(to_backend(backend, np.array([5.0, 7.0], np.float32)))
        assert float(to_numpy(backend, twin.result())) == pytest.approx(
            20.0 / 6.0, rel=1e-6
        )  # (1 + 3) * 2 + 5 + 7 over 6
    assert float(to_numpy(backend, metric.result())) == pytest.approx(2.0, rel=1e-6)
