"""Metric.sync across replicas: replica invariance on CPU for every metric of
the catalogue, on each framework's own engine.

Each test spawns the worker (``tests/replica_worker.py``) in fresh processes:
torch.distributed over gloo with 2 and 4 processes, JAX ``shard_map`` / ``pmap``
over 4 host devices (``XLA_FLAGS``), JAX across 2 processes of
``jax.distributed``, TensorFlow's MirroredStrategy over 2 logical CPU
devices, and MLX across 2 processes of ``mx.distributed`` (its ring backend). One spawned group runs the whole catalogue. Every worker compares each
replica's synced result with one metric that saw all the data (float64
references computed in the worker, never from the synced code alone) and
prints its count of checks and its failures.

Nothing hangs: ports are chosen free at run time, every process has a watchdog
that exits it (``LOSSBRIDGE_REPLICA_LIMIT``), and the test kills what is still
running after its own deadline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow(seconds=75)  # spawns processes: scheduled early (conftest.py)

ROOT = Path(__file__).resolve().parent.parent
#: seconds a whole spawned group may take (the workers' own watchdog is shorter)
DEADLINE = 420


def _installed(name):
    return importlib.util.find_spec(name) is not None


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(args, extra_env=None, count=1):
    """Start ``count`` workers (``args`` formatted with ``rank``), wait for all
    of them within :data:`DEADLINE`, and return their reports; a worker past
    the deadline is killed, one that failed fails the test with its output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOSSBRIDGE_REPLICA_LIMIT": str(DEADLINE - 30), **(extra_env or {})}
    env.pop("LOSSBRIDGE_BACKEND", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.replica_worker", *(str(a).format(rank=rank) for a in args)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for rank in range(count)
    ]
    end = time.monotonic() + DEADLINE
    outputs = []
    try:
        for proc in procs:
            try:
                outputs.append(proc.communicate(timeout=max(1.0, end - time.monotonic())))
            except subprocess.TimeoutExpired:
                pytest.fail(f"a replica worker {args} ran past {DEADLINE} s")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    reports = []
    for rank, (proc, (out, err)) in enumerate(zip(procs, outputs, strict=True)):
        lines = [line for line in out.splitlines() if line.startswith("{")]
        assert proc.returncode == 0 and lines, (
            f"worker {rank} of {args} exited {proc.returncode}:\n{out}\n{err[-6000:]}"
        )
        reports.append(json.loads(lines[-1]))
    return reports


def _check(reports, least):
    for rank, report in enumerate(reports):
        assert report["failures"] == [], f"replica {rank}: " + "\n".join(report["failures"])
        assert report["checked"] >= least, report


@pytest.mark.skipif(not _installed("torch"), reason="needs torch")
@pytest.mark.parametrize("world", [2, 4])
def test_torch_gloo_replica_invariance(world):
    reports = _spawn(["torch", "{rank}", world, _free_port()], count=world)
    _check(reports, 200)
    # coalesced: per sync of a metric one all_gather (the header) and one all_reduce per reduction,
    # never one per state entry (the worker checks AUC's and Extremes' counts exactly)
    assert all(report["collectives"]["all_reduce"] > 0 for report in reports)


@pytest.mark.skipif(not _installed("jax"), reason="needs jax")
def test_jax_shard_map_replica_invariance():
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    (report,) = _spawn(["jax"], {"XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"})
    _check([report], 200)


@pytest.mark.skipif(not _installed("jax"), reason="needs jax")
def test_jax_distributed_processes_replica_invariance():
    reports = _spawn(["jax-processes", "{rank}", 2, _free_port()], {"JAX_PLATFORMS": "cpu"}, count=2)
    _check(reports, 100)


@pytest.mark.skipif(not _installed("tensorflow"), reason="needs tensorflow")
def test_tensorflow_mirrored_replica_invariance():
    (report,) = _spawn(["tensorflow"], {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""})
    _check([report], 200)


@pytest.mark.skipif(not _installed("mlx"), reason="needs mlx")
def test_mlx_distributed_processes_replica_invariance(tmp_path):
    # the ring backend's hostfile as mlx.launch writes it: one "ip:port" list per rank
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text(json.dumps([[f"127.0.0.1:{_free_port()}"] for _ in range(2)]))
    reports = _spawn(["mlx", "{rank}", hostfile], count=2)
    _check(reports, 100)
