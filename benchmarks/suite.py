"""The benchmark suite: every loss and metric case on every backend, each
variant timed side by side (interleaved) with its baselines.

Loss variants (eager):
  ``hand``          the per-sample formula written in the framework's ops
  ``lb_fn``         the lossbridge loss function (same per-sample output)
  ``hand_reduced``  the formula plus the mean over samples
  ``lb_obj``        the lossbridge Loss object, default reduction (same value)
  ``native``        the framework's own loss, mean-reduced, where it has one
Compiled (jax.jit, torch.compile, tf.function):
  ``lb_jit``        the compiler applied to a call of the Loss object
  ``hand_jit``      the compiler applied to ``hand_reduced``
  ``native_jit``    the compiler applied to ``native``
  ``lb_compile``    the Loss object built with ``compile=True`` (lossbridge.compiling)
Keras 3 variants run in a subprocess per backend (keras_runner.py), timed
there next to ``lb_obj`` again.
"""

from __future__ import annotations

import gc
import os
import traceback

from . import cases as C
from . import formulas
from . import frameworks as fw
from .timing import first_call, interleaved, synced


class Settings:
    """How hard to measure: samples per variant and seconds per sample."""

    def __init__(self, quick=False, samples=None):
        self.small_samples = samples or (5 if quick else 9)
        # one call per sample at 10^7 elements: on a shared 2-core machine 4
        # samples left the per-case ratio +-25% between runs; 7 halve that
        self.large_samples = samples or (3 if quick else 7)
        self.small_target_s = 0.005 if quick else 0.015
        self.large_target_s = 0.0  # one call per sample: each already lasts milliseconds

    def for_size(self, size):
        if size == "small":
            return self.small_samples, self.small_target_s
        return self.large_samples, self.large_target_s


def _lossbridge():
    import lossbridge
    import lossbridge.losses as losses

    try:
        import lossbridge.metrics as metrics
    except ImportError:  # pragma: no cover - metrics not there yet
        metrics = None
    return lossbridge, losses, metrics


def _record(out, backend, case, size, group, stats, extra=None):
    for variant, value in stats.items():
        row = {"backend": backend, "case": case, "size": size, "group": group, "variant": variant}
        if isinstance(value, str):
            row["error"] = value
        else:
            row.update(value.as_dict())
        row.update((extra or {}).get(variant, {}))
        out.append(row)


def loss_variants(backend, case, losses, t, p):
    """The eager variants of one loss case as zero-argument callables, and
    notes on what is missing."""
    notes, variants = [], {}
    hand, hand_reduced = formulas.hand(backend, case.id), formulas.hand_reduced(backend, case.id)
    function = getattr(losses, case.function, None)
    cls = getattr(losses, case.cls, None)
    options = case.options
    if hand is not None:
        variants["hand"] = lambda: hand(t, p)
    if function is not None:
        variants["lb_fn"] = lambda: function(t, p, **options)
    else:
        notes.append(f"lossbridge.losses.{case.function} missing")
    if hand_reduced is not None:
        variants["hand_reduced"] = lambda: hand_reduced(t, p)
    if cls is not None:
        obj = cls(**options)
        variants["lb_obj"] = lambda: obj(t, p)
    else:
        notes.append(f"lossbridge.losses.{case.cls} missing")
    native = formulas.native(backend, case.id)
    if native is not None:
        variants["native"] = lambda: native(t, p)
    return variants, notes


def compiled_variants(backend, case, losses, t, p):
    """Compiled variants and the seconds each first call took (the cold compile)."""
    compile_fn = fw.compiler(backend)
    if compile_fn is None:
        return {}, {}
    variants = {}
    cls = getattr(losses, case.cls, None)
    if cls is not None:
        obj = cls(**case.options)
        lb_jit = compile_fn(lambda a, b: obj(a, b))
        variants["lb_jit"] = lambda: lb_jit(t, p)
        compiled_obj = cls(**case.options, compile=True)
        variants["lb_compile"] = lambda: compiled_obj(t, p)
    hand_reduced = formulas.hand_reduced(backend, case.id)
    if hand_reduced is not None:
        hand_jit = compile_fn(hand_reduced)
        variants["hand_jit"] = lambda: hand_jit(t, p)
    native = formulas.native(backend, case.id)
    if native is not None:
        native_jit = compile_fn(native)
        variants["native_jit"] = lambda: native_jit(t, p)
    sync = fw.sync_for(backend)
    cold, ready = {}, {}
    for name, fn in variants.items():
        try:
            cold[name] = {"first_call_s": first_call(synced(fn, sync))}
            ready[name] = fn
        except Exception as error:  # noqa: BLE001 - reported in the results
            cold[name] = {"compile_error": f"{type(error).__name__}: {error}"[:300]}
    return ready, cold


