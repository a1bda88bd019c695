"""``assert_parity``: one function, every backend, eager and compiled, values
and gradients, against a float64 NumPy reference.

How a check runs, for each requested dtype:

1. Float inputs are rounded to the dtype; integer and boolean inputs (labels)
   keep theirs. The reference is ``fn`` on the NumPy backend with the float
   inputs in float64 (after that rounding), rounded once to the dtype.
2. The reference gradient of ``sum(fn(...))`` with respect to ``inputs[wrt]``
   (the last input, ``y_pred``, by default) is an interval of finite-difference
   slopes (see :mod:`lossbridge.testing.reference`).
3. Each backend gets the inputs as its own tensors and runs ``fn`` eagerly and
   through its compiler (``jax.jit``, ``torch.compile``, ``tf.function``); its
   gradient comes from its own autograd (``backend.value_and_grad``). NumPy
   runs eagerly and without gradients.
4. Values must match within :data:`~lossbridge.testing.tolerances.VALUE_TOLERANCES`,
   gradients within :data:`~lossbridge.testing.tolerances.GRAD_TOLERANCES`,
   and every backend must return the same shape and dtype.
"""

from __future__ import annotations

import itertools
import types
import warnings
from collections import Counter

import numpy as np

from .. import backends, dispatch
from ..backends.base import Backend
from . import reference
from ._rows import ParityResult, ParityRow, compare_grad, compare_value
from .tolerances import VALUE_TOLERANCES, Tolerance, tolerance_for

_fresh_names = itertools.count()


def assert_parity(
    fn,
    *inputs,
    backends=None,
    grads=True,
    compiled=True,
    dtypes=("float32",),
    rtol=None,
    atol=None,
    wrt=-1,
    allow_nonfinite=False,
):
    """Assert that ``fn(*inputs)`` agrees on every backend with a float64
    NumPy reference, in values and in gradients with respect to ``inputs[wrt]``.

    Args:
        fn: a lossbridge loss function or Loss object, or any function written
            against ``K`` (``from lossbridge import K``); it is run with ``K``
            bound to each backend in turn.
        *inputs: NumPy arrays, lists or numbers. Float inputs take each tested
            dtype; integer and boolean inputs are passed unchanged.
        backends: backend names to check (default: every installed one).
        grads: also compare gradients of ``sum(fn(...))`` w.r.t. ``inputs[wrt]``.
        compiled: also run through each framework's compiler (not for NumPy).
            ``torch.compile`` takes seconds per function: pass ``compiled=False``
            for quick checks and keep compiled inputs small.
        dtypes: float dtypes to test: "float64", "float32", "float16", "bfloat16".
        rtol, atol: override the per-dtype defaults of
            :mod:`lossbridge.testing.tolerances` for values and gradients alike.
        wrt: index of the input to differentiate (default: the last, ``y_pred``).
        allow_nonfinite: accept a reference holding NaN or inf. By default such
            a reference is itself a failure: backends agreeing on NaN prove
            nothing about the formula.

    Returns:
        The :class:`ParityResult` (every comparison made and every skip).

    Raises:
        AssertionError: with a table of backend, mode, dtype, quantity, max
            absolute and relative error and worst index, when any comparison
            is out of tolerance, has the wrong shape or dtype, or raises.
    """
    result = check_parity(
        fn,
        *inputs,
        backends=backends,
        grads=grads,
        compiled=compiled,
        dtypes=dtypes,
        rtol=rtol,
        atol=atol,
        wrt=wrt,
        allow_nonfinite=allow_nonfinite,
    )
    if not result.ok:
        raise AssertionError(result.table())
    return result


def check_parity(
    fn,
    *inputs,
    backends=None,
    grads=True,
    compiled=True,
    dtypes=("float32",),
    rtol=None,
    atol=None,
    wrt=-1,
    allow_nonfinite=False,
) -> ParityResult:
    """:func:`assert_parity` without the assertion: returns the result."""
    names = _backend_names(backends)
    arrays = [_as_array(x, i) for i, x in enumerate(inputs)]
    if not arrays:
        raise ValueError("assert_parity needs at least one input to pass to `fn`")
    wrt = range(len(arrays))[wrt]
    result = ParityResult(name=getattr(fn, "__name__", type(fn).__name__))
    for dtype in dtypes:
        tolerance_for(dtype)  # rejects an unknown dtype before any work
        _check_dtype(fn, arrays, dtype, names, grads, compiled, wrt, rtol, atol, allow_nonfinite, result)
    return result


