"""``get``, ``serialize`` and ``deserialize`` for losses, reading and writing
the config dicts ``keras.losses.serialize`` produces.

The rules live in :class:`lossbridge.registry.Registry` (one implementation
for losses and metrics); this module ties them to :class:`Loss`: a Loss
subclass given to ``get`` is instantiated and a Loss object serializes as
its class and config.

Deserialisation resolves registered names only: a ``class_name``,
``registered_name`` or function name that is not in the registry is a
ValueError. Nothing a config names (``module`` included) is ever imported or
evaluated.
"""

from __future__ import annotations

from .loss import Loss
from .registry import LOSSES, MODULE, deserialize, get, serialize

LOSSES.base = Loss

__all__ = ["MODULE", "deserialize", "get", "serialize"]
