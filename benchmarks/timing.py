"""Timing primitives: warm-up, calibrated batches, interleaved samples.

Each variant of a case is timed in *samples*: a sample runs the variant
``number`` times back to back (``number`` calibrated so a sample lasts about
``target_s``) and records the mean time per call. Samples of all variants of a
case are taken round-robin, so a burst of load from another process on a
shared machine hits every variant alike and the ratios stay fair. Reported:
the median per-call time, its interquartile range and the minimum.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import asdict, dataclass

clock = time.perf_counter


@dataclass
class Stats:
    """Per-call seconds of one variant."""

    median: float
    q1: float
    q3: float
    min: float
    samples: int
    number: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_dict(self) -> dict:
        return {**asdict(self), "iqr": self.iqr}


def summarise(per_call: list[float], number: int) -> Stats:
    ordered = sorted(per_call)
    if len(ordered) >= 4:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1, q3 = ordered[0], ordered[-1]
    return Stats(statistics.median(ordered), q1, q3, ordered[0], len(ordered), number)


def synced(fn, sync):
    """``fn`` followed by ``sync`` on its result (block on async work), or
    ``fn`` itself when the backend computes synchronously."""
    if sync is None:
        return fn

    def run():
        return sync(fn())

    return run


def calibrate(fn, target_s: float, max_number: int = 100_000) -> int:
    """How many back-to-back calls of ``fn`` last about ``target_s``, from the
    fastest of a few short timed batches (one slow outlier, such as a thread
    wake-up on a loaded machine, must not shrink every later sample to 1 call)."""
    if target_s <= 0:
        return 1
    batch, best = 1, None
    while True:
        per_call = []
        for _ in range(3):
            start = clock()
            for _ in range(batch):
                fn()
            per_call.append((clock() - start) / batch)
        best = min(per_call)
        if best * batch >= target_s / 20 or batch >= max_number:
            break
        batch *= 4
    return max(1, min(max_number, int(target_s / max(best, 1e-9))))


#: a variant whose call takes longer than this gets one warm-up call, and
#: the group at most :data:`SLOW_SAMPLES` samples (keeps the suite's run time bounded)
SLOW_CALL_S = 0.5
SLOW_SAMPLES = 3


def interleaved(variants: dict, samples: int, target_s: float, warmup: int = 3) -> dict[str, Stats]:
    """Time every ``variants[name]()`` (already synced) round-robin; returns
    ``{name: Stats}``. A variant that raises is dropped with its error."""
    numbers, errors = {}, {}
    for name, fn in variants.items():
        try:
            if first_call(fn) < SLOW_CALL_S:
                for _ in range(warmup - 1):
                    fn()
            else:
                samples = min(samples, SLOW_SAMPLES)
            numbers[name] = calibrate(fn, target_s)
        except Exception as error:  # noqa: BLE001 - reported, not fatal
            errors[name] = f"{type(error).__name__}: {error}"[:300]
    times = {name: [] for name in numbers}
    names = list(numbers)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside one sample would bias that variant
    try:
        for round_ in range(samples):
            # each round starts with the next variant: at 10^7 elements the
            # first call after the collection below reuses freed pages and the
            # next ones fault in fresh ones, which made a fixed order favour
            # the first variant by ~15% (JAX eager: 23 vs 27 ms for one MSE)
            shift = round_ % len(names) if names else 0
            for name in names[shift:] + names[:shift]:
                number = numbers[name]
                fn = variants[name]
                start = clock()
                for _ in range(number):
                    fn()
                times[name].append((clock() - start) / number)
            gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    out = {name: summarise(per_call, numbers[name]) for name, per_call in times.items()}
    for name, error in errors.items():
        out[name] = error
    return out


def first_call(fn) -> float:
    """Seconds of one call (a cold compile, a first dispatch)."""
    start = clock()
    fn()
    return clock() - start
