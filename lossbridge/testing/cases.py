"""Valid inputs for every known loss and metric, by name.

A loss or metric is known by its snake_case name (``"binary_crossentropy"``,
``"categorical_accuracy"``), which maps to one or more :class:`Case`: an
input *kind* (regression targets, probabilities, one-hot labels, sparse
labels, logits, ...) and the options to call it with. Each kind makes a
seeded random example and a list of edge examples (zeros, ones, ``eps``,
``1 - eps``, huge logits and errors, empty batches, integer and boolean
labels). Each loss and metric names the kinds it runs on where it is defined
(``@register_loss(examples=...)``, ``Metric.examples``); the parity suite and
``python -m lossbridge report`` enumerate what is registered and read those
here (:func:`cases_for`); a name without a case is reported as skipped, never
guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..losses.registry import LOSSES
from ..metrics.registry import METRICS
from ..registry import snake_case

#: the classes of categorical examples, and the features of regression ones
CLASSES, FEATURES = 4, 3


@dataclass(frozen=True)
class Case:
    """How to call one registered loss or metric: its input kind and options."""

    name: str
    kind: str
    options: dict = field(default_factory=dict)
    variant: str = ""

    @property
    def id(self) -> str:
        return f"{self.name}[{self.variant}]" if self.variant else self.name


def _cases(name, *specs):
    """``specs``: ``(kind, options, variant)`` tuples, or a bare kind."""
    specs = [(s, {}, "") if isinstance(s, str) else s for s in specs]
    return [Case(name, kind, dict(options), variant) for kind, options, variant in specs]


def cases_for(name: str, family: str | None = None) -> list[Case]:
    """The cases of a registered name (a function or class name), or []:
    the examples a loss declares (``@register_loss(examples=...)``) or a
    metric class declares (``Metric.examples``), read through the losses' and
    the metrics' registries. ``family`` (``"loss"`` or ``"metric"``) looks in
    that registry only; None tries the losses first."""
    found = ()
    if family in (None, "loss"):
        found = _loss_examples(name)
    if not found and family in (None, "metric"):
        found = _metric_examples(name)
    return _cases(name, *found)


def _loss_examples(name):
    loss = LOSSES.find(name, LOSSES.classes)
    if isinstance(loss, type):
        if getattr(loss, "function", None) is None:  # a class that takes its function (LossFunctionWrapper)
            examples = getattr(loss, "examples", ())
            return (examples,) if isinstance(examples, str) else tuple(examples)
        loss = loss.function
    return getattr(getattr(loss, "definition", None), "examples", ())


def _metric_examples(name):
    metric = METRICS.find(name, METRICS.classes) or METRICS.find(snake_case(name), METRICS.classes)
    if metric is None:
        metric = METRICS.find(name, METRICS.functions)  # a metric function may carry ``examples`` too
    examples = getattr(metric, "examples", ())
    return (examples,) if isinstance(examples, str) else tuple(examples)


# ------------------------------------------------------------------ random examples
def random_example(kind: str, rng: np.random.Generator, batch: int = 4) -> tuple:
    """Seeded valid inputs of ``kind``: float64 arrays for floats, int32 for ids."""
    return _RANDOM[kind](rng, batch)


def _regression(rng, batch):
    return rng.normal(size=(batch, FEATURES)), rng.normal(size=(batch, FEATURES))


def _counts(rng, batch):
    return rng.poisson(2.0, size=(batch, FEATURES)).astype(np.float64), rng.uniform(0.1, 4.0, size=(batch, FEATURES))


def _simplex(rng, batch, classes=CLASSES):
    return rng.dirichlet(np.ones(classes), size=batch)


def _onehot(ids, classes=CLASSES):
    return np.eye(classes)[ids]


def _ids(rng, batch, classes=CLASSES):
    return rng.integers(0, classes, size=batch).astype(np.int32)


def _guesses(rng, batch, classes=CLASSES):
    """``(ids, guesses)``: every class among the ids (batch >= classes), and
    guesses right but for one sample of class 0, guessed as class 2.

    Metrics of independent random ids and scores read 0 (no hit, no overlap)
    or 1 on a small batch, and agreement on those proves little; this makes
    accuracy ``1 - 1/batch``, class 0's IoU 0 and class 2's 1/2, whatever
    the seed.
    """
    ids = (rng.permutation(batch) % classes).astype(np.int32)
    guesses = ids.copy()
    guesses[np.argmax(ids == 0)] = 2 % classes
    return ids, guesses


def _scores_for(rng, guesses, classes=CLASSES):
    """Probabilities whose largest entry is ``guesses`` (the rest at random)."""
    return 0.5 * _simplex(rng, len(guesses), classes) + 0.5 * _onehot(guesses, classes)


def _binary_guesses(rng, batch):
    """Half the labels 1, and probabilities that rank them above the 0s
    more often than not (they overlap on [0.2, 0.8]): the scores of a
    classifier better than chance, as threshold metrics (AUC, recall at a
    precision) need to read neither 0 nor 1."""
    labels = (rng.permutation(batch * FEATURES) % 2).reshape(batch, FEATURES).astype(np.float64)
    scores = np.where(labels == 1, rng.uniform(0.2, 0.98, labels.shape), rng.uniform(0.02, 0.8, labels.shape))
    return labels, scores


def _binary_labels(rng, batch):
    return rng.integers(0, 2, size=(batch, FEATURES)).astype(np.float64)


_RANDOM = {
    "regression": _regression,
    "counts": _counts,
    "distributions": lambda rng, b: (_simplex(rng, b), _simplex(rng, b)),
    "signed": lambda rng, b: (2.0 * _binary_labels(rng, b) - 1.0, rng.normal(size=(b, FEATURES))),
    "categorical_scores": lambda rng, b: (_onehot(_ids(rng, b)), rng.normal(size=(b, CLASSES))),
    "binary_probs": lambda rng, b: (_binary_labels(rng, b), rng.uniform(0.02, 0.98, size=(b, FEATURES))),
    "binary_guesses": _binary_guesses,
    "binary_logits": lambda rng, b: (_binary_labels(rng, b), 3.0 * rng.normal(size=(b, FEATURES))),
    "categorical_probs": lambda rng, b: (_onehot(_ids(rng, b)), _simplex(rng, b)),
    "categorical_logits": lambda rng, b: (_onehot(_ids(rng, b)), 3.0 * rng.normal(size=(b, CLASSES))),
    "sparse_probs": lambda rng, b: (_ids(rng, b), _simplex(rng, b)),
    "sparse_logits": lambda rng, b: (_ids(rng, b), 3.0 * rng.normal(size=(b, CLASSES))),
    "class_ids": _guesses,
    "categorical_guesses": lambda rng, b: _guessed_scores(rng, b, sparse=False),
    "sparse_guesses": lambda rng, b: _guessed_scores(rng, b, sparse=True),
    "values": lambda rng, b: (rng.normal(size=(b,)),),
    "embeddings": lambda rng, b: (_ids(rng, b, 2), _unit_rows(rng.normal(size=(b, FEATURES)))),
    "ctc": lambda rng, b: (_ctc_labels(rng, b), rng.normal(size=(b, 6, CLASSES))),
}

KINDS = tuple(_RANDOM)


def _guessed_scores(rng, batch, sparse):
    """Class labels (ids, or one-hot) and probabilities that favour :func:`_guesses`."""
    ids, guesses = _guesses(rng, batch)
    return (ids if sparse else _onehot(ids)), _scores_for(rng, guesses)


def _unit_rows(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _ctc_labels(rng, batch):
    labels = rng.integers(1, CLASSES, size=(batch, 3)).astype(np.int32)
    labels[0, -1] = 0  # 0 is the blank that pads a shorter label
    return labels


# ------------------------------------------------------------------ edge examples
def edge_examples(kind: str, dtype: str = "float32") -> list[tuple[str, tuple]]:
    """``(label, inputs)`` pairs at the edges of ``kind``'s domain.

    The losses clip probabilities to ``[eps, 1 - eps]`` with an eps that depends
    on the dtype (1e-7, and in half precision the dtype's own spacing below 1),
    and a float64 reference clips at 1e-7 whatever it was given. Where the two
    cannot agree the edges stay just inside the clip: probability 1 is tested
    in float64 only (float32 gets 1 - 2**-23, what it rounds 1 - 1e-7 to), and
    half precision uses twice its clip eps instead of 0 and 1, and its smallest
    normal number instead of 1e-7 (a subnormal there).
    """
    return [(label, tuple(np.asarray(x) for x in inputs)) for label, inputs in _EDGES[kind](dtype)]


_HALF_CLIP = {"float16": 2.0**-11, "bfloat16": 2.0**-8}
_SMALLEST_NORMAL = {"float16": 2.0**-14, "bfloat16": 2.0**-126}


def _tiny(dtype):
    """1e-7, or the smallest normal number of a dtype that cannot hold it."""
    return max(1e-7, _SMALLEST_NORMAL.get(dtype, 0.0))


def _low(dtype):
    """What stands for probability 0 (see :func:`edge_examples`)."""
    return 2.0 * _HALF_CLIP[dtype] if dtype in _HALF_CLIP else 0.0


def _high(dtype):
    """What stands for probability 1 (see :func:`edge_examples`)."""
    return {"float64": 1.0, "float32": 1.0 - 2.0**-23}.get(dtype, 1.0 - 2.0 * _HALF_CLIP.get(dtype, 0.0))


def _probability_edges(dtype):
    eps = 2.0 * _HALF_CLIP[dtype] if dtype in _HALF_CLIP else 1e-7
    return np.array([_low(dtype), _high(dtype), eps, 1.0 - eps, 0.5, eps])


def _label_dtypes(y_true, *rest):
    """The same example with labels as int32 and as bool (0/1 labels only)."""
    out = [("int32 labels", (y_true.astype(np.int32), *rest))]
    if set(np.unique(y_true)) <= {0, 1}:
        out.append(("bool labels", (y_true.astype(bool), *rest)))
    return out


def _regression_edges(dtype):
    ones = np.ones((2, FEATURES))
    huge = np.array([[1e4, -1e4, 3e3], [-2e3, 5e3, -1e4]])
    return [
        ("zeros", (np.zeros((2, FEATURES)), np.zeros((2, FEATURES)))),
        ("exact", (ones, ones.copy())),
        ("eps", (np.full((2, FEATURES), _tiny(dtype)), np.zeros((2, FEATURES)))),
        ("huge errors", (np.zeros((2, FEATURES)), huge)),
        ("empty batch", (np.zeros((0, FEATURES)), np.zeros((0, FEATURES)))),
    ]


def _binary_prob_edges(dtype):
    y_pred = np.stack([_probability_edges(dtype), _probability_edges(dtype)[::-1]])
    y_true = np.array([[0, 1, 1, 0, 1, 0], [1, 0, 0, 1, 0, 1]], dtype=np.float64)
    return [("0, 1, eps, 1-eps", (y_true, y_pred)), *_label_dtypes(y_true, y_pred), _empty(6, 6)]


def _binary_logit_edges(dtype):
    y_pred = np.array([[0.0, 100.0, -100.0, 1e4, -1e4, 1.0], [1e4, -1e4, 100.0, -100.0, 0.0, -1.0]])
    y_true = np.array([[0, 1, 1, 0, 1, 0], [1, 0, 0, 1, 0, 1]], dtype=np.float64)
    return [("logits 0, ±100, ±1e4", (y_true, y_pred)), *_label_dtypes(y_true, y_pred), _empty(6, 6)]


def _signed_edges(dtype):
    y_true = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0]])
    margin = np.array([[1.0, -1.0, 0.0], [0.0, 1e4, -1e4]])
    return [("at the margin", (y_true, margin)), *_label_dtypes(y_true, margin), _empty(FEATURES, FEATURES)]


def _categorical_prob_edges(dtype, sparse=False):
    eps = _low(dtype)
    ids = np.array([0, 1, 2], dtype=np.int32)
    perfect = np.eye(CLASSES)[ids] * (1 - 3 * eps) + eps
    wrong = np.eye(CLASSES)[(ids + 1) % CLASSES] * (1 - 3 * eps) + eps
    uniform = np.full((3, CLASSES), 1.0 / CLASSES)
    labels = ids if sparse else np.eye(CLASSES)[ids]
    out = [("perfect", (labels, perfect)), ("all wrong", (labels, wrong)), ("uniform", (labels, uniform))]
    if not sparse:
        out.append(("int32 labels", (labels.astype(np.int32), wrong)))
    return out + [_empty(() if sparse else CLASSES, CLASSES)]


def _categorical_logit_edges(dtype, sparse=False):
    ids = np.array([0, 1, 2, 3], dtype=np.int32)
    logits = np.array(
        [[100.0, -100.0, 0.0, 1.0], [1e4, -1e4, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [-1e4, 1e4, 100.0, -100.0]]
    )
    labels = ids if sparse else np.eye(CLASSES)[ids]
    out = [("logits 0, ±100, ±1e4", (labels, logits))]
    if sparse:
        out.append(("int64 labels", (ids.astype(np.int64), logits)))
    else:
        out.append(("int32 labels", (labels.astype(np.int32), logits)))
    return out + [_empty(() if sparse else CLASSES, CLASSES)]


def _empty(true_tail, pred_tail):
    true_shape = (0,) if true_tail == () else (0, true_tail)
    y_true = np.zeros(true_shape, dtype=np.int32 if true_tail == () else np.float64)
    return ("empty batch", (y_true, np.zeros((0, pred_tail))))


def _simplex_edges(dtype):
    one_hot = np.eye(FEATURES)[[0, 1]]
    spread = np.full((2, FEATURES), 1.0 / FEATURES)
    return [("one-hot vs uniform", (one_hot, spread)), ("uniform vs one-hot", (spread, one_hot))]


def _count_edges(dtype):
    y_true = np.array([[0.0, 1.0, 3.0], [0.0, 0.0, 2.0]])
    return [
        ("zero rates", (y_true, np.array([[0.0, _tiny(dtype), 3.0], [0.0, 1.0, 2.0]]))),
        ("huge rates", (y_true, np.array([[1e4, 5e3, 1e3], [2e3, 1e4, 1e4]]))),
        _empty(FEATURES, FEATURES),
    ]


_EDGES = {
    "regression": _regression_edges,
    "counts": _count_edges,
    "distributions": _simplex_edges,
    "signed": _signed_edges,
    "categorical_scores": lambda d: [("ties", (np.eye(CLASSES)[[0, 1]], np.array([[1.0, 1.0, 0, 0], [0, 2, 2, 2.0]])))],
    "binary_probs": _binary_prob_edges,
    "binary_guesses": _binary_prob_edges,
    "binary_logits": _binary_logit_edges,
    "categorical_probs": _categorical_prob_edges,
    "categorical_logits": _categorical_logit_edges,
    "sparse_probs": lambda d: _categorical_prob_edges(d, sparse=True),
    "categorical_guesses": _categorical_prob_edges,
    "sparse_guesses": lambda d: _categorical_prob_edges(d, sparse=True),
    "sparse_logits": lambda d: _categorical_logit_edges(d, sparse=True),
    "class_ids": lambda d: [("equal ids", (np.arange(4, dtype=np.int32), np.arange(4, dtype=np.int32)))],
    "values": lambda d: [("zeros and huge", (np.array([0.0, 1e4, -1e4, 1.0]),))],
    "embeddings": lambda d: [("identical", (np.array([0, 0, 1], dtype=np.int32), np.eye(FEATURES)[[0, 0, 1]]))],
    "ctc": lambda d: [],
}


def edge_batches(kind: str, dtype: str = "float32") -> list[tuple[str, tuple]]:
    """:func:`edge_examples` with those that fit together (same input dtypes
    and trailing shapes, a non-empty batch) stacked into one batch, so that a
    per-sample loss checks them all in one call. Batch-level results (a
    metric, a reduced loss) then mix them, which is also worth checking."""
    groups: dict[tuple, list[tuple[str, tuple]]] = {}
    for label, inputs in edge_examples(kind, dtype):
        empty = any(x.ndim and x.shape[0] == 0 for x in inputs)
        key = (empty, tuple((x.dtype.str, x.shape[1:]) for x in inputs)) if not empty else (label,)
        groups.setdefault(key, []).append((label, inputs))
    merged = []
    for members in groups.values():
        labels = " + ".join(label for label, _ in members)
        stacked = tuple(np.concatenate(parts, axis=0) for parts in zip(*(inputs for _, inputs in members), strict=True))
        merged.append((labels, stacked))
    return merged
