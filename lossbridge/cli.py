"""The ``lossbridge`` command (also ``python -m lossbridge``).

``lossbridge report`` (the default) runs every registered loss and metric on
every installed backend and device against the float64 NumPy reference and
prints a table; it exits 1 when a deviation exceeds the tolerance, 2 on a
usage error. Frameworks are imported only once a report runs.
"""

from __future__ import annotations

import argparse
import sys
import time

DTYPES = ("float32", "float64", "float16", "bfloat16")


def parser() -> argparse.ArgumentParser:
    from . import __version__

    top = argparse.ArgumentParser(prog="lossbridge", description="lossbridge: losses and metrics on every backend.")
    top.add_argument("--version", action="version", version=f"lossbridge {__version__}")
    commands = top.add_subparsers(dest="command")
    report = commands.add_parser(
        "report",
        help="parity of every loss and metric on every backend and device (the default command)",
        description="Run every registered loss and metric on a fixed seeded example on every installed backend "
        "and device, and compare with the float64 NumPy reference.",
    )
    report.add_argument("--backend", action="append", metavar="NAME", help="only this backend (repeatable or a,b)")
    report.add_argument("--device", choices=("cpu", "cuda", "gpu"), help="only this kind of device (cuda = gpu)")
    report.add_argument("--dtype", choices=DTYPES, default="float32", help="dtype of the inputs (default float32)")
    report.add_argument("--seed", type=int, default=0, help="seed of the examples (default 0)")
    report.add_argument("--filter", metavar="TEXT", help="only entries whose name contains TEXT")
    report.add_argument("--no-metrics", action="store_true", help="losses only")
    report.add_argument("--values", action="store_true", help="show each backend's mean value beside its deviation")
    report.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    report.add_argument("--plot", metavar="PATH.png", help="also draw a heatmap of the deviations (needs matplotlib)")
    report.add_argument("--plain", action="store_true", help="plain text even where rich is installed")
    return top


def main(argv=None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "report")
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return run_report(args)


def _fail(message) -> int:
    print(f"lossbridge: error: {message}", file=sys.stderr)
    return 2


def run_report(args) -> int:
    from . import report

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return _fail(
                "--plot needs matplotlib, which is not installed; install it with: pip install 'lossbridge[plot]'"
            )
    names = [n.strip() for value in args.backend or [] for n in value.split(",") if n.strip()]
    try:
        columns, notes = report.select_columns(names, args.device)
    except (ValueError, ImportError) as error:
        return _fail(error)
    console = _console(args.plain)
    for note in notes:
        print(f"lossbridge: skipped {note}", file=sys.stderr)
    if not columns:
        print("lossbridge: nothing to report: no selected backend has such a device", file=sys.stderr)
        return 0
    with _Progress(console) as progress:
        result = report.build(
            columns, args.dtype, args.seed, not args.no_metrics, args.filter, progress=progress.update
        )
    if console is None:
        print(report.plain_table(result, args.values))
    else:
        report.rich_table(result, console, args.values)
    if args.json:
        report.write_json(result, args.json)
    if args.plot:
        report.plot(result, args.plot)
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


class _Progress:
    """A rich progress bar on stderr, shown only once a run has lasted a
    second (importing the frameworks alone takes longer) and only on a terminal."""

    def __init__(self, console):
        self.enabled, self.started, self.bar, self.task = console is not None, time.monotonic(), None, None

    def __enter__(self):
        return self

    def update(self, done, total, label):
        if not self.enabled or (self.bar is None and time.monotonic() - self.started < 1.0):
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("checking", total=total)
        self.bar.update(self.task, completed=done, description=label)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
