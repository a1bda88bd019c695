"""lossbridge metrics and losses inside Keras 3 (lossbridge.integrations.keras),
on each Keras backend (jax, torch, tensorflow) that is installed.

Keras fixes its backend once per process, so tests/keras_bridge_worker.py
runs once per backend in its own interpreter (``KERAS_BACKEND`` set, bounded
timeout; the three run at once) and writes every number to JSON. The
reference for each bridged lossbridge metric is the ``keras.metrics`` object
of the same class and options, compiled on the same model with the same Keras
losses (so both train to the same weights): per-epoch ``fit`` history
(training and validation), weighted ``evaluate``, ``predict``. The loss
reference is ``keras.losses.BinaryCrossentropy``; ``model.save`` /
``keras.saving.load_model`` must give the evaluation the saved model gave.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests import keras_bridge_worker as worker

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras is not installed"),
    pytest.mark.slow(seconds=105),  # three framework processes: scheduled first (conftest.py)
]

BACKENDS = [name for name in ("jax", "torch", "tensorflow") if importlib.util.find_spec(name) is not None]
#: one worker's wall-clock limit (seconds): generous for 2 shared cores, and never a hang
TIMEOUT = 420
#: float32 rounding: Keras accumulates in float32, lossbridge's sums are compensated / float64
RTOL, ATOL = 2e-6, 1e-6
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JAX_TWO_DEVICES = "--xla_force_host_platform_device_count=2"


@pytest.fixture(scope="session")  # built once (xdist: --dist=loadfile)
def reports(tmp_path_factory):
    """Every backend's worker report, the workers run concurrently."""
    folder = tmp_path_factory.mktemp("keras_bridge")
    running = {}
    for name in BACKENDS:
        env = dict(os.environ, KERAS_BACKEND=name, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
        if name == "jax":  # two host devices for DataParallel (the worker's section 8); Keras uses one otherwise
            env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {JAX_TWO_DEVICES}".strip()
        env.pop("LOSSBRIDGE_BACKEND", None)
        out = folder / f"{name}.json"
        running[name] = (
            subprocess.Popen(
                [sys.executable, "-m", "tests.keras_bridge_worker", str(out)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
            out,
        )
    results = {}
    for name, (process, out) in running.items():
        try:
            log, _ = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            log, _ = process.communicate()
            results[name] = f"the {name} worker ran past {TIMEOUT} s:\n{log[-4000:]}"
            continue
        if process.returncode != 0:
            results[name] = f"the {name} worker failed (exit {process.returncode}):\n{log[-6000:]}"
        else:
            with open(out) as handle:
                results[name] = json.load(handle)
    return results


@pytest.fixture(params=BACKENDS)
def report(request, reports):
    result = reports[request.param]
    if isinstance(result, str):
        pytest.fail(result)
    assert result["backend"] == request.param
    return result


#: R2Score: Keras forms SS_tot = sum(w y^2) - sum(w y)^2 / sum(w) in float32; with
#: these targets (mean 2, std ~0.8) the subtraction loses a factor ~7 and the sums
#: run over 256 samples, so Keras' SS_res / SS_tot = 1 - R2 is good to ~1e-5 of itself
#: (lossbridge's own R2 is held to RTOL against float64 NumPy in
#: test_r2_score_against_float64)
R2_RTOL_OF_ONE_MINUS = 1e-5


def _close(got, want, key):
    if "r2score" in key:
        return np.all(np.abs(got - want) <= R2_RTOL_OF_ONE_MINUS * np.abs(1 - want) + ATOL)
    return np.allclose(got, want, rtol=RTOL, atol=ATOL)


def _assert_same(ours, theirs, what):
    assert sorted(ours) == sorted(theirs), what
    mismatched = {}
    for key in theirs:
        got, want = np.asarray(ours[key], np.float64), np.asarray(theirs[key], np.float64)
        if got.shape != want.shape or not _close(got, want, key):
            mismatched[key] = (ours[key], theirs[key])
    assert not mismatched, f"{what}: lossbridge vs keras.metrics differ for {mismatched}"


def test_every_metric_is_compared():
    """The worker's list covers every metric class of the catalogue that
    keras.metrics has (the parametrized tests below then compare each)."""
    keras = pytest.importorskip("keras")
    import lossbridge.metrics as lm

    ours = {
        name for name in lm.__all__ if isinstance(getattr(lm, name), type) and issubclass(getattr(lm, name), lm.Metric)
    }
    shared = {name for name in ours if isinstance(getattr(keras.metrics, name, None), type)}
    # one-input metrics (not compile metrics: Keras calls update_state(y_true, y_pred)) and the base class
    direct_only = {"Metric", "Mean", "Sum"}
    assert shared - direct_only <= {name for _, name, _ in worker.METRICS}


def test_fit_history_matches_keras_metrics(report):
    theirs, ours = report["history"]["keras"], report["history"]["lossbridge"]
    assert len(theirs) == 2 * (len(worker.METRICS) + 4 + 1)  # metrics, per-output losses, total loss; train + val
    assert all(len(values) == worker.EPOCHS for values in theirs.values())
    _assert_same(ours, theirs, f"fit history on Keras/{report['backend']}")


def test_fit_history_object_is_right(report):
    """The History object itself: lossbridge's training entries are the
    epoch's values (on Keras' torch backend Keras' own count metrics log the
    validation value there, see the worker's train_logs_callback)."""
    history, epochs = report["keras_history"]["lossbridge"], report["history"]["lossbridge"]
    _assert_same(history, epochs, "lossbridge's History")


def test_evaluate_matches_keras_metrics(report):
    theirs, ours = report["evaluate"]["keras"], report["evaluate"]["lossbridge"]
    assert len(theirs) == len(worker.METRICS) + 4 + 1
    _assert_same(ours, theirs, f"evaluate on Keras/{report['backend']}")


def test_masked_losses_reduce_as_keras_own(report):
    """A lossbridge loss whose mask leaves entries out (SparseCategoricalCrossentropy(ignore_class=0), the
    Circle loss's zero-loss anchors) equals Keras' own through KerasLoss, for every reduction, weighted or
    not: Keras reduces by the mask on the values (before: 1.00 for 1.60, Circle 139.3 for 159.2)."""
    cases = report["masked_losses"]
    assert len(cases) == 7
    for key, pair in cases.items():
        np.testing.assert_allclose(pair["lossbridge"], pair["keras"], rtol=RTOL, atol=ATOL, err_msg=key)


def test_mirrored_strategy_matches_keras_metrics(report):
    """TensorFlow's MirroredStrategy over two CPU replicas: every bridged
    metric's fit history and weighted evaluation equal keras.metrics' own under
    the same strategy (the bridge's variables carry Keras' aggregation)."""
    if report["backend"] != "tensorflow":
        assert "mirrored" not in report
        return  # a tf.distribute strategy exists on Keras' TensorFlow backend only
    mirrored = report["mirrored"]
    assert mirrored["replicas"] == 2
    assert len(mirrored["keras"]["evaluate"]) == len(worker.METRICS) + 4 + 1
    for part in ("history", "evaluate"):
        _assert_same(mirrored["lossbridge"][part], mirrored["keras"][part], f"MirroredStrategy {part}")


def test_jax_data_parallel_matches_keras_metrics(report):
    """Keras' JAX distribution API, keras.distribution.DataParallel over two
    host CPU devices (batches sharded, variables replicated, steps jit-compiled
    with those shardings): every bridged metric's fit history and weighted
    evaluation equal keras.metrics' own under the same distribution, and the
    evaluation is of the whole validation set, not one device's shard (R2 and
    MSE against float64 NumPy on the distributed model's predictions)."""
    if report["backend"] != "jax":
        assert "data_parallel" not in report
        return  # keras.distribution runs on Keras' JAX backend only
    data_parallel = report["data_parallel"]
    assert data_parallel["devices"] == data_parallel["replicas"] == 2
    assert data_parallel["metric_variable_devices"] == [2]  # every metric variable replicated on both devices
    assert len(data_parallel["keras"]["history"]) == len(data_parallel["keras"]["evaluate"]) == len(worker.METRICS) + 5
    for part in ("history", "evaluate"):
        _assert_same(data_parallel["lossbridge"][part], data_parallel["keras"][part], f"DataParallel {part}")
    _assert_r2_and_mse_of_evaluation(data_parallel["predict_regression"], data_parallel["lossbridge"]["evaluate"])


def _r2_float64(y, p, w):
    """Per-output weighted R2 and its SS_tot, in float64 (sklearn's r2_score formula)."""
    w = w[:, None]
    mean = np.sum(w * y, axis=0) / np.sum(w, axis=0)
    total = np.sum(w * (y - mean) ** 2, axis=0)
    return 1 - np.sum(w * (y - p) ** 2, axis=0) / total, total


def _assert_r2_and_mse_of_evaluation(predicted, evaluated):
    """The weighted evaluation's R2Score (uniform and variance-weighted) and
    MeanSquaredError against float64 NumPy on the evaluated model's own
    regression predictions (weights: the first N_VAL training weights)."""
    _, y_val, _ = worker.data(1, worker.N_VAL)
    y_val = y_val["regression"].astype(np.float64)
    weight = worker.data(0, worker.N)[2][: worker.N_VAL].astype(np.float64)
    predicted = np.asarray(predicted, np.float64)
    scores, total = _r2_float64(y_val, predicted, weight)
    expected = {
        "R2Score": np.mean(scores),
        "variance_weighted_average": np.sum(total * scores) / np.sum(total),
        "MeanSquaredError": np.sum(weight * np.mean((y_val - predicted) ** 2, axis=-1)) / np.sum(weight),
    }
    checked = 0
    for index, (_, name, options) in enumerate(worker.METRICS):
        if name in ("R2Score", "MeanSquaredError"):
            want = expected[options.get("class_aggregation", name)]
            got = evaluated[worker.history_key(index)]
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{name}({options})")
            checked += 1
    assert checked == 3


def test_r2_score_against_float64(report):
    """evaluate()'s R2Score (uniform and variance-weighted) and MSE against
    float64 NumPy on the evaluated model's own predictions."""
    _assert_r2_and_mse_of_evaluation(report["predict_regression"], report["evaluate"]["lossbridge"])


def test_predict_is_untouched(report):
    assert report["predict_max_abs_diff"] == 0.0


def test_save_and_load_round_trip(report):
    """A model compiled with a KerasLoss, a bare lossbridge loss and every
    bridged metric saves, loads as KerasMetric / KerasLoss / lossbridge's
    MeanSquaredError, and evaluates as before saving."""
    before, after = report["save_load"]["before"], report["save_load"]["after"]
    assert len(before) == len(worker.METRICS) + 4 + 1
    assert before.keys() == after.keys()
    # to float32 rounding, not bit for bit: two evaluations of one TensorFlow model on the CPU may differ in
    # the last bit of a prediction (oneDNN's threaded kernels; once seen: concordance 0.0962738246 vs
    # ...171, 8e-8 apart); a state or config lost in the round trip moves a value by far more
    for key in before:
        np.testing.assert_allclose(after[key], before[key], rtol=RTOL, atol=ATOL, err_msg=key)
    assert report["loaded_metric_classes"] == ["lossbridge>KerasMetric"]
    assert report["loaded_loss_types"] == {
        "binary": "KerasLoss",
        "categorical": "CategoricalCrossentropy",
        "sparse": "SparseCategoricalCrossentropy",
        "regression": "MeanSquaredError",
    }


def test_weighted_loss_matches_keras(report):
    """to_keras(lossbridge BCE) trains with sample weights as Keras' BCE does."""
    theirs, ours = report["weighted_loss"]["keras"], report["weighted_loss"]["lossbridge"]
    _assert_same(ours, theirs, f"weighted loss on Keras/{report['backend']}")


def test_unbridged_objects_refuse(report):
    """A bare lossbridge metric (Keras would average per-batch results) and a
    bare lossbridge loss with weights (Keras would weight a reduced value)
    raise TypeError naming the bridge; bridging a loss with global_batch_size
    raises ValueError."""
    refusals = report["refusals"]
    assert refusals["bare_metric"] is not None and "to_keras(metric)" in refusals["bare_metric"]
    assert "AUC(" in refusals["bare_metric"] and "MeanMetricWrapper" in refusals["bare_metric"]
    assert refusals["bare_loss_weighted"] is not None and "to_keras(loss)" in refusals["bare_loss_weighted"]
    assert "sample weight" in refusals["bare_loss_weighted"]
    # a loss's global_batch_size: Keras reduces by the loss's reduction and scales across replicas itself
    assert refusals["global_batch_size"] is not None
    assert "global_batch_size=64, which Keras would not see" in refusals["global_batch_size"]


def test_a_keras_mask_weighs_a_bridged_mean_metric_wrapper(report):
    """A Keras mask on y_pred (Masking / Embedding(mask_zero=True) outputs)
    zeroes the weight of masked steps in a bridged MeanMetricWrapper, with and
    without sample weights: against keras.metrics.MeanAbsoluteError on the
    same tensors and a float64 formula written here."""
    for weighted in (False, True):
        total = count = 0.0
        for part in range(2):
            true, pred, mask, sample_weight = worker.masked_batch(part)
            steps = np.abs(true.astype(np.float64) - pred).mean(axis=-1)  # (3, 4): MAE per step
            weight = mask * (sample_weight if weighted else 1.0)
            total, count = total + np.sum(steps * weight), count + np.sum(weight)
        suffix = "-weighted" if weighted else ""
        for side in ("lossbridge", "keras"):
            np.testing.assert_allclose(report["masked"][side + suffix], total / count, rtol=RTOL, err_msg=side + suffix)


def test_keras_masks_inside_the_compiler(report):
    """Under jax.jit / tf.function (Keras' fit) a Keras mask may live beside its tensor (a JAX tracer takes no
    attribute; on torch, eagerly, a NumPy array): a bridged MeanMetricWrapper still weighs masked steps 0,
    and a bridged ignore_class loss still divides by the kept entries, as Keras' own do (before: 1.026 for
    1.043 on torch, and likewise under jax.jit; the loss raised under jax.jit)."""
    got = report["masked_compiled"]
    true, pred, mask, _ = worker.masked_batch(0)
    expected = np.abs(true.astype(np.float64) - pred).mean(axis=-1)[mask].mean()
    for side in ("lossbridge", "keras"):
        np.testing.assert_allclose(got[side], expected, rtol=RTOL, err_msg=side)
    np.testing.assert_allclose(got["lossbridge-ignore_class"], got["keras-ignore_class"], rtol=RTOL, atol=ATOL)
    theirs = report["masked_losses"]["ignore_class/sum_over_batch_size/unweighted"]["keras"]
    np.testing.assert_allclose(got["keras-ignore_class"], theirs, rtol=RTOL, atol=ATOL)


def test_one_input_metrics_direct(report):
    """Mean and Sum (and R2Score with num_regressors, which Keras cannot run
    compiled) through KerasMetric's stateful and stateless API, against
    keras.metrics, and a float64 NumPy formula."""
    values = np.linspace(-1, 3, 12).astype("float32")
    weight = worker.data(0, worker.N)[2][:12].astype(np.float64)
    expected = {"Mean": np.sum(values * weight) / np.sum(weight), "Sum": np.sum(values * weight)}
    for name, numbers in report["direct"].items():
        if name in expected:
            for side in ("lossbridge", "keras", "stateless"):
                np.testing.assert_allclose(numbers[side], expected[name], rtol=RTOL, err_msg=f"{name} {side}")
            assert numbers["after_reset"] == 0.0
            assert "update_state(values, sample_weight=None) got 2 positional inputs" in numbers["keras_call"]
        else:
            np.testing.assert_allclose(numbers["lossbridge"], numbers["keras"], rtol=RTOL, atol=ATOL, err_msg=name)