def run_losses(backend, sizes, settings, selected=None, compile_=True, compiled_cases=None, log=print):
    """Rows for every loss case on ``backend``; compiled variants for
    ``compiled_cases`` only (None: all)."""
    _, losses, _ = _lossbridge()
    rows, notes = [], []
    sync = fw.sync_for(backend)
    for size in sizes:
        samples, target = settings.for_size(size)
        for case in C.LOSSES:
            if selected and case.id not in selected:
                continue
            y_true, y_pred = C.loss_inputs(case.inputs, size)
            t, p = fw.to_tensor(backend, y_true), fw.to_tensor(backend, y_pred)
            variants, missing = loss_variants(backend, case, losses, t, p)
            notes += [f"{backend}/{case.id}: {note}" for note in missing]
            with fw.threads_for_size(backend, size):
                stats = interleaved({k: synced(v, sync) for k, v in variants.items()}, samples, target)
            _record(rows, backend, case.id, size, "eager", stats)
            if compile_ and (compiled_cases is None or case.id in compiled_cases):
                try:
                    with fw.threads_for_size(backend, size):
                        compiled, cold = compiled_variants(backend, case, losses, t, p)
                        stats = interleaved({k: synced(v, sync) for k, v in compiled.items()}, samples, target)
                    _record(rows, backend, case.id, size, "compiled", stats, cold)
                    for name, info in cold.items():
                        if "compile_error" in info:
                            rows.append(
                                {
                                    "backend": backend,
                                    "case": case.id,
                                    "size": size,
                                    "group": "compiled",
                                    "variant": name,
                                    "error": info["compile_error"],
                                }
                            )
                except Exception:  # noqa: BLE001 - one failing compiler must not end the suite
                    notes.append(
                        f"{backend}/{case.id}/{size}: compiled variants failed: " + traceback.format_exc(limit=2)[-300:]
                    )
                fw.reset_compiler(backend)
            log(_progress(backend, case.id, size, rows))
            del t, p, variants
            gc.collect()
    return rows, notes


def run_metrics(backend, sizes, settings, log=print):
    """Rows for the metric cases: update_state + result per call."""
    _, _, metrics = _lossbridge()
    rows, notes = [], []
    sync = fw.sync_for(backend)
    for size in sizes:
        samples, target = settings.for_size(size)
        for case in (c for c in C.METRICS if c.id in C.SUITE_METRICS):
            cls = getattr(metrics, case.cls, None) if metrics is not None else None
            if cls is None:
                notes.append(f"{backend}/{case.id}: lossbridge.metrics.{case.cls} missing")
                continue
            inputs = [fw.to_tensor(backend, x) for x in C.metric_inputs(case.inputs, size)]
            metric = cls(**case.options)

            def lb_metric(metric=metric, inputs=inputs):
                metric.update_state(*inputs)
                return metric.result()

            variants = {"lb_metric": lb_metric}
            if case.id == "mean":
                variants["hand"] = _hand_mean(backend, inputs[0])
            with fw.threads_for_size(backend, size):
                stats = interleaved({k: synced(v, sync) for k, v in variants.items()}, samples, target)
            _record(rows, backend, case.id, size, "metric", stats)
            log(_progress(backend, case.id, size, rows))
    return rows, notes


def _hand_mean(backend, values):
    """A running mean kept in the framework's own tensors: total and count."""
    if backend == "numpy":
        import numpy as xp

        sum_ = xp.sum
    elif backend == "torch":
        import torch as xp

        sum_ = xp.sum
    elif backend == "jax":
        import jax.numpy as xp

        sum_ = xp.sum
    else:
        import tensorflow as xp

        sum_ = xp.reduce_sum
    state = {"total": sum_(values) * 0, "count": 0}
    count = 1
    for dim in values.shape:
        count *= int(dim)

    def update_and_result():
        state["total"] = state["total"] + sum_(values)
        state["count"] += count
        return state["total"] / state["count"]

    return update_and_result


def _progress(backend, case, size, rows):
    mine = [r for r in rows if r["backend"] == backend and r["case"] == case and r["size"] == size and "median" in r]
    parts = [f"{r['variant']}={r['median'] * 1e6:.1f}us" for r in mine]
    return f"  {backend:10s} {case:12s} {size:5s} " + " ".join(parts)


def environment_for_subprocess(extra=None):
    """Environment for child processes: the repository importable, TF quiet."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra or {})
    return env, root
