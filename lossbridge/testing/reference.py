"""The float64 NumPy reference: values, and gradients by finite differences.

NumPy has no autograd, and borrowing one framework's autograd would let that
framework's bugs hide themselves, so the reference gradient comes from finite
differences of the float64 NumPy run of the same function.

Per element of the differentiated input, :func:`gradient_bracket` returns
an interval: the one-sided derivatives at ``x`` (each extrapolated to second
order from two secants on its side) and the central difference, widened by
the rounding noise of the differences. Where the function is smooth they agree
to ``O(h**2)``. Where it has a kink at ``x`` (``max(., 0)`` in a hinge, a clip at
``eps``, ``|.|`` at zero) the interval spans the derivatives on both sides, and a
backend may return any value in it, as frameworks legitimately pick different
subgradients there.

The step starts at ``2**-26 |x|`` (``1e-9`` at exactly 0, where it never
grows: kinks sit at or just beside 0) and moves by factors of 4: up while rounding
noise (64 ulps of the outputs, over ``h``) is large against the slope (a tiny
input such as ``p = 1e-7`` in a row of large logs), down while the two sides
disagree, so that a kink *near* ``x`` drops out of reach while one *at* ``x``
stays. Below float64 the interval also takes in the derivatives over 8 ulps
of the tested dtype, so a kink that a float32 input hits exactly but its
float64 copy misses by a fraction of an ulp is seen from both sides.
"""

from __future__ import annotations

import numpy as np

from .. import backends, dispatch

#: the step at exactly zero, where no relative step exists
_ZERO_STEP = 1e-9
#: relative step in float64: about sqrt(2**-52), balancing truncation and rounding
_REL_STEP = 2.0**-26
_MANTISSA_BITS = {"float64": 52, "float32": 23, "float16": 10, "bfloat16": 7}


def numpy_dtype(dtype: str) -> np.dtype:
    """The NumPy dtype for a dtype name ("bfloat16" needs ml_dtypes)."""
    return backends.get("numpy").convert_to_tensor(np.zeros(0), dtype=dtype).dtype


def is_float_array(x) -> bool:
    x = np.asarray(x)
    return x.dtype.kind == "f" or x.dtype.name == "bfloat16"


