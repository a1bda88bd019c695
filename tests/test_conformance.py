"""The adapter conformance kit, ``lossbridge.testing.check_backend``.

The kit's expected values are float64 NumPy formulas (lossbridge/testing/_op_cases.py)
and the parity kit's float64 reference; these tests check that every adapter passes
it, that it has a case for every operation of the contract, and that it catches a
broken adapter. The operations run on every installed built-in backend; the whole
catalogue runs here on array-api-strict (the generic Array API adapter) and MLX only:
tests/test_parity_suite.py already runs it on NumPy, PyTorch, JAX and TensorFlow.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from lossbridge.backends.base import Backend
from lossbridge.backends.numpy import NumpyBackend

from lossbridge import backends
from lossbridge.cli import main as cli_main
from lossbridge.testing import ConformanceError, _op_cases, check_backend, conformance
from tests.helpers import precision

pytestmark = pytest.mark.slow(seconds=55)  # runs whole catalogues: scheduled early (conftest.py)


def _assert_conforms(result):
    assert result.ok, result.table(failures_only=True)


def test_operations_conform(backend):
    with precision(backend, "float64"):  # JAX holds float64 only with x64 on
        result = check_backend(backend, catalogue_checks=False, file=None)
    _assert_conforms(result)
    ran = {c.name for c in result.checks if c.status == "pass"}
    primitives = {name for name, v in vars(Backend).items() if getattr(v, "is_primitive", False)}
    assert primitives <= ran, f"primitives never checked on {backend.name}: {sorted(primitives - ran)}"
    # float32 always runs; the other float dtypes run where the adapter holds them
    assert {c.dtype for c in result.checks if c.status == "pass"} >= {"float32", "float64"}


def test_every_contract_operation_has_a_case():
    primitives = {name for name, v in vars(Backend).items() if getattr(v, "is_primitive", False)}
    composites = {"softplus", "sigmoid", "log_sigmoid", "sigmoid_cross_entropy", "logsumexp", "log_softmax"}
    composites |= {"softmax", "l2_normalize", "pick_along_axis", "sparse_softmax_cross_entropy", "xlogy"}
    composites |= {"logaddexp", "ctc_loss", "rsqrt", "scale", "same_shape", "is_float", "ensure_float"}
    covered = {case.op for case in _op_cases.cases_for("float32", lambda x: np.asarray(x, np.float64))}
    assert primitives | composites <= covered, sorted((primitives | composites) - covered)
    hooks = {case.op for case in _op_cases.hook_cases(backends.get("numpy"), True, True)}
    assert hooks == {"value_and_grad", "compile"}


@pytest.mark.parametrize("name", ["array_api:array_api_strict", "mlx"])
def test_whole_kit_on_libraries_we_wrote_no_formula_for(name):
    """Operations, then every loss and metric of the catalogue (values,
    gradients and compiled runs where the library has them)."""
    pytest.importorskip(name.removeprefix("array_api:") if name.startswith("array_api:") else "mlx.core")
    out = io.StringIO()
    result = check_backend(name, file=out)
    _assert_conforms(result)
    sections = {c.section for c in result.checks if c.status == "pass"}
    assert {"primitive", "composite", "loss", "metric"} <= sections
    names = {c.name for c in result.checks if c.section in ("loss", "metric") and c.status == "pass"}
    assert {"mean_squared_error", "categorical_crossentropy", "ctc", "auc", "mean_io_u", "precision"} <= names
    if name == "mlx":  # MLX has autograd and a compiler: both hooks and compiled catalogue runs were checked
        hooks = {c.name for c in result.checks if c.section == "hook" and c.status == "pass"}
        assert hooks == {"value_and_grad", "compile"}
        assert any("compiled" in c.label for c in result.checks if c.section == "loss" and c.status == "pass")
    text = out.getvalue()
    assert text.startswith(f"lossbridge conformance of backend {name!r} (quick profile): conforms")
    assert "mean_squared_error" in text and "float32" in text


class _WrongSign(NumpyBackend):
    """An adapter with two mistakes the kit must find: sign(nan) = 0 (what
    torch.sign does) and a mean that ignores keepdims."""

    name = "wrong_sign_for_test"

    def sign(self, x):
        return np.nan_to_num(np.sign(x))

    def mean(self, x, axis=None, keepdims=False):
        return super().mean(x, axis=axis, keepdims=False)


def test_kit_reports_a_broken_adapter():
    out = io.StringIO()
    result = check_backend(_WrongSign(), catalogue_checks=False, dtypes=("float32",), file=out)
    assert not result.ok
    failed = {c.name for c in result.failures}
    assert failed == {"sign", "mean"}, failed
    keepdims = [c for c in result.failures if c.name == "mean"]
    assert all("keepdims=True" in c.label for c in keepdims) and len(keepdims) == 4
    assert "shape" in keepdims[0].detail and "expected" in keepdims[0].detail
    text = out.getvalue()
    assert "DOES NOT CONFORM" in text and "FAIL primitive sign" in text
    with pytest.raises(ConformanceError, match=r"FAIL primitive mean \[axis=0, keepdims=True\] float32"):
        result.raise_for_failures()


def test_kit_checks_result_dtypes():
    class HalfSums(NumpyBackend):  # a float32 sum that comes back as float64
        name = "float64_sums_for_test"

        def sum(self, x, axis=None, keepdims=False):
            return np.asarray(super().sum(x, axis=axis, keepdims=keepdims), np.float64)

    result = check_backend(HalfSums(), catalogue_checks=False, dtypes=("float32",), file=None)
    assert {c.name for c in result.failures} >= {"sum"}
    assert any(c.detail == "dtype float64, expected float32" for c in result.failures if c.name == "sum")
    assert "float64_sums_for_test" not in backends._loaded  # the kit leaves no trace in the registry


def test_unknown_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown conformance profile 'fast'; accepted: quick, full"):
        check_backend("numpy", profile="fast")
    with pytest.raises(TypeError, match="check_backend takes a backend name or a Backend instance; received int"):
        check_backend(3)
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        check_backend("nope")


def test_command_line(capsys):
    assert cli_main(["check-backend", "numpy", "--operations-only", "--dtype", "float32"]) == 0
    printed = capsys.readouterr().out
    assert "lossbridge conformance of backend 'numpy' (quick profile): conforms" in printed
    assert cli_main(["check-backend", "no_such_backend"]) == 2
    assert "unknown backend 'no_such_backend'" in capsys.readouterr().err


def test_profiles_are_declared():
    assert conformance.PROFILES["quick"].catalogue_dtypes == ("float32",)
    assert conformance.PROFILES["full"].compiled == "all"
