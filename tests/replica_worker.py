"""One process of the replica-invariance tests (``tests/test_distributed_sync.py``).

    python -m tests.replica_worker torch RANK WORLD PORT
    python -m tests.replica_worker jax           (XLA_FLAGS forces 4 host devices)
    python -m tests.replica_worker tensorflow    (2 logical CPU devices)
    python -m tests.replica_worker jax-processes RANK WORLD PORT
    python -m tests.replica_worker mlx RANK HOSTFILE  (mx.distributed's ring backend)

For every metric class of the catalogue (``lossbridge.testing.catalogue``,
each case's options and input recipe) plus a few extra configurations, the
process updates metrics on its replica's shard of 23 samples, syncs, and
compares the result with one metric updated on all 23 samples in this
process: equal to float64 rounding. Shards are uneven, some empty (updated
with no rows, or never updated: no state at all), and in one scenario only
some replicas pass sample weights. Every replica runs the same sequence of
collectives whatever it finds, records mismatches instead of raising, and
prints one JSON line ``{"checked": n, "failures": [...]}`` at the end.

Every process stops itself: a watchdog (``faulthandler``) exits it with its
stack after ``LIMIT`` seconds, and torch's process group times out before.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys

import numpy as np

LIMIT = int(os.environ.get("LOSSBRIDGE_REPLICA_LIMIT", "150"))
faulthandler.enable()  # a crash in a framework prints its Python stack
faulthandler.dump_traceback_later(LIMIT, exit=True)

from lossbridge import metrics  # noqa: E402
from lossbridge.testing import catalogue  # noqa: E402
from lossbridge.testing.cases import random_example  # noqa: E402
from tests.extremes_metric import Extremes  # noqa: E402

SAMPLES = 23
#: replica count -> scenario -> rows per replica (a 0 in "one_holds_all" and "nobody": never updated)
SPLITS = {
    2: {"uneven": (9, 14), "weighted": (9, 14), "one_holds_all": (23, 0), "nobody": (0, 0)},
    4: {"uneven": (0, 5, 11, 7), "weighted": (6, 0, 11, 6), "one_holds_all": (0, 0, 23, 0), "nobody": (0, 0, 0, 0)},
}
#: against one process updating with the same batches in replica order: only
#: the order of the float64 additions across replicas differs
TOL = {"rtol": 1e-12, "atol": 1e-13}
#: against one process seeing all data in one batch: metrics whose per-sample
#: values are float32 (the accuracy family, as in Keras) sum each batch in
#: float32, so other batches round differently (~1e-7 of a batch)
WHOLE_TOL = {"rtol": 1e-6, "atol": 1e-7}


def cases(with_concatenation=True):
    """``[(label, factory, inputs)]``: every metric class of the catalogue with
    each of its cases, AUC with ``multi_label`` (state shaped by the data),
    and :class:`Extremes`; inputs are NumPy, seeded per case."""
    out = []
    for entry in catalogue.metrics():
        if not isinstance(entry.obj, type):
            continue  # metric functions hold no state
        for case in entry.cases:
            rng = np.random.default_rng(len(out) + 17)
            inputs = random_example(case.kind, rng, SAMPLES)
            out.append((case.id, _factory(entry.obj, case.options), inputs, case.kind))
    rng = np.random.default_rng(99)
    out.append(
        (
            "auc[multi_label]",
            _factory(metrics.AUC, {"multi_label": True}),
            random_example("binary_guesses", rng, SAMPLES),
            "binary_guesses",
        )
    )
    if with_concatenation:
        out.append(("extremes", _factory(Extremes, {}), (rng.normal(size=(SAMPLES, 2)),), "values"))
    return out


def _factory(cls, options):
    def make():
        return cls(**options, dtype="float64")

    return make


def weights_for(kind, inputs, rng):
    """One positive weight per sample, shaped as every metric of ``kind`` takes it."""
    shape = np.shape(inputs[0])[:2] if kind == "binary_guesses" else np.shape(inputs[0])[:1]
    return rng.uniform(0.5, 2.0, size=shape)


def shard_bounds(rows):
    edges = np.concatenate([[0], np.cumsum(rows)])
    return [(int(edges[i]), int(edges[i + 1])) for i in range(len(rows))]


def batches(inputs, weight, start, stop):
    """The replica's shard as two updates (one when it has a single row)."""
    middle = (start + stop + 1) // 2
    cuts = [(start, middle), (middle, stop)] if stop - start >= 2 else [(start, stop)]
    return [(tuple(x[a:b] for x in inputs), None if weight is None else weight[a:b]) for a, b in cuts]


