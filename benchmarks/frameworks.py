"""Per-framework plumbing for the benchmarks: tensors, blocking, compilers.

Benchmarks may import frameworks freely (they are not lossbridge), but each
import happens only when that backend is benchmarked.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import numpy as np

FRAMEWORKS = ("numpy", "torch", "jax", "tensorflow")


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def device_of(name: str) -> str:
    """Where this framework's tensors go: a GPU when the framework has one."""
    if name == "torch":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "jax":
        import jax

        return jax.devices()[0].platform
    if name == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return "cpu"


def to_tensor(name: str, array: np.ndarray):
    """``array`` as a tensor of framework ``name`` on its default device."""
    if name == "numpy":
        return array
    if name == "torch":
        import torch

        return torch.as_tensor(array, device="cuda" if torch.cuda.is_available() else "cpu")
    if name == "jax":
        import jax.numpy as jnp

        return jnp.asarray(array)
    if name == "tensorflow":
        import tensorflow as tf

        return tf.constant(array)
    raise ValueError(name)


def sync_for(name: str):
    """A function that blocks until a result is computed (returns it), or
    None where results are computed synchronously."""
    if name == "jax":

        def block(result):
            return result.block_until_ready() if hasattr(result, "block_until_ready") else result

        return block
    if name == "torch":
        import torch

        if torch.cuda.is_available():

            def cuda_sync(result):
                torch.cuda.synchronize()
                return result

            return cuda_sync
    return None


def compiler(name: str):
    """The framework's compiler applied to a function, or None (NumPy)."""
    if name == "jax":
        import jax

        return jax.jit
    if name == "torch":
        import torch

        return torch.compile
    if name == "tensorflow":
        import tensorflow as tf

        return lambda fn: tf.function(fn, reduce_retracing=True)
    return None


def reset_compiler(name: str) -> None:
    """Drop compiled caches between cases (torch's recompile limit is per code object)."""
    if name == "torch":
        import torch

        torch._dynamo.reset()


def version(module: str) -> str | None:
    if not installed(module):
        return None
    try:
        from importlib.metadata import version as dist_version

        dist = {"tensorflow": "tensorflow-cpu"}.get(module, module)
        try:
            return dist_version(dist)
        except Exception:  # noqa: BLE001 - distribution named differently
            return dist_version(module)
    except Exception:  # noqa: BLE001
        return getattr(importlib.import_module(module), "__version__", "unknown")


#: torch intra-op threads for every size (``--torch-threads``); None: the rule
#: below. On two cores or fewer torch's OpenMP workers fight the benchmark
#: itself and any other load (large-input timings came out quantised to the
#: scheduler's 4-8 ms slices), so there torch runs single-threaded throughout.
TORCH_THREADS = 1 if (os.cpu_count() or 1) <= 2 else None


class threads_for_size:
    """Context: torch runs single-threaded on small inputs. At a few hundred
    elements its intra-op thread hand-off costs more than the work, and on a
    loaded machine a wake-up can take milliseconds, which scattered the small
    torch timings by 100x. Large inputs keep every core, unless
    :data:`TORCH_THREADS` fixes the count for all sizes."""

    def __init__(self, name: str, size: str):
        self.threads = TORCH_THREADS or (1 if size == "small" else None)
        self.active = name == "torch" and self.threads is not None
        self.previous = None

    def __enter__(self):
        if self.active:
            import torch

            self.previous = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc):
        if self.active:
            import torch

            torch.set_num_threads(self.previous)
        return False
