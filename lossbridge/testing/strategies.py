"""Hypothesis strategies for loss and metric inputs (needs ``hypothesis``).

Every strategy draws NumPy float64 arrays (float32-representable values, so
that rounding to the tested dtype is the only rounding), or int32 / bool
labels, ready for :func:`lossbridge.testing.assert_parity`::

    from hypothesis import given, settings
    from lossbridge.losses import binary_crossentropy
    from lossbridge.testing import assert_parity, strategies as lbst

    @settings(max_examples=25, deadline=None)
    @given(lbst.binary_pairs(from_logits=True))
    def test_bce_parity(pair):
        assert_parity(binary_crossentropy, *pair, compiled=False)

Hypothesis is an optional test dependency: ``import lossbridge.testing`` does
not import it, only this module does.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: logits at which naive formulas overflow or lose every digit
EXTREME_LOGITS = (0.0, 1.0, -1.0, 20.0, -20.0, 100.0, -100.0, 1e4, -1e4)
#: probabilities where clipped logs are most fragile
EDGE_PROBABILITIES = (0.0, 1.0, 1e-7, 1.0 - 1e-7, 0.5)


def batch_shapes(min_batch=1, max_batch=6, min_features=1, max_features=5):
    """``(batch, features)`` shapes; ``min_batch=0`` allows empty batches."""
    return st.tuples(st.integers(min_batch, max_batch), st.integers(min_features, max_features))


def floats(min_value, max_value):
    """Finite float32-representable floats in ``[min_value, max_value]``."""
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, width=32)


def _array(draw, shape, elements):
    return draw(hnp.arrays(np.float64, shape, elements=elements))


def _labels(y, label_dtype):
    """0/1 float labels as ``label_dtype`` ("float32", "int32" or "bool")."""
    return y.astype(bool) if label_dtype == "bool" else y.astype(np.int32) if label_dtype == "int32" else y


@st.composite
def regression_pairs(draw, shape=None, magnitude=100.0):
    """``(y_true, y_pred)`` real targets and predictions in ``[-magnitude, magnitude]``."""
    shape = draw(batch_shapes() if shape is None else shape)
    elements = floats(-magnitude, magnitude)
    return _array(draw, shape, elements), _array(draw, shape, elements)


@st.composite
def probabilities(draw, shape, edges=True):
    """Probabilities in ``[0, 1]``, with 0, 1, eps and 1 - eps mixed in."""
    elements = floats(0.0, 1.0)
    if edges:
        elements = st.one_of(elements, st.sampled_from(EDGE_PROBABILITIES))
    return _array(draw, shape, elements)


@st.composite
def logits(draw, shape, extreme=True, magnitude=10.0):
    """Logits in ``[-magnitude, magnitude]``, with :data:`EXTREME_LOGITS` mixed in."""
    elements = floats(-magnitude, magnitude)
    if extreme:
        elements = st.one_of(elements, st.sampled_from(EXTREME_LOGITS))
    return _array(draw, shape, elements)


@st.composite
def binary_pairs(draw, shape=None, from_logits=False, label_dtype=None, extreme=True):
    """``(y_true, y_pred)``: 0/1 labels (float, int32 or bool; drawn when
    ``label_dtype`` is None) with probabilities or logits of the same shape."""
    shape = draw(batch_shapes() if shape is None else shape)
    label_dtype = label_dtype or draw(st.sampled_from(("float32", "int32", "bool")))
    y_true = _labels(_array(draw, shape, st.sampled_from((0.0, 1.0))), label_dtype)
    y_pred = draw(logits(shape, extreme) if from_logits else probabilities(shape, extreme))
    return y_true, y_pred


@st.composite
def class_ids(draw, batch, num_classes, label_dtype="int32"):
    """Integer labels in ``[0, num_classes)`` of shape ``(batch,)``."""
    ids = draw(hnp.arrays(np.int64, (batch,), elements=st.integers(0, num_classes - 1)))
    return ids.astype(label_dtype)


@st.composite
def _distribution(draw, batch, num_classes):
    """Rows on the probability simplex (normalised positive weights)."""
    weights = _array(draw, (batch, num_classes), floats(2.0**-10, 1.0))
    return weights / weights.sum(axis=-1, keepdims=True)


@st.composite
def categorical_pairs(draw, batch=None, num_classes=None, from_logits=False, extreme=True):
    """``(y_true, y_pred)``: one-hot labels ``(batch, C)`` with class
    probabilities (rows sum to 1) or logits."""
    batch = draw(st.integers(1, 6) if batch is None else batch)
    num_classes = draw(st.integers(2, 5) if num_classes is None else num_classes)
    y_true = np.eye(num_classes)[draw(class_ids(batch, num_classes))]
    y_pred = draw(logits((batch, num_classes), extreme) if from_logits else _distribution(batch, num_classes))
    return y_true, y_pred


@st.composite
def sparse_pairs(draw, batch=None, num_classes=None, from_logits=False, label_dtype="int32", extreme=True):
    """``(y_true, y_pred)``: integer class ids ``(batch,)`` with class
    probabilities or logits ``(batch, C)``."""
    batch = draw(st.integers(1, 6) if batch is None else batch)
    num_classes = draw(st.integers(2, 5) if num_classes is None else num_classes)
    y_true = draw(class_ids(batch, num_classes, label_dtype))
    y_pred = draw(logits((batch, num_classes), extreme) if from_logits else _distribution(batch, num_classes))
    return y_true, y_pred


@st.composite
def sample_weights(draw, batch, timesteps=None, allow_zero=True):
    """Non-negative weights ``(batch,)``, or temporal ones ``(batch, timesteps)``."""
    shape = (batch,) if timesteps is None else (batch, timesteps)
    return _array(draw, shape, floats(0.0 if allow_zero else 2.0**-10, 10.0))


@st.composite
def temporal_regression(draw, max_batch=4, max_timesteps=5, features=3):
    """``(y_true, y_pred, sample_weight)`` of shapes ``(B, T, F)``, ``(B, T, F)``
    and per-timestep weights ``(B, T)``."""
    batch, steps = draw(st.integers(1, max_batch)), draw(st.integers(1, max_timesteps))
    y_true, y_pred = draw(regression_pairs(st.just((batch, steps, features))))
    return y_true, y_pred, draw(sample_weights(batch, steps))
