"""lossbridge.integrations.dask: metrics and losses over dask arrays, block by
block, merged in a tree, on the threaded scheduler and on a process cluster.

Every expected value is a float64 NumPy formula written here (AUC's is the
one of tests/test_metrics_auc.py, Circle's that of tests/reference.py), never
lossbridge itself alone."""

from __future__ import annotations

import contextlib
import signal

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask_integration = pytest.importorskip("lossbridge.integrations.dask")

from lossbridge import losses, metrics  # noqa: E402
from tests.helpers import to_backend, to_numpy  # noqa: E402
from tests.reference import ref_circle  # noqa: E402
from tests.test_metrics_auc import ref_auc  # noqa: E402

evaluate, evaluate_loss = dask_integration.evaluate, dask_integration.evaluate_loss

CHUNKS = (37, 50, 13)
ROWS = sum(CHUNKS)
F64_TOL = {"rtol": 1e-5, "atol": 1e-6}
RNG = np.random.default_rng(1717)


@contextlib.contextmanager
def deadline(seconds):
    """Fail (instead of hanging) when the block runs past ``seconds``."""

    def expired(signum, frame):
        raise TimeoutError(f"test ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def chunked(array, chunks=CHUNKS):
    return da.from_array(np.asarray(array), chunks=(chunks, *np.shape(array)[1:]))


def one_hot(ids, classes):
    return np.eye(classes)[ids]


# ---------------------------------------------------------------- float64 references
def ref_mean(values, weight):
    values = np.asarray(values, np.float64)
    return np.sum(values * weight) / np.sum(np.broadcast_to(weight, values.shape))


def ref_mse(y_true, y_pred, weight):
    per_sample = np.mean((np.float64(y_true) - y_pred) ** 2, axis=-1)
    return np.sum(per_sample * weight) / np.sum(weight)


def ref_accuracy(y_true, y_pred, weight):
    return np.sum((y_true == y_pred) * weight) / np.sum(weight)


def ref_mean_iou(y_true, y_pred, weight, classes):
    confusion = np.zeros((classes, classes))
    np.add.at(confusion, (y_true, y_pred), weight)
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    present = union > 0
    return np.mean(tp[present] / union[present])


def ref_f1(y_true, y_pred, weight):
    """Per-class F1 with ``y_pred``'s row maximum as the predicted class (threshold=None)."""
    eps = 1e-7
    predicted = one_hot(np.argmax(y_pred, axis=1), y_pred.shape[1])
    w = weight[:, None]
    tp = np.sum(predicted * y_true * w, 0)
    fp = np.sum(predicted * (1 - y_true) * w, 0)
    fn = np.sum((1 - predicted) * y_true * w, 0)
    precision, recall = tp / (tp + fp + eps), tp / (tp + fn + eps)
    return 2 * precision * recall / (precision + recall + eps)


def cases():
    """``(name, make, y_true, y_pred, weight, reference)``; every weight a (ROWS,) array."""
    weight = RNG.uniform(0, 2, ROWS)
    labels, scores = RNG.integers(0, 2, ROWS), RNG.random(ROWS).astype(np.float32)
    regression = RNG.normal(size=(ROWS, 3)), RNG.normal(size=(ROWS, 3)).astype(np.float32)
    ids_true, ids_pred = RNG.integers(0, 4, ROWS), RNG.integers(0, 4, ROWS)
    probabilities = RNG.dirichlet(np.ones(3), ROWS).astype(np.float32)
    classes = one_hot(RNG.integers(0, 3, ROWS), 3)
    values = RNG.normal(size=ROWS)
    return [
        ("mean", metrics.Mean, values, None, weight, ref_mean(values, weight)),
        ("mse", metrics.MeanSquaredError, *regression, weight, ref_mse(*regression, weight)),
        ("auc", metrics.AUC, labels, scores, weight, ref_auc(labels, scores, weight)),
        ("iou", lambda: metrics.MeanIoU(num_classes=4), ids_true, ids_pred, weight,
         ref_mean_iou(ids_true, ids_pred, weight, 4)),
        ("f1", metrics.F1Score, classes, probabilities, weight, ref_f1(classes, probabilities, weight)),
        ("accuracy", metrics.Accuracy, ids_true, ids_pred, weight, ref_accuracy(ids_true, ids_pred, weight)),
    ]  # fmt: skip


CASES = cases()


def dask_inputs(y_true, y_pred, weight, chunks=CHUNKS):
    return chunked(y_true, chunks), None if y_pred is None else chunked(y_pred, chunks), chunked(weight, chunks)


# ---------------------------------------------------------------- threaded scheduler
@pytest.mark.parametrize("name, make, y_true, y_pred, weight, expected", CASES, ids=[c[0] for c in CASES])
def test_uneven_chunks_match_the_float64_reference(name, make, y_true, y_pred, weight, expected):
    metric = make()
    value = evaluate(metric, *dask_inputs(y_true, y_pred, weight), split_every=2)
    assert isinstance(value, np.ndarray)
    np.testing.assert_allclose(value, expected, **F64_TOL)
    # the passed metric holds the merged state; a second check: one metric over all rows
    np.testing.assert_allclose(np.asarray(metric.result()), value, rtol=0, atol=0)
    single = make()
    single.update_state(*(x for x in (y_true, y_pred) if x is not None), sample_weight=weight)
    np.testing.assert_allclose(value, np.asarray(single.result()), **F64_TOL)


def test_unweighted_and_scalar_weight():
    y_true, y_pred = RNG.normal(size=(ROWS, 2)), RNG.normal(size=(ROWS, 2))
    expected = np.mean((y_true - y_pred) ** 2)
    for weight in (None, 3.0):
        value = evaluate(metrics.MeanSquaredError(), chunked(y_true), chunked(y_pred), weight)
        np.testing.assert_allclose(value, expected, **F64_TOL)


def test_empty_blocks_are_skipped():
    y_true, y_pred = RNG.normal(size=(60, 2)), RNG.normal(size=(60, 2))
    chunks = (0, 25, 0, 35, 0)
    value = evaluate(metrics.MeanSquaredError(), chunked(y_true, chunks), chunked(y_pred, chunks))
    np.testing.assert_allclose(value, np.mean((y_true - y_pred) ** 2), **F64_TOL)


def test_all_blocks_empty_gives_the_empty_result():
    empty = np.zeros((0, 2))
    assert evaluate(metrics.MeanSquaredError(), chunked(empty, (0, 0)), chunked(empty, (0, 0))) == 0.0


def test_a_metric_that_held_state_merges_with_the_data(backend):
    """The passed metric (state on any backend) ends holding its old data plus all blocks."""
    before_true, before_pred = RNG.normal(size=(7, 2)), RNG.normal(size=(7, 2))
    y_true, y_pred = RNG.normal(size=(ROWS, 2)), RNG.normal(size=(ROWS, 2))
    metric = metrics.MeanSquaredError()
    metric.update_state(to_backend(backend, before_true, "float32"), to_backend(backend, before_pred, "float32"))
    value = evaluate(metric, chunked(y_true), chunked(y_pred))
    squared = np.concatenate([(np.float32(before_true) - np.float32(before_pred)) ** 2, (y_true - y_pred) ** 2])
    np.testing.assert_allclose(value, np.mean(np.float64(squared)), **F64_TOL)
    np.testing.assert_allclose(to_numpy(backend, metric.result()), value, **F64_TOL)


def test_split_every_does_not_change_the_result():
    y_true, y_pred = RNG.integers(0, 2, 500), RNG.random(500)
    chunks = (7,) * 71 + (3,)
    expected = ref_auc(y_true, y_pred)
    for split_every in (2, 3, 8, 100):
        value = evaluate(metrics.AUC(), chunked(y_true, chunks), chunked(y_pred, chunks), split_every=split_every)
        np.testing.assert_allclose(value, expected, **F64_TOL)


def test_the_graph_is_a_tree_of_split_every():
    chunks = (5,) * 20
    graph = dask_integration.metric_graph(
        metrics.Mean(), chunked(RNG.normal(size=100), chunks), split_every=4
    ).__dask_graph__()
    merges = [key for key in graph if str(key).startswith("_merge_metrics")]
    updates = [key for key in graph if str(key).startswith("_update_block")]
    assert len(updates) == 20 and len(merges) == 5 + 2 + 1  # 20 -> 5 -> 2 -> 1


# ---------------------------------------------------------------- bad input
def test_chunks_along_another_axis_are_refused():
    y = da.from_array(np.zeros((100, 4)), chunks=(50, 2))
    with pytest.raises(ValueError, match=r"`y_true` must be chunked along axis 0 only.*axis 1"):
        evaluate(metrics.MeanSquaredError(), y, chunked(np.zeros((100, 4)), (50, 50)))


def test_disagreeing_axis0_chunks_are_refused():
    with pytest.raises(ValueError, match=r"`y_pred` and `y_true` must have the same axis-0 chunks"):
        evaluate(metrics.MeanSquaredError(), chunked(np.zeros((100, 1))), chunked(np.zeros((100, 1)), (50, 50)))
    with pytest.raises(ValueError, match=r"`sample_weight` and `y_true`"):
        evaluate(metrics.Mean(), chunked(np.zeros(100)), None, chunked(np.ones(100), (50, 50)))


def test_non_dask_inputs_and_bad_options_are_refused():
    with pytest.raises(TypeError, match=r"`y_true` must be a dask.array.Array.*numpy.ndarray"):
        evaluate(metrics.MeanSquaredError(), np.zeros((4, 1)), chunked(np.zeros((100, 1))))
    with pytest.raises(TypeError, match=r"`sample_weight` must be None, a scalar or a dask array"):
        evaluate(metrics.Mean(), chunked(np.zeros(100)), None, np.ones(100))
    with pytest.raises(ValueError, match=r"`split_every` must be an integer >= 2; received 1"):
        evaluate(metrics.Mean(), chunked(np.zeros(100)), split_every=1)
    with pytest.raises(TypeError, match=r"Mean takes one input \(values\)"):
        evaluate(metrics.Mean(), chunked(np.zeros(100)), chunked(np.zeros(100)))


# ---------------------------------------------------------------- losses
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight"])
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_gives_the_global_reduction(reduction, weighted):
    y_true, y_pred = RNG.normal(size=(ROWS, 3)), RNG.normal(size=(ROWS, 3))
    weight = RNG.uniform(0, 2, ROWS) if weighted else np.ones(ROWS)
    per_sample = np.mean((y_true - y_pred) ** 2, axis=-1) * weight
    expected = {
        "sum": per_sample.sum(),
        "mean_with_sample_weight": per_sample.sum() / weight.sum(),
    }.get(reduction, per_sample.mean())
    loss = losses.MeanSquaredError(reduction=reduction, dtype="float64")
    value = evaluate_loss(loss, chunked(y_true), chunked(y_pred), chunked(weight) if weighted else None)
    assert value.dtype == np.float64
    np.testing.assert_allclose(value, expected, rtol=1e-12)


def test_loss_function_and_none_reduction():
    y_true, y_pred = RNG.normal(size=(ROWS, 3)), RNG.normal(size=(ROWS, 3))
    value = evaluate_loss(losses.mean_absolute_error, chunked(y_true), chunked(y_pred))
    np.testing.assert_allclose(value, np.mean(np.abs(y_true - y_pred)), **F64_TOL)
    with pytest.raises(ValueError, match=r"reduction='none'"):
        evaluate_loss(losses.MeanSquaredError(reduction="none"), chunked(y_true), chunked(y_pred))


MASK_CHUNKS = (6, 0, 9, 5)  # the first block holds ignored labels only, the second nothing


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
@pytest.mark.parametrize("weight_kind", ["none", "per_sample", "scalar"])
def test_a_masked_loss_reduces_over_the_kept_entries_of_all_blocks(reduction, weight_kind):
    """``ignore_class``: Keras divides by the entries its mask keeps in the batch; over blocks, that is the
    kept entries of all blocks (before, each block's ignored entries were counted: 0.39 for 1.26)."""
    rows = sum(MASK_CHUNKS)
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 4, rows)
    labels[:6] = 0
    logits = rng.normal(size=(rows, 4)) * 3
    weight = {"none": None, "per_sample": rng.uniform(0.5, 2, rows), "scalar": 0.5}[weight_kind]
    # float64: cross-entropy of each row, the rows whose label is not 0 kept
    shifted = logits - logits.max(axis=1, keepdims=True)
    values = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(rows), labels]
    kept = labels != 0
    w = np.ones(rows) if weight is None else np.broadcast_to(weight, (rows,))
    total = np.sum((values * w)[kept])
    if reduction == "sum":
        expected = total
    elif reduction == "mean_with_sample_weight" and weight is not None:
        expected = total / np.sum(w[kept])
    else:
        expected = total / np.count_nonzero(kept)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0, reduction=reduction, dtype="float64")
    chunked_weight = chunked(weight, MASK_CHUNKS) if weight_kind == "per_sample" else weight
    value = evaluate_loss(loss, chunked(labels, MASK_CHUNKS), chunked(logits, MASK_CHUNKS), chunked_weight)
    np.testing.assert_allclose(value, expected, rtol=1e-12)


