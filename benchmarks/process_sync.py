"""``Metric.sync`` across the processes of ``jax.distributed`` on this CPU:
the time of a metric's first sync (its collective compiles) and of later
syncs of the same state layout, against a psum of the same two scalars
written by hand.

    python -m benchmarks.process_sync            # 2 processes, ~15 s

The parent starts the processes on a free port, each stops itself within
its timeout, and rank 0 prints the table.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time

ROUNDS = 25
TIMEOUT = 120


def _worker(rank, world, port):
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=world, process_id=rank, initialization_timeout=60)
    import jax.numpy as jnp
    import numpy as np
    from jax.experimental import multihost_utils

    from lossbridge import metrics

    def lossbridge_sync():
        metric = metrics.Mean(dtype="float64")
        metric.update_state(jnp.arange(4.0 + rank))
        start = time.perf_counter()
        metric.sync()
        float(metric.result())
        return time.perf_counter() - start

    def by_hand():  # the two sums gathered from every process and added on the host
        start = time.perf_counter()
        values = jnp.asarray([jnp.sum(jnp.arange(4.0 + rank)), 4.0 + rank])
        gathered = multihost_utils.process_allgather(values)
        float(np.sum(gathered[:, 0]) / np.sum(gathered[:, 1]))
        return time.perf_counter() - start

    rows = []
    for name, run in (("lossbridge Mean.sync() + result()", lossbridge_sync), ("process_allgather by hand", by_hand)):
        times = [run() for _ in range(ROUNDS)]
        rows.append((name, times[0], statistics.median(times[1:])))
    if rank == 0:
        print(f"{world} jax.distributed processes on {os.cpu_count()} CPU cores, jax {jax.__version__}")
        print(f"{'':36} {'first (ms)':>11} {'later, median (ms)':>19}")
        for name, first, later in rows:
            print(f"{name:36} {first * 1e3:11.1f} {later * 1e3:19.2f}")
    jax.distributed.shutdown()


def main(world=2):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    command = [sys.executable, "-m", "benchmarks.process_sync", "--worker"]
    procs = [subprocess.Popen([*command, str(rank), str(world), str(port)], env=env) for rank in range(world)]
    try:
        codes = [proc.wait(timeout=TIMEOUT) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return max(codes)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(*map(int, sys.argv[2:5]))
    else:
        raise SystemExit(main())
