"""``check_backend``: the conformance kit of the adapter contract.

Anyone writing an adapter (``lossbridge.backends.Backend``) runs::

    from lossbridge.testing import check_backend
    result = check_backend("mlx")            # a registered name, or an adapter instance
    result.ok, result.failures               # and a pass/fail table was printed

or ``python -m lossbridge check-backend NAME [--profile full]``. Two parts:

1. **Operations**: every K primitive, composite and hook of the contract on
   small inputs against an independent float64 NumPy reference (values,
   result dtypes, axis/keepdims rules, int/bool promotion, edge values:
   :mod:`lossbridge.testing._op_cases`), in each float dtype the adapter holds;
   gradients where it has autograd, compiled runs where it has a compiler.
2. **Catalogue**: every registered loss and metric with an input recipe
   (:mod:`lossbridge.testing.catalogue`), on seeded and edge inputs, through
   the parity kit (:func:`lossbridge.testing.check_parity`): values, and
   gradients of losses where the adapter has autograd; compiled where it has
   a compiler.

Profiles: ``"quick"`` (operations in every float dtype; the catalogue's
seeded and edge inputs in float32; compiled on a sample of entries: seconds
on an eager library) and ``"full"`` (the catalogue in every float dtype the
adapter holds, every entry compiled: minutes). A dtype the adapter cannot
hold is skipped with the reason (float64 on JAX needs ``JAX_ENABLE_X64=1``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import backends, dispatch
from ..backends.base import Backend
from . import _op_cases, cases, catalogue, reference
from .parity import check_parity, has_autograd, has_compiler
from .tolerances import tolerance_for

FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")
#: catalogue entries compiled in the quick profile: one of each kind of formula
QUICK_COMPILED = frozenset(
    {"mean_squared_error", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
     "ctc", "auc", "mean_io_u", "accuracy", "precision"}
)  # fmt: skip


@dataclass(frozen=True)
class Profile:
    name: str
    catalogue_dtypes: tuple[str, ...]
    compiled: str  # "sample" (QUICK_COMPILED), "all" or "none"


PROFILES = {
    "quick": Profile("quick", ("float32",), "sample"),
    "full": Profile("full", FLOAT_DTYPES, "all"),
}


@dataclass
class Check:
    """One check: a contract operation or a catalogue entry, in one dtype."""

    section: str  # "primitive", "composite", "hook", "loss" or "metric"
    name: str
    label: str
    dtype: str
    status: str  # "pass", "FAIL" or "skip"
    detail: str = ""


class ConformanceError(AssertionError):
    """Raised by :meth:`ConformanceResult.raise_for_failures`."""


@dataclass
class ConformanceResult:
    backend: str
    profile: str
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "FAIL"]

    def count(self, status) -> int:
        return sum(c.status == status for c in self.checks)

    def summary(self) -> str:
        verdict = "conforms" if self.ok else "DOES NOT CONFORM"
        return (
            f"lossbridge conformance of backend {self.backend!r} ({self.profile} profile): {verdict}: "
            f"{self.count('pass')} passed, {self.count('FAIL')} failed, {self.count('skip')} skipped, "
            f"{self.seconds:.1f} s"
        )

    def table(self, failures_only: bool = False) -> str:
        """One line per operation or catalogue entry, one column per dtype
        ("ok N", "FAIL k/N", "-" for skipped), then every failure in detail."""
        dtypes = [d for d in FLOAT_DTYPES if any(c.dtype == d for c in self.checks)]
        groups: dict[tuple[str, str], list[Check]] = {}
        for check in self.checks:
            groups.setdefault((check.section, check.name), []).append(check)
        rows = [("section", "check", *dtypes)]
        for (section, name), checks in groups.items():
            cells = [_cell([c for c in checks if c.dtype == d]) for d in dtypes]
            if not failures_only or any(cell.startswith("FAIL") for cell in cells):
                rows.append((section, name, *cells))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [self.summary()]
        lines += ["  ".join(text.ljust(w) for text, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        for c in self.failures:
            lines.append(f"FAIL {c.section} {c.name} [{c.label}] {c.dtype}: {c.detail}")
        skipped = sorted({f"{c.dtype}: {c.detail}" for c in self.checks if c.status == "skip" and c.detail})
        lines += [f"skipped {reason}" for reason in skipped[:20]]
        return "\n".join(lines)

    __str__ = table

    def raise_for_failures(self):
        if not self.ok:
            raise ConformanceError(self.table(failures_only=True))
        return self


def _cell(checks):
    ran = [c for c in checks if c.status != "skip"]
    if not ran:
        return "-"
    failed = sum(c.status == "FAIL" for c in ran)
    return f"FAIL {failed}/{len(ran)}" if failed else f"ok {len(ran)}"


# ---------------------------------------------------------------- entry point
def check_backend(
    backend,
    *,
    profile: str = "quick",
    catalogue_checks: bool = True,
    compiled: str | None = None,
    dtypes=None,
    raise_on_failure: bool = False,
    file=sys.stdout,
) -> ConformanceResult:
    """Run the conformance kit on ``backend`` (a registered name such as
    ``"mlx"`` or ``"array_api:array_api_strict"``, or an adapter instance)
    and print its pass/fail table to ``file`` (None: print nothing).

    ``profile``: ``"quick"`` or ``"full"`` (see the module docstring);
    ``catalogue_checks=False`` checks the operations only; ``compiled``
    overrides the profile's ``"sample"``/``"all"``/``"none"``; ``dtypes``
    restricts the float dtypes. Returns the :class:`ConformanceResult`;
    ``raise_on_failure`` raises :class:`ConformanceError` (an AssertionError)
    with the failures instead of returning a failed result.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown conformance profile {profile!r}; accepted: {', '.join(PROFILES)}")
    chosen = PROFILES[profile]
    if compiled is not None:
        if compiled not in ("sample", "all", "none"):
            raise ValueError(f"`compiled` must be 'sample', 'all' or 'none'; received {compiled!r}")
        chosen = Profile(chosen.name, chosen.catalogue_dtypes, compiled)
    adapter, registered_here = _adapter(backend)
    op_dtypes = tuple(dtypes or FLOAT_DTYPES)
    result = ConformanceResult(adapter.name, chosen.name)
    start = time.perf_counter()
    try:
        _run_checks(result, adapter, op_dtypes, chosen, catalogue_checks)
    finally:
        if registered_here:
            backends._loaded.pop(adapter.name, None)
    result.seconds = time.perf_counter() - start
    if file is not None:
        print(result.table(), file=file)
    if raise_on_failure:
        result.raise_for_failures()
    return result


