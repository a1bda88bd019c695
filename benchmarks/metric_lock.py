"""What the per-metric lock costs an update: ``Mean.update_state`` of 32
float32 values with the lock (the public method) and without it (the same
work, ``Metric._fold_in``, called directly), per backend, interleaved.

``python -m benchmarks.metric_lock [--backend NAME ...] [--samples S]``

Also prints the cost of the check that refuses traced inputs (one
``is_concrete`` per input), which every stateful update pays too. Nothing
here asserts a speed.
"""

from __future__ import annotations

import argparse

import numpy as np

from lossbridge import metrics
from lossbridge.metrics import _lifecycle

from . import frameworks as fw
from . import timing

SIZE = 32


def parse(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metric_lock", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=fw.FRAMEWORKS, help="repeatable; default: numpy, torch")
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--target-s", type=float, default=0.1, help="seconds per sample")
    return parser.parse_args(argv)


def variants(name):
    """``{variant: fn}`` for backend ``name``: three metrics, so neither
    variant updates a state the other one grew."""
    from lossbridge import backends

    backend = backends.get(name)
    values = fw.to_tensor(name, np.random.default_rng(0).normal(size=SIZE).astype(np.float32))
    locked, unlocked, checked = metrics.Mean(), metrics.Mean(), metrics.Mean()
    for metric in (locked, unlocked, checked):
        metric.update_state(values)  # state on the backend: the steady-state path
    inputs, lock = (values,), _lifecycle.new_lock()

    def lock_alone():
        with lock:
            pass

    return {
        "lock alone": lock_alone,
        "with lock": lambda: locked.update_state(values),
        "without lock": lambda: unlocked._fold_in(inputs, None),
        "tracer check": lambda: _lifecycle.check_concrete(checked, backend, (values, None)),
    }


def main(argv=None):
    args = parse(argv)
    for name in args.backend or ["numpy", "torch"]:
        if not fw.installed(name):
            print(f"{name}: not installed")
            continue
        stats = timing.interleaved(variants(name), args.samples, args.target_s)
        us = {variant: s.median * 1e6 for variant, s in stats.items()}
        print(
            f"{name:>10}: update_state {us['with lock']:.2f} us with the lock, {us['without lock']:.2f} us without "
            f"(lock: {us['with lock'] - us['without lock']:+.2f} us per update); "
            f"taking and releasing the lock alone {us['lock alone']:.2f} us; tracer check alone "
            f"{us['tracer check']:.2f} us"
        )


if __name__ == "__main__":
    main()
