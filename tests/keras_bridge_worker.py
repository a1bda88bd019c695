"""The Keras side of tests/test_keras_bridge.py, run once per Keras backend
in its own interpreter (Keras fixes its backend per process: the parent sets
``KERAS_BACKEND``). Writes every number the tests compare to the JSON file
named by ``argv[1]``; an exception propagates (non-zero exit, traceback on
stderr) for the parent to show.

One tiny model (8 inputs, a shared Dense(16) layer and one Dense head per
kind of label; 256 samples, fixed seeds) is compiled twice with the same
Keras losses (so both runs train to the same weights) and every metric class
of the catalogue that Keras has, once as ``keras.metrics`` objects and once
as lossbridge metrics bridged by ``to_keras``; ``fit`` (2 epochs, sample
weights, validation data), ``evaluate`` (weighted) and ``predict`` run on
both. The other checks (losses, save/load, refusals, Mean/Sum, and one epoch
under TensorFlow's MirroredStrategy or JAX's keras.distribution.DataParallel)
reuse it.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

N, N_VAL, FEATURES, CLASSES, OUTPUTS = 256, 64, 8, 4, 2
EPOCHS, BATCH = 2, 32

#: Keras' IoU family counts in an int matrix by default, truncating the float sample
#: weights used here (a difference kept on purpose, docs/keras-differences.md): both
#: sides count in float32
FLOAT_IOU = {"dtype": "float32"}

#: (output head, metric class, options): each compiled on both sides
METRICS = [
    # binary head: sigmoid probabilities, labels 0/1
    ("binary", "BinaryAccuracy", {}),
    ("binary", "BinaryCrossentropy", {}),
    ("binary", "AUC", {"num_thresholds": 50}),
    ("binary", "AUC", {"curve": "PR", "summation_method": "majoring"}),
    ("binary", "Precision", {}),
    ("binary", "Recall", {"thresholds": [0.3, 0.6]}),
    ("binary", "TruePositives", {}),
    ("binary", "FalsePositives", {"thresholds": 0.4}),
    ("binary", "TrueNegatives", {}),
    ("binary", "FalseNegatives", {}),
    ("binary", "PrecisionAtRecall", {"recall": 0.6}),
    ("binary", "RecallAtPrecision", {"precision": 0.5}),
    ("binary", "SensitivityAtSpecificity", {"specificity": 0.5}),
    ("binary", "SpecificityAtSensitivity", {"sensitivity": 0.5}),
    ("binary", "BinaryIoU", {**FLOAT_IOU, "target_class_ids": [0, 1], "threshold": 0.5}),
    ("binary", "Hinge", {}),
    ("binary", "SquaredHinge", {}),
    ("binary", "F1Score", {"threshold": 0.5}),
    # categorical head: softmax over CLASSES, one-hot labels
    ("categorical", "CategoricalAccuracy", {}),
    ("categorical", "CategoricalCrossentropy", {"label_smoothing": 0.1}),
    ("categorical", "TopKCategoricalAccuracy", {"k": 2}),
    ("categorical", "CategoricalHinge", {}),
    ("categorical", "KLDivergence", {}),
    ("categorical", "Poisson", {}),
    ("categorical", "OneHotIoU", {**FLOAT_IOU, "num_classes": CLASSES, "target_class_ids": [0, 2]}),
    ("categorical", "OneHotMeanIoU", {**FLOAT_IOU, "num_classes": CLASSES}),
    ("categorical", "F1Score", {"average": "macro"}),
    ("categorical", "FBetaScore", {"average": "weighted", "beta": 0.5}),
    ("categorical", "AUC", {"multi_label": True, "num_thresholds": 20}),  # state shape read from the data
    ("categorical", "Precision", {"top_k": 2}),
    ("categorical", "Recall", {"class_id": 1}),
    # sparse head: softmax over CLASSES, integer labels
    ("sparse", "SparseCategoricalAccuracy", {}),
    ("sparse", "SparseCategoricalCrossentropy", {}),
    ("sparse", "SparseTopKCategoricalAccuracy", {"k": 2}),
    ("sparse", "MeanIoU", {**FLOAT_IOU, "num_classes": CLASSES, "sparse_y_pred": False}),
    ("sparse", "IoU", {**FLOAT_IOU, "num_classes": CLASSES, "target_class_ids": [1, 3], "sparse_y_pred": False}),
    # ids head: the sparse head's argmax (no loss), against the labels
    ("ids", "Accuracy", {}),
    ("ids", "MeanIoU", {**FLOAT_IOU, "num_classes": CLASSES}),
    ("ids", "IoU", {**FLOAT_IOU, "num_classes": CLASSES, "target_class_ids": [0]}),
    # regression head: OUTPUTS real targets
    ("regression", "MeanSquaredError", {}),
    ("regression", "MeanAbsoluteError", {}),
    ("regression", "MeanAbsolutePercentageError", {}),
    ("regression", "MeanSquaredLogarithmicError", {}),
    ("regression", "LogCoshError", {}),
    ("regression", "RootMeanSquaredError", {}),
    ("regression", "CosineSimilarity", {}),
    ("regression", "R2Score", {}),  # state shape read from the data
    # (num_regressors > 0: Keras' own R2Score cannot run compiled, a Python bool of a tensor; checked eagerly below)
    ("regression", "R2Score", {"class_aggregation": "variance_weighted_average"}),
    ("regression", "PearsonCorrelation", {}),
    ("regression", "ConcordanceCorrelation", {}),
    ("regression", "MeanMetricWrapper", {"fn": "mean_squared_error"}),
]


def masked_batch(part):
    """(y_true, y_pred, mask, sample_weight) of a sequence batch, (3, 4, 2) with a
    (3, 4) mask that hides each sequence's tail, and per-step weights (3, 4): Keras'
    own apply_mask multiplies in place, which on torch refuses an (N,) or (N, 1)
    weight against an (N, T) mask."""
    rng = np.random.default_rng(10 + part)
    true, pred = (rng.normal(size=(3, 4, 2)).astype("float32") for _ in range(2))
    mask = np.arange(4)[None, :] < np.array([[4], [2], [1]])
    weight = np.repeat(np.array([[1.0], [2.0], [0.5]], "float32"), 4, axis=1) + np.linspace(0, 0.3, 4, dtype="float32")
    return true, pred, mask, weight


def metric_name(index, output):
    """The unique name of METRICS[index] (history keys are ``{output}_{name}``)."""
    return f"m{index:02d}_{METRICS[index][1].lower()}"


def history_key(index):
    output = METRICS[index][0]
    return f"{output}_{metric_name(index, output)}"


# ---------------------------------------------------------------- data and model
def data(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    labels = (x[:, :CLASSES] @ rng.normal(size=(CLASSES, CLASSES)) + rng.normal(size=(n, CLASSES))).argmax(-1)
    y = {
        "binary": (x[:, :1] + 0.5 * rng.normal(size=(n, 1)) > 0).astype("float32"),
        "categorical": np.eye(CLASSES, dtype="float32")[labels],
        "sparse": labels.astype("int32"),
        "ids": labels.astype("float32"),
        "regression": (x[:, :OUTPUTS] * 0.7 + 0.3 * rng.normal(size=(n, OUTPUTS)) + 2.0).astype("float32"),
    }
    return x, y, rng.uniform(0.2, 2.0, n).astype("float32")


_ARGMAX = []


def argmax_layer(keras):
    """A registered layer giving the class id of a softmax as float32 (a
    Lambda would not load without ``safe_mode=False``)."""
    if not _ARGMAX:

        @keras.saving.register_keras_serializable(package="keras_bridge_worker")
        class ArgMax(keras.layers.Layer):
            def call(self, probabilities):
                return keras.ops.cast(keras.ops.argmax(probabilities, axis=-1), "float32")

        _ARGMAX.append(ArgMax)
    return _ARGMAX[0]


def model(keras):
    keras.utils.set_random_seed(15)
    inputs = keras.Input((FEATURES,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    sparse = keras.layers.Dense(CLASSES, activation="softmax", name="sparse")(hidden)
    outputs = {
        "binary": keras.layers.Dense(1, activation="sigmoid", name="binary")(hidden),
        "categorical": keras.layers.Dense(CLASSES, activation="softmax", name="categorical")(hidden),
        "sparse": sparse,
        "ids": argmax_layer(keras)(name="ids")(sparse),
        "regression": keras.layers.Dense(OUTPUTS, name="regression")(hidden),
    }
    return keras.Model(inputs, outputs)


def keras_losses(keras):
    return {
        "binary": keras.losses.BinaryCrossentropy(),
        "categorical": keras.losses.CategoricalCrossentropy(),
        "sparse": keras.losses.SparseCategoricalCrossentropy(),
        "regression": keras.losses.MeanSquaredError(),
    }


def metric_objects(module, wrap):
    """``{output: [metric]}`` for METRICS, made from ``module`` (keras.metrics
    or lossbridge.metrics), each passed through ``wrap``."""
    per_output = {}
    for index, (output, name, options) in enumerate(METRICS):
        options = dict(options)
        if "fn" in options:
            options["fn"] = getattr(module, options["fn"])
        metric = getattr(module, name)(name=metric_name(index, output), **options)
        per_output.setdefault(output, []).append(wrap(metric))
    return per_output


def floats(logs):
    """History / evaluate logs as plain floats (lists per epoch); vector
    results (F1 per class) as lists."""

    def plain(value):
        array = np.asarray(value, dtype=np.float64)
        return array.tolist()

    return {
        key: plain(value) if not isinstance(value, list) else [plain(v) for v in value] for key, value in logs.items()
    }


def train_logs_callback(keras):
    """A callback keeping each epoch's training logs as floats, read after its
    last batch. Keras' own history is not enough on its torch backend: there
    a count metric's (``TruePositives``...) logged value is its variable's
    tensor, which the epoch's validation pass then resets and refills."""

    class TrainLogs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_train_batch_end(self, batch, logs=None):
            if batch == N // BATCH - 1:
                self.epochs.append(floats(logs))

    return TrainLogs()


