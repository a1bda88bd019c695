"""Checks of loss options, run once where an option is given (a Loss
object's ``__init__``, or a call of a function form) so that a bad value
fails early with a message naming it."""

from __future__ import annotations

import numbers


def check_unit_interval(name, value, *, open_low=False, open_high=False):
    """``value`` is a real number in [0, 1] (or (0, 1) where marked open)."""
    low, high = ("(" if open_low else "["), (")" if open_high else "]")
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and (value > 0 if open_low else value >= 0) and (value < 1 if open_high else value <= 1)
    if not ok:
        raise ValueError(f"`{name}` must be a number in {low}0, 1{high}; received {value!r}.")
    return value


def check_non_negative(name, value):
    """``value`` is a real number >= 0."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"`{name}` must be a number >= 0; received {value!r}.")
    return value


def check_alpha(alpha):
    """Focal ``alpha``: a number in [0, 1], or one such number per class."""
    if isinstance(alpha, (list, tuple)):
        for value in alpha:
            check_unit_interval("alpha", value)
        return tuple(alpha)
    return check_unit_interval("alpha", alpha)


def check_axis(axis, *, allow_none=False, allow_tuple=False):
    """An int axis (a bool is not one); tuples and None where the loss reduces over several."""
    if isinstance(axis, list):
        axis = tuple(axis)  # configs read back from JSON hold lists
    if axis is None and allow_none:
        return axis
    if isinstance(axis, tuple) and allow_tuple and all(_is_int(a) for a in axis):
        return axis
    if _is_int(axis):
        return axis
    accepted = "an int" + (", a tuple of ints" if allow_tuple else "") + (" or None" if allow_none else "")
    raise ValueError(f"`axis` must be {accepted}; received {axis!r} of type {type(axis).__name__}.")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
