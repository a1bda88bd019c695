"""The ``lossbridge`` command (also ``python -m lossbridge``).

It runs the parity report (``lossbridge [report] [options]``; the word
``report`` is optional): every registered loss and metric on every installed
backend and device against the float64 NumPy reference, as a table. Exit
codes: 0 all within tolerance, 1 a deviation beyond it (or a backend that
raised), 2 a usage error, found before any work. Frameworks are imported
only once a report runs, with their start-up banners (TensorFlow's oneDNN
and absl lines) kept out of the output.

``lossbridge check-backend NAME`` runs the adapter conformance kit instead
(:func:`lossbridge.testing.check_backend`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile

DTYPES = ("float32", "float64", "float16", "bfloat16")
EXIT_CODES = "exit codes: 0 every result within tolerance, 1 a deviation beyond tolerance, 2 a usage error"


def parser() -> argparse.ArgumentParser:
    from . import __version__

    top = argparse.ArgumentParser(
        prog="lossbridge",
        usage="lossbridge [report] [options]",
        description="Parity report: run every registered loss and metric on a fixed seeded example on every "
        "installed backend and device, and compare with the float64 NumPy reference.",
        epilog=EXIT_CODES,
    )
    top.add_argument("--version", action="version", version=f"lossbridge {__version__}")
    top.add_argument("--backend", action="append", metavar="NAME", help="only this backend (repeatable or a,b)")
    top.add_argument("--device", choices=("cpu", "cuda", "gpu"), help="only this kind of device (cuda = gpu)")
    top.add_argument("--dtype", choices=DTYPES, default="float32", help="dtype of the inputs (default float32)")
    top.add_argument("--seed", type=int, default=0, help="seed of the examples (default 0)")
    top.add_argument("--filter", metavar="TEXT", help="only entries whose name contains TEXT")
    top.add_argument("--no-metrics", action="store_true", help="losses only")
    top.add_argument("--values", action="store_true", help="show each backend's mean value beside its deviation")
    top.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    top.add_argument("--plot", metavar="PATH.png", help="also draw a heatmap of the deviations (needs matplotlib)")
    top.add_argument("--plain", action="store_true", help="plain text even where rich is installed")
    return top


def main(argv=None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["check-backend"]:  # the adapter conformance kit (lossbridge.testing.conformance)
        from .testing.conformance import main as check_backend_main

        return check_backend_main(argv[1:])
    if argv[:1] == ["report"]:  # the former subcommand, still accepted
        argv = argv[1:]
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return run_report(args)


def _fail(message) -> int:
    print(f"lossbridge: error: {message}", file=sys.stderr)
    return 2


def usage_error(args):
    """The first problem with ``args`` that would stop the report after its
    work, as one line (None when there is none)."""
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path and (problem := _unwritable(path)):
            return f"{option} {path}: {problem}"
    if args.plot:
        try:
            from matplotlib.backend_bases import FigureCanvasBase
        except ImportError:
            return "--plot needs matplotlib, which is not installed; install it with: pip install 'lossbridge[plot]'"
        kinds = sorted(FigureCanvasBase.get_supported_filetypes())
        extension = os.path.splitext(args.plot)[1].lstrip(".").lower()
        if extension not in kinds:
            return f"--plot {args.plot}: unsupported file type {extension or '(none)'!r}; use one of {', '.join(kinds)}"
    if args.filter is not None:
        from . import report

        if not report.matching_entries(not args.no_metrics, args.filter):
            kind = "loss" if args.no_metrics else "loss or metric"
            return f"--filter {args.filter!r} matches no registered {kind} name"
    return None


def _unwritable(path):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"the directory {folder} does not exist"
    if os.path.isdir(path):
        return "is a directory"
    if not os.access(folder, os.W_OK):
        return f"the directory {folder} is not writable"
    return None


def run_report(args) -> int:
    if (problem := usage_error(args)) is not None:
        return _fail(problem)
    from . import report

    names = [n.strip() for value in args.backend or [] for n in value.split(",") if n.strip()]
    console = _console(args.plain)
    with _quiet_native_stderr() as stderr, _Progress(stderr) as progress:
        try:
            columns, notes = report.select_columns(names, args.device)
        except (ValueError, ImportError) as error:
            problem = error
        else:
            problem, result = (
                None,
                columns
                and report.build(
                    columns, args.dtype, args.seed, not args.no_metrics, args.filter, progress=progress.update
                ),
            )
    if problem is not None:
        return _fail(problem)
    for note in notes:
        print(f"lossbridge: skipped {note}", file=sys.stderr)
    if not columns:
        print("lossbridge: nothing to report: no selected backend has such a device", file=sys.stderr)
        return 0
    if console is None:
        print(report.plain_table(result, args.values))
    else:
        report.rich_table(result, console, args.values)
    if args.json:
        report.write_json(result, args.json)
    if args.plot:
        from .report_plot import plot

        plot(result, args.plot)
    return 1 if result.failures else 0


def _console(plain):
    """A rich Console on a terminal that rich can colour, else None (plain text)."""
    if plain:
        return None
    try:
        from rich.console import Console
    except ImportError:
        return None
    console = Console()
    return console if console.is_terminal else None


@contextlib.contextmanager
def _quiet_native_stderr():
    """File descriptor 2 sent to a scratch file while the frameworks import
    and run, so that what their C++ runtimes print there (TensorFlow's oneDNN
    and absl banners, which TF_CPP_MIN_LOG_LEVEL does not stop) stays out of
    the report; yields a stream on the real stderr, for the progress bar. On
    an error the captured text is written out after all, to explain it."""
    sys.stderr.flush()
    saved = os.dup(2)
    scratch = tempfile.TemporaryFile()
    os.dup2(scratch.fileno(), 2)
    real = os.fdopen(os.dup(saved), "w", encoding="utf-8", errors="replace")
    failed = True
    try:
        yield real
        failed = False
    finally:
        real.flush()
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        real.close()
        if failed:
            scratch.seek(0)
            sys.stderr.write(scratch.read().decode("utf-8", "replace"))
        scratch.close()


class _Progress:
    """A transient rich progress line on a terminal's stderr, from the start:
    first while the frameworks import (seconds), then entry by entry."""

    def __init__(self, stream):
        self.stream, self.bar, self.task = stream, None, None

    def __enter__(self):
        if not self.stream.isatty():
            return self
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        except ImportError:
            return self
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        self.bar = Progress(*columns, console=Console(file=self.stream), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("importing the frameworks", total=None)
        return self

    def update(self, done, total, label):
        if self.bar is not None:
            from rich.markup import escape

            self.bar.update(
                self.task, completed=done, total=total, description=escape(f"checking {label}"), refresh=True
            )

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
