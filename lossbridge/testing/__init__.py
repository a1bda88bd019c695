"""Cross-backend parity testing for losses, metrics and any function written
against ``K``.

``assert_parity(fn, *inputs)`` runs ``fn`` on every installed backend, eager
and compiled, and compares values and gradients with a float64 NumPy
reference under the per-dtype tolerances of
:mod:`lossbridge.testing.tolerances`::

    import numpy as np
    from lossbridge import K
    from lossbridge.testing import assert_parity

    def smooth_l1(y_true, y_pred):
        error = K.abs(y_true - y_pred)
        return K.mean(K.where(error < 1.0, 0.5 * K.square(error), error - 0.5), axis=-1)

    rng = np.random.default_rng(0)
    assert_parity(smooth_l1, rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), dtypes=("float32", "float16"))

``check_backend(name_or_adapter)`` is the conformance kit for adapter
authors: every K operation against float64 NumPy, then every registered loss
and metric through ``check_parity``, with a pass/fail table
(:mod:`lossbridge.testing.conformance`; ``python -m lossbridge check-backend NAME``).

Hypothesis strategies for inputs live in :mod:`lossbridge.testing.strategies`
(importing this package does not import hypothesis). The pytest plugin
:mod:`lossbridge.testing.plugin` adds a ``lossbridge_backend`` fixture and a
``--lossbridge-backend`` option.
"""

from ._rows import ParityResult, ParityRow
from .conformance import ConformanceError, ConformanceResult, check_backend
from .parity import assert_parity, check_parity
from .tolerances import GRAD_TOLERANCES, VALUE_TOLERANCES, Tolerance, tolerance_for

__all__ = [
    "ConformanceError",
    "ConformanceResult",
    "GRAD_TOLERANCES",
    "ParityResult",
    "ParityRow",
    "Tolerance",
    "VALUE_TOLERANCES",
    "assert_parity",
    "check_backend",
    "check_parity",
    "tolerance_for",
]
