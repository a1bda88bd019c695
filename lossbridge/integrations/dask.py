"""Out-of-core evaluation of lossbridge metrics and losses on Dask arrays.

``evaluate(metric, y_true, y_pred)`` runs a metric over ``dask.array`` inputs
chunked along the sample axis (axis 0) without bringing the arrays to one
process:

* each block (the rows one axis-0 chunk holds, of every input) is one task
  that builds a fresh copy of the metric, updates it with that block on the
  NumPy backend and returns the metric, whose pickle carries only its state;
* the per-block metrics are merged with ``Metric.merge_state`` in a tree,
  ``split_every`` of them per task and level, as dask's own tree reductions
  do, so no task ever sees more than one block of data or ``split_every``
  states;
* the root's state is merged into the metric the caller passed (so that
  object holds the result, merged with what it held before, as a Keras user
  expects after ``update_state``) and ``metric.result()`` comes back as a
  NumPy value.

``evaluate_loss(loss, y_true, y_pred)`` does the same for a loss: each block
gives its weighted sum, element count and weight sum in float64, and the
global reduction is formed from the totals, so ``"sum_over_batch_size"`` is
the mean over *all* samples, not a mean of block means.

Inputs must be chunked along axis 0 only and their axis-0 chunks must agree;
anything else raises a ValueError naming the argument (nothing is rechunked
silently: rechunking moves data between workers, which is the caller's
choice to make). Dask is imported here only; ``import lossbridge`` never
loads it.
"""

from __future__ import annotations

import copy
import math
import numbers

import dask
import dask.array as da
import numpy as np

from .. import backends, dispatch
from ..losses.loss import Loss, LossFunctionWrapper, not_one_value_per_row
from ..weights import apply_mask, match_ranks

__all__ = ["evaluate", "evaluate_loss", "metric_graph", "loss_graph"]

#: states (or block totals) merged per task and tree level unless told otherwise
DEFAULT_SPLIT_EVERY = 8


# ---------------------------------------------------------------- input checks
def _check_split_every(split_every):
    if isinstance(split_every, bool) or not isinstance(split_every, numbers.Integral) or split_every < 2:
        raise ValueError(f"`split_every` must be an integer >= 2; received {split_every!r}.")
    return int(split_every)


def _describe(x):
    return f"{type(x).__module__}.{type(x).__name__}"


def _check_chunked(name, x):
    """``x`` is a dask array chunked along axis 0 only; its axis-0 chunks."""
    if not isinstance(x, da.Array):
        raise TypeError(
            f"`{name}` must be a dask.array.Array chunked along axis 0; received {_describe(x)}. "
            "Wrap in-memory data with dask.array.from_array(x, chunks=(rows, *x.shape[1:]))."
        )
    if x.ndim == 0:
        raise ValueError(f"`{name}` must have a sample axis (axis 0); received a 0-d dask array.")
    if any(math.isnan(c) for c in x.chunks[0]):
        raise ValueError(f"`{name}` has unknown chunk sizes along axis 0; call `{name}.compute_chunk_sizes()` first.")
    split = [axis for axis in range(1, x.ndim) if len(x.chunks[axis]) != 1]
    if split:
        raise ValueError(
            f"`{name}` must be chunked along axis 0 only; received chunks {x.chunks} (split along axis "
            f"{', '.join(map(str, split))}). Accepted: one chunk over every other axis, e.g. "
            f"`{name}.rechunk({{{', '.join(f'{a}: -1' for a in split)}}})`."
        )
    return x.chunks[0]


def _blocks(names, arrays):
    """Per input, its list of axis-0 blocks (dask delayed objects, each
    generating or loading only its own rows), after checking that every input
    is chunked along axis 0 only with the same chunks."""
    reference_name, reference = None, None
    for name, x in zip(names, arrays, strict=True):
        chunks = _check_chunked(name, x)
        if reference is None:
            reference_name, reference = name, chunks
        elif chunks != reference:
            raise ValueError(
                f"`{name}` and `{reference_name}` must have the same axis-0 chunks; received {chunks} and "
                f"{reference}. Rechunk one to the other, e.g. `{name}.rechunk({{0: {reference_name}.chunks[0]}})`."
            )
    # optimize_graph fuses each block's creation (a read, a random draw) into its own task
    return [list(x.to_delayed(optimize_graph=True).ravel()) for x in arrays], reference


def _split(names, inputs, sample_weight):
    """``(blocks per input, blocks of sample_weight)``, every list one entry per axis-0 chunk."""
    arrays = list(inputs)
    names = list(names)
    if isinstance(sample_weight, da.Array):
        arrays.append(sample_weight)
        names.append("sample_weight")
    elif sample_weight is not None and np.ndim(sample_weight) != 0:
        raise TypeError(
            f"`sample_weight` must be None, a scalar or a dask array chunked like the inputs; received "
            f"{_describe(sample_weight)} of shape {np.shape(sample_weight)}."
        )
    blocks, chunks = _blocks(names, arrays)
    if isinstance(sample_weight, da.Array):
        return blocks[:-1], blocks[-1], chunks
    return blocks, [sample_weight] * len(chunks), chunks