def scenario(name, rows, inputs, kind, seed, every_replica_weighs=False):
    """``(weights of all data or None, [each replica's batches, or None when
    it never updates]))`` of scenario ``name`` with ``rows`` per replica. In
    "weighted" only even replicas pass weights; odd ones count each sample
    once (weight 1 in the reference), or pass ones where
    ``every_replica_weighs`` (SPMD: one program, so the same arguments)."""
    weights = None
    bounds = shard_bounds(rows)
    if name == "weighted":
        drawn = weights_for(kind, inputs, np.random.default_rng(seed))
        weights = np.ones_like(drawn)
        for r, (a, b) in enumerate(bounds):
            if r % 2 == 0:
                weights[a:b] = drawn[a:b]
    replicas = []
    for r, (start, stop) in enumerate(bounds):
        if stop == start and name in ("one_holds_all", "nobody"):
            replicas.append(None)
        else:
            replicas.append(batches(inputs, weights if r % 2 == 0 or every_replica_weighs else None, start, stop))
    return weights, replicas


def as_numpy(x):
    """A result of any framework (or NumPy, for a metric that saw nothing) as NumPy."""
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def close(actual, expected, tolerance):
    actual, expected = as_numpy(actual).astype(np.float64), as_numpy(expected).astype(np.float64)
    return actual.shape == expected.shape and np.allclose(actual, expected, equal_nan=True, **tolerance)


def my_shards(rank, world, tensor, whole_tensor=None):
    """For every case of the catalogue and every split of its data over
    ``world`` replicas: ``(label, split, metric, expected, mine, inputs)``: the
    metric updated with replica ``rank``'s batches (arrays through
    ``tensor``), the :func:`references`, those batches and all the data."""
    for label, make, inputs, kind in cases():
        for name, rows in SPLITS[world].items():
            weights, replicas = scenario(name, rows, inputs, kind, seed=len(label) + len(name))
            mine = replicas[rank]
            expected = references(make, inputs, weights, replicas, tensor, whole_tensor)
            metric = make()
            for batch, weight in mine or ():
                metric.update_state(*map(tensor, batch), sample_weight=None if weight is None else tensor(weight))
            yield label, name, metric, expected, mine, inputs


def references(make, inputs, weights, replicas, tensor, whole_tensor=None):
    """``(one process updated with every replica's batches in replica order,
    one process updated with all data in one batch)`` of ``make()``; the
    second on ``whole_tensor``'s framework where given (it is compared at
    ``WHOLE_TOL``, which covers float32 per-sample values on another backend)."""
    in_order, whole = make(), make()
    whole_tensor = whole_tensor or tensor
    for mine in replicas:
        for batch, weight in mine or ():
            in_order.update_state(*map(tensor, batch), sample_weight=None if weight is None else tensor(weight))
    if any(mine for mine in replicas):
        whole.update_state(*map(whole_tensor, inputs), sample_weight=None if weights is None else whole_tensor(weights))
    return as_numpy(in_order.result()), as_numpy(whole.result())


def stateless_reference(make, inputs, replicas, tensor):
    """One process's stateless run over every replica's batches in order,
    from the state of an empty batch (its shape fixes data-dependent state
    shapes, as each replica's does)."""
    metric = make()
    state = metric.stateless_initial_state(tensor(inputs[-1][:0]))
    for mine in replicas:
        for batch, weight in mine or ():
            state = metric.stateless_update_state(state, *map(tensor, batch), sample_weight=weight)
    return as_numpy(metric.stateless_result(state))


class Checker:
    def __init__(self):
        self.checked, self.failures = 0, []

    def __call__(self, what, actual, expected, tolerance=TOL):
        self.checked += 1
        if not close(actual, expected, tolerance):
            self.failures.append(f"{what}: {as_numpy(actual).tolist()} != {as_numpy(expected).tolist()}")

    def against(self, what, actual, expected):
        """``actual`` against both references of :func:`references`."""
        self(what, actual, expected[0])
        self(f"{what} (one batch)", actual, expected[1], WHOLE_TOL)

    def report(self, **extra):
        print(json.dumps({"checked": self.checked, "failures": self.failures[:50], **extra}), flush=True)


