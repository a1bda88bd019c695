"""Default parity tolerances, one table per dtype.

A backend's result ``got`` matches the float64 reference ``ref`` element by
element when ``|got - ref| <= atol + rtol * |ref|`` (the rule of
``numpy.isclose``). The reference is computed on the inputs *after* they were
rounded to the tested dtype, so input rounding is never counted as error; it
is then rounded once to the tested dtype, so a result too large for that dtype
is expected to be ``inf`` there, exactly as a correct backend returns it.

``rtol`` is stated in units of the dtype's machine epsilon (the spacing of
numbers just above 1.0): float64 2**-52 = 2.2e-16, float32 2**-23 = 1.2e-7,
float16 2**-10 = 9.8e-4, bfloat16 2**-7 = 7.8e-3. ``atol`` covers results near
zero that come from cancelling terms of order one (``log_cosh`` of a tiny
error, a cross-entropy of a perfect prediction), whose error is a few ulps of
1.0, not of the result.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    """Elementwise ``|got - ref| <= atol + rtol * |ref|``."""

    rtol: float
    atol: float

    def allows(self, abs_err, ref_abs):
        return abs_err <= self.atol + self.rtol * ref_abs


#: Values: dtype -> Tolerance.
VALUE_TOLERANCES = {
    # eps 2.2e-16. 1e-9 is ~4.5e6 ulps: a fused native op (torch's softplus,
    # tf's logsumexp) against the composed formula differs by a few ulps, and
    # cancellation inside a formula can magnify that a thousandfold; a formula
    # that differs in substance (another eps, a missing clip) misses by far more.
    "float64": Tolerance(rtol=1e-9, atol=1e-12),
    # eps 1.2e-7. 1e-5 is ~80 ulps: transcendental functions are accurate to
    # 1-4 ulps per framework, reductions over a short axis add a few more in a
    # different order, and log(1 - p) near p = 1 magnifies them ~10x.
    "float32": Tolerance(rtol=1e-5, atol=1e-6),
    # eps 9.8e-4. Every elementwise op rounds to half precision (reductions
    # accumulate in float32), so a 5-10 op formula drifts by ~5 ulps: 5e-3.
    "float16": Tolerance(rtol=5e-3, atol=2e-3),
    # eps 7.8e-3 (8 significant bits). The same ~5 ulps: 4e-2.
    "bfloat16": Tolerance(rtol=4e-2, atol=1.6e-2),
}

#: Gradients: dtype -> Tolerance. Looser than values because a backward pass
#: chains about twice as many rounded ops, and (float64) because the reference
#: gradient comes from finite differences, accurate to ~1e-8 relative.
GRAD_TOLERANCES = {
    "float64": Tolerance(rtol=1e-6, atol=1e-9),
    "float32": Tolerance(rtol=5e-5, atol=5e-6),
    "float16": Tolerance(rtol=1e-2, atol=4e-3),
    "bfloat16": Tolerance(rtol=8e-2, atol=3e-2),
}


def tolerance_for(dtype: str, quantity: str = "value", rtol=None, atol=None) -> Tolerance:
    """The default tolerance for ``dtype`` and ``quantity`` ("value" or
    "grad"), with ``rtol`` / ``atol`` overriding either part."""
    table = GRAD_TOLERANCES if quantity == "grad" else VALUE_TOLERANCES
    if dtype not in table:
        raise ValueError(f"no parity tolerance for dtype {dtype!r}; accepted: {', '.join(table)}")
    default = table[dtype]
    return Tolerance(
        rtol=default.rtol if rtol is None else float(rtol),
        atol=default.atol if atol is None else float(atol),
    )