@pytest.mark.parametrize(
    "loss, y_shape",
    [
        (losses.Dice(), (ROWS, 3)),
        (losses.Tversky(alpha=0.3, beta=0.7), (ROWS, 3)),
        (losses.MeanSquaredError(), (ROWS,)),
    ],
    ids=["dice", "tversky", "mse_1d"],
)
def test_a_loss_without_one_value_per_sample_is_refused(loss, y_shape):
    """Dice / Tversky over all axes, or any loss of a 1-D batch (Keras: one sample), give one value per
    block; a mean of those is not the value over the data, so the block refuses (before: 0.609 for Dice's
    0.610 on 2 blocks, further off on more)."""
    y_true, y_pred = RNG.uniform(size=y_shape), RNG.uniform(size=y_shape)
    with pytest.raises(
        ValueError, match=r"values of shape \(\) for a block of \d+ rows, not one value per row.*axis=-1"
    ):
        evaluate_loss(loss, chunked(y_true), chunked(y_pred))


def test_dice_per_sample_over_blocks():
    y_true, y_pred = (RNG.uniform(size=(ROWS, 3)) > 0.5).astype(float), RNG.uniform(size=(ROWS, 3))
    per_sample = 1 - 2 * np.sum(y_true * y_pred, 1) / (np.sum(y_true, 1) + np.sum(y_pred, 1) + 1e-7)
    value = evaluate_loss(losses.Dice(axis=-1, dtype="float64"), chunked(y_true), chunked(y_pred))
    np.testing.assert_allclose(value, per_sample.mean(), rtol=1e-12)


