"""A lossbridge ``Loss`` object that Keras wraps as a loss *function*.

``model.compile(loss=lossbridge_loss)`` gets the object wrapped in Keras'
``LossFunctionWrapper``, whose ``call`` returns what the object returns, and
Keras' ``Loss.__call__`` then reduces that with the sample weights and the
Keras mask. Unweighted, the already reduced value passes through unchanged
(the right number); with a weight (``sample_weight``, ``class_weight``) or a
mask, Keras would weight the reduced value again (``loss * mean(weights)``
instead of the weighted mean): a wrong number. That call raises instead and
names the bridge (``lossbridge.integrations.keras.to_keras``).

``Loss.__call__`` asks :func:`refuse_weighted_keras_wrapper` only once Keras
is loaded; the check reads the callers' frames, which torch.compile cannot
trace, so it is skipped while torch compiles (Keras' torch trainer runs
eagerly). Imports no framework, and not Keras.
"""

from __future__ import annotations

import sys

#: the module of Keras 3's ``keras.losses.LossFunctionWrapper``
WRAPPER_MODULE = "keras.src.losses.losses"
#: the module of ``keras.losses.Loss``, whose ``__call__`` holds the weight and mask
LOSS_MODULE = "keras.src.losses.loss"


def refuse_weighted_keras_wrapper(loss, backend):
    """Raise when ``loss`` (a lossbridge Loss returning a reduced value) is
    called by Keras' ``LossFunctionWrapper`` with a sample weight or mask.
    Called from ``Loss.__call__``, so frame 2 is its caller."""
    if loss.reduction in (None, "none") or (backend.name == "torch" and not backend.is_concrete(None)):
        return  # per-sample values are Keras' to reduce; torch.compile cannot read frames
    wrapper = sys._getframe(2)
    if wrapper.f_globals.get("__name__") != WRAPPER_MODULE:
        return
    keras_call = wrapper.f_back
    if keras_call is None or keras_call.f_globals.get("__name__") != LOSS_MODULE:
        return
    seen = keras_call.f_locals
    if seen.get("sample_weight") is None and seen.get("in_mask") is None:
        return
    raise TypeError(
        f"{loss!r} is a lossbridge loss that Keras wrapped as a loss function (model.compile(loss=...)), and "
        "this call has a sample weight, class weight or Keras mask: Keras would weight the loss's already "
        "reduced value again (loss * mean(weights)), a wrong number. Bridge it: "
        "`from lossbridge.integrations.keras import to_keras` and compile with `loss=to_keras(loss)` "
        "(a keras.losses.Loss that hands Keras lossbridge's per-sample values; docs/keras.md)."
    )
