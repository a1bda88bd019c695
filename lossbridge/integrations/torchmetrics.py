"""Any lossbridge metric as a ``torchmetrics.Metric``, so Lightning logs it per
epoch and syncs it across processes.

    from lossbridge.integrations.torchmetrics import as_torchmetric
    val_auc = as_torchmetric(lossbridge.metrics.AUC(num_thresholds=200))
    val_auc.update(y_true, y_pred)       # torch tensors, on the metric's device
    val_auc.compute()                    # lossbridge's result, a torch tensor

Each entry of the lossbridge state becomes one torchmetrics state
(``add_state``) of the same name, shape and dtype, whose ``dist_reduce_fx`` is
how the metric declares the entry combines (:func:`reductions_of`:
``Metric.state_reductions``, ``sum``, ``min`` or ``max``); only for a user
metric that overrides ``merge`` and declares nothing is it read from that merge,
by merging two probe states. Every built-in lossbridge metric declares sums. On
torch a running sum is one float64 entry (no compensation twin:
``lossbridge.metrics._state``), summed across ranks with one rounding per
rank, as one more update would. A compensated float32 running sum (``name``
and ``name_compensation``, read as their sum, see
``lossbridge.metrics.base.read_sum``) reduces both entries by ``"sum"``:
``sum(totals) + sum(compensations)`` is the read of the merged state. A metric whose
entries combine by none of these (a concatenation) raises ``TypeError`` naming
it when it is wrapped (pass ``reductions=`` to state them yourself).

``update`` runs lossbridge's pure ``stateless_update_state`` on the torch
state tensors (torch backend, the states' device) and assigns the new state
back; ``compute`` runs ``stateless_result``; ``reset``, ``.to(device)``,
``merge_state`` and the distributed sync are torchmetrics' own.

State shapes. They are taken from the metric's empty state at construction.
A metric whose state shape depends on the data (``R2Score`` with several
outputs) re-registers its states from the first batch after construction or
``reset``; pass ``like=`` (a tensor shaped like ``y_pred``) to fix them up
front, which distributed runs need when a rank may see no batch.

This module imports torch and torchmetrics: it is an integration module
(ARCHITECTURE.md); nothing in ``lossbridge`` imports it.
"""

from __future__ import annotations

import torch
import torchmetrics

from .. import backends
from ..metrics.base import Metric
from ._state_reductions import merge_reductions

_HINT = "pass `reductions={entry: 'sum' | 'min' | 'max' | 'cat' | callable}` to state them"


def reductions_of(metric):
    """``{state entry: "sum" | "min" | "max"}``: how ``metric`` combines each
    entry, as it declares, or as its own ``merge`` does where it declares
    nothing (``lossbridge.integrations._state_reductions``); raises
    ``TypeError`` naming the metric and the entry when an entry combines by
    none of these. The entries are those of a state of torch tensors (float64
    sums, no compensation twins: ``lossbridge.metrics._state``)."""
    return merge_reductions(metric, "torchmetrics reductions", _HINT, backend=backends.get("torch"))


# ---------------------------------------------------------------- the wrapper
class TorchMetric(torchmetrics.Metric):
    """A lossbridge ``Metric`` as a ``torchmetrics.Metric`` (module docstring).

    Args:
        metric: the lossbridge metric (its config is used; its own state is not touched).
        reductions: optional ``{state entry: dist_reduce_fx}``; default: the
            metric's declared reductions (:func:`reductions_of`).
        like: optional tensor shaped like ``y_pred`` that fixes data-dependent state shapes.
        **kwargs: torchmetrics ``Metric`` options (``dist_sync_on_step``, ``sync_on_compute``, ...).
    """

    full_state_update = False  # each batch's state merges into the running one by the reductions

    def __init__(self, metric, reductions=None, like=None, **kwargs):
        if not isinstance(metric, Metric):
            raise TypeError(
                f"`metric` must be a lossbridge.metrics.Metric; received {type(metric).__module__}."
                f"{type(metric).__qualname__}."
            )
        super().__init__(**kwargs)
        self.metric = metric
        found = reductions_of(metric) if reductions is None else dict(reductions)
        self._lb_keys = tuple(self._empty_state(like))
        missing = [key for key in self._lb_keys if key not in found]
        if missing:
            raise ValueError(
                f"`reductions` for {type(metric).__name__} lacks state entries {missing}; its state has "
                f"{list(self._lb_keys)}."
            )
        self._lb_reductions = {key: found[key] for key in self._lb_keys}
        self._register(self._empty_state(like))
        self._lb_like_fixed = like is not None
        self._lb_shaped = self._lb_like_fixed  # else data-dependent shapes are read from the first batch

    def _empty_state(self, like):
        like = torch.zeros((1, 1), dtype=torch.float32) if like is None else like
        return self.metric.stateless_initial_state(like)

    def _register(self, state):
        for key, value in state.items():
            if key not in self._lb_reductions:
                raise ValueError(f"{type(self.metric).__name__}'s state gained entry {key!r} after it was wrapped.")
            if hasattr(torchmetrics.Metric, key):
                raise ValueError(
                    f"{type(self.metric).__name__}'s state entry {key!r} would shadow torchmetrics.Metric.{key}."
                )
            device = getattr(self, key).device if key in self._defaults else value.device
            self.add_state(key, default=value.detach().clone(), dist_reduce_fx=self._lb_reductions[key])
            setattr(self, key, getattr(self, key).to(device))

    def _lb_state(self):
        return {key: getattr(self, key) for key in self._lb_keys}

    def update(self, *inputs, sample_weight=None):
        """Fold one batch into the state (lossbridge's ``stateless_update_state``)."""
        if not self._lb_shaped:
            self._reshape_from(inputs[-1] if inputs else None)
        state = self.metric.stateless_update_state(self._lb_state(), *inputs, sample_weight=sample_weight)
        for key in self._lb_keys:
            setattr(self, key, state[key])

    def _reshape_from(self, like):
        """Re-register the states when the data give the metric other state
        shapes than the construction-time guess (nothing is held yet)."""
        self._lb_shaped = True
        if not isinstance(like, torch.Tensor):
            return
        state = self.metric.stateless_initial_state(like.detach())
        if any(tuple(v.shape) != tuple(getattr(self, k).shape) for k, v in state.items()):
            self._register(state)

    def compute(self):
        """The lossbridge result of the state (``stateless_result``)."""
        return self.metric.stateless_result(self._lb_state())

    def reset(self):
        super().reset()
        self._lb_shaped = self._lb_like_fixed

    def __repr__(self):
        return f"TorchMetric({self.metric!r})"


def as_torchmetric(metric, reductions=None, like=None, **kwargs):
    """``metric`` (a lossbridge ``Metric``) as a ``torchmetrics.Metric``; see :class:`TorchMetric`."""
    return TorchMetric(metric, reductions=reductions, like=like, **kwargs)