def _check_dtype(fn, arrays, dtype, names, grads, compiled, wrt, rtol, atol, allow_nonfinite, result):
    rounded = [reference.round_to(x, dtype) if reference.is_float_array(x) else x for x in arrays]
    try:
        expected = reference.run_numpy(fn, *rounded)
    except Exception as error:
        raise RuntimeError(f"the float64 NumPy reference run of {result.name} raised: {error!r}") from error
    if not allow_nonfinite and reference.is_float_array(expected) and not np.all(np.isfinite(expected)):
        result.rows.append(
            ParityRow.failure(
                backend="reference",
                mode="eager",
                dtype=dtype,
                quantity="value",
                note="the float64 reference is not finite (pass allow_nonfinite=True if that is intended)",
            )
        )
    differentiable = grads and reference.is_float_array(arrays[wrt]) and reference.is_float_array(expected)
    bracket = reference.gradient_bracket(fn, rounded, wrt, dtype) if differentiable else None
    if reference.is_float_array(expected):
        expected = reference.round_to(expected, dtype)
    value_tol, grad_tol = tolerance_for(dtype, "value", rtol, atol), tolerance_for(dtype, "grad", rtol, atol)
    rows = []
    for name in names:
        backend = backends.get(name)
        tensors, reason = _to_backend(backend, rounded, arrays, dtype)
        if reason:
            result.skipped.append(f"{name} {dtype}: {reason}")
            continue
        modes = ["eager"] + (["compiled"] if compiled and has_compiler(backend) else [])
        for mode in modes:
            rows.extend(_run_backend(backend, mode, fn, tensors, wrt, dtype, expected, bracket, value_tol, grad_tol))
    _check_dtypes_agree(rows)
    result.rows.extend(rows)


def _run_backend(backend, mode, fn, tensors, wrt, dtype, expected, bracket, value_tol, grad_tol):
    """The rows of one backend in one mode: its value and, where it has
    autograd and a reference gradient exists, its gradient."""
    call = _bound(backend, fn, wrt)
    if mode == "compiled":
        call = backend.compile(call)
    ordered = [t for i, t in enumerate(tensors) if i != wrt] + [tensors[wrt]]
    row = dict(backend=backend.name, mode=mode, dtype=dtype)
    with_grad = bracket is not None and has_autograd(backend)
    try:
        with _scope(backend), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if with_grad:
                value, grad = backend.value_and_grad(call)(*ordered)
            else:
                value, grad = call(*ordered), None
            got_value = _numpy(backend, value)
            got_grad = None if grad is None else _numpy(backend, grad)
    except Exception as error:  # noqa: BLE001 - a backend that raises is a parity failure
        return [ParityRow.failure(**row, quantity="run", note=f"raised {type(error).__name__}: {_first_line(error)}")]
    value_dtype = _dtype_name(value, backend)
    rows = [compare_value(row, got_value, expected, _looser(value_tol, value_dtype, "value"), value_dtype)]
    if with_grad:
        grad_dtype = _dtype_name(grad, backend)
        rows.append(compare_grad(row, got_grad, bracket, dtype, _looser(grad_tol, grad_dtype, "grad"), grad_dtype))
    return rows


def has_autograd(backend) -> bool:
    """Whether the adapter differentiates (it overrides ``value_and_grad``)."""
    return type(backend).value_and_grad is not Backend.value_and_grad


def has_compiler(backend) -> bool:
    """Whether the adapter compiles (its ``compile`` is not the identity of the base)."""
    return type(backend).compile is not Backend.compile


