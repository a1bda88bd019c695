"""Checks of loss options, run once where an option is given (a Loss
object's ``__init__``, or a call of a function form) so that a bad value
fails early with a message naming it; and reading the options an object
bound a wrapped function with (:func:`bound_option`)."""

from __future__ import annotations

import inspect
import math
import numbers
import types

import numpy as np


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


#: Keras' mixed-precision policy names -> their compute dtype
_MIXED_POLICIES = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


def dtype_name(dtype):
    """The name of any dtype identifier Keras accepts as a loss's or metric's
    ``dtype``, without importing a framework: a name (``"float32"``), a
    NumPy, jax, tf or torch dtype or scalar type, ``"mixed_float16"`` /
    ``"mixed_bfloat16"``, a ``keras.DTypePolicy`` or its config dict (each
    read as its compute dtype, as Keras does). None stays None; anything
    else is returned as it came, for the caller's error message."""
    if isinstance(dtype, dict):  # a serialised DTypePolicy
        dtype = (dtype.get("config") or {}).get("name", dtype)
    compute = getattr(dtype, "compute_dtype", None)  # a DTypePolicy
    if isinstance(compute, str):
        return compute
    if dtype is None or isinstance(dtype, str):
        return _MIXED_POLICIES.get(dtype, dtype)
    name = getattr(dtype, "name", None)  # np.dtype, tf.DType
    if isinstance(name, str):
        return name
    if isinstance(dtype, type):  # np.float32, jnp.float32
        try:
            return np.dtype(dtype).name
        except TypeError:
            return dtype
    text = str(dtype)  # torch.float32
    return text.rpartition(".")[2] if text.startswith("torch.") else dtype


# ---------------------------------------------------------------- declared per loss
# ``@loss_function(options={...})`` maps an option to one of these checkers,
# each ``(name, value) -> value`` (normalised: a JSON list axis becomes a tuple)


def unit_interval(name, value):
    return check_unit_interval(name, value)


def open_unit_interval(name, value):
    return check_unit_interval(name, value, open_low=True, open_high=True)


def non_negative(name, value):
    return check_non_negative(name, value)


def alpha_per_class(name, value):
    checked = check_alpha(value)
    return list(checked) if isinstance(checked, tuple) else checked  # a list, as configs read back from JSON


def finite_number(name, value):
    """A real, finite number (a threshold)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number; received {value!r}.")
    return value


def one_axis(name, value):
    return check_axis(value)


def axes(name, value):
    return check_axis(value, allow_none=True, allow_tuple=True)


class OptionChecks:
    """The option checks a loss function declares, run where an option is
    given: once in a Loss object's ``__init__`` and on every call of the
    function form that passes options (defaults are valid by construction)."""

    __slots__ = ("checks", "names")

    def __init__(self, fn, checks):
        self.checks = dict(checks)
        self.names = tuple(inspect.signature(fn).parameters)[2:]  # after y_true, y_pred
        unknown = set(self.checks) - set(self.names)
        if unknown:
            raise TypeError(f"{fn.__name__} declares checks for options it does not take: {sorted(unknown)}")

    def __call__(self, args, kwargs):
        """``kwargs`` with positional options named and every checked option checked."""
        if args:
            if len(args) > len(self.names):
                raise TypeError(f"too many positional options: {args!r}; the options are {self.names}.")
            kwargs = {**dict(zip(self.names, args, strict=False)), **kwargs}
        else:
            kwargs = dict(kwargs)
        for name, check in self.checks.items():
            if name in kwargs:
                kwargs[name] = check(name, kwargs[name])
        return kwargs


# ---------------------------------------------------------------- bound options
# A Loss or metric object that wraps a function (``LossFunctionWrapper``,
# ``MeanMetricWrapper``) keeps the options it binds in ``_fn_kwargs``, as Keras
# does; Keras' classes also show each option as an attribute (``loss.from_logits``,
# ``metric.axis``), which their ``__getattr__`` and ``__dir__`` answer from here.

#: what :func:`bound_option` returns for a name the object bound no option to
UNBOUND = object()
_NO_OPTIONS = types.MappingProxyType({})


def _bound(obj):
    # read from the instance dict: ``__getattr__`` may run before ``__init__``
    # set the options (unpickling, copying), and must not call itself
    return obj.__dict__.get("_fn_kwargs", _NO_OPTIONS)


def bound_option(obj, name):
    """The value of option ``name`` that ``obj`` bound its function with, or
    :data:`UNBOUND`."""
    return _bound(obj).get(name, UNBOUND)


def with_bound_options(names, obj):
    """``dir()``'s ``names`` and the options ``obj`` bound, sorted."""
    return sorted({*names, *_bound(obj)})
