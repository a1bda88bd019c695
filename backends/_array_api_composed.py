"""Operations the Array API standard lacks, composed from standard ones, for
the generic adapter (``backends/array_api.py``); a library that lacks a
standard function (dask's ``take_along_axis``) gets the same composition:

* ``take_along_axis``: a mask of the picked positions, selected with
  ``where`` and summed over the axis, so that it stays blockwise on a chunked
  array;
* ``bincount`` and ``segment_sum`` (no scatter-add in the standard): the same
  one-hot mask summed over the ids, in slices of bounded size for an eager
  library; a lazy one (dask) bounds memory by its own chunks.

A mixin of :class:`~lossbridge.backends.array_api.ArrayApiBackend`: it reads
the adapter's namespace (``xp``) and dtype helpers through ``self``.
"""

from __future__ import annotations

import array_api_compat

#: elements one slice of a one-hot count may hold (bincount, segment_sum on an eager library)
_ONE_HOT_BUDGET = 1 << 22


class ComposedOperations:
    """``_picked`` and ``_one_hot_sum`` of the generic adapter."""

    def _picked(self, x, indices, axis):
        """``take_along_axis`` composed: per output position, the entries of
        ``x`` along ``axis`` selected by a mask of ``arange == index`` and
        summed (exactly: every other term is 0). Memory: ``x``'s size times
        the number of indices per row; chunked arrays stay blockwise."""
        axis = axis % x.ndim
        xp = self.xp
        moved, ids = xp.moveaxis(x, axis, -1), xp.moveaxis(indices, axis, -1)
        positions = xp.arange(moved.shape[-1], dtype=ids.dtype, device=array_api_compat.device(ids))
        mask = xp.expand_dims(ids, axis=-1) == positions  # (..., picks, size)
        rows = xp.expand_dims(moved, axis=-2)  # (..., 1, size)
        if self._names.get(x.dtype) == "bool":
            picked = xp.any(xp.logical_and(mask, rows), axis=-1)
        else:
            picked = xp.sum(xp.where(mask, rows, xp.zeros_like(rows)), axis=-1, dtype=x.dtype)
        return xp.moveaxis(picked, -1, axis)

    def _one_hot_sum(self, values, ids, length, dtype):
        """Sums of ``values`` (ones where None) per id in ``[0, length)``,
        through a mask of ``ids == arange(length)``: the standard has no
        scatter-add. An eager library is summed in slices of at most
        ``_ONE_HOT_BUDGET`` mask elements; a lazy one's chunks bound its memory."""
        xp = self.xp
        classes = xp.arange(length, dtype=ids.dtype, device=array_api_compat.device(ids))
        total = self.zeros((length,), dtype, like=ids)
        count = ids.shape[0]
        step = count if array_api_compat.is_lazy_array(ids) else max(1, _ONE_HOT_BUDGET // max(length, 1))
        for start in range(0, count, max(step, 1)):
            stop = min(start + step, count)  # the standard leaves out-of-bounds slice stops undefined
            mask = xp.expand_dims(ids[start:stop], axis=-1) == classes  # (slice, length)
            if values is None:
                part = xp.sum(xp.astype(mask, self._dtype(dtype)), axis=0, dtype=self._dtype(dtype))
            else:
                terms = xp.expand_dims(xp.astype(values[start:stop], self._dtype(dtype)), axis=-1)
                part = xp.sum(xp.where(mask, terms, xp.zeros_like(terms)), axis=0, dtype=self._dtype(dtype))
            total = total + part
        return total