def per_epoch(history, train_logs):
    """fit's history with the training entries taken from ``train_logs``."""
    out = dict(history)
    for key in train_logs.epochs[0]:
        out[key] = [epoch[key] for epoch in train_logs.epochs]
    return out


def compiler(keras):
    """The backend's own compiler, as Keras' fit uses it (jax.jit, tf.function); torch runs eagerly."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function
    return lambda fn: fn


def compiled(keras, metrics, loss=None):
    net = model(keras)
    net.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss or keras_losses(keras), weighted_metrics=metrics)
    return net


# ---------------------------------------------------------------- the checks
def main(out_path):
    start = time.perf_counter()
    import keras

    if keras.backend.backend() == "tensorflow":  # two logical CPUs for MirroredStrategy (section 7), before TF starts
        import tensorflow as tf

        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import lossbridge
    from lossbridge.integrations.keras import KerasMetric, to_keras, to_keras_metrics

    lm, ll = lossbridge.metrics, lossbridge.losses
    x, y, weight = data(0, N)
    x_val, y_val, _ = data(1, N_VAL)
    timings = {"import": time.perf_counter() - start}
    report = {"backend": keras.backend.backend(), "timings": timings}

    # 1. every metric: fit (weighted train, unweighted validation), evaluate (weighted), predict
    runs = {}
    for side, metrics in (
        ("keras", metric_objects(keras.metrics, lambda m: m)),
        ("lossbridge", to_keras_metrics(metric_objects(lm, lambda m: m))),
    ):
        net = compiled(keras, metrics)
        train_logs = train_logs_callback(keras)
        fit = net.fit(
            x,
            y,
            sample_weight=weight,
            validation_data=(x_val, y_val),
            epochs=EPOCHS,
            batch_size=BATCH,
            shuffle=False,
            verbose=0,
            callbacks=[train_logs],
        )
        evaluated = net.evaluate(
            x_val, y_val, sample_weight=weight[:N_VAL], batch_size=BATCH, verbose=0, return_dict=True
        )
        predicted = net.predict(x_val, batch_size=BATCH, verbose=0)
        runs[side] = {
            "history": per_epoch(floats(fit.history), train_logs),
            "keras_history": floats(fit.history),
            "evaluate": floats(evaluated),
            "net": net,
            "predict": {k: np.asarray(v, np.float64) for k, v in predicted.items()},
        }
    report["history"] = {side: run["history"] for side, run in runs.items()}
    report["evaluate"] = {side: run["evaluate"] for side, run in runs.items()}
    report["keras_history"] = {side: run["keras_history"] for side, run in runs.items()}
    timings["fit_evaluate_predict"] = time.perf_counter() - start
    report["predict_regression"] = runs["lossbridge"]["predict"]["regression"].tolist()  # for float64 references
    report["predict_max_abs_diff"] = max(
        float(np.max(np.abs(runs["keras"]["predict"][k] - runs["lossbridge"]["predict"][k])))
        for k in runs["keras"]["predict"]
    )

    # 2. save / load: the bridged metrics and a KerasLoss come back and evaluate the same
    path = os.path.join(os.path.dirname(out_path), f"bridged_{report['backend']}.keras")
    losses = dict(keras_losses(keras), binary=to_keras(ll.BinaryCrossentropy()), regression=ll.MeanSquaredError())
    saved = compiled(keras, to_keras_metrics(metric_objects(lm, lambda m: m)), loss=losses)
    saved.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)  # unweighted: a bare loss refuses weights
    before = saved.evaluate(x_val, y_val, verbose=0, return_dict=True)
    saved.save(path)
    loaded = keras.saving.load_model(path)
    after = loaded.evaluate(x_val, y_val, verbose=0, return_dict=True)
    report["save_load"] = {"before": floats(before), "after": floats(after)}
    compile_config = loaded.get_compile_config()
    report["loaded_metric_classes"] = sorted(
        {entry["registered_name"] for entries in compile_config["weighted_metrics"].values() for entry in entries}
    )
    report["loaded_loss_types"] = {key: type(value).__name__ for key, value in dict(loaded.loss).items()}

    timings["save_load"] = time.perf_counter() - start

    # 3. a lossbridge loss through KerasLoss, weighted, against the Keras loss (single head)
    def binary_model():
        keras.utils.set_random_seed(15)
        inputs = keras.Input((FEATURES,))
        return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(16, activation="relu")(inputs)))

    loss_runs = {}
    for side, loss in (
        ("keras", keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)),
        ("lossbridge", to_keras(ll.BinaryCrossentropy(from_logits=True, label_smoothing=0.1))),
    ):
        net = binary_model()
        net.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss)
        fit = net.fit(
            x,
            y["binary"],
            sample_weight=weight,
            epochs=EPOCHS,
            batch_size=BATCH,
            shuffle=False,
            verbose=0,
            validation_data=(x_val, y_val["binary"]),
        )
        loss_runs[side] = floats(fit.history)
    report["weighted_loss"] = loss_runs

    # 3b. masked losses through KerasLoss: Keras divides by the entries the mask lossbridge puts on the values
    # keeps, as for its own ignore_class (without it, by all entries: 1.00 for 1.60)
    rng = np.random.default_rng(21)
    labels = np.array([0, 0, 0, 1, 2, 1, 2, 1, 3, 0])
    logits = rng.normal(size=(10, CLASSES)).astype("float32") * 2
    masked_losses = {}
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
        for sample_weight in (None, weight[:10]):
            options = {"from_logits": True, "ignore_class": 0, "reduction": reduction}
            theirs = keras.losses.SparseCategoricalCrossentropy(**options)
            ours = to_keras(ll.SparseCategoricalCrossentropy(**options))
            masked_losses[f"ignore_class/{reduction}/{'unweighted' if sample_weight is None else 'weighted'}"] = {
                "keras": float(theirs(labels, logits, sample_weight=sample_weight)),
                "lossbridge": float(ours(labels, logits, sample_weight=sample_weight)),
            }
    embeddings = rng.normal(size=(10, 4)).astype("float32")
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    circle_labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 7])  # 7: no positives, a zero loss the mask leaves out
    masked_losses["circle"] = {
        "keras": float(keras.losses.Circle()(circle_labels, embeddings)),
        "lossbridge": float(to_keras(ll.Circle())(circle_labels, embeddings)),
    }
    report["masked_losses"] = masked_losses

    timings["weighted_loss"] = time.perf_counter() - start

    # 4. what must fail loudly: a bare lossbridge metric; a bare lossbridge loss with weights
    report["refusals"] = {}
    for case, metrics, loss, kwargs in (
        ("bare_metric", [lm.AUC()], keras.losses.BinaryCrossentropy(from_logits=True), {}),
        ("bare_loss_weighted", None, ll.BinaryCrossentropy(from_logits=True), {"sample_weight": weight}),
    ):
        net = binary_model()
        net.compile(optimizer="sgd", loss=loss, metrics=metrics)
        try:
            net.fit(x, y["binary"], epochs=1, batch_size=BATCH, verbose=0, **kwargs)
            report["refusals"][case] = None
        except TypeError as error:
            report["refusals"][case] = str(error)

    try:  # Keras scales across replicas itself: a loss's global_batch_size would go unseen
        to_keras(ll.BinaryCrossentropy(global_batch_size=64))
        report["refusals"]["global_batch_size"] = None
    except ValueError as error:
        report["refusals"]["global_batch_size"] = str(error)

    timings["refusals"] = time.perf_counter() - start

    # 5. Mean and Sum (one input: not compile metrics), updated directly and through Keras' stateless API
    values = np.linspace(-1, 3, 12).astype("float32")
    direct = {}
    for name in ("Mean", "Sum"):
        ours, theirs = KerasMetric(getattr(lm, name)()), getattr(keras.metrics, name)()
        for part in np.split(np.arange(12), 3):
            ours.update_state(values[part], weight[part])
            theirs.update_state(values[part], weight[part])
        fresh = KerasMetric(getattr(lm, name)())
        state = fresh.stateless_update_state([v.value for v in fresh.variables], values, sample_weight=weight[:12])
        direct[name] = {
            "lossbridge": float(ours.result()),
            "keras": float(theirs.result()),
            "stateless": float(fresh.stateless_result(state)),
        }
        ours.reset_state()
        direct[name]["after_reset"] = float(ours.result())
        try:
            ours.update_state(values, values, sample_weight=None)  # how Keras calls a compiled metric
            direct[name]["keras_call"] = None
        except TypeError as error:
            direct[name]["keras_call"] = str(error)
    adjusted = {}
    for side, metric in (
        ("lossbridge", KerasMetric(lm.R2Score(num_regressors=1))),
        ("keras", keras.metrics.R2Score(num_regressors=1)),
    ):
        for part in np.split(np.arange(N_VAL), 2):
            metric.update_state(y_val["regression"][part], x_val[part, :OUTPUTS] + 2.0, weight[part])
        adjusted[side] = float(metric.result())
    direct["R2Score(num_regressors=1)"] = adjusted
    report["direct"] = direct

    # 6. a Keras mask on y_pred (what a Masking or Embedding(mask_zero=True) layer leaves on a sequence
    # output): a bridged MeanMetricWrapper weighs masked entries 0, as keras.metrics' own does
    from keras.src.backend import set_keras_mask

    masked = {}
    for weighted in (False, True):
        for side, metric in (
            ("lossbridge", KerasMetric(lm.MeanAbsoluteError())),
            ("keras", keras.metrics.MeanAbsoluteError()),
        ):
            for part in range(2):
                true, pred, mask, sample_weight = masked_batch(part)
                pred = keras.ops.convert_to_tensor(pred)
                set_keras_mask(pred, keras.ops.convert_to_tensor(mask))
                metric.update_state(true, pred, sample_weight=sample_weight if weighted else None)
            masked[f"{side}{'-weighted' if weighted else ''}"] = float(metric.result())
    report["masked"] = masked

    # 6b. masks inside the backend's compiler, as fit runs losses and metrics: a JAX tracer takes no attribute,
    # so Keras keeps its mask beside it (the bridge read only the attribute: 1.026 for 1.043 on torch)
    compile_step = compiler(keras)
    true, pred, mask, _ = masked_batch(0)
    masked_compiled = {}
    for side, metric in (
        ("lossbridge", KerasMetric(lm.MeanAbsoluteError())),
        ("keras", keras.metrics.MeanAbsoluteError()),
    ):
        metric.update_state(true, pred)  # builds the variables
        metric.reset_state()

        def step(variables, true, pred, mask, metric=metric):
            set_keras_mask(pred, mask)
            return metric.stateless_update_state(variables, true, pred)

        state = compile_step(step)([variable.value for variable in metric.variables], true, pred, mask)
        masked_compiled[side] = float(metric.stateless_result(state))
    for side, loss in (
        ("lossbridge", to_keras(ll.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0))),
        ("keras", keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)),
    ):
        masked_compiled[f"{side}-ignore_class"] = float(
            compile_step(lambda t, p, loss=loss: loss(t, p))(labels, logits)
        )
    report["masked_compiled"] = masked_compiled

    # 7. TensorFlow: fit and evaluate under tf.distribute.MirroredStrategy over two CPU replicas; the
    # bridged metrics' Keras variables aggregate across replicas as keras.metrics' own do (one epoch: the
    # cross-epoch reset is covered above)
    if keras.backend.backend() == "tensorflow":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        mirrored = {}
        for side, make in (
            ("keras", lambda: metric_objects(keras.metrics, lambda m: m)),
            ("lossbridge", lambda: to_keras_metrics(metric_objects(lm, lambda m: m))),
        ):
            with strategy.scope():
                net = compiled(keras, make())
            fit = net.fit(x, y, sample_weight=weight, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
            evaluated = net.evaluate(
                x_val, y_val, sample_weight=weight[:N_VAL], batch_size=BATCH, verbose=0, return_dict=True
            )
            mirrored[side] = {"history": floats(fit.history), "evaluate": floats(evaluated)}
        mirrored["replicas"] = strategy.num_replicas_in_sync
        report["mirrored"] = mirrored
        timings["mirrored"] = time.perf_counter() - start

    timings["direct"] = time.perf_counter() - start

    # 8. JAX: fit and evaluate under keras.distribution.DataParallel over two host CPU devices (the parent
    # sets XLA_FLAGS=--xla_force_host_platform_device_count=2): batches sharded on the batch axis, the
    # variables (the bridged metrics' included) replicated, the train and test steps jit-compiled with those
    # shardings (one epoch, as section 7). Last, and the distribution reset after it: every section above runs
    # undistributed, on one device.
    if keras.backend.backend() == "jax":
        distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices("cpu"))
        keras.distribution.set_distribution(distribution)
        try:
            data_parallel = {}
            for side, metrics in (
                ("keras", metric_objects(keras.metrics, lambda m: m)),
                ("lossbridge", to_keras_metrics(metric_objects(lm, lambda m: m))),
            ):
                net = compiled(keras, metrics)
                fit = net.fit(x, y, sample_weight=weight, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
                evaluated = net.evaluate(
                    x_val, y_val, sample_weight=weight[:N_VAL], batch_size=BATCH, verbose=0, return_dict=True
                )
                data_parallel[side] = {"history": floats(fit.history), "evaluate": floats(evaluated)}
            predicted = net.predict(x_val, batch_size=BATCH, verbose=0)["regression"]  # the lossbridge side's
            data_parallel["predict_regression"] = np.asarray(predicted, np.float64).tolist()
            data_parallel["metric_variable_devices"] = sorted(  # how many devices hold each metric variable
                {len(variable.value.sharding.device_set) for metric in net.metrics for variable in metric.variables}
            )
            data_parallel["devices"] = int(distribution.device_mesh.devices.size)
            data_parallel["replicas"] = int(distribution.num_model_replicas)
        finally:
            keras.distribution.set_distribution(None)
        report["data_parallel"] = data_parallel
        timings["data_parallel"] = time.perf_counter() - start
    with open(out_path, "w") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main(sys.argv[1])
