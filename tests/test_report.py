"""``python -m lossbridge report``, run as a user runs it: in subprocesses.

Expected numbers come from float64 NumPy formulas written here, on the same
seeded example the report uses.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from lossbridge.testing import cases

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
ENV.pop("FORCE_COLOR", None)


def lossbridge(*args, code=None, env=None, timeout=300):
    """Run ``python -m lossbridge ARGS`` (or ``python -c CODE``) from the repository root."""
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "lossbridge", *args]
    return subprocess.run(command, cwd=ROOT, env=env or ENV, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")  # run once (xdist: --dist=loadfile)
def default_run(tmp_path_factory):
    """``python -m lossbridge --json PATH`` as a user runs it, with the
    frameworks' log level left alone (their banners must stay out of the
    output all the same): the process and its report, read back."""
    from lossbridge import report

    path = tmp_path_factory.mktemp("report") / "report.json"
    env = {key: value for key, value in ENV.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = lossbridge("--json", str(path), env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done, report.read_json(path)


@pytest.mark.slow(seconds=55)  # the file: the whole catalogue in subprocesses, scheduled early (conftest.py)
def test_default_table_covers_every_backend_and_entry(default_run):
    from lossbridge import backends, report

    done, loaded = default_run
    assert done.stdout == report.plain_table(loaded) + "\n"  # the JSON holds the whole report
    lines = done.stdout.splitlines()
    assert lines[0].startswith("lossbridge ") and "float64 NumPy reference" in lines[0]
    short = {"tensorflow": "tf"}  # one device each here: the backend's (short) name heads its column
    assert lines[1].split() == ["entry", "reference", *(short.get(n, n) for n in backends.installed())]
    # a loss's class and function are one row; the metric of the same name is its own
    assert any(line.split()[:4] == ["loss", "MeanSquaredError", "/", "mean_squared_error"] for line in lines)
    assert any(line.split()[:2] == ["metric", "mean_squared_error"] for line in lines)
    assert any(line.split()[:2] == ["metric", "mean"] for line in lines)
    assert "all within tolerance (float32: rtol 1e-05, atol 1e-06)" in lines[-1]


def test_json_holds_the_table_and_the_reference_values(tmp_path):
    path = tmp_path / "report.json"
    done = lossbridge("report", "--backend", "numpy,torch", "--filter", "squared_error", "--json", str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(path.read_text())
    assert report["dtype"] == "float32" and report["reference"] == "numpy float64"
    assert report["columns"] == ["numpy:cpu:0", "torch:cpu:0"]
    assert report["summary"]["out_of_tolerance"] == 0
    y_true, y_pred = cases.random_example("regression", np.random.default_rng(0))
    y_true, y_pred = (x.astype(np.float32).astype(np.float64) for x in (y_true, y_pred))
    expected = {
        "mean_squared_error": np.mean((y_true - y_pred) ** 2),
        "root_mean_squared_error": np.sqrt(np.mean((y_true - y_pred) ** 2)),
    }
    rows = {(row["family"], row["case"]): row for row in report["rows"]}
    assert rows[("loss", "mean_squared_error")]["reference"] == pytest.approx(expected["mean_squared_error"], rel=1e-12)
    metric = rows[("metric", "root_mean_squared_error")]
    assert metric["reference"] == pytest.approx(expected["root_mean_squared_error"], rel=1e-12)
    for column in report["columns"]:
        cell = metric["cells"][column]
        assert cell["within_tolerance"] and cell["value"] == pytest.approx(
            expected["root_mean_squared_error"], rel=1e-6
        )
        assert 0 <= cell["max_abs_dev"] <= 1e-5


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "heatmap.png"
    done = lossbridge("--backend", "numpy", "--filter", "hinge", "--plot", str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_an_unknown_backend_is_a_usage_error():
    done = lossbridge("--backend", "mxnet")
    assert done.returncode == 2
    assert "unknown backend 'mxnet'" in done.stderr and "registered backends: numpy" in done.stderr
    assert done.stdout == ""


def test_a_missing_device_is_skipped_gracefully():
    from lossbridge import backends

    if any(d != "cpu:0" for d in backends.get("torch").devices()):
        pytest.skip("this machine has a GPU")
    done = lossbridge("--backend", "torch", "--device", "cuda")
    assert done.returncode == 0
    assert "skipped torch: no cuda device here" in done.stderr and "nothing to report" in done.stderr


def test_a_deviation_beyond_tolerance_exits_nonzero():
    code = (
        "import sys, lossbridge\n"
        "from lossbridge import K\n"
        "@lossbridge.register_loss('broken_on_jax', examples='regression')\n"
        "def broken_on_jax(y_true, y_pred):\n"
        "    value = K.mean(K.square(y_true - y_pred), axis=-1)\n"
        "    return value * 1.01 if K.name == 'jax' else value\n"
        "from lossbridge.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    done = lossbridge("--backend", "numpy,jax", "--filter", "broken_on_jax", "--no-metrics", code=code)
    assert done.returncode == 1, done.stderr[-2000:]
    row = next(line for line in done.stdout.splitlines() if "broken_on_jax" in line)
    assert row.split()[-1] == "!" and "1 OUT OF TOLERANCE" in done.stdout


def test_plain_text_without_rich_and_colour_with_it():
    code = (
        "import sys; sys.modules['rich'] = None\nfrom lossbridge.cli import main\nraise SystemExit(main(sys.argv[1:]))"
    )
    plain = lossbridge("--backend", "numpy", "--filter", "poisson", code=code)
    assert plain.returncode == 0 and "\x1b[" not in plain.stdout and "poisson" in plain.stdout
    coloured = lossbridge("--backend", "numpy", "--filter", "poisson", env={**ENV, "FORCE_COLOR": "1"})
    assert coloured.returncode == 0 and "\x1b[" in coloured.stdout and "poisson" in coloured.stdout


def test_help_and_import_stay_light():
    done = lossbridge("--help")
    assert done.returncode == 0 and "report" in done.stdout
    for option in ("--backend", "--device", "--dtype", "--filter", "--json", "--plot", "--values", "exit codes"):
        assert option in done.stdout, option
    code = "import sys, lossbridge; bad = {'lossbridge.report', 'lossbridge.cli', 'rich', 'matplotlib'} & set(sys.modules); assert not bad, bad"
    assert lossbridge(code=code).returncode == 0


def test_device_hooks(backend):
    """The adapter hooks the report places inputs with: the CPU comes first
    and a tensor moved there keeps its values."""
    found = backend.devices()
    assert found[0] == "cpu:0" and all(":" in name for name in found)
    moved = backend.to_device(backend.convert_to_tensor(np.array([1.5, -2.0], np.float32)), "cpu:0")
    assert backend.to_numpy(moved).tolist() == [1.5, -2.0]
    assert "cpu" in backend.device(moved).lower()


# ------------------------------------------------------------------ the table, rendered
@pytest.fixture(scope="session")
def full_report(default_run):
    """The whole catalogue on every installed backend: the default run's
    report, read back from its JSON."""
    return default_run[1]


def rendered(result, width, **options):
    """What a terminal of ``width`` columns shows of ``result`` (colours dropped)."""
    from rich.console import Console

    from lossbridge import report

    console = Console(width=width, force_terminal=True, record=True, color_system="truecolor", file=io.StringIO())
    report.rich_table(result, console, **options)
    return console.export_text()


@pytest.mark.slow
@pytest.mark.parametrize("width", [80, 120])
def test_the_table_is_whole_at_80_and_120_columns(full_report, width):
    text = rendered(full_report, width)
    assert "…" not in text  # rich's mark of a cut cell or header
    assert max(map(len, text.splitlines())) <= width
    words = set(text.split())
    for row in full_report.table_rows:  # names wrap at spaces only, brackets kept (not read as markup)
        assert set(row.label.split()) <= words, row.label
        assert f"{row.reference:.6g}" in words, row.label
    for name in ("[from_logits]", "[label_smoothing]", "[delta=0.5]", "[fn=mse]", "labels]"):
        assert name in words, name
    from lossbridge import report

    assert {"entry", "reference", *report.column_labels(full_report.columns).values()} <= words


def test_more_columns_than_fit_go_to_further_tables_and_notes_keep_brackets(full_report):
    """Seven columns (as on a machine with GPUs) at 80 columns: no number is
    cut; the skipped lines and notes print their brackets."""
    from lossbridge import report

    columns = [f"{name}:{device}" for name in ("torch", "jax") for device in ("cpu:0", "cuda:0", "cuda:1")]
    columns.append("numpy:cpu:0")
    first = full_report.columns[0]
    rows = [report.TableRow(r.family, r.label, r.reference, {c: r.cells[first] for c in columns})
            for r in full_report.table_rows]  # fmt: skip
    wide = report.Report("float32", 0, columns, table_rows=rows, skipped=["metric Odd[one]: no input recipe"])
    text = rendered(wide, 80, show_values=True)
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    assert text.count("reference") >= 2  # the backends did not fit beside the entries in one table
    for header in ("torch:cuda:1", "jax:cpu:0", "numpy"):
        assert header in text.split()
    assert "skipped: metric Odd[one]: no input recipe" in text
    value = rows[0].cells[columns[0]].value
    assert f"{value:.6g}" in text.split()


def test_class_and_function_share_a_row_when_they_agree(full_report):
    by_label = {row.label: row for row in full_report.table_rows}
    row = by_label["MeanSquaredError / mean_squared_error"]
    members = [r for r in full_report.rows if r.group == row.label]
    assert sorted(r.name for r in members) == ["MeanSquaredError", "mean_squared_error"]
    for column, cell in row.cells.items():  # the worse of the two
        assert cell.max_abs_dev == max(r.cells[column].max_abs_dev for r in members)
    assert "BinaryCrossentropy / binary_crossentropy [from_logits]" in by_label
    assert "mean_squared_error" in by_label  # the metric keeps its own row
    loss_rows = [r for r in full_report.table_rows if r.family == "loss"]
    assert len(loss_rows) < len([r for r in full_report.rows if r.family == "loss"]) * 0.6


def test_no_catalogue_metric_reads_a_trivial_reference(full_report):
    """Agreement on 0 (no hit, no overlap) or on a certain 1 proves little."""
    metrics = {row.case: row.reference for row in full_report.rows if row.family == "metric"}
    assert len(metrics) > 40
    trivial = {case: value for case, value in metrics.items() if value in (0.0, 1.0)}
    assert not trivial, trivial
    # hand-checked: ids 0..3 once each, the sample of class 0 guessed as class 2:
    # 3 of 4 right; IoU class 0 = 0/1, class 2 = 1/2 (two guesses, one true), classes 1, 3 = 1
    expected = {"accuracy": 0.75, "sparse_categorical_accuracy": 0.75, "categorical_accuracy": 0.75,
                "mean_io_u": (0 + 1 + 0.5 + 1) / 4, "one_hot_mean_io_u": (0 + 1 + 0.5 + 1) / 4,
                "io_u": (0 + 0.5) / 2, "one_hot_io_u": (0 + 0.5) / 2}  # fmt: skip
    for case, value in expected.items():
        assert metrics[case] == pytest.approx(value, abs=1e-6), case


@pytest.mark.slow
def test_framework_banners_stay_out_of_the_output(default_run):
    done, _ = default_run
    text = done.stdout + done.stderr
    for noise in ("oneDNN", "absl", "WARNING: All log messages", "cpu_feature_guard"):
        assert noise not in text, text[:2000]
    assert not re.search(r"^[IWEF]\d{4} ", text, re.MULTILINE), text[:2000]


def test_progress_shows_from_the_start_on_a_terminal():
    """Under a pseudo-terminal the progress line appears before any entry is
    checked (while the frameworks import), and names keep their brackets."""
    if shutil.which("script") is None:
        pytest.skip("needs util-linux `script` for a pseudo-terminal")
    command = f"{sys.executable} -m lossbridge --backend numpy --filter binary_crossentropy"
    done = subprocess.run(["script", "-qec", command, "/dev/null"], cwd=ROOT, env={**ENV, "COLUMNS": "100"},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    out = done.stdout
    assert "importing the frameworks" in out
    assert out.index("importing the frameworks") < out.index("checking ")
    assert "checking BinaryCrossentropy[from_logits]" in out
    assert "BinaryCrossentropy / binary_crossentropy" in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)


# ------------------------------------------------------------------ exit codes
@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--json", "/no/such/dir/report.json"],
            "--json /no/such/dir/report.json: the directory /no/such/dir does not exist",
        ),
        (["--plot", "out.txt"], "--plot out.txt: unsupported file type 'txt'; use one of "),
        (["--plot", "/no/such/dir/heat.png"], "the directory /no/such/dir does not exist"),
        (["--filter", "no_such_loss"], "--filter 'no_such_loss' matches no registered loss or metric name"),
        (["report", "--no-metrics", "--filter", "accuracy"], "matches no registered loss name"),
        (["--dtype", "float8"], "invalid choice: 'float8'"),
    ],
)
def test_usage_errors_exit_2_before_any_work(arguments, message):
    code = (
        "import sys\nfrom lossbridge.cli import main\ncode = main(sys.argv[1:])\n"
        "assert not {'torch', 'jax', 'tensorflow'} & set(sys.modules), 'a framework was imported'\n"
        "raise SystemExit(code)"
    )
    done = lossbridge(*arguments, code=code)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stdout == "" and message in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("lossbridge: error: ") and message in lines[-1]


def test_the_console_script_lists_the_options(capsys):
    from lossbridge.cli import main

    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: lossbridge [report] [options]")
    for option in ("--backend", "--filter", "--json", "--plot", "--no-metrics", "--plain", "--version"):
        assert option in text, option


# ------------------------------------------------------------------ the heatmap
def _png_size_inches(path, dpi=110):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width / dpi, height / dpi


@pytest.mark.slow
def test_the_heatmap_of_the_whole_catalogue_stays_a_sensible_size(full_report, tmp_path):
    pytest.importorskip("matplotlib")
    from lossbridge import report
    from lossbridge.report_plot import plot

    path = tmp_path / "all.png"
    width, height = plot(full_report, path)
    assert (width, height) == pytest.approx(_png_size_inches(path), abs=0.02)
    assert len(full_report.table_rows) > 80 and height < 40
    # 400 rows: the rows shrink rather than the figure growing past the cap
    many = report.Report("float32", 0, full_report.columns, table_rows=full_report.table_rows * 5)
    _, tall = plot(many, tmp_path / "many.png")
    assert tall < 40 and _png_size_inches(tmp_path / "many.png")[1] < 40