# ---------------------------------------------------------------- tree reduction
def _tree(leaves, combine, split_every):
    """Reduce delayed ``leaves`` with ``combine(*group)`` over groups of at most
    ``split_every`` per level until one delayed value is left."""
    level = list(leaves)
    while len(level) > 1:
        level = [combine(*level[i : i + split_every]) for i in range(0, len(level), split_every)]
    return level[0]


def _compute(value, client, timeout):
    """Run one delayed ``value``: on ``client`` when given (waiting at most
    ``timeout`` seconds), else on dask's current scheduler (threads by
    default, or an active ``distributed.Client``)."""
    if client is None:
        (result,) = dask.compute(value)
        return result
    return client.compute(value).result(timeout=timeout)


# ---------------------------------------------------------------- metrics
def fresh_copy(metric):
    """A metric of ``metric``'s type and config holding no state: rebuilt from
    its config when that round-trips, else a deep copy that is then reset."""
    try:
        fresh = type(metric).from_config(metric.get_config())
    except (TypeError, ValueError):
        fresh = None
    if fresh is None or fresh.get_config() != metric.get_config():
        fresh = copy.deepcopy(metric)
        fresh.reset_state()
    return fresh


def _update_block(template, sample_weight, *inputs):
    """A fresh copy of ``template`` updated with one block on NumPy. An empty
    block leaves it empty (its merge is then a no-op)."""
    metric = fresh_copy(template)
    rows = np.shape(inputs[0])[0]
    if sample_weight is not None and np.ndim(sample_weight) == 0:
        # a scalar weighs every sample: Keras reads a scalar as the weight of the whole batch, which would
        # make the result depend on the chunking
        sample_weight = np.full(rows, sample_weight, dtype=np.float64)
    if rows:
        with dispatch.use_backend("numpy"):
            metric.update_state(*inputs, sample_weight=sample_weight)
    return metric


def _merge_metrics(template, *metrics):
    """A fresh copy of ``template`` holding the merged state of ``metrics``
    (the inputs are not mutated: dask may hold them elsewhere)."""
    merged = fresh_copy(template)
    merged.merge_state(metrics)
    return merged


def _metric_inputs(metric, y_true, y_pred):
    names = tuple(metric.input_names)
    if len(names) == 1:
        if y_pred is not None:
            raise TypeError(
                f"{type(metric).__name__} takes one input ({names[0]}): pass it as `y_true` and leave "
                f"`y_pred` None; received a `y_pred` of type {_describe(y_pred)}."
            )
        return names, (y_true,)
    if len(names) != 2 or y_pred is None:
        raise TypeError(f"{type(metric).__name__} takes the inputs {', '.join(names)}; evaluate passes y_true, y_pred.")
    return names, (y_true, y_pred)


def metric_graph(metric, y_true, y_pred=None, sample_weight=None, *, split_every=DEFAULT_SPLIT_EVERY):
    """The lazy computation behind :func:`evaluate`: a ``dask.delayed`` whose
    value is a metric of ``metric``'s config holding the state of all blocks.
    ``metric`` itself is not read for state nor changed."""
    split_every = _check_split_every(split_every)
    _, inputs = _metric_inputs(metric, y_true, y_pred)
    blocks, weights, _ = _split(("y_true", "y_pred")[: len(inputs)], inputs, sample_weight)
    template = dask.delayed(fresh_copy(metric), traverse=False)  # in the graph once, shared by every task
    update = dask.delayed(_update_block, pure=True)
    merge = dask.delayed(_merge_metrics, pure=True)
    leaves = [update(template, w, *parts) for w, *parts in zip(weights, *blocks, strict=True)]
    return _tree(leaves, lambda *group: merge(template, *group), split_every)


def evaluate(
    metric, y_true, y_pred=None, sample_weight=None, *, client=None, split_every=DEFAULT_SPLIT_EVERY, timeout=None
):
    """``metric``'s result over dask arrays, computed block by block.

    Args:
        metric: a lossbridge ``Metric``. Its state becomes its previous state
            merged with the state of all the data, as if ``update_state`` had
            seen every block.
        y_true, y_pred: ``dask.array`` arrays chunked along axis 0 only, with
            the same axis-0 chunks. A one-input metric (``Mean``, ``Sum``)
            takes its values as ``y_true`` and ``y_pred=None``.
        sample_weight: None, a scalar, or a dask array chunked like them.
        client: a ``dask.distributed.Client`` to run on; None uses dask's
            current scheduler (threads, or an active distributed client).
        split_every: states merged per task and tree level (>= 2).
        timeout: seconds to wait for ``client``'s result (None: no limit).

    Returns:
        ``metric.result()`` as a NumPy array.
    """
    merged = _compute(metric_graph(metric, y_true, y_pred, sample_weight, split_every=split_every), client, timeout)
    metric.merge_state([merged])
    return _to_numpy(metric.result())


def _to_numpy(value):
    backend = dispatch.owner(value, "result")
    return np.asarray(value) if backend is None else np.asarray(backend.to_numpy(value))