# ---------------------------------------------------------------- torch.distributed
def run_torch(rank, world, port):
    import datetime

    import torch
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
        timeout=datetime.timedelta(seconds=LIMIT - 30),
    )  # fmt: skip
    calls = _count_collectives(dist)
    check = Checker()
    tensor = torch.as_tensor

    def result(metric, **kwargs):
        return as_numpy(metric.result(**kwargs))

    for label, name, metric, expected, mine, inputs in my_shards(rank, world, tensor):
        local = result(metric)
        what = f"rank {rank}/{world} {label} {name}"
        metric.sync()
        check.against(f"{what} sync", result(metric), expected)
        if world > 2:
            continue  # the lifecycle checks below run in the world of 2
        metric.sync()
        check(f"{what} sync twice", result(metric), expected[0])
        metric.unsync()
        check(f"{what} unsync", result(metric), local)
        check(f"{what} result(sync=True)", result(metric, sync=True), expected[0])
        check(f"{what} unsynced after result(sync=True)", result(metric), local)
        if name == "uneven":  # the stateless form, every replica holding a state (maybe of no rows)
            first = tensor(inputs[-1][:0])
            state = metric.stateless_initial_state(first)
            for batch, weight in mine:
                state = metric.stateless_update_state(state, *map(tensor, batch), sample_weight=weight)
            synced = metric.stateless_sync_state(state)
            check(f"{what} stateless_sync_state", metric.stateless_result(synced), expected[0])  # never empty here
    _torch_specials(rank, world, check, calls, dist, torch)
    check.report(collectives=dict(calls))
    dist.destroy_process_group()


