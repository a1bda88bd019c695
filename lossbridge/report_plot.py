"""The heatmap of ``python -m lossbridge --plot PATH`` (needs matplotlib);
split from :mod:`lossbridge.report`, which it draws."""

from __future__ import annotations

import numpy as np

from .report import Report, _dev_text, column_labels
from .testing.tolerances import tolerance_for

#: the heatmap's height per row and its cap: 116 rows at full size is 28 inches
PLOT_ROW_INCHES, PLOT_MAX_ROWS_INCHES = 0.24, 30.0


def plot(report: Report, path):
    """A heatmap of each cell's deviation as a multiple of its tolerance (log
    scale; 1 is the tolerance), failing cells outlined, column labels above
    and below; rows shrink (and their labels with them) past 125 rows so
    the figure stays under ~32 inches. Needs matplotlib. Returns the figure
    size in inches."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm
    except ImportError as error:
        raise ImportError(
            "--plot needs matplotlib, which is not installed; install it with: pip install 'lossbridge[plot]'"
        ) from error
    rows, labels = report.table_rows, list(column_labels(report.columns).values())
    grid = _tolerance_multiples(report)
    per_row = min(PLOT_ROW_INCHES, PLOT_MAX_ROWS_INCHES / max(1, len(rows)))
    font = max(3.0, min(8.0, per_row * 72 * 0.45))
    size = (2.2 + 1.6 * len(labels), 1.6 + per_row * len(rows))
    fig, ax = plt.subplots(figsize=size)
    image = ax.imshow(np.clip(np.where(grid > 0, grid, 1e-4), 1e-4, 1e4), cmap="RdYlGn_r", norm=LogNorm(1e-4, 1e4),
                      aspect="auto")  # fmt: skip
    ax.set_xticks(range(len(labels)), labels)
    ax.tick_params(axis="x", top=True, labeltop=True, bottom=True, labelbottom=True)
    ax.set_yticks(range(len(rows)), [f"{r.label} ({r.family})" for r in rows], fontsize=font)
    for i in range(1, len(rows)):
        if rows[i].family != rows[i - 1].family:
            ax.axhline(i - 0.5, color="black", linewidth=1.5)
    for i, row in enumerate(rows):
        for j, column in enumerate(report.columns):
            cell = row.cells[column]
            ax.text(j, i, _dev_text(cell), ha="center", va="center", fontsize=min(7.0, font))
            if not cell.within_tolerance:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2))
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("max |deviation| / tolerance  (cells: max |deviation|)")
    tol = tolerance_for(report.dtype)
    ax.set_title(
        f"lossbridge parity vs float64 NumPy, {report.dtype} (tolerance: rtol {tol.rtol:g}, atol {tol.atol:g})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return size


def _tolerance_multiples(report):
    """Each table cell's max |deviation| over its tolerance (nan where none was measured)."""
    tol = tolerance_for(report.dtype)
    grid = np.full((len(report.table_rows), len(report.columns)), np.nan)
    for i, row in enumerate(report.table_rows):
        scale = abs(row.reference) if isinstance(row.reference, float) else 0.0
        for j, column in enumerate(report.columns):
            if row.cells[column].max_abs_dev is not None:
                grid[i, j] = float(row.cells[column].max_abs_dev) / (tol.atol + tol.rtol * scale)
    return grid