def test_a_loss_pairing_samples_takes_one_chunk_only():
    """Circle pairs each anchor with the rest of its batch: over several blocks it would pair within blocks
    (before: 0.0 on one-row blocks for 221 on the data), so it is refused before any work; one non-empty chunk
    is the loss of that one batch."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 12)
    embeddings = rng.normal(size=(12, 4))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    assert losses.Circle().couples_samples and not losses.MeanSquaredError().couples_samples
    with pytest.raises(ValueError, match=r"Circle pairs each sample .* the 2 axis-0 chunks \(5, 7\)"):
        dask_integration.loss_graph(losses.Circle(), chunked(labels, (5, 7)), chunked(embeddings, (5, 7)))
    values = ref_circle(labels, embeddings)  # float64, one anchor at a time; zero losses left out of the mean
    expected = values[values > 0].mean()
    value = evaluate_loss(losses.Circle(dtype="float64"), chunked(labels, (0, 12)), chunked(embeddings, (0, 12)))
    np.testing.assert_allclose(value, expected, rtol=1e-9)


# ---------------------------------------------------------------- process cluster, data larger than a worker
BIG_ROWS, BIG_CHUNK = 24_000_000, 1_000_000  # 2 inputs x 192 MB float64 > 300 MiB per worker
MEMORY_LIMIT = 300 * 2**20
BLOCK_BYTES = 2 * BIG_CHUNK * 8  # one block of each input
# a worker's growth allowed while evaluating, in blocks: the one being updated and its float32 temporaries (about
# 1.5 blocks), and a few freshly generated ones waiting for their update task; all of it is 1/4 of the data
BLOCKS_HELD = 6


@pytest.fixture(scope="session")  # built once (xdist: --dist=loadfile)
def client():
    distributed = pytest.importorskip("distributed")
    with deadline(60):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, memory_limit=MEMORY_LIMIT, dashboard_address=":0"
        )
        try:
            client = distributed.Client(cluster, timeout=30)
        except BaseException:
            cluster.close(timeout=20)
            raise
    try:
        yield client
    finally:
        with deadline(60):
            client.close(timeout=20)
            cluster.close(timeout=20)


def _status_bytes(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # the value is in kB
    raise LookupError(field)


def reset_peak_rss():
    """Restart this process's peak-RSS record (VmHWM) and return its current RSS.
    (ru_maxrss would not do: Linux keeps it across exec, so a spawned worker
    starts with the peak of the parent that forked it.)"""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return _status_bytes("VmRSS")


def peak_rss_bytes():
    return _status_bytes("VmHWM")


def test_small_metrics_on_processes(client):
    with deadline(60):
        for name, make, y_true, y_pred, weight, expected in CASES[1:4]:
            value = evaluate(make(), *dask_inputs(y_true, y_pred, weight), client=client, timeout=30)
            np.testing.assert_allclose(value, expected, **F64_TOL, err_msg=name)


def test_data_larger_than_a_worker_never_gathers(client):
    rng = da.random.default_rng(20261202)
    y_true = rng.random((BIG_ROWS, 1), chunks=(BIG_CHUNK, 1))
    y_pred = rng.standard_normal((BIG_ROWS, 1), chunks=(BIG_CHUNK, 1))
    assert y_true.nbytes + y_pred.nbytes > MEMORY_LIMIT
    with deadline(120):
        before = client.run(reset_peak_rss)
        value = evaluate(metrics.MeanSquaredError(), y_true, y_pred, client=client, timeout=100)
        peaks = client.run(peak_rss_bytes)
        # the reference: the same generator's blocks, one at a time, in float64 here
        total = 0.0
        for i in range(y_true.numblocks[0]):
            t, p = y_true.blocks[i].compute(), y_pred.blocks[i].compute()
            total += np.sum((t - p) ** 2)
    # float32 inputs inside MeanSquaredError (its dtype), float64 here
    np.testing.assert_allclose(value, total / BIG_ROWS, rtol=1e-5)
    for address, peak in peaks.items():
        # while evaluating, a worker stayed below its limit and grew by a few blocks only
        print(f"{address}: peak {peak / 2**20:.0f} MiB, +{(peak - before[address]) / 2**20:.0f} MiB")
        assert peak < MEMORY_LIMIT, (address, peak)
        assert peak - before[address] < BLOCKS_HELD * BLOCK_BYTES, (address, peak, before[address])
