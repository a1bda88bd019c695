"""The parity kit catches real bugs and passes correct functions.

Each deliberately broken function below goes wrong in one way a real loss
does (one backend computing something else, precision lost in float16, a
gradient cut on one backend) and must fail ``assert_parity`` with the table;
the correct ones must pass. Expected gradients in the finite-difference tests
are hand-derived formulas.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings

import lossbridge
from lossbridge import K, metrics
from lossbridge.losses import binary_crossentropy, cosine_similarity, hinge, mean_squared_error
from lossbridge.testing import (
    GRAD_TOLERANCES,
    VALUE_TOLERANCES,
    assert_parity,
    check_parity,
    reference,
    tolerance_for,
)
from lossbridge.testing import strategies as lbst
from lossbridge.testing.cases import cases_for
from tests.helpers import beyond_numpy, not_on, on

pytest_plugins = ["pytester"]

RNG = np.random.default_rng(7)
Y_TRUE, Y_PRED = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- functions under test
def smooth_l1(y_true, y_pred):
    """A correct user loss written against K: Huber with delta 1."""
    error = K.abs(y_true - y_pred)
    return K.mean(K.where(error < 1.0, 0.5 * K.square(error), error - 0.5), axis=-1)


def offset_on_jax(y_true, y_pred):
    """Wrong on one backend: adds 1e-3 on jax only."""
    value = K.mean(K.square(y_true - y_pred), axis=-1)
    return value + 1e-3 if K.name == "jax" else value


def offset_in_torch_bfloat16(y_true, y_pred):
    """Wrong in one dtype on one backend: adds 0.25 to torch's bfloat16 values
    (well above bfloat16's tolerance; 1e-3 would vanish below its 8 bits)."""
    value = K.mean(K.square(y_true - y_pred), axis=-1)
    return value + 0.25 if K.name == "torch" and K.dtype(value) == "bfloat16" else value


def naive_softplus_loss(y_true, y_pred):
    """Loses precision in float16: log(1 + exp(x)) overflows for x > 11."""
    return K.mean(K.log(1.0 + K.exp(y_pred)) - y_true * y_pred, axis=-1)


def stable_softplus_loss(y_true, y_pred):
    """The same loss, stable: softplus(x) - y x."""
    return K.mean(K.softplus(y_pred) - y_true * y_pred, axis=-1)


def cut_gradient_on_tensorflow(y_true, y_pred):
    """Right values, wrong gradient on one backend: stop_gradient on tensorflow."""
    error = y_true - y_pred
    if K.name == "tensorflow":
        error = K.stop_gradient(error)
    return K.mean(K.square(error), axis=-1)


def labels_must_stay_int(y_true, y_pred):
    """Raises unless the labels arrive as int32, as the caller passed them."""
    if K.dtype(y_true) != "int32":
        raise TypeError(f"labels arrived as {K.dtype(y_true)}")
    return -K.squeeze(K.take_along_axis(K.log_softmax(y_pred), K.expand_dims(y_true, -1), -1), -1)


# ---------------------------------------------------------------- correct functions pass
def test_a_lossbridge_loss_passes(backend):
    result = assert_parity(mean_squared_error, Y_TRUE, Y_PRED, backends=[backend.name], compiled=False)
    assert result.ok and {row.backend for row in result.rows} == {backend.name}


def test_a_user_function_against_k_passes_in_every_dtype(backend):
    result = assert_parity(
        smooth_l1, Y_TRUE, Y_PRED, backends=[backend.name], compiled=False, dtypes=("float32", "float16", "bfloat16")
    )
    assert {row.dtype for row in result.rows} == {"float32", "float16", "bfloat16"}
    quantities = {row.quantity for row in result.rows}
    assert quantities == ({"value"} if backend.name == "numpy" else {"value", "grad"})


@not_on("torch")  # torch.compile is covered once, in test_torch_compile_runs (seconds per compile)
def test_compiled_runs_pass_and_are_reported(backend):
    result = assert_parity(stable_softplus_loss, (Y_TRUE > 0).astype(float), 5 * Y_PRED, backends=[backend.name])
    modes = {row.mode for row in result.rows}
    assert modes == ({"eager"} if backend.name == "numpy" else {"eager", "compiled"})


@on("torch")  # torch only
def test_torch_compile_runs(backend):
    result = assert_parity(mean_squared_error, Y_TRUE[:2], Y_PRED[:2], backends=["torch"])
    assert {(row.mode, row.quantity) for row in result.rows} == {
        ("eager", "value"),
        ("eager", "grad"),
        ("compiled", "value"),
        ("compiled", "grad"),
    }


def test_subgradients_at_kinks_pass(backend):
    """At the hinge's margin frameworks pick different subgradients; any
    value between the one-sided derivatives is accepted."""
    y_true = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0]])
    y_pred = np.array([[1.0, -1.0, 0.0], [1.0, 2.0, -1.0]])
    assert_parity(hinge, y_true, y_pred, backends=[backend.name], compiled=False, dtypes=("float32", "float64"))