def _run_checks(result, adapter, op_dtypes, chosen, catalogue_checks):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for dtype in op_dtypes:
            result.checks += _operation_checks(adapter, dtype)
        result.checks += _hook_checks(adapter, op_dtypes)
        if catalogue_checks:
            for dtype in [d for d in chosen.catalogue_dtypes if d in op_dtypes]:
                result.checks += _catalogue_checks(adapter, dtype, chosen.compiled)


def _adapter(backend) -> tuple[Backend, bool]:
    """The adapter, and whether it was put in the registry for this run."""
    if isinstance(backend, Backend):
        # the parity kit resolves backends by name: make an unregistered instance
        # resolvable for the run (check_backend takes it out again)
        try:
            known = backends.get(backend.name)
        except (ValueError, ImportError):
            known = None
        if known is not backend:
            if known is not None:
                raise ValueError(
                    f"check_backend: the adapter instance is named {backend.name!r}, which is a registered "
                    f"backend's name ({known!r}); give it a name of its own"
                )
            backends._loaded[backend.name] = backend
            return backend, True
        return backend, False
    if not isinstance(backend, str):
        raise TypeError(f"check_backend takes a backend name or a Backend instance; received {type(backend).__name__}")
    return backends.get(backend), False


# ---------------------------------------------------------------- operations
_PRIMITIVES = frozenset(n for n, v in vars(Backend).items() if getattr(v, "is_primitive", False))


def _section(op):
    return "primitive" if op in _PRIMITIVES else "hook" if op in ("value_and_grad", "compile") else "composite"


def _holds(adapter, dtype):
    """None when ``adapter`` keeps ``dtype`` tensors, else why it does not."""
    try:
        tensor = adapter.convert_to_tensor(np.zeros(2, np.float32), dtype=dtype)
    except Exception as error:  # noqa: BLE001 - any refusal means the dtype is absent
        return f"cannot hold {dtype} tensors ({type(error).__name__}: {str(error)[:120]})"
    got = adapter.dtype(tensor)
    if got != dtype:
        hint = " (set JAX_ENABLE_X64=1)" if adapter.name == "jax" else ""
        return f"turns {dtype} into {got}{hint}"
    return None


