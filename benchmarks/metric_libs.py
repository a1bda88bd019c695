"""The three libraries' metrics behind one call shape, for the metric suite.

For one :class:`~benchmarks.metric_cases.MetricCase` on one backend:
``lossbridge`` and ``keras`` metrics take ``update_state(*inputs)`` then
``result()``; torchmetrics takes ``update(*its_inputs)`` then ``compute()``
(its inputs adapted once from the same NumPy arrays, ``tm_args``). Also here:
the "one pass" floor (a plain sum of every input tensor), a state's size in
bytes, a result as NumPy, and the peak allocation of one update.

Each framework is imported only when its backend is benchmarked.
"""

from __future__ import annotations

import importlib
import tracemalloc

import numpy as np

from . import frameworks as fw


def update_and_result(metric):
    """A zero-argument call: one ``update_state`` and ``result`` (Keras API)."""

    def run(inputs):
        metric.update_state(*inputs)
        return metric.result()

    return run


def update_and_compute(metric):
    """The torchmetrics counterpart: ``update`` then ``compute``."""

    def run(inputs):
        metric.update(*inputs)
        return metric.compute()

    return run


def make(library, case, keras=None):
    """A fresh metric of ``library`` for ``case``: ``lb`` (lossbridge, eager),
    ``lbc`` (lossbridge with ``compile=True``), ``keras`` or ``tm``."""
    if library in ("lb", "lbc"):
        import lossbridge.metrics as lb_metrics

        metric = getattr(lb_metrics, case.cls)(**case.options)
        if library == "lbc":
            metric.compile = True  # the update compiled, state in and out (Metric.compile)
        return metric
    if library == "keras":
        return getattr(keras.metrics, case.cls)(**case.options)
    module, _, name = ("torchmetrics." + case.tm).rpartition(".")
    return getattr(importlib.import_module(module), name)(**case.tm_options)


def caller(library):
    return update_and_compute if library == "tm" else update_and_result


def tm_inputs(case, arrays, backend):
    """torchmetrics' positional inputs from the NumPy ``arrays`` (made once,
    outside the timed region): see ``tm_args`` in metric_cases."""
    how = case.tm_args
    if how == "values":
        chosen = arrays
    elif how == "tp":
        chosen = arrays
    elif how == "pt":
        chosen = (arrays[1], arrays[0])
    elif how == "pt_long":
        chosen = (arrays[1], arrays[0].astype(np.int64))
    elif how == "pt_ids":
        chosen = (arrays[1], arrays[0].argmax(axis=-1).astype(np.int64))
    elif how == "pt_flat":
        chosen = (arrays[1].reshape(-1), arrays[0].reshape(-1))
    else:
        raise ValueError(f"tm_args {how!r} of case {case.id}: expected values, tp, pt, pt_long, pt_ids or pt_flat")
    return [fw.to_tensor(backend, a) for a in chosen]


def to_numpy(value):
    """A result of any of the libraries as a float64 NumPy array."""
    if isinstance(value, (tuple, list)):
        return [to_numpy(v) for v in value]
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)


def tm_read(case, value):
    """torchmetrics' result read as Keras reports it (``tm_out``)."""
    value = to_numpy(value)
    how = case.tm_out
    if how is None:
        return value
    if how == "x100":
        return value * 100
    if how.startswith("mean["):
        ids = [int(i) for i in how[5:-1].split(",")]
        return np.asarray(value)[ids].mean()
    index = int(how[1:-1])
    return np.asarray(value[index], dtype=np.float64)


def compare(reference, other, rtol=1e-4, atol=1e-6):
    """``(ok, largest difference relative to the reference's magnitude)``."""
    a, b = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if a.shape != b.shape and a.size == b.size:
        b = b.reshape(a.shape)
    if a.shape != b.shape:
        return False, float("inf")
    diff = np.abs(a - b)
    scale = np.maximum(np.abs(a), np.abs(b))
    ok = bool(np.all(diff <= atol + rtol * scale)) and bool(np.all(np.isnan(a) == np.isnan(b)))
    rel = float(np.nanmax(diff / np.maximum(scale, 1e-30))) if diff.size else 0.0
    return ok, rel


def state_bytes(library, metric):
    """Bytes of every state tensor the metric holds now."""
    if library in ("lb", "lbc"):
        return sum(_nbytes(t) for t in metric.variables)
    if library == "keras":
        return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in metric.variables)
    total = 0
    for value in metric.metric_state.values():
        for t in value if isinstance(value, list) else [value]:
            total += t.numel() * t.element_size()
    return total


def _nbytes(tensor):
    if hasattr(tensor, "element_size"):  # torch
        return tensor.numel() * tensor.element_size()
    shape = tuple(int(d) for d in tensor.shape)
    dtype = getattr(tensor.dtype, "as_numpy_dtype", tensor.dtype)  # tensorflow's DType
    return int(np.prod(shape)) * np.dtype(dtype).itemsize


def floor(backend, inputs):
    """The "one pass" floor: a plain sum over every input tensor."""
    if backend == "numpy":
        return lambda: [np.sum(t) for t in inputs]
    if backend == "torch":
        import torch

        return lambda: [torch.sum(t) for t in inputs]
    if backend == "jax":
        import jax.numpy as jnp

        return lambda: jnp.stack([jnp.sum(t).astype(jnp.float32) for t in inputs])
    import tensorflow as tf

    return lambda: [tf.reduce_sum(t) for t in inputs]


def peak_bytes(backend, run):
    """Peak bytes allocated during ``run()`` above what was allocated before,
    and what measured it; None where nothing here can measure it.

    NumPy: ``tracemalloc`` (NumPy reports its data buffers to it, and Python
    objects are traced). torch CPU: the profiler's allocation events
    (``profile_memory=True``: every allocation and free of torch's CPU
    allocator, in time order), summed; ``tracemalloc`` sees none of them.
    """
    if backend == "numpy":
        tracemalloc.start()
        try:
            run()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return peak, "tracemalloc"
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return None, "none (CUDA)"
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            run()
        events = []
        stack = list(prof.profiler.kineto_results.experimental_event_tree())
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            fields = node.extra_fields
            size = getattr(fields, "alloc_size", None)
            if size is not None and getattr(fields, "device_type", DeviceType.CPU) == DeviceType.CPU:
                events.append((node.start_time_ns, size))
        current = peak = 0
        for _, size in sorted(events):
            current += size
            peak = max(peak, current)
        return peak, "torch profiler allocation events"
    return None, "none"
