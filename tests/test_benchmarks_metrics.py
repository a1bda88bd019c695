"""Smoke tests of the metric benchmark (``benchmarks.metric_suite``): its case
table covers the catalogue, its inputs are what the table says, a worker run
produces timings and value checks, and each torchmetrics mapping computes the
number Keras' metric computes (torchmetrics' own result is the reference).

No timing is asserted: benchmarks measure, tests do not.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

import lossbridge.metrics as lb_metrics
from benchmarks import metric_cases as MC
from benchmarks import metric_libs as L
from benchmarks import metric_report, metric_suite
from tests.helpers import not_on


def test_every_catalogue_metric_has_one_case():
    catalogue = {n for n in lb_metrics.__all__ if n[0].isupper()} - {"Metric", "MeanMetricWrapper"}
    classes = [case.cls for case in MC.METRICS]
    assert sorted(classes) == sorted(catalogue)
    assert len({case.id for case in MC.METRICS}) == len(MC.METRICS)
    assert set(MC.SUITE_METRICS) <= {case.id for case in MC.METRICS}
    for case in MC.METRICS:
        assert case.inputs in MC.INPUT_KINDS
        assert bool(case.tm) != bool(case.tm_why), case.id  # a mapping, or the reason there is none


@pytest.mark.parametrize("kind", sorted(MC.INPUT_KINDS))
def test_inputs_are_seeded_and_sized(kind):
    small, again = MC.metric_inputs(kind, "small"), MC.metric_inputs(kind, "small")
    for a, b in zip(small, again, strict=True):
        np.testing.assert_array_equal(a, b)
    rows = 1_000_000 if kind in MC.CLASS_SCORE_KINDS else 100_000
    assert small[-1].shape == (32, 10)
    assert MC.shape_of(kind, "large") == (rows, 10)


def test_unknown_kind_names_the_accepted_ones():
    with pytest.raises(ValueError, match="metric input kind 'nope'.*regression"):
        MC.metric_inputs("nope", "small")


@not_on("mlx")
def test_worker_times_and_checks(backend):
    out = metric_suite.work(backend.name, ["small"], metric_suite.Settings(quick=True), ["sum", "auc"], False)
    assert out["notes"] == []
    timed = {(r["case"], r["variant"]) for r in out["rows"] if "median" in r}
    libraries = {"lb", "tm"} if backend.name == "torch" and importlib.util.find_spec("torchmetrics") else {"lb"}
    if backend.name != "numpy":
        libraries.add("lbc")  # lossbridge with compile=True
    assert timed == {(case, lib) for case in ("sum", "auc") for lib in libraries}
    assert all(c.get("tm_ok", True) and c.get("lbc_ok", True) for c in out["checks"])
    # the values recorded are of one update: the sum of the input (float64 reference), eager and compiled
    (values,) = MC.metric_inputs("values", "small")
    total = next(c for c in out["checks"] if c["case"] == "sum")
    for recorded in (total["lb"], total.get("lbc", total["lb"])):
        np.testing.assert_allclose(recorded, values.astype(np.float64).sum(), rtol=1e-6)
    doc = {"rows": out["rows"], "checks": out["checks"], "memory": out["memory"], "notes": []}
    assert "auc" in metric_report.full_report(doc)
    if backend.name != "numpy":
        (auc,) = (r for r in metric_report.ratios(doc) if r["case"] == "auc")
        assert auc["lbc_us"] > 0 and auc["check"]["lbc_ok"]
    assert metric_report.targets_markdown(doc).startswith("| target | backend |")


def test_state_bytes_and_peak_on_numpy():
    metric = lb_metrics.Sum()
    (values,) = MC.metric_inputs("values", "small")
    metric.update_state(values)
    # Sum keeps one running total: a float64 scalar (a float32 one and its compensation twin on JAX without x64)
    assert L.state_bytes("lb", metric) == sum(np.asarray(v).nbytes for v in metric.variables) > 0
    peak, how = L.peak_bytes("numpy", lambda: np.ones(1000, np.float64))
    assert how == "tracemalloc" and peak >= 8000


@pytest.mark.skipif(
    importlib.util.find_spec("torchmetrics") is None or importlib.util.find_spec("torch") is None,
    reason="needs torch and torchmetrics",
)
@pytest.mark.parametrize("case", [c for c in MC.METRICS if c.tm], ids=lambda c: c.id)
def test_torchmetrics_mapping_computes_the_same_number(case):
    arrays = MC.metric_inputs(case.inputs, "small", seed=3)
    tm = L.make("tm", case)
    expected = L.tm_read(case, L.update_and_compute(tm)(L.tm_inputs(case, arrays, "torch")))
    metric = L.make("lb", case)
    got = L.to_numpy(L.update_and_result(metric)(list(arrays)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_mapping_table_names_every_case():
    table = metric_report.mapping_markdown()
    for case in MC.METRICS:
        assert f"`{case.id}`" in table


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_gpu_metric_benchmark_runs_and_its_variants_agree(framework):
    """``python -m benchmarks.gpu --metrics`` on this machine's CPU at 2^10
    elements (its dry run): every case times every variant (torchmetrics' on
    torch) and each one's value after one update equals lossbridge's."""
    pytest.importorskip(framework)
    from benchmarks import gpu_metrics

    result = gpu_metrics.run_metrics(framework, log2=10, repeats=1, compiled=False)
    assert result["suite"] == "metrics" and result["elements"] == 1024
    expected = {"lb", "tm"} if framework == "torch" else {"lb"}
    for case in gpu_metrics.CASES:
        rows = result["cases"][case]
        assert set(rows) == expected, case
        for name, row in rows.items():
            assert "error" not in row, (case, name, row)
            assert row["agrees"], (case, name, row["value"])
            assert row["fraction_of_copy"] > 0


@not_on("mlx")
def test_running_sum_plan_benchmark_times_and_its_variants_agree(backend, tmp_path, capsys):
    """``python -m benchmarks.running_sum_plan`` on one backend, one sample:
    every case times the planned and the general route (and torchmetrics on
    torch), and every variant's value equals a float64 NumPy formula of the
    benchmark's batch (each variant sees that one batch, again and again)."""
    from benchmarks import running_sum_plan

    out = tmp_path / "plan.json"
    assert running_sum_plan.main(["--backend", backend.name, "--samples", "1", "--json", str(out)]) == 0
    rows = {row["case"]: row for row in json.loads(out.read_text())["rows"]}
    assert set(rows) == set(running_sum_plan.CASES)
    rng = np.random.default_rng(0)  # the benchmark's batch
    t, p = (rng.uniform(0.1, 1.0, (32, 10)).astype(np.float32).astype(np.float64) for _ in range(2))
    expected = {
        "mean": p.mean(),
        "mse": np.mean((t - p) ** 2),
        "mae": np.mean(np.abs(t - p)),
        "mape": 100 * np.mean(np.abs((t - p) / t)),
        "msle": np.mean((np.log1p(p) - np.log1p(t)) ** 2),
        "rmse": np.sqrt(np.mean((t - p) ** 2)),
        "bce": -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)),
    }
    for case, row in rows.items():
        timed = (
            {"plan", "none", "tm"} if backend.name == "torch" and running_sum_plan.CASES[case][1] else {"plan", "none"}
        )
        assert {k[:-3] for k in row if k.endswith("_us")} == timed, case
        for name, value in row["values"].items():
            np.testing.assert_allclose(value, expected[case], rtol=2e-5, err_msg=f"{case} {name}")