def _maker(adapter, dtype):
    def tensor(array, as_dtype=None):
        array = np.asarray(array)
        if as_dtype is None:
            as_dtype = dtype if array.dtype.kind == "f" else array.dtype.name
        if as_dtype in FLOAT_DTYPES:
            array = array.astype(np.float64 if as_dtype == "float64" else np.float32)
        return adapter.convert_to_tensor(array, dtype=as_dtype)

    return tensor


def _operation_checks(adapter, dtype):
    reason = _holds(adapter, dtype)
    op_cases = _op_cases.cases_for(
        dtype, lambda x: reference.round_to(np.asarray(x, np.float64), dtype).astype(np.float64)
    )
    if reason:
        return [Check(_section(c.op), c.op, c.label, dtype, "skip", reason) for c in op_cases]
    tensor = _maker(adapter, dtype)
    return [
        _run_case(adapter, case, tensor, dtype, "value")
        for case in op_cases
        if not case.floats_only or dtype == "float32"
    ]


def _hook_checks(adapter, dtypes):
    hooks = _op_cases.hook_cases(adapter, has_autograd(adapter), has_compiler(adapter))
    # float32, and float64 where the adapter holds it (an adapter may take another path there:
    # MLX computes float64 on the CPU with its own forms); the hook inputs are exact in both
    checks = []
    for dtype in [d for d in ("float32", "float64") if d in dtypes]:
        if dtype == "float32" or _holds(adapter, dtype) is None:
            checks += [_run_case(adapter, case, _maker(adapter, dtype), dtype, "grad") for case in hooks]
    if not has_autograd(adapter):
        checks.append(Check("hook", "value_and_grad", "no autograd", "float32", "skip", "the adapter has no autograd"))
    if not has_compiler(adapter):
        checks.append(Check("hook", "compile", "no compiler", "float32", "skip", "the adapter has no compiler"))
    return checks


def _run_case(adapter, case, tensor, dtype, quantity):
    check = Check(_section(case.op), case.op, case.label, dtype, "pass")
    try:
        got = dispatch.run_on(adapter, case.run, adapter, tensor)
        expected = case.expected()
        problem = _compare(adapter, got, expected, case, dtype, quantity)
    except Exception as error:  # noqa: BLE001 - an adapter that raises fails the check
        problem = f"raised {type(error).__name__}: {str(error).strip()[:300]}"
    if problem:
        check.status, check.detail = "FAIL", problem
    return check


def _compare(adapter, got, expected, case, dtype, quantity):
    """None when ``got`` matches ``expected``, else what differs."""
    if isinstance(expected, tuple) and isinstance(got, tuple | list):
        if len(got) != len(expected):
            return f"{len(got)} results, expected {len(expected)}"
        for index, (part, want) in enumerate(zip(got, expected, strict=True)):
            kind = quantity if index else "value"  # (value, gradient) pairs: the second is a gradient
            problem = _compare(adapter, part, want, case, dtype, kind)
            if problem:
                return f"result {index}: {problem}"
        return None
    if isinstance(expected, str | bool | int | tuple) and not isinstance(expected, np.ndarray):
        return None if got == expected else f"got {got!r}, expected {expected!r}"
    out_dtype = None
    # a Python number carries no dtype; everything else does (NumPy's own arrays and scalars included)
    if not isinstance(got, float | int | bool) or isinstance(got, np.generic):
        is_own = adapter.is_tensor(got) or not isinstance(got, np.ndarray | np.generic)
        out_dtype = adapter.dtype(got) if is_own else _numpy_dtype_name(got)
        want = {_op_cases.SAME: dtype, _op_cases.FLOATX: adapter.floatx()}.get(case.dtype, case.dtype)
        if case.dtype == _op_cases.ANY_INT:
            if not out_dtype.startswith(("int", "uint")):
                return f"dtype {out_dtype}, expected an integer dtype"
        elif want is not None and out_dtype != want:
            return f"dtype {out_dtype}, expected {want}"
        got = adapter.to_numpy(got) if is_own else got
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape:
        return f"shape {got.shape}, expected {expected.shape}"
    if case.exact or expected.dtype.kind in "biu":
        same = np.array_equal(got, expected, equal_nan=expected.dtype.kind in "fc" and got.dtype.kind in "fc")
        return None if same else f"got {got.tolist()}, expected {expected.tolist()}"
    compare_in = out_dtype if out_dtype in FLOAT_DTYPES else dtype
    tol = tolerance_for(compare_in, quantity)
    got = got.astype(np.float64)
    want = reference.round_to(expected.astype(np.float64), compare_in).astype(np.float64)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    close = np.abs(got - want) <= tol.atol + tol.rtol * np.abs(want)
    bad = ~(same | (close & np.isfinite(want)))
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return (
        f"{int(bad.sum())} of {bad.size} entries differ beyond rtol {tol.rtol:.0e} / atol {tol.atol:.0e}; "
        f"first at {index}: got {got[index]!r}, expected {want[index]!r}"
    )


