"""``python -m lossbridge report``: every registered loss and metric on every
installed backend and device, against the float64 NumPy reference.

Each entry with an input recipe (:mod:`lossbridge.testing.cases`) runs once
per backend and device on a fixed seeded example, eagerly, in the chosen
dtype. A cell holds the backend's mean value and its largest deviation from
the reference; it is within tolerance under the value tolerance of
:mod:`lossbridge.testing.tolerances`. Output: a table (rich when installed and
writing to a terminal, plain text otherwise), ``--json``, ``--plot`` (a
heatmap, needs matplotlib). Imported only by the command line: ``import
lossbridge`` never loads it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import __version__, backends, dispatch
from .testing import cases, catalogue, parity, reference
from .testing._rows import compare_value
from .testing.tolerances import tolerance_for

ACCELERATOR = ("cuda", "gpu")


@dataclass
class Cell:
    """One entry on one backend and device."""

    value: float | None = None
    max_abs_dev: float | None = None
    max_rel_dev: float | None = None
    within_tolerance: bool = True
    error: str = ""


@dataclass
class Row:
    family: str
    name: str
    case: str
    reference: float | None = None
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass
class Report:
    dtype: str
    seed: int
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def cells(self):
        return [cell for row in self.rows for cell in row.cells.values()]

    @property
    def failures(self):
        return [cell for cell in self.cells if not cell.within_tolerance]

    def summary(self) -> str:
        tol = tolerance_for(self.dtype)
        bad = len(self.failures)
        verdict = "all within tolerance" if not bad else f"{bad} OUT OF TOLERANCE"
        return (
            f"{len(self.cells)} results, {verdict} ({self.dtype}: rtol {tol.rtol:g}, atol {tol.atol:g}); "
            f"{len(self.rows)} losses/metrics on {len(self.columns)} backend/device pairs; "
            f"{len(self.skipped)} skipped; {self.seconds:.1f} s"
        )

    def to_json(self) -> dict:
        tol = tolerance_for(self.dtype)
        return {
            "lossbridge": __version__,
            "dtype": self.dtype,
            "seed": self.seed,
            "reference": "numpy float64",
            "tolerance": {"rtol": tol.rtol, "atol": tol.atol},
            "columns": self.columns,
            "rows": [asdict(row) for row in self.rows],
            "skipped": self.skipped,
            "summary": {"results": len(self.cells), "out_of_tolerance": len(self.failures), "text": self.summary()},
        }


# ------------------------------------------------------------------ running
def select_columns(names=None, device_kind=None):
    """``(columns, notes)``: ``"backend:device"`` pairs to run, and why others
    are left out. Unknown or missing backends raise (ValueError, ImportError)."""
    names = [backends.get(n).name for n in names] if names else backends.installed()
    columns, notes = [], []
    for name in names:
        found = backends.get(name).devices()
        kept = [d for d in found if device_kind is None or _kind(d) == _kind(device_kind)]
        if not kept:
            notes.append(f"{name}: no {device_kind} device here (devices: {', '.join(found)})")
        columns += [f"{name}:{d}" for d in kept]
    return columns, notes


def _kind(device):
    kind = device.split(":")[0].lower()
    return "gpu" if kind in ACCELERATOR else kind


def build(columns, dtype="float32", seed=0, include_metrics=True, name_filter=None, progress=None) -> Report:
    """Run every known entry (optionally those whose name contains
    ``name_filter``) on every column."""
    report = Report(dtype=dtype, seed=seed, columns=list(columns))
    started = time.perf_counter()
    todo = []
    for entry in catalogue.entries(include_metrics):
        if name_filter and name_filter.lower() not in entry.name.lower():
            continue
        if not entry.cases:
            report.skipped.append(f"{entry.family} {entry.name}: no input recipe")
        todo += [(entry, case) for case in entry.cases]
    for number, (entry, case) in enumerate(todo):
        if progress:
            progress(number, len(todo), case.id)
        report.rows.append(_row(entry, case, report.columns, dtype, seed))
    report.seconds = time.perf_counter() - started
    return report


def _row(entry, case, columns, dtype, seed):
    arrays = cases.random_example(case.kind, np.random.default_rng(seed))
    fn = entry.function(case)
    rounded = [reference.round_to(x, dtype) if reference.is_float_array(x) else x for x in arrays]
    label = f"{entry.name}[{case.variant}]" if case.variant else entry.name
    row = Row(family=entry.family, name=entry.name, case=label)
    try:
        expected = reference.run_numpy(fn, *rounded)
    except Exception as error:  # noqa: BLE001 - shown in the table, not fatal
        row.cells = {c: Cell(within_tolerance=False, error=f"reference raised {error!r}"[:200]) for c in columns}
        return row
    row.reference = _mean(expected)
    if reference.is_float_array(expected):
        expected = reference.round_to(expected, dtype)
    for column in columns:
        row.cells[column] = _cell(column, fn, rounded, arrays, expected, dtype)
    return row


def _cell(column, fn, rounded, arrays, expected, dtype):
    name, device = column.split(":", 1)
    backend = backends.get(name)
    try:
        tensors, reason = parity._to_backend(backend, rounded, arrays, dtype)
        if reason:
            return Cell(within_tolerance=True, error=f"skipped: {reason}")
        tensors = [backend.to_device(t, device) for t in tensors]
        with np.errstate(all="ignore"), parity._scope(backend):
            out = backend.to_numpy(dispatch.run_on(backend, fn, *tensors))
    except Exception as error:  # noqa: BLE001 - a backend that raises is a failed cell
        return Cell(within_tolerance=False, error=f"{type(error).__name__}: {error}"[:200])
    out_dtype = np.asarray(out).dtype.name
    tol = parity._looser(tolerance_for(dtype), out_dtype, "value")
    row = compare_value({"backend": name, "mode": "eager", "dtype": dtype}, np.asarray(out), expected, tol, out_dtype)
    return Cell(
        value=_mean(out),
        max_abs_dev=_number(row.max_abs_err),
        max_rel_dev=_number(row.max_rel_err),
        within_tolerance=row.ok,
        error=row.note,
    )


def _mean(x):
    x = np.asarray(x, dtype=np.float64) if reference.is_float_array(x) or np.asarray(x).dtype.kind in "biu" else None
    return None if x is None or x.size == 0 else _number(float(np.mean(x)))


def _number(x):
    return None if x is None or math.isnan(x) else (x if math.isfinite(x) else str(x))


# ------------------------------------------------------------------ output
def _dev_text(cell):
    if cell.error and cell.max_abs_dev is None:
        return "skipped" if cell.error.startswith("skipped") else "ERROR"
    return "0" if cell.max_abs_dev == 0 else f"{float(cell.max_abs_dev):.1e}"


def _value_text(x):
    return "-" if x is None else f"{float(x):.7g}"


def plain_table(report: Report, show_values=False) -> str:
    """The table as plain text; failing cells end in ``!``."""
    header = ["", "entry", "reference", *report.columns]
    lines = [header]
    for row in report.rows:
        cells = []
        for column in report.columns:
            cell = row.cells[column]
            text = _dev_text(cell)
            if show_values and cell.value is not None:
                text = f"{_value_text(cell.value)} ({text})"
            cells.append(text + ("" if cell.within_tolerance else " !"))
        lines.append([row.family, row.case, _value_text(row.reference), *cells])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = [
        f"lossbridge {__version__} parity report: max |deviation| from the float64 NumPy reference, "
        f"{report.dtype} inputs, seed {report.seed}"
    ]
    out += ["  ".join(text.ljust(w) for text, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out += [f"skipped: {reason}" for reason in report.skipped]
    out.append(report.summary())
    return "\n".join(out)


def rich_table(report: Report, console, show_values=False):
    """Print the table with rich: deviations green within tolerance, red beyond."""
    from rich.table import Table

    title = f"lossbridge {__version__}: max |deviation| from the float64 NumPy reference ({report.dtype}, seed {report.seed})"
    table = Table(title=title, header_style="bold", row_styles=["", "dim"] if len(report.rows) > 12 else None)
    table.add_column("")
    table.add_column("entry", no_wrap=True)
    table.add_column("reference", justify="right")
    for column in report.columns:
        table.add_column(column, justify="right")
    for row in report.rows:
        texts = []
        for column in report.columns:
            cell = row.cells[column]
            text = _dev_text(cell)
            if show_values and cell.value is not None:
                text = f"{_value_text(cell.value)} ({text})"
            style = (
                "yellow"
                if cell.error and cell.max_abs_dev is None
                else "green"
                if cell.within_tolerance
                else "bold red"
            )
            texts.append(f"[{style}]{text}[/]")
        table.add_row(row.family, row.case, _value_text(row.reference), *texts)
    console.print(table)
    for reason in report.skipped:
        console.print(f"[dim]skipped: {reason}[/]")
    console.print(f"[{'green' if not report.failures else 'bold red'}]{report.summary()}[/]")


def write_json(report: Report, path):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report.to_json(), handle, indent=2)


def plot(report: Report, path):
    """A heatmap of each cell's deviation as a multiple of its tolerance (log
    scale; 1 is the tolerance), failing cells outlined. Needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm
    except ImportError as error:
        raise ImportError(
            "--plot needs matplotlib, which is not installed; install it with: pip install 'lossbridge[plot]'"
        ) from error
    tol = tolerance_for(report.dtype)
    grid = np.full((len(report.rows), len(report.columns)), np.nan)
    for i, row in enumerate(report.rows):
        for j, column in enumerate(report.columns):
            cell, ref = row.cells[column], abs(row.reference or 0.0) if isinstance(row.reference, float) else 0.0
            if cell.max_abs_dev is not None:
                grid[i, j] = float(cell.max_abs_dev) / (tol.atol + tol.rtol * ref)
    shown = np.where(grid > 0, grid, 1e-4)
    height = 1.2 + 0.24 * len(report.rows)
    fig, ax = plt.subplots(figsize=(2.2 + 1.6 * len(report.columns), height))
    image = ax.imshow(np.clip(shown, 1e-4, 1e4), cmap="RdYlGn_r", norm=LogNorm(1e-4, 1e4), aspect="auto")
    ax.set_xticks(range(len(report.columns)), report.columns, rotation=30, ha="right")
    ax.set_yticks(range(len(report.rows)), [f"{r.case} ({r.family})" for r in report.rows], fontsize=8)
    for i in range(1, len(report.rows)):
        if report.rows[i].family != report.rows[i - 1].family:
            ax.axhline(i - 0.5, color="black", linewidth=1.5)
    for i, row in enumerate(report.rows):
        for j, column in enumerate(report.columns):
            cell = row.cells[column]
            ax.text(j, i, _dev_text(cell), ha="center", va="center", fontsize=7)
            if not cell.within_tolerance:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2))
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("max |deviation| / tolerance  (cells: max |deviation|)")
    ax.set_title(
        f"lossbridge parity vs float64 NumPy, {report.dtype} (tolerance: rtol {tol.rtol:g}, atol {tol.atol:g})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
