"""Dask arrays through the generic Array API adapter (no Dask-specific code in
lossbridge's formulas): losses and metrics over chunked arrays build a graph
and compute nothing until ``.compute()``; a metric's pure API folds a chunked
array in block by block. lossbridge.integrations.dask (one task per block and
a merge tree) is tested in tests/test_dask_integration.py.

Expected values are float64 NumPy formulas written here (AUC's is the one of
tests/test_metrics_auc.py)."""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytest.importorskip("array_api_compat")
import dask  # noqa: E402

from lossbridge import losses, metrics  # noqa: E402
from tests.test_metrics_auc import ref_auc  # noqa: E402

RNG = np.random.default_rng(1616)
CHUNKS = (30, 30, 30, 10)
Y_TRUE, Y_PRED = RNG.normal(size=(100, 5)), RNG.normal(size=(100, 5))
LABELS = RNG.integers(0, 5, size=100)


def chunked(array):
    return da.from_array(np.asarray(array), chunks=(CHUNKS, *np.shape(array)[1:]))


def _refuse(*args, **kwargs):
    raise AssertionError("a dask graph was computed before .compute()")


def lazy():
    """Inside the block, computing any dask graph fails the test."""
    return dask.config.set(scheduler=_refuse)


def test_losses_stay_lazy_and_match_float64():
    y_true, y_pred = chunked(Y_TRUE), chunked(Y_PRED)
    with lazy():
        per_sample = losses.mean_squared_error(y_true, y_pred)
        huber = losses.Huber(delta=0.5)(y_true, y_pred)
        cce = losses.categorical_crossentropy(chunked(np.eye(5)[LABELS]), y_pred, from_logits=True)
    for result in (per_sample, huber, cce):
        assert isinstance(result, da.Array)
    assert per_sample.chunks == (CHUNKS,)  # one result block per input block
    np.testing.assert_allclose(per_sample.compute(), np.mean((Y_TRUE - Y_PRED) ** 2, axis=-1), rtol=1e-12)
    error = np.abs(Y_TRUE - Y_PRED)
    ref_huber = np.mean(np.where(error <= 0.5, 0.5 * error**2, 0.5 * (error - 0.25)))
    np.testing.assert_allclose(huber.compute(), ref_huber, rtol=1e-6)
    log_softmax = Y_PRED - np.log(np.sum(np.exp(Y_PRED), axis=-1, keepdims=True))
    np.testing.assert_allclose(cce.compute(), -log_softmax[np.arange(100), LABELS], rtol=1e-12)


@pytest.mark.parametrize("name", ["mse", "accuracy", "auc"])
def test_a_metric_folds_a_chunked_array_in_block_by_block(name):
    if name == "mse":
        metric, y_true, y_pred = metrics.MeanSquaredError(), Y_TRUE, Y_PRED
        expected = np.mean((Y_TRUE - Y_PRED) ** 2)
    elif name == "accuracy":
        metric, y_true, y_pred = metrics.CategoricalAccuracy(), np.eye(5)[LABELS], Y_PRED
        expected = np.mean(np.argmax(Y_PRED, -1) == LABELS)
    else:
        metric, y_true = metrics.AUC(num_thresholds=50), (Y_TRUE > 0).astype(np.float64)
        y_pred = 1 / (1 + np.exp(-Y_PRED))
        expected = ref_auc(y_true, y_pred, num_thresholds=50)
    t, p = chunked(y_true), chunked(y_pred)
    with lazy():
        state = metric.stateless_initial_state(p)
        for index in range(p.numblocks[0]):
            state = metric.stateless_update_state(state, t.blocks[index], p.blocks[index])
        result = metric.stateless_result(state)
    assert isinstance(result, da.Array)
    np.testing.assert_allclose(float(result.compute()), expected, rtol=1e-5)


def test_the_stateful_api_on_a_lazy_array_says_what_to_use():
    metric = metrics.MeanSquaredError()
    with pytest.raises(RuntimeError) as error:
        metric.update_state(chunked(Y_TRUE), chunked(Y_PRED))
    message = str(error.value)
    assert "array_api:dask.array" in message and "lazy" in message
    assert "lossbridge.integrations.dask.evaluate" in message and "stateless_update_state" in message
    assert float(metric.result()) == 0.0  # the state is unchanged
