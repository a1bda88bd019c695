"""A metric's life: after ``reset_state`` every catalogue metric reads what a
fresh one reads (the documented empty value, 0) and then counts like a fresh
one; inside ``jax.jit``, ``tf.function``, ``torch.compile`` or a bare
``mx.compile`` the stateful update raises, names the stateless API, and
leaves the state as it was."""

from __future__ import annotations

import numpy as np
import pytest

from lossbridge import metrics
from lossbridge.testing.cases import random_example
from tests.helpers import to_numpy
from tests.test_metrics_pickle import CLASS_CASES, catalogue_batch


@pytest.mark.parametrize(("cls", "case"), CLASS_CASES)
def test_reset_reads_the_empty_value_then_counts_afresh(backend, cls, case):
    metric = cls(**case.options)
    metric.update_state(*catalogue_batch(backend, case, 1))
    metric.reset_state()
    after_reset = metric.result()
    assert backend.is_tensor(after_reset) or backend.name == "numpy"  # the framework of the data seen last
    empty = np.asarray(cls(**case.options).result())
    np.testing.assert_array_equal(to_numpy(backend, after_reset), empty)
    np.testing.assert_array_equal(empty, np.zeros(empty.shape))  # "0 before any update", as in Keras

    batch = catalogue_batch(backend, case, 2)
    metric.update_state(*batch)
    fresh = cls(**case.options)
    fresh.update_state(*batch)
    np.testing.assert_allclose(to_numpy(backend, metric.result()), to_numpy(backend, fresh.result()), rtol=1e-6)


def test_f1_score_resets_to_another_number_of_classes(backend):
    """The issue: update, reset, result raised a shape error; a new class
    count after a reset is a new start."""
    metric = metrics.F1Score(threshold=0.5)
    metric.update_state(*catalogue_batch(backend, CLASS_CASES_BY_NAME["f1_score"], 1))  # 4 classes
    metric.reset_state()
    assert float(to_numpy(backend, metric.result())) == 0.0
    y_true = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], np.float32)
    y_pred = np.array([[0.9, 0.2], [0.6, 0.7], [0.3, 0.1]], np.float32)
    metric.update_state(backend.convert_to_tensor(y_true), backend.convert_to_tensor(y_pred))
    # by hand: class 0 tp=1 fp=1 fn=1 -> F1 1/2; class 1 tp=1 fp=0 fn=0 -> F1 1
    np.testing.assert_allclose(to_numpy(backend, metric.result()), [0.5, 1.0], rtol=1e-6)


CLASS_CASES_BY_NAME = {param.values[1].name: param.values[1] for param in CLASS_CASES}


# ---------------------------------------------------------------- under a compiler
def _jax_jit(update):
    jax = pytest.importorskip("jax")
    return jax.jit(lambda *inputs: update(*inputs) or 0), "jax"


def _tf_function(update):
    tf = pytest.importorskip("tensorflow")
    return tf.function(lambda *inputs: update(*inputs) or 0, autograph=False), "tensorflow"


def _mx_compile(update):
    # mx.compile tells the traced function nothing: the refusal has to come from the state MLX cannot compute
    mx = pytest.importorskip("mlx.core")
    return mx.compile(lambda *inputs: update(*inputs) or mx.array(0)), "mlx"


COMPILERS = {"jax.jit": _jax_jit, "tf.function": _tf_function, "mx.compile": _mx_compile}
TRACED = ["mean", "sum", "auc", "mean_io_u", "f1_score", "accuracy", "mean_squared_error", "r2_score"]


@pytest.mark.parametrize("name", TRACED)
@pytest.mark.parametrize("compiler", list(COMPILERS))
def test_stateful_update_under_a_compiler_raises_and_keeps_the_state(compiler, name):
    case = CLASS_CASES_BY_NAME[name]
    cls = next(param.values[0] for param in CLASS_CASES if param.values[1] is case)
    metric = cls(**case.options)
    compiled, backend_name = COMPILERS[compiler](metric.update_state)
    from lossbridge import backends

    backend = backends.get(backend_name)
    metric.update_state(*catalogue_batch(backend, case, 1))
    before = {key: to_numpy(backend, value) for key, value in metric.state.items()}
    result_before = to_numpy(backend, metric.result())

    with pytest.raises(RuntimeError, match="stateless_update_state") as info:
        compiled(*catalogue_batch(backend, case, 2))
    assert "stateless_result" in str(info.value) and f"{cls.__name__}.update_state" in str(info.value)

    after = metric.state
    assert set(after) == set(before)
    for key, value in after.items():
        assert backend.is_concrete(value), key
        np.testing.assert_array_equal(to_numpy(backend, value), before[key], err_msg=key)
    np.testing.assert_array_equal(to_numpy(backend, metric.result()), result_before)
    # still usable eagerly: one more batch counts as on a fresh copy of the old state
    metric.update_state(*catalogue_batch(backend, case, 2))


@pytest.mark.parametrize("compiler", list(COMPILERS))
def test_first_update_under_a_compiler_leaves_the_metric_empty(compiler):
    metric = metrics.Mean()
    compiled, backend_name = COMPILERS[compiler](metric.update_state)
    from lossbridge import backends

    backend = backends.get(backend_name)
    values = random_example("values", np.random.default_rng(0))[0].astype(np.float32)
    with pytest.raises(RuntimeError, match="stateless_update_state"):
        compiled(backend.convert_to_tensor(values))
    assert metric.state is None
    assert float(np.asarray(metric.result())) == 0.0


def test_jax_jit_with_concrete_inputs_closed_over_raises_too():
    """Inputs that are not tracers still give a traced state inside jax.jit."""
    jax = pytest.importorskip("jax")
    from lossbridge import backends

    backend = backends.get("jax")
    metric = metrics.Mean()
    metric.update_state(backend.convert_to_tensor(np.array([1.0, 3.0], np.float32)))
    closed_over = backend.convert_to_tensor(np.array([10.0], np.float32))
    with pytest.raises(RuntimeError, match="stateless_update_state"):
        jax.jit(lambda: metric.update_state(closed_over) or 0)()
    assert float(to_numpy(backend, metric.result())) == 2.0
    metric.update_state(closed_over)
    assert float(to_numpy(backend, metric.result())) == pytest.approx(14.0 / 3.0, rel=1e-7)


def test_stateful_update_under_torch_compile_raises_and_keeps_the_state():
    torch = pytest.importorskip("torch")
    metric = metrics.Mean()
    metric.update_state(torch.tensor([1.0, 3.0]))
    compiled = torch.compile(lambda x: metric.update_state(x) or x.sum())
    with pytest.raises(RuntimeError, match="stateless_update_state"):
        compiled(torch.tensor([10.0, 20.0]))
    assert float(metric.result()) == 2.0
    assert float(metric.state["total"]) == 4.0
