"""A jax.jit-compiled optax train step with lossbridge losses and metrics (docs/jax.md).

The binary example is the ```python block of docs/jax.md, executed here, so the documented pattern is the
tested one. References: optax's own losses and their gradients, eager stateful ``update_state`` over the same
batches, and float64 NumPy formulas written below (Keras' bucketed AUC, accuracy, F1, confusion-matrix IoU).
"""

from __future__ import annotations

import copy
import pathlib
import re

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
optax = pytest.importorskip("optax")

from lossbridge import losses, metrics  # noqa: E402

pytestmark = pytest.mark.slow(seconds=20)  # spawns processes or runs whole catalogues: scheduled early (conftest.py)

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "jax.md"
RTOL = 1e-6  # float32 state, jitted vs eager (same ops, XLA may fuse them differently)


# ---------------------------------------------------------------- float64 NumPy references
def _keras_auc_roc(labels, scores, num_thresholds=200, epsilon=1e-7):
    """Keras' default AUC: ROC, ``num_thresholds`` evenly spaced thresholds with the end ones at ``-eps`` and
    ``1 + eps``, a score counted positive when it is above a threshold, trapezoidal ("interpolation") sum."""
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    thresholds = np.array([-epsilon, *inner, 1 + epsilon])
    above = scores[None, :] > thresholds[:, None]
    positive = labels[None, :] > 0.5
    tp = (above & positive).sum(1).astype(np.float64)
    fp = (above & ~positive).sum(1).astype(np.float64)
    fn = (~above & positive).sum(1).astype(np.float64)
    tn = (~above & ~positive).sum(1).astype(np.float64)
    tpr, fpr = tp / (tp + fn), fp / (fp + tn)
    return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))


def _binary_f1(labels, scores, threshold=0.5):
    predicted, positive = scores > threshold, labels > 0.5
    tp, fp, fn = (predicted & positive).sum(), (predicted & ~positive).sum(), (~predicted & positive).sum()
    return 2 * tp / (2 * tp + fp + fn)


def _mean_iou(labels, predicted, num_classes):
    """Mean over classes that occur (in labels or predictions) of |true ∩ pred| / |true ∪ pred|."""
    cm = np.zeros((num_classes, num_classes))
    np.add.at(cm, (labels, predicted), 1.0)
    intersection = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - intersection
    present = union > 0
    return float(np.mean(intersection[present] / union[present]))


