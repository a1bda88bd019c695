"""The warnings lossbridge itself gives, as categories of their own.

They live in the lowest layer because the backend registry warns too (a
plugin that fails to load), and ``backends`` imports nothing from the rest of
lossbridge. The test run turns :class:`LossbridgeWarning` into an error
(pyproject.toml, ``filterwarnings``): a warning the library gives where no
test expects it is a bug; frameworks' warnings are filtered there by name.
"""

from __future__ import annotations


class LossbridgeWarning(UserWarning):
    """Base of every warning lossbridge gives (a metric value that falls back,
    a compiler that rejected a function, a plugin that failed to load)."""


class LossbridgeRuntimeWarning(LossbridgeWarning, RuntimeWarning):
    """Something at run time changed how lossbridge works from now on: a
    compiler fell back to eager execution, a plugin adapter is unavailable."""
