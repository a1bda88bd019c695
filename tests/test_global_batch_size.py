"""``global_batch_size``: under data parallelism each replica divides its
weighted sum by the global sample count, so gradients summed over replicas
equal the one-process gradient of the global mean (issue 17 §2).

Every backend with autograd computes the gradient of a tiny linear model's
loss on 4 uneven shards (one empty); their sum must equal the gradient over
all data in one call, and for MSE a float64 formula written here.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from lossbridge.backends.base import Backend

from lossbridge import backends, losses

from .helpers import to_backend, to_numpy

N, D = 16, 3
SHARDS = ((0, 5), (5, 5), (5, 6), (6, 16))  # uneven, one empty: what a last partial batch gives


def _autograd_backends():
    return [
        name for name in backends.installed() if type(backends.get(name)).value_and_grad is not Backend.value_and_grad
    ]


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)).astype(np.float32)
    w = rng.normal(size=(D,)).astype(np.float32)
    return rng, x, w


CASES = {
    # name: (make loss with options, labels, weights or None)
    "mse": (lambda **o: losses.MeanSquaredError(**o), lambda rng: rng.normal(size=(N, D)), None),
    "bce_logits": (
        lambda **o: losses.BinaryCrossentropy(from_logits=True, **o),
        lambda rng: (rng.random((N, D)) < 0.5).astype(np.float64),
        None,
    ),
    "huber_weighted": (
        lambda **o: losses.Huber(delta=0.7, **o),
        lambda rng: rng.normal(size=(N, D)),
        lambda rng: rng.random(N),
    ),
    "cce_logits_weighted": (
        lambda **o: losses.CategoricalCrossentropy(from_logits=True, **o),
        lambda rng: np.eye(D)[rng.integers(0, D, N)],
        lambda rng: rng.random(N),
    ),
}


@pytest.fixture(params=_autograd_backends())
def grad_backend(request):
    return backends.get(request.param)


def _gradient(backend, loss, x, y, w, sample_weight):
    """d loss(y, x * w) / d w on ``backend``, as float64 NumPy."""

    def objective(x, y, sw, w):
        return loss(y, x * w, sample_weight=sw)

    args = [to_backend(backend, x), to_backend(backend, y.astype(np.float32))]
    args.append(None if sample_weight is None else to_backend(backend, sample_weight.astype(np.float32)))
    args.append(to_backend(backend, w))
    _, grad = backend.value_and_grad(objective)(*args)
    return to_numpy(backend, grad)


@pytest.mark.parametrize("case", sorted(CASES))
def test_shard_gradients_sum_to_the_one_process_gradient(grad_backend, case):
    make, labels, weights = CASES[case]
    rng, x, w = _data()
    y = labels(rng)
    sw = weights(rng) if weights else None
    whole = _gradient(grad_backend, make(), x, y, w, sw)
    per_replica = make(global_batch_size=N)
    summed = sum(
        _gradient(grad_backend, per_replica, x[a:b], y[a:b], w, None if sw is None else sw[a:b]) for a, b in SHARDS
    )
    np.testing.assert_allclose(summed, whole, rtol=2e-5, atol=1e-6)
    if case == "mse":  # and both equal the formula: d/dw mean((x w - y)^2) over N*D elements
        x64, y64, w64 = x.astype(np.float64), y, w.astype(np.float64)
        reference = 2.0 * np.sum(x64 * (x64 * w64 - y64), axis=0) / (N * D)
        np.testing.assert_allclose(summed, reference, rtol=2e-5, atol=1e-6)


def test_shard_values_sum_to_the_global_mean(backend):
    rng, x, _ = _data(1)
    y = rng.normal(size=(N, D))
    sw = rng.random(N)
    loss = losses.MeanSquaredError(global_batch_size=N)
    total = 0.0
    for a, b in SHARDS:
        value = loss(to_backend(backend, y[a:b], "float32"), to_backend(backend, x[a:b]), to_backend(backend, sw[a:b]))
        total += float(to_numpy(backend, value))
    reference = np.sum(np.mean((x.astype(np.float64) - y) ** 2, axis=1) * sw) / N
    np.testing.assert_allclose(total, reference, rtol=1e-5)


@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "8"])
def test_invalid_global_batch_size_is_named(bad):
    with pytest.raises(ValueError, match="global_batch_size.*Accepted: None or a positive int"):
        losses.MeanSquaredError(global_batch_size=bad)


@pytest.mark.parametrize("reduction", ["sum", "none", None, "mean_with_sample_weight"])
def test_only_counting_reductions_take_it(reduction):
    with pytest.raises(ValueError, match="sum_over_batch_size"):
        losses.MeanAbsoluteError(reduction=reduction, global_batch_size=4)


def test_a_local_batch_larger_than_the_global_one_raises(backend):
    loss = losses.MeanSquaredError(global_batch_size=4)
    y = to_backend(backend, np.zeros((6, 2), np.float32))
    with pytest.raises(ValueError, match="global_batch_size` is 4 but this replica's batch alone has 6 samples"):
        loss(y, y)


def test_a_masked_mean_cannot_be_made_global(backend):
    loss = losses.SparseCategoricalCrossentropy(ignore_class=0, global_batch_size=8)
    y = to_backend(backend, np.array([0, 1, 2]), "int32")
    p = to_backend(backend, np.full((3, 3), 1 / 3, np.float32))
    with pytest.raises(ValueError, match="ignore_class"):
        loss(y, p)


@pytest.mark.parametrize(
    "make, shape",
    [(lambda: losses.Dice(global_batch_size=8), (4, 3)), (lambda: losses.MeanSquaredError(global_batch_size=8), (4,))],
    ids=["dice_over_all_axes", "mse_of_a_1d_batch"],
)
def test_a_loss_without_one_value_per_sample_cannot_be_made_global(backend, make, shape):
    """Dice over all axes, or a 1-D batch (Keras: one sample), gives one value for the batch: no replica holds
    a share of a global mean (before: that value / global_batch_size, which summed over replicas is no mean)."""
    y = to_backend(backend, np.full(shape, 0.5, np.float32))
    with pytest.raises(ValueError, match=r"values of shape \(\) for a batch of 4 rows, not one value per row"):
        make()(y, y)


def test_numpy_integer_sizes_config_and_pickle():
    loss = losses.BinaryCrossentropy(from_logits=True, global_batch_size=np.int64(32))
    assert loss.global_batch_size == 32 and type(loss.global_batch_size) is int
    config = loss.get_config()
    assert config["global_batch_size"] == 32
    again = losses.BinaryCrossentropy.from_config(config)
    assert again.global_batch_size == 32
    assert pickle.loads(pickle.dumps(loss)).global_batch_size == 32
    assert losses.deserialize(losses.serialize(loss)).global_batch_size == 32