def _numpy_dtype_name(array):
    return np.asarray(array).dtype.name


# ---------------------------------------------------------------- the catalogue
def _catalogue_checks(adapter, dtype, compiled):
    checks = []
    names = [adapter.name]
    for entry in catalogue.entries():
        for index, case in enumerate(entry.cases):
            name = f"{entry.name}[{case.variant}]" if case.variant else entry.name
            examples = [("seeded", cases.random_example(case.kind, np.random.default_rng(3)))]
            edges = cases.edge_batches(case.kind, dtype)
            examples += edges if dtype == "float32" else edges[:1]
            compile_this = has_compiler(adapter) and (
                compiled == "all" or (compiled == "sample" and index == 0 and entry.name in QUICK_COMPILED)
            )
            for label, inputs in examples:
                # a correlation of constant edge inputs is nan by definition (as in Keras)
                undefined = entry.name in catalogue.NAN_ON_CONSTANT_INPUTS and label != "seeded"
                result = check_parity(
                    entry.function(case), *inputs, backends=names, dtypes=(dtype,), grads=entry.differentiable,
                    compiled=compile_this and label == "seeded", allow_nonfinite=undefined,
                )  # fmt: skip
                checks.append(_catalogue_check(entry, name, label, dtype, result))
    return checks


def _catalogue_check(entry, name, label, dtype, result):
    modes = sorted({row.mode for row in result.rows if row.backend != "reference"})
    label = f"{label}, {'+'.join(modes) or 'not run'}"
    if not result.rows and result.skipped:
        return Check(entry.family, name, label, dtype, "skip", result.skipped[0].split(": ", 1)[-1])
    if result.ok:
        return Check(entry.family, name, label, dtype, "pass")
    detail = "; ".join(
        f"{row.mode} {row.quantity}: " + (row.note or f"max abs err {row.max_abs_err:.3g}") for row in result.failures
    )
    return Check(entry.family, name, label, dtype, "FAIL", detail[:400])


# ---------------------------------------------------------------- command line
def main(argv=None) -> int:
    """``python -m lossbridge check-backend NAME``: exit 0 when the backend
    conforms, 1 when a check failed, 2 on a usage error."""
    parser = argparse.ArgumentParser(
        prog="lossbridge check-backend",
        description="Run the adapter conformance kit: every K operation against float64 NumPy, then every "
        "registered loss and metric through the parity kit.",
    )
    parser.add_argument("backend", help="a backend name: numpy, torch, mlx, array_api:array_api_strict, a plugin's")
    parser.add_argument("--profile", choices=tuple(PROFILES), default="quick")
    parser.add_argument("--compiled", choices=("sample", "all", "none"), help="override the profile's compiled runs")
    parser.add_argument("--dtype", action="append", choices=FLOAT_DTYPES, help="only this float dtype (repeatable)")
    parser.add_argument("--operations-only", action="store_true", help="skip the loss and metric catalogue")
    parser.add_argument("--failures-only", action="store_true", help="list only failing operations and entries")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        result = check_backend(
            args.backend, profile=args.profile, catalogue_checks=not args.operations_only,
            compiled=args.compiled, dtypes=args.dtype, file=None,
        )  # fmt: skip
    except (ValueError, ImportError) as error:
        print(f"lossbridge check-backend: error: {error}", file=sys.stderr)
        return 2
    print(result.table(failures_only=args.failures_only))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
