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
from .testing.cases import snake_case
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
    """One registered entry with one input recipe (``case``: name and variant)."""

    family: str
    name: str
    case: str
    reference: float | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    variant: str = ""
    group: str = ""  # the label of the table row that shows it (see TableRow)


@dataclass
class TableRow:
    """A line of the table: a loss's class and function with the same recipe
    (``MeanSquaredError / mean_squared_error``) when their references agree,
    each cell the worse of the two."""

    family: str
    label: str
    reference: float | None
    cells: dict[str, Cell]


@dataclass
class Report:
    dtype: str
    seed: int
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    table_rows: list[TableRow] = field(default_factory=list)
    #: class/function pairs listed apart because their references differ
    apart: list[str] = field(default_factory=list)

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
            f"{len(self.rows)} losses/metrics ({len(self.table_rows)} rows) on {len(self.columns)} backend/device pairs; "
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
            "listed_apart": self.apart,
            "seconds": self.seconds,
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
    for entry in matching_entries(include_metrics, name_filter):
        if not entry.cases:
            report.skipped.append(f"{entry.family} {entry.name}: no input recipe")
        todo += [(entry, case) for case in entry.cases]
    for number, (entry, case) in enumerate(todo):
        if progress:
            progress(number, len(todo), f"{entry.name}[{case.variant}]" if case.variant else entry.name)
        report.rows.append(_row(entry, case, report.columns, dtype, seed))
    report.table_rows, report.apart = group_rows(report.rows)
    report.seconds = time.perf_counter() - started
    return report


def matching_entries(include_metrics=True, name_filter=None):
    """The catalogue entries whose name, or its snake_case form, contains
    ``name_filter`` (any case): ``binary_crossentropy`` finds the class too."""
    found = catalogue.entries(include_metrics)
    wanted = (name_filter or "").lower()
    return [e for e in found if wanted in e.name.lower() or wanted in snake_case(e.name)]


def group_rows(rows):
    """``(table rows, notes)``: each loss's class and function rows of one
    variant merged into one table row when their references agree (to 1e-9),
    listed apart with a note when they do not; losses first, by name."""
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        groups.setdefault((row.family != "loss", snake_case(row.name), row.variant), []).append(row)
    table, apart = [], []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda r: not r.name[:1].isupper())  # the class first
        references = [r.reference for r in members]
        if len(members) > 1 and not _agree(references):
            shown = " vs ".join(f"{r.name} {_value_text(r.reference)}" for r in members)
            apart.append(f"{' and '.join(r.name for r in members)} are listed apart: their references differ ({shown})")
            groups_of = [[r] for r in members]
        else:
            groups_of = [members]
        for group in groups_of:
            label = " / ".join(r.name for r in group) + (f" [{group[0].variant}]" if group[0].variant else "")
            cells = {c: _worst([r.cells[c] for r in group]) for c in group[0].cells}
            table.append(TableRow(group[0].family, label, group[0].reference, cells))
            for r in group:
                r.group = label
    return table, apart


def _agree(values):
    if any(not isinstance(v, float) for v in values):
        return len(set(map(str, values))) == 1
    return all(math.isclose(v, values[0], rel_tol=1e-9, abs_tol=1e-12) for v in values)


def _worst(cells):
    """The cell that tells most: a failure, an error, the largest deviation, a skip."""

    def weight(cell):
        measured = cell.max_abs_dev is not None
        return (not cell.within_tolerance, not measured and not _skipped(cell), measured, float(cell.max_abs_dev or 0))

    return max(cells, key=weight)


def _skipped(cell):
    return cell.error.startswith("skipped")


def _row(entry, case, columns, dtype, seed):
    arrays = cases.random_example(case.kind, np.random.default_rng(seed))
    fn = entry.function(case)
    rounded = [reference.round_to(x, dtype) if reference.is_float_array(x) else x for x in arrays]
    label = f"{entry.name}[{case.variant}]" if case.variant else entry.name
    row = Row(family=entry.family, name=entry.name, case=label, variant=case.variant)
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
#: table headers: the backend's name where it has one device ("tf": the
#: conventional short name keeps the table inside 80 columns)
SHORT_NAMES = {"tensorflow": "tf"}


def column_labels(columns):
    """``{column: header}``: ``torch`` for ``torch:cpu:0`` when torch has no
    other device here, the whole ``backend:device`` otherwise."""
    backends_of = [c.split(":", 1)[0] for c in columns]
    return {
        c: SHORT_NAMES.get(b, b) if backends_of.count(b) == 1 else f"{SHORT_NAMES.get(b, b)}:{c.split(':', 1)[1]}"
        for c, b in zip(columns, backends_of, strict=True)
    }


def _dev_text(cell):
    if cell.error and cell.max_abs_dev is None:
        return "skipped" if _skipped(cell) else "ERROR"
    return "0" if cell.max_abs_dev == 0 else f"{float(cell.max_abs_dev):.1e}"


