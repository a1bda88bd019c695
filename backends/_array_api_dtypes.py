"""Dtypes for the generic Array API adapter (``backends/array_api.py``): the
table of a namespace's dtypes by name, and NumPy's promotion of mixed
operands. The standard leaves int/float mixing undefined and
array-api-strict refuses it; the adapter's binary primitives promote as
NumPy does, so that a primitive behaves the same on every library.

A mixin of :class:`~lossbridge.backends.array_api.ArrayApiBackend`: it reads
the adapter's namespace (``xp``), dtype tables and helpers through ``self``.
"""

from __future__ import annotations

import numpy as np

from .base import DTYPE_NAMES


def dtype_table(xp):
    """dtype name -> the namespace's dtype object. Namespaces that use NumPy's
    dtypes (the compat wrappers of NumPy and dask) hold every NumPy dtype,
    float16 included, though the standard names none."""
    table = {name: getattr(xp, name) for name in DTYPE_NAMES if hasattr(xp, name)}
    if table.get("float32") is np.float32:
        table.setdefault("float16", np.float16)
        try:
            from ml_dtypes import bfloat16
        except ImportError:  # pragma: no cover - ml_dtypes comes with jax and tensorflow
            pass
        else:
            table.setdefault("bfloat16", bfloat16)
    return table


class NumpyPromotion:
    """``_common``, ``_scalar`` and ``_pair`` of the generic adapter."""

    def _common(self, x, y):
        """``x`` and ``y`` as arrays of one dtype, promoted as NumPy does:
        a Python number takes the array's kind (a float number meeting
        integers makes them floatx()); an integer or bool meeting a float takes
        the float's dtype; otherwise the standard's ``result_type``."""
        x_array, y_array = self._is_array(x), self._is_array(y)
        if not x_array and not y_array:
            x = self.convert_to_tensor(np.asarray(x))
            x_array = True
        if not y_array:
            return x, self._scalar(y, x)
        if not x_array:
            return self._scalar(x, y), y
        if x.dtype == y.dtype:
            return x, y
        x_float, y_float = x.dtype in self._floats, y.dtype in self._floats
        if x_float != y_float:
            return (x, self.xp.astype(y, x.dtype)) if x_float else (self.xp.astype(x, y.dtype), y)
        if self._names.get(x.dtype) == "bool" or self._names.get(y.dtype) == "bool":
            target = y.dtype if self._names.get(x.dtype) == "bool" else x.dtype
            return self.xp.astype(x, target), self.xp.astype(y, target)
        target = self.xp.result_type(x, y)
        return self.xp.astype(x, target), self.xp.astype(y, target)

    def _scalar(self, value, like):
        """A Python number as a 0-d array to meet ``like``: in ``like``'s
        dtype, but floatx() for a float meeting integers or bools and int64
        for an integer meeting bools (the caller casts ``like`` to match)."""
        name, dtype = self._names.get(like.dtype), like.dtype
        if isinstance(value, float) and like.dtype not in self._floats:
            dtype = self._dtype(self._floatx)
        elif isinstance(value, int) and not isinstance(value, bool) and name == "bool":
            dtype = self._dtype("int64" if "int64" in self._dtypes else "int32")
        return self._array(value, like, dtype)

    def _pair(self, x, y):
        """:meth:`_common`, with the first operand cast too where a float
        number made the second a float."""
        x, y = self._common(x, y)
        if x.dtype != y.dtype:
            x = self.xp.astype(x, y.dtype)
        return x, y