def _looser(tol, out_dtype, quantity):
    """A result returned in a coarser dtype than the one tested (a float32
    metric result from float64 inputs) is held to that dtype's tolerance."""
    if out_dtype not in VALUE_TOLERANCES:
        return tol
    coarse = tolerance_for(out_dtype, quantity)
    return Tolerance(rtol=max(tol.rtol, coarse.rtol), atol=max(tol.atol, coarse.atol))


def _bound(backend, fn, wrt):
    """``fn`` with ``K`` bound to ``backend``, taking the differentiated input
    last (as ``backend.value_and_grad`` expects) and restoring the order."""

    def call(*args):
        *rest, target = args
        ordered = list(rest)
        ordered.insert(wrt, target)
        return dispatch.run_on(backend, fn, *ordered)

    if backend.name != "torch":
        return call
    # torch.compile caches per code object and falls back to eager, silently,
    # after 8 variants of one; a fresh code object per check keeps every
    # compiled run really compiled. (Not for tf.function: autograph reads the
    # source back from the code object and can mistake a renamed copy.)
    code = call.__code__.replace(co_name=f"lossbridge_parity_{next(_fresh_names)}")
    return types.FunctionType(code, call.__globals__, code.co_name, None, call.__closure__)


def _scope(backend):
    """Nothing, unless the user forced another backend: then force this one
    (a ContextVar scope, which costs torch.compile a graph break)."""
    forced = dispatch.forced()
    if forced is None or forced is backend:
        return _NullScope()
    return dispatch.use_backend(backend.name)


class _NullScope:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _to_backend(backend, rounded, original, dtype):
    """Inputs as tensors of ``backend``: floats in ``dtype``, the rest as they
    came. Returns ``(tensors, None)`` or ``(None, reason to skip)``."""
    tensors = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jax warns when float64 is unavailable; checked below
        for x, raw in zip(rounded, original, strict=True):
            if not reference.is_float_array(raw):
                tensors.append(backend.convert_to_tensor(raw))
                continue
            try:
                # half-precision values are exact in float32, which every framework reads
                source = x.astype(np.float64 if dtype == "float64" else np.float32)
                tensor = backend.convert_to_tensor(source, dtype=dtype)
            except Exception as error:  # noqa: BLE001 - the backend lacks this dtype
                return None, f"cannot hold {dtype} tensors ({_first_line(error)})"
            if backend.dtype(tensor) != dtype:
                hint = " (set jax_enable_x64 / JAX_ENABLE_X64=1)" if backend.name == "jax" else ""
                return None, f"turns {dtype} into {backend.dtype(tensor)}{hint}"
            tensors.append(tensor)
    return tensors, None


def _check_dtypes_agree(rows):
    """Every backend must return the value dtype (and the gradient dtype) most
    of them return."""
    for quantity in ("value", "grad"):
        dtypes = [r.out_dtype for r in rows if r.quantity == quantity and r.out_dtype]
        if not dtypes:
            continue
        common = Counter(dtypes).most_common(1)[0][0]
        for r in rows:
            if r.quantity == quantity and r.out_dtype and r.out_dtype != common:
                r.ok = False
                r.note = (r.note + "; " if r.note else "") + f"dtype {r.out_dtype}, others {common}"


def _backend_names(requested):
    if requested is None:
        return backends.installed()
    if isinstance(requested, str):
        requested = [requested]
    names = []
    for name in requested:
        names.append(backends.get(name).name)  # unknown or missing names raise a clear error here
    return names


def _as_array(x, position):
    array = x if isinstance(x, np.ndarray) else np.asarray(x)
    if array.dtype.kind not in "biuf" and array.dtype.name != "bfloat16":
        raise TypeError(
            f"assert_parity input {position} must be a numeric NumPy array, list or number; received "
            f"{dispatch.describe(x)}. Pass framework tensors through NumPy: the kit converts to every backend."
        )
    return array


def _numpy(backend, tensor):
    return np.asarray(backend.to_numpy(tensor))


def _dtype_name(tensor, backend):
    try:
        return backend.dtype(tensor)
    except Exception:  # noqa: BLE001 - a Python scalar or foreign object
        return np.asarray(tensor).dtype.name


def _first_line(error):
    text = str(error).strip().splitlines()
    return " ".join(text)[:2000]
