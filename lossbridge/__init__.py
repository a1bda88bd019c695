"""lossbridge: one set of losses and metrics for NumPy, PyTorch, JAX and TensorFlow.

``import lossbridge`` imports NumPy only; a framework is imported when a
tensor of it arrives or it is selected by name.
"""

from ._source_tree import attach_backends as _attach_backends

_attach_backends(__path__[0])

from . import losses  # noqa: E402
from .backends.notices import LossbridgeRuntimeWarning, LossbridgeWarning  # noqa: E402
from .dispatch import get_backend, set_backend, use_backend  # noqa: E402
from .k import K  # noqa: E402
from .losses import register_loss  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name):
    # the metrics package costs ~15 ms to import: load it on first use
    # (``lossbridge.metrics``, ``lossbridge.register_metric``), not with lossbridge
    if name in ("metrics", "register_metric"):
        import importlib

        metrics = importlib.import_module(".metrics", __name__)  # sets lossbridge.metrics
        return metrics if name == "metrics" else metrics.register_metric
    raise AttributeError(f"module 'lossbridge' has no attribute {name!r}")


__all__ = [
    "K",
    "LossbridgeRuntimeWarning",
    "LossbridgeWarning",
    "get_backend",
    "losses",
    "register_loss",
    "set_backend",
    "use_backend",
    "__version__",
]