def test_integer_labels_keep_their_dtype(backend):
    labels = np.array([0, 2, 1], dtype=np.int32)
    assert_parity(labels_must_stay_int, labels, RNG.normal(size=(3, 3)), backends=[backend.name], compiled=False)


def test_empty_batch_passes(backend):
    assert_parity(mean_squared_error, np.zeros((0, 3)), np.zeros((0, 3)), backends=[backend.name], compiled=False)


# ---------------------------------------------------------------- broken functions fail
def _failed_rows(excinfo):
    return [line for line in str(excinfo.value).splitlines() if "FAIL" in line and not line.startswith("parity")]


def test_an_offset_on_one_backend_fails_there_only(backend):
    run = lambda: assert_parity(offset_on_jax, Y_TRUE, Y_PRED, backends=[backend.name], compiled=False)  # noqa: E731
    if backend.name != "jax":
        run()
        return
    with pytest.raises(AssertionError) as excinfo:
        run()
    table = str(excinfo.value)
    assert "max abs err" in table and "worst index" in table
    failed = _failed_rows(excinfo)
    assert len(failed) == 1 and failed[0].split()[:4] == ["jax", "eager", "float32", "value"]
    assert "0.001" in failed[0]  # the max abs error is the offset


def test_an_offset_in_one_dtype_on_one_backend_fails_there_only(backend):
    def run(dtype):
        return assert_parity(
            offset_in_torch_bfloat16, Y_TRUE, Y_PRED, backends=[backend.name], compiled=False, dtypes=(dtype,)
        )

    run("float32")
    if backend.name != "torch":
        run("bfloat16")
        return
    with pytest.raises(AssertionError) as excinfo:
        run("bfloat16")
    assert [row.split()[:4] for row in _failed_rows(excinfo)] == [["torch", "eager", "bfloat16", "value"]]


def test_a_formula_that_overflows_in_float16_fails(backend):
    y_true = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    logits = np.array([[12.0, -3.0, 20.0], [15.0, 0.5, -20.0]])  # exp(12) > 65504, float16's largest
    assert_parity(naive_softplus_loss, y_true, logits, backends=[backend.name], compiled=False)
    assert_parity(stable_softplus_loss, y_true, logits, backends=[backend.name], compiled=False, dtypes=("float16",))
    with pytest.raises(AssertionError) as excinfo:
        assert_parity(naive_softplus_loss, y_true, logits, backends=[backend.name], compiled=False, dtypes=("float16",))
    failed = _failed_rows(excinfo)
    assert failed and all(row.split()[2] == "float16" for row in failed)
    assert any(row.split()[3] == "value" and row.split()[4] == "inf" for row in failed)


@not_on("torch")  # torch.compile is covered in test_torch_compile_runs
def test_a_gradient_cut_on_one_backend_fails_there_only(backend):
    run = lambda: assert_parity(cut_gradient_on_tensorflow, Y_TRUE, Y_PRED, backends=[backend.name])  # noqa: E731
    if backend.name != "tensorflow":
        run()
        return
    with pytest.raises(AssertionError) as excinfo:
        run()
    failed = [row.split()[:4] for row in _failed_rows(excinfo)]
    assert failed == [["tensorflow", "eager", "float32", "grad"], ["tensorflow", "compiled", "float32", "grad"]]


@beyond_numpy  # numpy also runs the reference, which must not raise
def test_a_backend_that_raises_is_a_failure_row(backend):

    def raises_on_this_backend(y_true, y_pred):
        if K.name == backend.name:
            raise RuntimeError("boom")
        return K.mean(y_pred, axis=-1)

    result = check_parity(raises_on_this_backend, Y_TRUE, Y_PRED, backends=[backend.name], compiled=False)
    assert not result.ok
    assert result.failures[0].quantity == "run" and "RuntimeError: boom" in result.table()


