"""Comparison rows of a parity check, and the table an assertion prints."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import reference
from .tolerances import Tolerance


@dataclass
class ParityRow:
    """One comparison: a backend in a mode, one quantity, against the reference."""

    backend: str
    mode: str  # "eager" | "compiled"
    dtype: str  # the tested input dtype
    quantity: str  # "value" | "grad" | "run" (the call raised)
    max_abs_err: float = float("nan")
    max_rel_err: float = float("nan")
    worst_index: tuple | None = None
    tolerance: Tolerance | None = None
    ok: bool = True
    out_dtype: str = ""
    note: str = ""

    @classmethod
    def failure(cls, **fields):
        return cls(ok=False, **fields)


@dataclass
class ParityResult:
    """Every row of a parity check, and the backend/dtype pairs skipped."""

    name: str
    rows: list[ParityRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def failures(self) -> list[ParityRow]:
        return [row for row in self.rows if not row.ok]

    def table(self) -> str:
        """A readable table of every row, failures marked, skips listed."""
        verdict = "ok" if self.ok else f"{len(self.failures)} of {len(self.rows)} comparisons FAILED"
        lines = [f"parity of {self.name} against the float64 NumPy reference: {verdict}"]
        header = ("backend", "mode", "dtype", "quantity", "max abs err", "max rel err", "worst index", "rtol/atol", "")
        cells = [header] + [_cells(row) for row in self.rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
        for c in cells:
            lines.append("  ".join(text.ljust(width) for text, width in zip(c, widths, strict=True)).rstrip())
        lines.extend(f"skipped {reason}" for reason in self.skipped)
        return "\n".join(lines)

    __str__ = table


def _cells(row):
    tol = "" if row.tolerance is None else f"{row.tolerance.rtol:.0e}/{row.tolerance.atol:.0e}"
    exact = row.max_abs_err == 0 or row.worst_index is None
    index = "" if exact else str(tuple(int(i) for i in row.worst_index))
    status = "ok" if row.ok else "FAIL"
    if row.note:
        status += f" ({row.note})"
    return (
        row.backend,
        row.mode,
        row.dtype,
        row.quantity,
        _num(row.max_abs_err),
        _num(row.max_rel_err),
        index,
        tol,
        status,
    )


def _num(x):
    return "-" if np.isnan(x) else f"{x:.3g}"


def compare_value(row, got, expected, tol, out_dtype):
    """The value row: elementwise ``|got - expected|`` against ``tol``."""
    if np.shape(got) != np.shape(expected):
        return ParityRow.failure(
            **row, quantity="value", out_dtype=out_dtype, note=f"shape {np.shape(got)}, reference {np.shape(expected)}"
        )
    if not reference.is_float_array(expected):
        equal = np.asarray(got) == expected
        return ParityRow(**row, quantity="value", ok=bool(np.all(equal)), out_dtype=out_dtype)
    got = np.asarray(got, dtype=np.float64)
    return _row(row, "value", _abs_error(got, expected), np.abs(expected), tol, out_dtype)


def compare_grad(row, got, bracket, dtype, tol, out_dtype):
    """The gradient row: distance of ``got`` from the reference interval
    ``[low, high]`` (0 inside it); elements without a finite reference
    interval are not compared."""
    low, high, _ = bracket
    if np.shape(got) != np.shape(low):
        return ParityRow.failure(
            **row, quantity="grad", out_dtype=out_dtype, note=f"shape {np.shape(got)}, input {np.shape(low)}"
        )
    got = np.asarray(got, dtype=np.float64)
    defined = np.isfinite(low) & np.isfinite(high)
    low, high = reference.round_to(low, dtype), reference.round_to(high, dtype)
    with np.errstate(invalid="ignore"):
        inside = (got >= low) & (got <= high)
        distance = np.minimum(np.abs(got - low), np.abs(got - high))
    error = np.where(inside, 0.0, np.where(np.isnan(distance), np.inf, distance))
    error = np.where(defined, error, 0.0)
    scale = np.where(defined, np.maximum(np.abs(low), np.abs(high)), 0.0)
    skipped = int(np.size(defined) - np.count_nonzero(defined))
    result = _row(row, "grad", error, scale, tol, out_dtype)
    if skipped:
        result.note = f"{skipped} element(s) without a reference gradient"
    return result


def _abs_error(got, expected):
    """``|got - expected|``, 0 where both are the same inf or both NaN, inf
    where only one is NaN."""
    with np.errstate(invalid="ignore"):
        error = np.abs(got - expected)
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    return np.where(same, 0.0, np.where(np.isnan(error), np.inf, error))


def _row(row, quantity, abs_err, ref_abs, tol, out_dtype):
    abs_err = np.asarray(abs_err, dtype=np.float64)
    if abs_err.size == 0:
        return ParityRow(**row, quantity=quantity, max_abs_err=0.0, max_rel_err=0.0, tolerance=tol, out_dtype=out_dtype)
    # an infinite reference (an overflow the dtype must reproduce) allows no error at all
    limit = np.where(np.isinf(ref_abs), 0.0, tol.atol + tol.rtol * ref_abs)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(abs_err == 0, 0.0, abs_err / ref_abs)
        excess = np.where(abs_err == 0, 0.0, abs_err / limit)
    rel = np.where(np.isnan(rel), np.inf, rel)
    worst = np.unravel_index(int(np.argmax(excess)), abs_err.shape) if abs_err.ndim else ()
    return ParityRow(
        **row,
        quantity=quantity,
        max_abs_err=float(np.max(abs_err)),
        max_rel_err=float(np.max(rel)),
        worst_index=worst,
        tolerance=tol,
        ok=bool(np.all((abs_err == 0) | (abs_err <= limit))),
        out_dtype=out_dtype,
    )