# ---------------------------------------------------------------- losses
def _as_loss(loss):
    """``loss`` as a Loss object (a loss function wrapped in one), whose
    ``unreduced`` values and mask the blocks reduce."""
    return loss if isinstance(loss, Loss) else LossFunctionWrapper(loss)


def _loss_block(loss, sample_weight, y_true, y_pred):
    """One block's float64 totals, from which any reduction of all blocks
    follows (:func:`_reduce`): the weighted sum of the loss values its mask
    keeps, how many values it keeps, the sum of their weights, and 1.0 where
    the loss masked (0.0 where it did not)."""
    rows = np.shape(y_pred)[0]
    with dispatch.use_backend("numpy"):
        values, mask = loss.unreduced(y_true, y_pred)
    if np.shape(values)[:1] != (rows,):
        raise not_one_value_per_row(
            loss, np.shape(values), f"a block of {rows} rows", "its value over the data is not made of per-block values"
        )
    numpy = backends.get("numpy")
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if mask is not None:  # Keras' rule: masked-out values weigh 0 and leave the count
        weight = apply_mask(numpy, weight, np.asarray(mask), "float64")
    kept = np.size(values) if mask is None else int(np.count_nonzero(mask))
    masked = 0.0 if mask is None else 1.0
    values = np.asarray(values, dtype=np.float64)
    if weight is None:
        return np.array([math.fsum(values.ravel()), kept, 0.0, masked])
    values, weight = match_ranks(numpy, values, weight)
    return np.array([math.fsum((values * weight).ravel()), kept, float(np.sum(weight)), masked])


def _add_totals(*totals):
    return np.sum(np.stack(totals), axis=0)


def loss_graph(loss, y_true, y_pred, sample_weight=None, *, split_every=DEFAULT_SPLIT_EVERY):
    """The lazy computation behind :func:`evaluate_loss`: a ``dask.delayed``
    of the float64 totals of all blocks (:func:`_loss_block`)."""
    split_every = _check_split_every(split_every)
    blocks, weights, chunks = _split(("y_true", "y_pred"), (y_true, y_pred), sample_weight)
    loss = _as_loss(loss)
    if loss.couples_samples and sum(1 for rows in chunks if rows) > 1:
        raise ValueError(
            f"{type(loss).__name__} pairs each sample with the other samples of its batch, so its value "
            f"over the {len(chunks)} axis-0 chunks {chunks} is not its value over the data. Give y_true and y_pred "
            "one chunk along axis 0 (the whole data as one batch), or compute it per batch yourself."
        )
    shared = dask.delayed(loss, traverse=False)  # in the graph once, read by every block
    block = dask.delayed(_loss_block, pure=True)
    leaves = [block(shared, w, t, p) for w, t, p in zip(weights, *blocks, strict=True)]
    return _tree(leaves, dask.delayed(_add_totals, pure=True), split_every)


def _reduce(totals, reduction, sample_weight):
    weighted_sum, kept, weight_sum, masked = totals
    weighted = sample_weight is not None
    if weighted and np.ndim(sample_weight) == 0 and not masked:
        weight_sum = float(sample_weight)  # Keras divides by a scalar weight as given, once
    if reduction == "sum":
        return weighted_sum
    if reduction == "mean_with_sample_weight" and weighted:
        return weighted_sum / weight_sum if weight_sum else 0.0
    # "sum_over_batch_size" / "mean": over the values the mask keeps (all without one); 0 for none
    return weighted_sum / kept if kept else 0.0


def evaluate_loss(
    loss, y_true, y_pred, sample_weight=None, *, client=None, split_every=DEFAULT_SPLIT_EVERY, timeout=None
):
    """``loss`` over dask arrays with the exact global reduction.

    ``loss`` is a lossbridge ``Loss`` object (its ``reduction`` is honoured:
    ``"sum_over_batch_size"``/``"mean"`` divide the sum over all samples by
    their element count, ``"sum"`` is the total, ``"mean_with_sample_weight"``
    divides by the total weight) or a loss function (reduced as
    ``"sum_over_batch_size"``). Sums are kept in float64; the result is a
    0-d NumPy array of the loss's dtype (float32 for a loss function).
    ``reduction="none"`` is refused: the per-sample values are a dask array
    already (``da.map_blocks``). Other arguments as in :func:`evaluate`.
    """
    reduction = getattr(loss, "reduction", "sum_over_batch_size")
    if reduction is None or reduction == "none":
        raise ValueError(
            f"evaluate_loss reduces over all samples; received a loss with reduction={reduction!r}. Accepted: "
            "'sum_over_batch_size', 'mean', 'sum', 'mean_with_sample_weight' (for per-sample values, map the "
            "loss over the blocks with dask.array.map_blocks)."
        )
    totals = _compute(loss_graph(loss, y_true, y_pred, sample_weight, split_every=split_every), client, timeout)
    value = _reduce(totals, reduction, sample_weight)
    return np.asarray(value, dtype=getattr(loss, "dtype", "float32"))