# ---------------------------------------------------------------- the reference and the tables
def test_tolerance_table_covers_every_float_dtype():
    assert set(VALUE_TOLERANCES) == set(GRAD_TOLERANCES) == {"float64", "float32", "float16", "bfloat16"}
    for table in (VALUE_TOLERANCES, GRAD_TOLERANCES):
        ordered = [table[d].rtol for d in ("float64", "float32", "float16", "bfloat16")]
        assert ordered == sorted(ordered)  # coarser dtypes never get a tighter tolerance
    assert tolerance_for("float32", rtol=1e-3).rtol == 1e-3
    assert tolerance_for("float32", rtol=1e-3).atol == VALUE_TOLERANCES["float32"].atol
    with pytest.raises(ValueError, match="float8"):
        tolerance_for("float8")


def test_reference_gradient_of_a_smooth_function():
    x = np.array([[0.3, -1.7, 2.0]])
    low, high, central = reference.gradient_bracket(lambda t, p: K.sum(p * p * p, axis=-1), [x, x], 1, "float64")
    np.testing.assert_allclose(central, 3 * x**2, rtol=1e-7)
    assert np.all(low <= 3 * x**2) and np.all(3 * x**2 <= high)
    assert np.all(high - low <= 1e-6 * 3 * x**2)


def test_reference_gradient_spans_both_sides_of_a_kink():
    x = np.array([[0.0, 1.0]])
    low, high, _ = reference.gradient_bracket(lambda t, p: K.sum(K.abs(p), axis=-1), [x, x], 1, "float64")
    assert low[0, 0] <= -1 + 1e-9 and high[0, 0] >= 1 - 1e-9  # |x| at 0: [-1, 1]
    np.testing.assert_allclose([low[0, 1], high[0, 1]], [1, 1], rtol=1e-6)  # widened by rounding noise


def test_reference_gradient_sees_a_kink_only_the_rounded_input_hits():
    """float32(1e-7) lies a fraction of an ulp above 1e-7, where K.clip's
    bound sits: in float32 it is exactly on the kink."""
    x = np.array([[np.float32(1e-7)]], dtype=np.float64)
    clip = lambda t, p: K.sum(K.log(K.clip(p, 1e-7, 1.0)), axis=-1)  # noqa: E731
    low32, high32, _ = reference.gradient_bracket(clip, [x, x], 1, "float32")
    assert low32[0, 0] <= 1e-3 and high32[0, 0] >= 0.99e7  # both 0 and 1/x are allowed
    low64, _, _ = reference.gradient_bracket(clip, [x, x], 1, "float64")
    assert low64[0, 0] > 0.99e7  # float64 is off the kink: only 1/x


def test_reference_gradient_beside_a_kink_at_zero_holds_the_true_slope():
    """Cosine similarity at a zero prediction: the norm's floor (1e-14 on the
    squared norm) makes the slope -unit(y_true) / 1e-7, which for a component
    of 4.75e-12 beside 11 is -4.3e-6, below the rounding noise of a small step.
    A step grown past the floor's kink 1e-7 away found -1.6e-9 (a hypothesis
    find on every backend); at exactly 0 the step stays small."""
    t = np.full((4, 3), 4.75064302e-12)
    t[0, 0] = 11.0
    p = np.zeros((4, 3))
    low, high, _ = reference.gradient_bracket(cosine_similarity, [t, p], 1, "float64")
    unit = t / np.sqrt(np.maximum(np.sum(t * t, axis=-1, keepdims=True), 1e-14))  # rows 1-3 floored too
    slope = -unit / 1e-7  # d/dp of -sum(unit * p / 1e-7)
    slack = 1e-6 * np.abs(slope)  # the suite's float64 gradient rtol
    assert np.all(low <= slope + slack) and np.all(slope - slack <= high)
    assert high[0, 1] - low[0, 1] < 1e-3  # wide, but still a check


def test_float64_on_jax_without_x64_is_skipped_with_a_reason():
    pytest.importorskip("jax")
    import jax

    if jax.config.jax_enable_x64:
        pytest.skip("x64 is enabled here")
    result = check_parity(mean_squared_error, Y_TRUE, Y_PRED, backends=["jax"], compiled=False, dtypes=("float64",))
    assert result.rows == [] and "jax_enable_x64" in result.skipped[0]


def test_bad_arguments_are_rejected_clearly():
    with pytest.raises(ValueError, match="unknown backend 'mxnet'"):
        check_parity(mean_squared_error, Y_TRUE, Y_PRED, backends=["mxnet"])
    with pytest.raises(TypeError, match="input 1 must be a numeric"):
        check_parity(mean_squared_error, Y_TRUE, np.array(["a", "b"]))
    with pytest.raises(ValueError, match="no parity tolerance for dtype 'int8'"):
        check_parity(mean_squared_error, Y_TRUE, Y_PRED, dtypes=("int8",))