def _sigmoid64(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------- the documented example
@pytest.fixture(scope="session")  # built once (xdist: --dist=loadfile)
def doc():
    """The namespace of docs/jax.md's ```python block after it ran (its loop over six batches)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1, "docs/jax.md holds exactly one runnable ```python block"
    namespace = {"__name__": "docs_jax_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


def _fresh_params():
    return {"w": jnp.zeros((4, 1)), "b": jnp.zeros((1,))}


def _params_before_each_step(doc):
    """The parameters each batch met, replayed with the doc's (jitted) step."""
    params = _fresh_params()
    opt_state = doc["optimizer"].init(params)
    states = doc["initial_metric_states"](jnp.zeros((32, 1)))
    seen = []
    for x, y in doc["batches"]:
        seen.append(params)
        params, opt_state, states, _ = doc["train_step"](params, opt_state, states, x, y)
    return seen, params, states


def test_doc_metrics_equal_eager_updates_and_numpy(doc):
    seen, params, states = _params_before_each_step(doc)
    np.testing.assert_array_equal(np.asarray(params["w"]), np.asarray(doc["params"]["w"]))  # replay is exact

    # float64 NumPy reference on the predictions each step scored
    labels = np.concatenate([y[:, 0] for _, y in doc["batches"]]).astype(np.float64)
    scores = np.concatenate(
        [
            _sigmoid64(x.astype(np.float64) @ np.asarray(p["w"], np.float64) + np.asarray(p["b"], np.float64))[:, 0]
            for p, (x, _) in zip(seen, doc["batches"], strict=True)
        ]
    )
    batch_losses = []
    for p, (x, y) in zip(seen, doc["batches"], strict=True):
        z = x.astype(np.float64) @ np.asarray(p["w"], np.float64) + np.asarray(p["b"], np.float64)
        batch_losses.append(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
    reference = {
        "auc": _keras_auc_roc(labels, scores),
        "accuracy": float(np.mean((scores > 0.5) == (labels > 0.5))),
        "f1": float(_binary_f1(labels, scores)),
        "loss": float(np.mean(batch_losses)),
    }
    assert doc["results"] == pytest.approx(reference, rel=1e-5)
    assert 0.0 < reference["auc"] < 1.0 and 0.0 < reference["f1"] < 1.0  # the data exercises every metric

    # eager stateful updates over the same batches, on fresh copies of the same metrics
    eager = {name: copy.deepcopy(metric) for name, (metric, _) in doc["METRICS"].items()}
    for p, (x, y) in zip(seen, doc["batches"], strict=True):
        logits = doc["logits_of"](p, jnp.asarray(x))
        outputs = {"labels": jnp.asarray(y), "probabilities": jax.nn.sigmoid(logits)}
        outputs["loss"] = doc["loss_fn"](outputs["labels"], logits)
        for name, (_, reads) in doc["METRICS"].items():
            eager[name].update_state(*(outputs[k] for k in reads))
    for name, (metric, _) in doc["METRICS"].items():
        np.testing.assert_allclose(
            np.asarray(metric.stateless_result(states[name])), np.asarray(eager[name].result()), rtol=RTOL
        )


def test_doc_step_compiles_once(doc):
    traces = []

    def counted(*args):
        traces.append(1)  # a Python side effect runs once per trace
        return doc["train_step"].__wrapped__(*args)

    step = jax.jit(counted)
    params = _fresh_params()
    opt_state = doc["optimizer"].init(params)
    states = doc["initial_metric_states"](jnp.zeros((32, 1)))
    for x, y in doc["batches"]:
        params, opt_state, states, _ = step(params, opt_state, states, x, y)
    jax.block_until_ready(params)
    assert len(traces) == 1


def test_doc_step_under_scan_equals_the_loop(doc):
    step = doc["train_step"]

    def body(carry, batch):
        params, opt_state, states, loss = step(*carry, *batch)
        return (params, opt_state, states), loss

    params = _fresh_params()
    carry = (params, doc["optimizer"].init(params), doc["initial_metric_states"](jnp.zeros((32, 1))))
    xs = jnp.stack([x for x, _ in doc["batches"]])
    ys = jnp.stack([y for _, y in doc["batches"]])
    (params, _, states), _ = jax.jit(lambda c, b: jax.lax.scan(body, c, b))(carry, (xs, ys))

    np.testing.assert_allclose(np.asarray(params["w"]), np.asarray(doc["params"]["w"]), rtol=RTOL, atol=1e-7)
    for name, (metric, _) in doc["METRICS"].items():
        np.testing.assert_allclose(
            np.asarray(metric.stateless_result(states[name])).squeeze(), doc["results"][name], rtol=RTOL
        )


# ---------------------------------------------------------------- losses and gradients against optax
def test_binary_crossentropy_value_and_grad_equal_optax():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(32, 4)), jnp.float32)
    y = jnp.asarray(rng.random((32, 1)) < 0.5, jnp.float32)
    params = {"w": jnp.asarray(rng.normal(size=(4, 1)), jnp.float32), "b": jnp.asarray([0.3], jnp.float32)}
    loss_fn = losses.BinaryCrossentropy(from_logits=True)

    def ours(p):
        return loss_fn(y, x @ p["w"] + p["b"])

    def theirs(p):
        return optax.sigmoid_binary_cross_entropy(x @ p["w"] + p["b"], y).mean()

    value, grads = jax.jit(jax.value_and_grad(ours))(params)
    expected_value, expected_grads = jax.value_and_grad(theirs)(params)
    np.testing.assert_allclose(float(value), float(expected_value), rtol=1e-6)
    for key in params:
        np.testing.assert_allclose(np.asarray(grads[key]), np.asarray(expected_grads[key]), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- a three-class MLP head
def _mlp(params, x):
    hidden = jnp.tanh(x @ params["w1"] + params["b1"])
    return hidden @ params["w2"] + params["b2"]


def _mlp_params(rng):
    def normal(*shape):
        return jnp.asarray(rng.normal(scale=0.5, size=shape), jnp.float32)

    return {"w1": normal(5, 8), "b1": jnp.zeros((8,)), "w2": normal(8, 3), "b2": jnp.zeros((3,))}


def test_sparse_categorical_head_with_adam():
    rng = np.random.default_rng(2)
    batches = [
        (jnp.asarray(rng.normal(size=(24, 5)), jnp.float32), jnp.asarray(rng.integers(0, 3, size=(24,)), jnp.int32))
        for _ in range(5)
    ]
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
    accuracy, iou, mean_loss = metrics.SparseCategoricalAccuracy(), metrics.MeanIoU(num_classes=3), metrics.Mean()
    optimizer = optax.adam(0.05)
    traces = []

    @jax.jit
    def step(params, opt_state, states, x, y):
        traces.append(1)

        def objective(p):
            logits = _mlp(p, x)
            return loss_fn(y, logits), logits

        (loss, logits), grads = jax.value_and_grad(objective, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        states = {
            "accuracy": accuracy.stateless_update_state(states["accuracy"], y, logits),
            "iou": iou.stateless_update_state(states["iou"], y, jnp.argmax(logits, -1)),
            "loss": mean_loss.stateless_update_state(states["loss"], loss),
        }
        return optax.apply_updates(params, updates), opt_state, states, loss, grads

    params = _mlp_params(rng)
    opt_state = optimizer.init(params)
    like = jnp.zeros((24,))
    states = {
        "accuracy": accuracy.stateless_initial_state(jnp.zeros((24, 3))),
        "iou": iou.stateless_initial_state(like),
        "loss": mean_loss.stateless_initial_state(like),
    }
    eager = {"accuracy": copy.deepcopy(accuracy), "iou": copy.deepcopy(iou), "loss": copy.deepcopy(mean_loss)}
    labels, predicted, batch_losses = [], [], []
    for x, y in batches:
        # optax's own loss and gradients at the parameters this step sees
        def theirs(p, x=x, y=y):
            return optax.softmax_cross_entropy_with_integer_labels(_mlp(p, x), y).mean()

        expected_loss, expected_grads = jax.value_and_grad(theirs)(params)
        logits = _mlp(params, x)
        eager["accuracy"].update_state(y, logits)
        eager["iou"].update_state(y, jnp.argmax(logits, -1))
        eager["loss"].update_state(loss_fn(y, logits))
        z = np.asarray(logits, np.float64)
        log_softmax = z - z.max(1, keepdims=True)
        log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
        batch_losses.append(-np.mean(log_softmax[np.arange(len(y)), np.asarray(y)]))
        labels.append(np.asarray(y))
        predicted.append(z.argmax(1))

        params, opt_state, states, loss, grads = step(params, opt_state, states, x, y)
        np.testing.assert_allclose(float(loss), float(expected_loss), rtol=1e-6)
        np.testing.assert_allclose(float(loss), batch_losses[-1], rtol=1e-5)
        for key in grads:
            np.testing.assert_allclose(np.asarray(grads[key]), np.asarray(expected_grads[key]), rtol=1e-5, atol=1e-6)

    assert len(traces) == 1
    labels, predicted = np.concatenate(labels), np.concatenate(predicted)
    reference = {
        "accuracy": float(np.mean(labels == predicted)),
        "iou": _mean_iou(labels, predicted, 3),
        "loss": float(np.mean(batch_losses)),
    }
    compiled = {"accuracy": accuracy, "iou": iou, "loss": mean_loss}
    for name, metric in compiled.items():
        result = float(metric.stateless_result(states[name]))
        assert result == pytest.approx(reference[name], rel=1e-5), name
        np.testing.assert_allclose(result, float(eager[name].result()), rtol=RTOL)


# ---------------------------------------------------------------- edges
def test_stateful_update_inside_jit_raises_pointing_to_the_stateless_api():
    metric = metrics.BinaryAccuracy()

    @jax.jit
    def step(y, p):
        metric.update_state(y, p)
        return p

    with pytest.raises(RuntimeError, match=r"update_state was called while jax traces") as raised:
        step(jnp.ones((4, 1)), jnp.full((4, 1), 0.7))
    assert "stateless_update_state" in str(raised.value) and "stateless_result" in str(raised.value)
    assert metric.state is None  # nothing traced was kept
    metric.update_state(jnp.ones((4, 1)), jnp.full((4, 1), 0.7))  # and the metric still works eagerly
    assert float(metric.result()) == 1.0


def test_empty_batch_inside_jit_leaves_the_states_unchanged():
    auc, accuracy = metrics.AUC(), metrics.BinaryAccuracy()
    y, p = jnp.asarray([[1.0], [0.0], [1.0]]), jnp.asarray([[0.8], [0.4], [0.3]])
    states = {"auc": auc.stateless_initial_state(p), "accuracy": accuracy.stateless_initial_state(p)}

    @jax.jit
    def update(states, y, p):
        return {
            "auc": auc.stateless_update_state(states["auc"], y, p),
            "accuracy": accuracy.stateless_update_state(states["accuracy"], y, p),
        }

    states = update(states, y, p)
    after_empty = update(states, jnp.zeros((0, 1)), jnp.zeros((0, 1)))
    for name in states:
        for key in states[name]:
            np.testing.assert_array_equal(np.asarray(after_empty[name][key]), np.asarray(states[name][key]))
    # hand-computed: 2 of 3 right; ranks: positive 0.8 above the negative 0.4, positive 0.3 below it -> 1/2
    assert float(accuracy.stateless_result(after_empty["accuracy"])) == pytest.approx(2 / 3)
    assert float(auc.stateless_result(after_empty["auc"])) == pytest.approx(0.5, abs=1e-6)


def test_integer_labels_inside_jit_equal_float_labels():
    accuracy = metrics.BinaryAccuracy()
    p = jnp.asarray([[0.9], [0.2], [0.6], [0.4]])

    @jax.jit
    def result(y):
        return accuracy.stateless_result(accuracy.stateless_update_state(accuracy.stateless_initial_state(p), y, p))

    assert float(result(jnp.asarray([[1], [0], [0], [1]], jnp.int32))) == pytest.approx(0.5)
    assert float(result(jnp.asarray([[1.0], [0.0], [0.0], [1.0]]))) == pytest.approx(0.5)


def test_mismatched_shapes_inside_jit_name_the_arguments():
    accuracy = metrics.BinaryAccuracy()
    state = accuracy.stateless_initial_state(jnp.zeros((4, 1)))
    update = jax.jit(accuracy.stateless_update_state)
    with pytest.raises(ValueError, match=r"y_true.*y_pred|y_pred.*y_true") as raised:
        update(state, jnp.zeros((3, 1)), jnp.zeros((4, 1)))
    assert "(3, 1)" in str(raised.value) and "(4, 1)" in str(raised.value)


def test_states_merged_inside_jit_equal_one_pass_over_all_batches():
    auc, f1 = metrics.AUC(), metrics.F1Score(threshold=0.5)
    rng = np.random.default_rng(3)
    y = jnp.asarray(rng.random((40, 1)) < 0.5, jnp.float32)
    p = jnp.asarray(rng.random((40, 1)), jnp.float32)

    @jax.jit
    def shard_then_merge(y, p):
        out = {}
        for name, metric in {"auc": auc, "f1": f1}.items():
            zero = metric.stateless_initial_state(p)
            first = metric.stateless_update_state(zero, y[:25], p[:25])
            second = metric.stateless_update_state(zero, y[25:], p[25:])
            out[name] = metric.stateless_result(metric.stateless_merge_state(first, second))
        return out

    merged = shard_then_merge(y, p)
    labels, scores = np.asarray(y, np.float64)[:, 0], np.asarray(p, np.float64)[:, 0]
    assert float(merged["auc"]) == pytest.approx(_keras_auc_roc(labels, scores), rel=1e-5)
    assert float(merged["f1"][0]) == pytest.approx(_binary_f1(labels, scores), rel=1e-5)


def test_fractional_class_ids_raise_eagerly_naming_y_true():
    """The value check docs/jax.md tells users to run once outside jit (inside, values are unknown)."""
    accuracy = metrics.SparseCategoricalAccuracy()
    p = jnp.asarray([[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(ValueError, match=r"`y_true` holds class id .*0\.5.*not an integer"):
        accuracy.stateless_update_state(accuracy.stateless_initial_state(p), jnp.asarray([0.5, 1.0]), p)