def _value_text(x):
    return "-" if x is None else f"{float(x):.6g}"  # six digits: the 80-column table fits


def _cell_text(cell, show_values, separator=" "):
    """The deviation (the value before it with ``show_values``), `` !`` when out of tolerance."""
    text = _dev_text(cell)
    if show_values and cell.value is not None:
        text = f"{_value_text(cell.value)}{separator}({text})"
    return text + ("" if cell.within_tolerance else " !")


def _title(report):
    return (
        f"lossbridge {__version__} parity report: max |deviation| from the float64 NumPy reference, "
        f"{report.dtype} inputs, seed {report.seed}"
    )


def _notes(report):
    """What follows the table: backends that raised, entries listed apart, skips."""
    labels = column_labels(report.columns)
    errors = [
        f"error: {row.label} on {labels[column]}: {cell.error}"
        for row in report.table_rows
        for column, cell in row.cells.items()
        if cell.error and cell.max_abs_dev is None and not _skipped(cell)
    ]
    return errors + [f"note: {text}" for text in report.apart] + [f"skipped: {text}" for text in report.skipped]


def plain_table(report: Report, show_values=False) -> str:
    """The table as plain text, one line per row (for pipes and grep); failing cells end in ``!``."""
    labels = column_labels(report.columns)
    lines = [["", "entry", "reference", *labels.values()]]
    for row in report.table_rows:
        cells = [_cell_text(row.cells[c], show_values) for c in report.columns]
        lines.append([row.family, row.label, _value_text(row.reference), *cells])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = [_title(report)]
    out += ["  ".join(text.ljust(w) for text, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    return "\n".join([*out, *_notes(report), report.summary()])


def rich_table(report: Report, console, show_values=False):
    """Print the table with rich, as wide as the console: the entry column
    wraps, number columns never shrink, and where the backends do not fit
    beside the entries they go to further tables. Deviations are green
    within tolerance, red beyond; names are escaped (``[from_logits]`` is
    not markup)."""
    from rich.markup import escape

    texts = {c: [_cell_text(r.cells[c], show_values, "\n") for r in report.table_rows] for c in report.columns}
    widths = {c: max(len(line) for text in [*texts[c], label] for line in text.split("\n"))
              for c, label in column_labels(report.columns).items()}  # fmt: skip
    references = [_value_text(r.reference) for r in report.table_rows]
    fixed = max(map(len, ["reference", *references]))
    words = [len(word) for r in report.table_rows for word in r.label.split()] or [5]
    entry_width = min(max(words), max(12, console.width // 2))
    console.print(escape(_title(report)), highlight=False)
    for group in _column_groups(report.columns, widths, console.width - entry_width - fixed - 1):
        console.print(_rich_part(report, group, texts, references, fixed, widths))
    for line in _notes(report):
        console.print(escape(line), style="dim" if line.startswith("skipped") else None, highlight=False)
    console.print(escape(report.summary()), style="green" if not report.failures else "bold red", highlight=False)


def _column_groups(columns, widths, room):
    """``columns`` in runs whose widths (plus a space each) fit in ``room`` (at least one each)."""
    groups, used = [[]], 0
    for column in columns:
        if groups[-1] and used + widths[column] + 1 > room:
            groups.append([])
            used = 0
        groups[-1].append(column)
        used += widths[column] + 1
    return groups


def _rich_part(report, columns, texts, references, fixed, widths):
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 0), header_style="bold", row_styles=["", "dim"])
    table.add_column("entry", ratio=1, overflow="fold")
    table.add_column("reference", justify="right", no_wrap=True, min_width=fixed)
    labels = column_labels(report.columns)
    for column in columns:
        table.add_column(labels[column], justify="right", no_wrap=True, min_width=widths[column])
    family = None
    for i, row in enumerate(report.table_rows):
        if row.family != family:
            family = row.family
            table.add_row(f"[bold]{'losses' if family == 'loss' else family + 's'}[/]", end_section=False)
        cells = [f"[{_style(row.cells[c])}]{escape(texts[c][i])}[/]" for c in columns]
        table.add_row(escape(row.label), references[i], *cells)
    return table


def _style(cell):
    if cell.error and cell.max_abs_dev is None:
        return "yellow"
    return "green" if cell.within_tolerance else "bold red"


def write_json(report: Report, path):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report.to_json(), handle, indent=2)


def read_json(path) -> Report:
    """The report :func:`write_json` wrote (``--json``), whole again: its
    table can be rendered anew (another width, ``rich_table``) without
    running the catalogue a second time."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    rows = [Row(**{**row, "cells": {c: Cell(**cell) for c, cell in row["cells"].items()}}) for row in data["rows"]]
    report = Report(data["dtype"], data["seed"], data["columns"], rows, data["skipped"], data["seconds"])
    report.table_rows, report.apart = group_rows(rows)
    return report