# ---------------------------------------------------------------- strategies
@settings(max_examples=10, deadline=None)
@given(pair=lbst.binary_pairs(from_logits=True))
def test_strategies_feed_assert_parity(pair):
    y_true, y_pred = pair
    assert y_true.shape == y_pred.shape and y_true.dtype in (np.float64, np.int32, np.bool_)
    assert_parity(bce_from_logits, y_true, y_pred, backends=["numpy", "torch"], compiled=False)


def bce_from_logits(y_true, y_pred):
    return binary_crossentropy(y_true, y_pred, from_logits=True)


@settings(max_examples=10, deadline=None)
@given(triple=lbst.temporal_regression(), pair=lbst.sparse_pairs(from_logits=True))
def test_strategy_shapes(triple, pair):
    y_true, y_pred, weights = triple
    assert y_true.shape == y_pred.shape and weights.shape == y_true.shape[:2] and np.all(weights >= 0)
    labels, logits = pair
    assert labels.dtype == np.int32 and labels.shape == logits.shape[:1]
    assert np.all((0 <= labels) & (labels < logits.shape[1]))


def test_importing_the_kit_imports_neither_hypothesis_nor_a_framework():
    code = (
        "import sys, lossbridge.testing, lossbridge.testing.plugin;"
        "bad = {'hypothesis', 'torch', 'jax', 'tensorflow'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})


# ---------------------------------------------------------------- the pytest plugin
PLUGIN_TEST = """
def test_runs(lossbridge_backend):
    assert lossbridge_backend.name in {"numpy", "torch", "jax", "tensorflow", "mlx"}
    x = lossbridge_backend.convert_to_tensor([1.0, 2.0])
    assert lossbridge_backend.to_numpy(x).tolist() == [1.0, 2.0]
"""


@pytest.fixture
def plugin_args(pytestconfig):
    """Load the plugin by hand unless the installed entry point already did."""
    return [] if pytestconfig.pluginmanager.get_plugin("lossbridge") else ["-p", "lossbridge.testing.plugin"]


def test_plugin_parametrises_over_installed_backends(pytester, plugin_args):
    from lossbridge import backends

    pytester.makepyfile(PLUGIN_TEST)
    result = pytester.runpytest(*plugin_args, "-v")
    result.assert_outcomes(passed=len(backends.installed()))
    result.stdout.fnmatch_lines(["*lossbridge backends installed: *numpy*", "*test_runs?numpy? PASSED*"])


def test_plugin_option_restricts_and_rejects_unknown_names(pytester, plugin_args):
    pytester.makepyfile(PLUGIN_TEST)
    result = pytester.runpytest(*plugin_args, "--lossbridge-backend", "numpy,np")
    result.assert_outcomes(passed=1)  # an alias names the same backend once
    result = pytester.runpytest(*plugin_args, "--lossbridge-backend", "mxnet")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--lossbridge-backend 'mxnet': unknown backend*"])


def test_a_non_finite_reference_is_a_failure_unless_allowed():
    """Agreement on NaN everywhere proves nothing: the reference itself fails."""

    def log_of(y_true, y_pred):
        return K.log(y_pred - y_true)  # log of a negative number: nan everywhere

    t, p = np.ones((2, 3)), np.zeros((2, 3))
    with pytest.raises(AssertionError, match="reference is not finite"):
        assert_parity(log_of, t, p, backends=["numpy"], grads=False, compiled=False)
    result = check_parity(log_of, t, p, backends=["numpy"], grads=False, compiled=False, allow_nonfinite=True)
    assert result.ok


def test_a_metric_class_declares_its_recipes_and_a_subclass_its_own():
    """The kit reads a metric's recipes from its class (``Metric.examples``),
    through the metrics registry; a subclass inherits none (its constructor
    may differ), so it is skipped until it declares its own."""

    @lossbridge.register_metric("TestKitRecipeMean")
    class RecipeMean(metrics.Mean):
        examples = ("values", ("values", {"name": "m"}, "named"))

    @lossbridge.register_metric("TestKitRecipeless")
    class Recipeless(RecipeMean):
        pass

    found = cases_for("TestKitRecipeMean", "metric")
    assert [(c.id, c.kind, c.options) for c in found] == [
        ("TestKitRecipeMean", "values", {}),
        ("TestKitRecipeMean[named]", "values", {"name": "m"}),
    ]
    assert cases_for("TestKitRecipeless", "metric") == [] and Recipeless.examples == ()
    assert cases_for("TestKitRecipeMean", "loss") == []  # the losses' registry does not know it
    # a built-in metric wrapping a loss runs on the loss's declared examples
    assert metrics.BinaryCrossentropy.examples == lossbridge.losses.binary_crossentropy.definition.examples