def _count_collectives(dist):
    """Count torch.distributed's all_reduce / all_gather calls (the adapter
    reads them from the module at call time)."""
    calls = {"all_reduce": 0, "all_gather": 0}
    for name in calls:
        original = getattr(dist, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        setattr(dist, name, counted)
    return calls


def _torch_specials(rank, world, check, calls, dist, torch):
    """Coalescing, errors raised on every replica, a given group, NumPy-fed
    state, an update after a sync."""
    # one all_gather (the header) and one all_reduce for AUC's 8 float64 entries
    auc = metrics.AUC()
    auc.update_state(torch.tensor([0.0, 1.0]), torch.tensor([0.3, 0.8]))
    before = dict(calls)
    auc.sync()
    check(
        f"rank {rank} AUC sync collectives (all_reduce, all_gather)",
        [calls["all_reduce"] - before["all_reduce"], calls["all_gather"] - before["all_gather"]],
        [1, 1],
    )
    # Extremes: sum, min, max each one all_reduce; the header and the two concatenated entries (float64,
    # int32) one all_gather each dtype
    extremes = Extremes()
    extremes.update_state(torch.arange(rank + 1, dtype=torch.float64))
    before = dict(calls)
    extremes.sync()
    check(
        f"rank {rank} Extremes sync collectives (all_reduce, all_gather)",
        [calls["all_reduce"] - before["all_reduce"], calls["all_gather"] - before["all_gather"]],
        [3, 3],
    )
    # shapes that differ: the same ValueError on every replica, and the next collective still lines up
    r2 = metrics.R2Score()
    outputs = 2 if rank == 0 else 3
    r2.update_state(torch.ones(4, outputs, dtype=torch.float64), torch.zeros(4, outputs, dtype=torch.float64))
    try:
        r2.sync()
        check(f"rank {rank} mismatched R2Score raised", 0, 1)
    except ValueError as error:
        check(f"rank {rank} mismatched R2Score raised naming the replicas", "on replicas [0]" in str(error), True)
    # a given group: the first two replicas only
    pair = dist.new_group([0, 1])
    mean = metrics.Mean(dtype="float64")
    mean.update_state(torch.tensor([float(rank)], dtype=torch.float64))
    if rank < 2:
        mean.sync(pair)
        check(f"rank {rank} Mean over group [0, 1]", torch.as_tensor(mean.result()).numpy(), 0.5)
    # NumPy-fed state (and a replica that saw nothing) syncs through the torch world that is up
    fed = metrics.Mean(dtype="float64")
    if rank != 1:
        fed.update_state(np.full(rank + 1, float(rank)))
    fed.sync()
    ranks = [r for r in range(world) if r != 1]
    expected = sum(r * (r + 1) for r in ranks) / sum(r + 1 for r in ranks)
    synced = fed.result()
    check(
        f"rank {rank} NumPy-fed Mean synced through torch",
        [isinstance(synced, torch.Tensor), float(synced)],
        [True, expected],
    )
    # an update after a sync drops the synced view: nothing counts twice
    fed.update_state(np.array([100.0]))
    local = (rank * (rank + 1) + 100.0) / (rank + 2) if rank != 1 else 100.0
    check(f"rank {rank} update after sync reads the local state", float(fed.result()), local)
    dist.barrier()


# ---------------------------------------------------------------- JAX, shard_map over 4 host devices
def run_jax():
    """Replicas' states from uneven and empty shards, each on its device,
    synced inside one jitted ``shard_map`` per scenario (every metric at
    once: one compile). The states are computed through the NumPy backend
    (float64, the layout JAX with x64 holds): eager JAX compiles every op
    for every new shard shape, minutes for this many; JAX's own updates run
    in :func:`_jax_step`, inside the jitted step."""
    import jax
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    jax.config.update("jax_enable_x64", True)
    devices = jax.devices()
    world = len(devices)
    assert world == 4, f"expected 4 host devices from XLA_FLAGS, found {devices}"
    mesh = Mesh(np.array(devices), ("replicas",))
    spread = NamedSharding(mesh, P("replicas"))
    check = Checker()
    all_cases = [c for c in cases() if c[0] != "extremes"]  # concatenations need one size per replica under SPMD
    makers = {label: make for label, make, _, _ in all_cases}

    def synced_results(states):
        out = {}
        for label, block in states.items():
            metric = makers[label]()
            state = metric.stateless_sync_state(jax.tree.map(lambda x: x[0], block), "replicas")
            out[label] = metric.stateless_result(state)[None]
        return out

    run = jax.jit(jax.shard_map(synced_results, mesh=mesh, in_specs=P("replicas"), out_specs=P("replicas")))
    for name, rows in SPLITS[world].items():
        if name == "nobody":
            continue  # every SPMD replica holds a state; empty shards are in the other scenarios
        states, expected = {}, {}
        for label, make, inputs, kind in all_cases:
            # every SPMD replica holds a state: one that never updates starts from its empty shard
            weights, replicas = scenario(
                "uneven" if name == "one_holds_all" else name, rows, inputs, kind, len(label) + len(name), True
            )
            expected[label] = references(make, inputs, weights, replicas, np.asarray)
            metric = make()
            per_replica = []
            for rank, mine in enumerate(replicas):
                state = metric.stateless_initial_state(inputs[-1][:0])
                for batch, weight in mine:
                    state = metric.stateless_update_state(state, *batch, sample_weight=weight)
                per_replica.append({key: jax.device_put(value, devices[rank]) for key, value in state.items()})
            # each replica's state stays on its device, as one block of a global array
            states[label] = jax.tree.map(
                lambda *xs: jax.make_array_from_single_device_arrays(
                    (world, *xs[0].shape), spread, [x[None] for x in xs]
                ),
                *per_replica,
            )
        for label, value in run(states).items():
            for rank in range(world):
                check.against(f"jax shard_map {label} {name} replica {rank}", value[rank], expected[label])
    _jax_step(check, mesh, world)
    check.report()


def _jax_step(check, mesh, world):
    """A jitted data-parallel step: update on the replica's equal shard and
    sync inside one shard_map, every metric at once (Extremes included: equal
    shards); and pmap with a named axis."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import PartitionSpec as P

    rows = 24  # 6 per replica
    chosen = [
        (label, make, tuple(np.asarray(x)[:rows] for x in _extend(inputs, rows))) for label, make, inputs, _ in cases()
    ]

    def step(data):
        out = {}
        for label, make, _ in chosen:
            metric = make()
            batch = data[label]
            state = metric.stateless_update_state(metric.stateless_initial_state(batch[-1]), *batch)
            out[label] = metric.stateless_result(metric.stateless_sync_state(state, "replicas"))[None]
        return out

    data = {label: tuple(jnp.asarray(x) for x in inputs) for label, _, inputs in chosen}
    run = jax.jit(jax.shard_map(step, mesh=mesh, in_specs=P("replicas"), out_specs=P("replicas")))
    results = run(data)
    for label, make, inputs in chosen:
        shards = [[(tuple(x[r * 6 : (r + 1) * 6] for x in inputs), None)] for r in range(world)]
        expected = references(make, inputs, None, shards, np.asarray)  # NumPy: eager JAX compiles per shape
        for rank in range(world):
            check.against(f"jax jitted step {label} replica {rank}", results[label][rank], expected)
    # pmap: the same sync with pmap's axis name
    mean = metrics.Mean(dtype="float64")
    values = jnp.arange(world * 3, dtype=jnp.float64).reshape(world, 3)

    def pmapped(v):
        state = mean.stateless_update_state(mean.stateless_initial_state(v), v)
        return mean.stateless_result(mean.stateless_sync_state(state, "replicas"))

    out = jax.pmap(pmapped, axis_name="replicas")(values)
    check("jax pmap Mean", np.asarray(out), np.full(world, np.mean(np.arange(world * 3))))


def _extend(inputs, rows):
    """``inputs`` repeated along axis 0 to at least ``rows`` rows."""
    return tuple(np.concatenate([x] * (rows // len(x) + 1), axis=0) for x in inputs)


# ---------------------------------------------------------------- TensorFlow, MirroredStrategy over 2 CPUs
def run_tensorflow():
    """Per scenario one eager ``strategy.run`` doing every metric: stateful
    ``sync()`` and ``stateless_sync_state`` in the replica context (each
    replica its own metric objects), then ``stateless_sync_state(states,
    strategy)`` across replicas (strategy.reduce); and a tf.function step."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    world = strategy.num_replicas_in_sync
    check = Checker()
    tensor = tf.convert_to_tensor
    all_cases = cases()
    replica_ids = strategy.experimental_distribute_values_from_function(lambda ctx: ctx.replica_id_in_sync_group)
    for name, rows in SPLITS[world].items():
        plans = {}
        for label, make, inputs, kind in all_cases:
            # per-replica values of one program hold one layout: every replica passes weights (mixed forms: torch)
            weights, shards = scenario(name, rows, inputs, kind, seed=len(label) + len(name), every_replica_weighs=True)
            plans[label] = (make, inputs, shards, references(make, inputs, weights, shards, tensor),
                            stateless_reference(make, inputs, shards, tensor))  # fmt: skip
        owned = {label: [plan[0]() for _ in range(world)] for label, plan in plans.items()}

        def in_replica(replica, plans=plans, owned=owned):
            out = {}
            for label, (_make, inputs, shards, _, _) in plans.items():
                mine, metric = shards[int(replica)], owned[label][int(replica)]
                for batch, weight in mine or ():
                    metric.update_state(*map(tensor, batch), sample_weight=None if weight is None else tensor(weight))
                metric.sync()
                state = metric.stateless_initial_state(tensor(inputs[-1][:0]))
                for batch, weight in mine or ():
                    state = metric.stateless_update_state(state, *map(tensor, batch), sample_weight=weight)
                out[label] = (metric.result(), metric.stateless_result(metric.stateless_sync_state(state)), state)
            return out

        results = strategy.run(in_replica, args=(replica_ids,))
        for label, (_, _, _, expected, stateless) in plans.items():
            stateful, in_context, states = results[label]
            what = f"tf {label} {name}"
            local = zip(
                strategy.experimental_local_results(stateful),
                strategy.experimental_local_results(in_context),
                strict=True,
            )
            for r, (a, b) in enumerate(local):
                check.against(f"{what} replica {r} sync in the replica context", a, expected)
                check(f"{what} replica {r} stateless_sync_state in the replica context", b, stateless)
            if label != "extremes":  # per-replica concatenations of different sizes cannot be stacked
                metric = owned[label][0]
                synced = metric.stateless_sync_state(states, strategy)
                check(
                    f"{what} stateless_sync_state(strategy) across replicas", metric.stateless_result(synced), stateless
                )
    _tensorflow_graph(check, strategy, world)
    check.report()


def _tensorflow_graph(check, strategy, world):
    """``stateless_sync_state`` inside a tf.function run by the strategy
    (graph mode: the header is skipped), equal shards of 6 rows, for metrics
    of every kind of state: compensated scalars, per-threshold and per-class
    counts, the IoU matrix, data-shaped R2, AUC, and Extremes' min, max and
    concatenations."""
    import tensorflow as tf

    chosen = ("mean", "auc", "f1_score", "mean_io_u", "r2_score", "precision", "extremes")
    picked = [
        (label, make, tuple(np.asarray(x)[: 6 * world] for x in inputs))
        for label, make, inputs, _ in cases()
        if label in chosen
    ]
    shards = {
        label: [tuple(tf.constant(x[r * 6 : (r + 1) * 6]) for x in inputs) for r in range(world)]
        for label, _, inputs in picked
    }
    data = strategy.experimental_distribute_values_from_function(
        lambda ctx: {label: shards[label][ctx.replica_id_in_sync_group] for label in shards}
    )

    @tf.function(autograph=False)
    def step(data):
        def replica(batch):
            out = {}
            for label, make, _ in picked:
                metric = make()
                state = metric.stateless_update_state(metric.stateless_initial_state(batch[label][-1]), *batch[label])
                out[label] = metric.stateless_result(metric.stateless_sync_state(state))
            return out

        return strategy.run(replica, args=(data,))

    results = step(data)
    for label, make, inputs in picked:
        expected = references(
            make,
            inputs,
            None,
            [[(tuple(x[r * 6 : (r + 1) * 6] for x in inputs), None)] for r in range(world)],
            tf.convert_to_tensor,
        )
        for r, value in enumerate(strategy.experimental_local_results(results[label])):
            check.against(f"tf tf.function {label} replica {r}", value, expected)


# ---------------------------------------------------------------- JAX across processes (jax.distributed)
def run_jax_processes(rank, world, port):
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=world, process_id=rank, initialization_timeout=60)
    import jax.numpy as jnp
    from lossbridge.backends import jax as adapter

    check = Checker()
    syncs = 0
    # the one-batch reference on NumPy: eager JAX compiles every op for every new shape
    for label, name, metric, expected, _, _ in my_shards(rank, world, jnp.asarray, np.asarray):
        metric.sync()
        syncs += 1
        check.against(f"jax process {rank} {label} {name}", metric.result(), expected)
    # the collectives are made once per kind and compiled once per layout of the state, not once per sync
    collectives = adapter._process_collective.cache_info().currsize
    devices = tuple(next(d for d in jax.devices() if d.process_index == p) for p in range(world))
    kinds = ("sum", "min", "max", "gather")
    compiled = sum(adapter._process_collective(kind, devices)[0]._cache_size() for kind in kinds)
    check("collective functions made (at most one per kind)", 0 < collectives <= len(kinds), True)
    check(f"compiled collectives fewer than a third of {syncs} syncs", compiled < syncs / 3, True)
    check.report(syncs=syncs, compiled_collectives=compiled)
    jax.distributed.shutdown()


# ---------------------------------------------------------------- MLX across processes (mx.distributed, ring)
def run_mlx(rank, hostfile):
    os.environ["MLX_RANK"], os.environ["MLX_HOSTFILE"] = str(rank), hostfile  # what mlx.launch sets
    import mlx.core as mx

    world = mx.distributed.init(strict=True, backend="ring").size()
    check = Checker()
    for label, name, metric, expected, _, _ in my_shards(rank, world, mx.array, np.asarray):
        local = as_numpy(metric.result())
        what = f"mlx process {rank} {label} {name}"
        metric.sync()
        check.against(f"{what} sync", metric.result(), expected)
        metric.unsync()
        check(f"{what} unsync", metric.result(), local)
        check(f"{what} result(sync=True)", metric.result(sync=True), expected[0])
    check.report()


if __name__ == "__main__":
    framework = sys.argv[1]
    if framework == "torch":
        run_torch(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif framework == "jax":
        run_jax()
    elif framework == "tensorflow":
        run_tensorflow()
    elif framework == "jax-processes":
        run_jax_processes(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif framework == "mlx":
        run_mlx(int(sys.argv[2]), sys.argv[3])
    else:
        raise SystemExit(f"unknown framework {framework!r}")