def round_to(x, dtype: str) -> np.ndarray:
    """``x`` rounded once to ``dtype``, returned as float64 (inf where it overflows)."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float64).astype(numpy_dtype(dtype)).astype(np.float64)


def run_numpy(fn, *inputs):
    """``fn(*inputs)`` on the NumPy backend, whatever backend is forced
    around the caller, as a NumPy array."""
    numpy = backends.get("numpy")
    with np.errstate(all="ignore"):
        if dispatch.forced() not in (None, numpy):
            with dispatch.use_backend("numpy"):
                return np.asarray(dispatch.run_on(numpy, fn, *inputs))
        return np.asarray(dispatch.run_on(numpy, fn, *inputs))


def ulp(x, dtype: str) -> np.ndarray:
    """Spacing of ``dtype`` numbers at ``|x|`` (normal range; 0 at zero), as float64."""
    x = np.asarray(x, dtype=np.float64)
    _, exponent = np.frexp(x)
    return np.where(x == 0, 0.0, np.ldexp(1.0, exponent - 1 - _MANTISSA_BITS[dtype]))


def gradient_bracket(fn, inputs, wrt: int, dtype: str):
    """``(low, high, central)``: per element of ``inputs[wrt]``, the interval of
    one-sided slopes of ``sum(fn(*inputs))`` and the central difference, all
    float64 and shaped like ``inputs[wrt]``; NaN where a slope is not finite
    (no reference gradient there).

    Differences are taken output by output before summing, so a huge loss in
    one row does not drown the change in another in rounding.
    """
    x = np.asarray(inputs[wrt], dtype=np.float64)
    low, high, central = (np.full(x.shape, np.nan) for _ in range(3))
    base = run_numpy(fn, *inputs).astype(np.float64)
    probe = _Probe(fn, inputs, wrt, x, base)
    scale = float(np.max(np.abs(x))) if x.size else 0.0
    dtype_step = 8.0 * ulp(x, dtype) if dtype != "float64" else np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        found = _settled_slopes(probe, index, abs(x[index]), scale)
        if found is None:
            continue
        lo, hi, central[index], step = found
        if dtype_step[index] > step:
            coarse = probe.slopes(index, dtype_step[index])
            if coarse is not None:  # the plain secants too: one of them lies wholly past the kink
                (secant_lo, secant_hi), noise = probe.secants, 2.0 * coarse[3]
                lo, hi = min(lo, coarse[0] - noise, secant_lo - noise), max(hi, coarse[1] + noise, secant_hi + noise)
        low[index], high[index] = lo, hi
    return low, high, central


def _settled_slopes(probe, index, magnitude, scale):
    """``(low, high, central, h)`` at a step that is neither noisy (rounding
    noise over ``2**-22`` of the slope: the step grows 4x) nor kinked (the
    one-sided derivatives disagree: the step shrinks 4x while the noise stays
    under ``2**-12`` of the slope, so that a kink beside ``x`` drops out of reach
    while one at ``x`` stays); None where a slope is not finite. Where growing
    reaches a kink, the last step before it is kept."""
    step = _REL_STEP * magnitude if magnitude else _ZERO_STEP
    # at exactly 0 the step never grows: kinks sit at or just beside 0 (the
    # floor of a zero vector's norm, 1e-7 away, in cosine similarity), and a
    # slope below the noise would grow the step past them unseen, to a wrong
    # slope; the noisy small-step interval is wide but right
    largest = max(magnitude, scale, 1.0) * 2.0**-10 if magnitude else step
    smallest = 4.0 * np.spacing(magnitude) if magnitude else step * 2.0**-40  # x +- h must differ from x
    direction, previous = 1.0, None
    while True:
        found = probe.slopes(index, step)
        if found is None:
            return None
        lo, hi, central, noise = found
        size = max(abs(lo), abs(hi))
        settled = (lo - 2.0 * noise, hi + 2.0 * noise, central, step)
        if hi - lo > 2.0**-20 * size + 4.0 * noise:  # the two sides disagree
            if direction == 4.0:
                return previous  # grown into a kink: the smaller step was right
            if 4.0 * noise > 2.0**-12 * size or step / 4.0 < smallest:
                return settled  # a kink at x, or too close to tell apart: both sides stand
            step, direction, previous = step / 4.0, 0.25, settled
        elif noise > 2.0**-24 * size and direction != 0.25 and step * 4.0 <= largest:
            step, direction, previous = step * 4.0, 4.0, settled
        else:
            return settled


class _Probe:
    """Evaluates ``fn`` with one element of the differentiated input moved."""

    def __init__(self, fn, inputs, wrt, x, base):
        self.fn, self.inputs, self.wrt, self.x, self.base = fn, list(inputs), wrt, x, base
        # rounding happens at the scale of the intermediates, which for a
        # result near 0 by cancellation (log_cosh of a tiny error) is ~1, not |f|
        self.magnitude = float(np.sum(np.maximum(np.abs(base), 1.0))) if base.size else 1.0

    def at(self, index, shift):
        moved = self.x.copy()
        moved[index] += shift
        args = list(self.inputs)
        args[self.wrt] = moved
        return run_numpy(self.fn, *args).astype(np.float64)

    def slopes(self, index, h):
        """``(low, high, central, noise)``: the one-sided derivatives at ``x``,
        each extrapolated (second order) from two secants over ``[x, x + 2h]``
        or ``[x - 2h, x]``, and the central difference, their hull, and the
        rounding noise of a secant (64 ulps of the outputs, over ``h``)."""
        at = {0: self.base, **{k: self.at(index, k * h) for k in (-2, -1, 1, 2)}}
        with np.errstate(all="ignore"):
            far_left, left, right, far_right = (np.sum(at[k + 1] - at[k]) / h for k in (-2, -1, 0, 1))
            central = np.sum(at[1] - at[-1]) / (2.0 * h)
            estimates = (1.5 * left - 0.5 * far_left, 1.5 * right - 0.5 * far_right, central)
            if not np.all(np.isfinite(estimates)) or not np.all(np.isfinite((far_left, far_right))):
                return None
            noise = 2.0**-46 * self.magnitude / h
            self.secants = (min(far_left, left, right, far_right), max(far_left, left, right, far_right))
            return min(estimates), max(estimates), central, noise
