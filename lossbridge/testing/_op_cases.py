"""The operation checks of the conformance kit: every K primitive, composite
and hook of the adapter contract (``lossbridge.backends.base.Backend``) on
small inputs, each with an independent float64 NumPy reference.

A case runs ``run(b, t)`` where ``b`` is the adapter and ``t(array, dtype)``
makes one of its tensors (floats in the tested dtype unless told), and
compares with ``expected()``, computed in float64 from the inputs as rounded
to the tested dtype. ``dtype`` is the result's dtype the contract requires:
a name, ``SAME`` (the tested float dtype), ``FLOATX`` (``b.floatx()``),
``ANY_INT`` (some integer dtype), or None (not checked). Inputs cover the
contract's rules: axis None / int / tuple and keepdims, int and bool inputs
to float math (floatx()), half-precision accumulation, and edge values
(0, +-inf, NaN, +-1e4, empty batches). ``tests/test_conformance.py`` checks
that every primitive of the contract has a case here: adding a K operation
means adding its case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SAME, FLOATX, ANY_INT = "<tested dtype>", "<floatx>", "<an integer dtype>"
INF, NAN = np.inf, np.nan


@dataclass(frozen=True)
class OpCase:
    op: str  # the contract operation exercised
    label: str
    run: Callable  # run(b, t) -> tensor, tuple of tensors, or a Python value
    expected: Callable  # expected() -> NumPy value(s) or a Python value
    dtype: str | None = SAME
    exact: bool = False  # compare exactly (integers, booleans, metadata)
    floats_only: bool = False  # run only for float32 (integer/metadata checks need one run)


def _rng():
    return np.random.default_rng(16)


def cases_for(dtype: str, round_to: Callable) -> list[OpCase]:
    """Every case for the float ``dtype``; ``round_to(x)`` gives ``x`` as the
    tested dtype holds it, in float64 (what the reference computes from)."""
    rng = _rng()
    X = rng.normal(size=(2, 3, 4))
    POS = rng.uniform(0.1, 3.0, size=(2, 3, 4))
    x, pos = round_to(X), round_to(POS)
    edge = np.array([0.0, 1.0, -1.0, 1e4, -1e4, INF, -INF, NAN])
    # the edge values repeated into X's shape: an eager compiler (JAX, ~25 ms per
    # op, shape and dtype) then reuses what the X cases of the same op compiled
    edges = np.resize(edge, X.shape)
    e = round_to(edges)
    out: list[OpCase] = []

    def add(op, label, run, expected, dtype=SAME, exact=False, floats_only=False):
        out.append(OpCase(op, label, run, expected, dtype, exact, floats_only))

    # ---------------------------------------------------------------- reductions
    for op in ("mean", "sum", "max", "min"):
        for axis in (None, 0, -1, (0, 2)):
            for keepdims in (False, True):
                add(op, f"axis={axis}, keepdims={keepdims}",
                    lambda b, t, op=op, axis=axis, keepdims=keepdims: getattr(b, op)(t(X), axis=axis, keepdims=keepdims),
                    lambda op=op, axis=axis, keepdims=keepdims: getattr(np, op)(x, axis=axis, keepdims=keepdims))  # fmt: skip
    ints = np.array([[1, 2, 4], [3, 5, 7]])
    flags = np.array([[True, False, True], [True, True, True]])
    add(
        "mean",
        "int32 -> floatx",
        lambda b, t: b.mean(t(ints, "int32"), axis=-1),
        lambda: ints.mean(-1),
        FLOATX,
        floats_only=True,
    )
    add(
        "mean",
        "bool -> floatx",
        lambda b, t: b.mean(t(flags, "bool"), axis=-1),
        lambda: flags.mean(-1),
        FLOATX,
        floats_only=True,
    )
    add("mean", "empty slice is nan", lambda b, t: b.mean(t(np.zeros((0, 3))), axis=0), lambda: np.full(3, NAN))
    add("sum", "empty is 0", lambda b, t: b.sum(t(np.zeros((0, 3))), axis=0), lambda: np.zeros(3))
    add(
        "sum",
        "int32 stays integer",
        lambda b, t: b.sum(t(ints, "int32"), axis=0),
        lambda: ints.sum(0),
        ANY_INT,
        True,
        True,
    )
    add("sum", "bool counts", lambda b, t: b.sum(t(flags, "bool"), axis=-1), lambda: flags.sum(-1), ANY_INT, True, True)
    # every column along axis 0 pairs two of the values: +inf meets 0 and 1e4, -inf meets 1 and -1e4
    with_inf = np.resize(edge[:7], X.shape)
    add("max", "with inf", lambda b, t: b.max(t(with_inf), axis=0), lambda: np.max(round_to(with_inf), axis=0))
    add("min", "with inf", lambda b, t: b.min(t(with_inf), axis=0), lambda: np.min(round_to(with_inf), axis=0))
    if dtype in ("float16", "bfloat16"):
        tenths = np.full(10000, 0.1)
        add("sum", "half accumulates in float32", lambda b, t: b.sum(t(tenths)), lambda: 10000 * round_to(tenths)[0])
        add("mean", "half accumulates in float32", lambda b, t: b.mean(t(tenths)), lambda: round_to(tenths)[0])
    mask = X > 0.3
    for op in ("any", "all"):
        for axis in (None, 0, -1, (0, 2)):
            add(op, f"axis={axis}", lambda b, t, op=op, axis=axis: getattr(b, op)(t(mask, "bool"), axis=axis),
                lambda op=op, axis=axis: getattr(np, op)(mask, axis=axis), "bool", True, True)  # fmt: skip
        add(op, "keepdims", lambda b, t, op=op: getattr(b, op)(t(mask, "bool"), axis=1, keepdims=True),
            lambda op=op: getattr(np, op)(mask, axis=1, keepdims=True), "bool", True, True)  # fmt: skip
    ties = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-INF, -1.0, -1.0, -2.0]])
    add("argmax", "first among ties", lambda b, t: b.argmax(t(ties)), lambda: np.argmax(ties, -1), ANY_INT, True)
    add("argmax", "axis=0", lambda b, t: b.argmax(t(X), axis=0), lambda: np.argmax(x, 0), ANY_INT, True)
    onehot = np.array([[False, True, False], [True, False, True], [False, False, False]])
    add("argmax", "bool", lambda b, t: b.argmax(t(onehot, "bool")), lambda: np.argmax(onehot, -1), ANY_INT, True, True)
    # NaN ranks above +inf (NumPy's order): the first NaN of a row wins, wherever it stands
    nans = np.array([[1.0, NAN, 3.0, 2.0], [NAN, 5.0, INF, NAN], [2.0, 2.0, INF, NAN], [-INF, 0.0, -1.0, 4.0]])
    add("argmax", "nan is largest", lambda b, t: b.argmax(t(nans)), lambda: np.argmax(nans, -1), ANY_INT, True, True)
    for axis in (0, -1):
        add(
            "cumsum",
            f"axis={axis}",
            lambda b, t, axis=axis: b.cumsum(t(X), axis=axis),
            lambda axis=axis: np.cumsum(x, axis),
        )
    add(
        "cumsum",
        "int32 stays integer",
        lambda b, t: b.cumsum(t(ints, "int32"), axis=-1),
        lambda: np.cumsum(ints, -1),
        ANY_INT,
        True,
        True,
    )

    # ---------------------------------------------------------------- elementwise
    unary = {
        "square": (np.square, X), "abs": (np.abs, X), "sqrt": (np.sqrt, POS), "exp": (np.exp, X),
        "log": (np.log, POS), "log1p": (np.log1p, POS - 0.05), "tanh": (np.tanh, X), "sign": (np.sign, X),
        "ceil": (np.ceil, 3 * X), "rsqrt": (lambda v: 1 / np.sqrt(v), POS),
    }  # fmt: skip
    for op, (formula, values) in unary.items():
        add(op, "values", lambda b, t, op=op, values=values: getattr(b, op)(t(values)),
            lambda formula=formula, values=values: formula(round_to(values)))  # fmt: skip
    with np.errstate(all="ignore"):
        for op, formula in (("exp", np.exp), ("log", np.log), ("log1p", np.log1p), ("sqrt", np.sqrt),
                            ("tanh", np.tanh), ("abs", np.abs), ("square", np.square), ("sign", np.sign)):  # fmt: skip
            add(op, "0, +-1, +-1e4, +-inf, nan", lambda b, t, op=op: getattr(b, op)(t(edges)),
                lambda formula=formula: _quiet(formula, e))  # fmt: skip
    counts = np.array([0, 1, 4, 9])
    for op, formula in (("sqrt", np.sqrt), ("exp", np.exp), ("log1p", np.log1p), ("tanh", np.tanh)):
        add(op, "int32 -> floatx", lambda b, t, op=op: getattr(b, op)(t(counts, "int32")),
            lambda formula=formula: formula(counts.astype(np.float64)), FLOATX, floats_only=True)  # fmt: skip
    add(
        "isfinite", "0, +-1, +-1e4, +-inf, nan", lambda b, t: b.isfinite(t(edges)), lambda: np.isfinite(e), "bool", True
    )
    add("isnan", "0, +-1, +-1e4, +-inf, nan", lambda b, t: b.isnan(t(edges)), lambda: np.isnan(e), "bool", True)
    add("power", "x ** 2", lambda b, t: b.power(t(X), 2), lambda: x**2)
    add("power", "x ** 0.5", lambda b, t: b.power(t(POS), 0.5), lambda: pos**0.5)
    add("power", "x ** tensor", lambda b, t: b.power(t(POS), t(X)), lambda: pos**x)
    add("clip", "both bounds", lambda b, t: b.clip(t(X), -0.5, 0.5), lambda: np.clip(x, -0.5, 0.5))
    add("clip", "max only", lambda b, t: b.clip(t(X), None, 0.3), lambda: np.minimum(x, 0.3))
    add("clip", "min only", lambda b, t: b.clip(t(X), -0.2, None), lambda: np.maximum(x, -0.2))
    column, row = X[0, :, :1], X[1, :1, :]
    for op, formula in (("maximum", np.maximum), ("minimum", np.minimum)):
        add(
            op,
            "Python number",
            lambda b, t, op=op: getattr(b, op)(t(X), 0.25),
            lambda formula=formula: formula(x, 0.25),
        )
        add(op, "broadcast (3, 1) with (1, 4)", lambda b, t, op=op: getattr(b, op)(t(column), t(row)),
            lambda formula=formula: formula(round_to(column), round_to(row)))  # fmt: skip
    add("where", "broadcast", lambda b, t: b.where(t(mask[0, :, :1], "bool"), t(column), t(row)),
        lambda: np.where(mask[0, :, :1], round_to(column), round_to(row)))  # fmt: skip
    add("where", "Python number", lambda b, t: b.where(t(mask, "bool"), t(X), 0.0), lambda: np.where(mask, x, 0.0))
    add("equal", "floats", lambda b, t: b.equal(t(ties), t(ties[:, :1])), lambda: ties == ties[:, :1], "bool", True)
    add(
        "equal",
        "ints",
        lambda b, t: b.equal(t(ints, "int32"), t(ints[:, :1], "int32")),
        lambda: ints == ints[:, :1],
        "bool",
        True,
        True,
    )
    flags2 = np.array([[False, False, True], [True, False, True]])
    for op, formula in (("logical_and", np.logical_and), ("logical_or", np.logical_or)):
        add(op, "bool", lambda b, t, op=op: getattr(b, op)(t(flags, "bool"), t(flags2, "bool")),
            lambda formula=formula: formula(flags, flags2), "bool", True, True)  # fmt: skip
    add("logical_not", "bool", lambda b, t: b.logical_not(t(flags, "bool")), lambda: ~flags, "bool", True, True)

    # ---------------------------------------------------------------- shapes and construction
    add("reshape", "(2, -1)", lambda b, t: b.reshape(t(X), (2, -1)), lambda: x.reshape(2, -1))
    add("expand_dims", "axis=1", lambda b, t: b.expand_dims(t(X), 1), lambda: x[:, None])
    add("expand_dims", "axis=-1", lambda b, t: b.expand_dims(t(X), -1), lambda: x[..., None])
    single = X[:1, :, :1]
    add("squeeze", "every size-1 axis", lambda b, t: b.squeeze(t(single)), lambda: round_to(single).squeeze())
    add("squeeze", "axis=-1", lambda b, t: b.squeeze(t(single), -1), lambda: round_to(single).squeeze(-1))
    add("transpose", "reversed", lambda b, t: b.transpose(t(X)), lambda: x.transpose())
    add("transpose", "(1, 0, 2)", lambda b, t: b.transpose(t(X), (1, 0, 2)), lambda: x.transpose(1, 0, 2))
    add("broadcast_to", "(3, 1) -> (2, 3, 4)", lambda b, t: b.broadcast_to(t(column), (2, 3, 4)),
        lambda: np.broadcast_to(round_to(column), (2, 3, 4)))  # fmt: skip
    for axis in (0, -1):
        add("concatenate", f"axis={axis}", lambda b, t, axis=axis: b.concatenate([t(X), t(POS)], axis=axis),
            lambda axis=axis: np.concatenate([x, pos], axis))  # fmt: skip
        add("stack", f"axis={axis}", lambda b, t, axis=axis: b.stack([t(X), t(POS)], axis=axis),
            lambda axis=axis: np.stack([x, pos], axis))  # fmt: skip
    for axis in (None, -1, 0):
        add("flip", f"axis={axis}", lambda b, t, axis=axis: b.flip(t(X), axis=axis), lambda axis=axis: np.flip(x, axis))
    for op, formula in (("zeros", np.zeros), ("ones", np.ones)):
        for name in ("float32", "int32", "bool"):
            add(op, name, lambda b, t, op=op, name=name: getattr(b, op)((2, 3), name, like=t(X)),
                lambda formula=formula, name=name: formula((2, 3), name), name, True, True)  # fmt: skip
        add(
            f"{op}_like",
            "keeps dtype",
            lambda b, t, op=op: getattr(b, f"{op}_like")(t(X)),
            lambda formula=formula: formula(x.shape),
        )
        add(f"{op}_like", "dtype int32", lambda b, t, op=op: getattr(b, f"{op}_like")(t(X), "int32"),
            lambda formula=formula: formula(x.shape, np.int32), "int32", True, True)  # fmt: skip
    add("arange", "default int32", lambda b, t: b.arange(5, like=t(X)), lambda: np.arange(5), "int32", True, True)
    add("arange", "float32", lambda b, t: b.arange(4, "float32"), lambda: np.arange(4.0), "float32", True, True)
    ids = np.array([0, 2, 1, 3])
    add(
        "one_hot", "floatx rows", lambda b, t: b.one_hot(t(ids, "int32"), 4), lambda: np.eye(4)[ids], FLOATX, True, True
    )
    add("one_hot", "axis=0, int32", lambda b, t: b.one_hot(t(ids, "int32"), 4, axis=0, dtype="int32"),
        lambda: np.eye(4, dtype=np.int32)[ids].T, "int32", True, True)  # fmt: skip

    # ---------------------------------------------------------------- indexing and counting
    picks = rng.integers(0, 4, size=(2, 3, 2))
    add("take_along_axis", "axis=-1", lambda b, t: b.take_along_axis(t(X), t(picks, "int32"), -1),
        lambda: np.take_along_axis(x, picks, -1))  # fmt: skip
    rows = rng.integers(0, 2, size=(1, 3, 4))
    add("take_along_axis", "axis=0", lambda b, t: b.take_along_axis(t(X), t(rows, "int64"), 0),
        lambda: np.take_along_axis(x, rows, 0))  # fmt: skip
    tied = np.array([[1.0, 5.0, 3.0, 5.0], [0.0, -1.0, 2.0, 2.0]])
    add("top_k", "k=2, values", lambda b, t: b.top_k(t(tied), 2)[0], lambda: np.array([[5.0, 5.0], [2.0, 2.0]]))
    add("top_k", "k=2, indices, first among ties", lambda b, t: b.top_k(t(tied), 2)[1],
        lambda: np.array([[1, 3], [2, 3]]), ANY_INT, True)  # fmt: skip
    add("top_k", "k=3, values, nan first", lambda b, t: b.top_k(t(nans), 3)[0],
        lambda: np.array([[NAN, 3.0, 2.0], [NAN, NAN, INF], [NAN, INF, 2.0], [4.0, 0.0, -1.0]]), SAME, True, True)  # fmt: skip
    add("top_k", "k=1, index of the nan", lambda b, t: b.top_k(t(nans[:1]), 1)[1], lambda: np.array([[1]]),
        ANY_INT, True, True)  # fmt: skip
    for axis in (-1, 0):
        add("sort", f"axis={axis}", lambda b, t, axis=axis: b.sort(t(X), axis=axis), lambda axis=axis: np.sort(x, axis))
        add("sort", f"axis={axis}, nan last", lambda b, t, axis=axis: b.sort(t(nans), axis=axis),
            lambda axis=axis: np.sort(nans, axis), SAME, True, True)  # fmt: skip
    bins = np.array([[0, 3, 3], [1, 0, 3]])
    weights = rng.uniform(0.0, 2.0, size=(2, 3))
    add("bincount", "counts, minlength", lambda b, t: b.bincount(t(bins, "int32"), minlength=6),
        lambda: np.bincount(bins.ravel(), minlength=6), ANY_INT, True)  # fmt: skip
    add("bincount", "weights", lambda b, t: b.bincount(t(bins, "int32"), t(weights)),
        lambda: np.bincount(bins.ravel(), round_to(weights).ravel()))  # fmt: skip
    add("segment_sum", "weights", lambda b, t: b.segment_sum(t(weights), t(bins, "int32"), 5),
        lambda: np.bincount(bins.ravel(), round_to(weights).ravel(), 5))  # fmt: skip
    add("segment_sum", "counts (data None)", lambda b, t: b.segment_sum(None, t(bins, "int32"), 5),
        lambda: np.bincount(bins.ravel(), minlength=5), ANY_INT, True)  # fmt: skip
    add("matmul", "(3, 4) @ (4, 2)", lambda b, t: b.matmul(t(X[0]), t(POS[:, 0, :].T)), lambda: x[0] @ pos[:, 0, :].T)
    add("matmul", "batched", lambda b, t: b.matmul(t(X), t(POS.transpose(0, 2, 1))), lambda: x @ pos.transpose(0, 2, 1))

    # ---------------------------------------------------------------- conversion and metadata
    add("convert_to_tensor", "dtype given", lambda b, t: b.convert_to_tensor(X.astype(np.float32), dtype="float32"),
        lambda: X.astype(np.float32).astype(np.float64), "float32", floats_only=True)  # fmt: skip
    add(
        "convert_to_tensor",
        "int32 kept",
        lambda b, t: b.convert_to_tensor(ints.astype(np.int32)),
        lambda: ints,
        "int32",
        True,
        True,
    )
    add("to_numpy", "round trip", lambda b, t: b.to_numpy(t(X)), lambda: x, None)
    add("from_dlpack", "a NumPy array", lambda b, t: b.from_dlpack(X.astype(np.float32)),
        lambda: X.astype(np.float32).astype(np.float64), "float32", floats_only=True)  # fmt: skip
    add("cast", "float -> int32 truncates", lambda b, t: b.cast(t(np.array([-1.7, 2.9, 0.0])), "int32"),
        lambda: np.array([-1, 2, 0]), "int32", True, True)  # fmt: skip
    add("cast", "float -> bool", lambda b, t: b.cast(t(np.array([0.0, 2.5, -1.0])), "bool"),
        lambda: np.array([False, True, True]), "bool", True, True)  # fmt: skip
    add("cast", "int32 -> tested dtype", lambda b, t: b.cast(t(ints, "int32"), dtype), lambda: ints.astype(np.float64))
    add("dtype", "a name", lambda b, t: b.dtype(t(X)), lambda: dtype, None, True)
    add("dtype", "int32, bool", lambda b, t: (b.dtype(t(ints, "int32")), b.dtype(t(flags, "bool"))),
        lambda: ("int32", "bool"), None, True, True)  # fmt: skip
    add("shape", "tuple of ints", lambda b, t: tuple(b.shape(t(X))), lambda: (2, 3, 4), None, True)
    add("same_shape", "equal and not", lambda b, t: (b.same_shape(t(X), t(POS)), b.same_shape(t(X), t(column))),
        lambda: (True, False), None, True)  # fmt: skip
    add("ndim", "an int", lambda b, t: b.ndim(t(X)), lambda: 3, None, True)
    add("device", "a name; like= places a new tensor there",
        lambda b, t: (isinstance(b.device(t(X)), str), b.device(b.convert_to_tensor(ints, like=t(X))) == b.device(t(X))),
        lambda: (True, True), None, True, True)  # fmt: skip
    add("is_tensor", "its own tensors", lambda b, t: bool(b.is_tensor(t(X))), lambda: True, None, True, True)
    add("stop_gradient", "values unchanged", lambda b, t: b.stop_gradient(t(X)), lambda: x)
    add(
        "is_float",
        "float, int",
        lambda b, t: (b.is_float(t(X)), b.is_float(t(ints, "int32"))),
        lambda: (True, False),
        None,
        True,
    )
    add(
        "ensure_float",
        "int32 -> floatx",
        lambda b, t: b.ensure_float(t(ints, "int32")),
        lambda: ints,
        FLOATX,
        floats_only=True,
    )
    add("ensure_float", "float kept", lambda b, t: b.ensure_float(t(X)), lambda: x)
    add("scale", "by a Python number", lambda b, t: b.scale(t(X), 0.75), lambda: x * 0.75)
    add(
        "scale",
        "int32 -> floatx",
        lambda b, t: b.scale(t(ints, "int32"), 0.5),
        lambda: ints * 0.5,
        FLOATX,
        floats_only=True,
    )

    # ---------------------------------------------------------------- composites
    logits = np.array([[0.0, 1.0, -1.0, 1e4], [-1e4, 40.0, -40.0, 3.5]])
    lg = round_to(logits)
    add("softplus", "0, +-1, +-40, +-1e4", lambda b, t: b.softplus(t(logits)), lambda: np.logaddexp(0.0, lg))
    add("sigmoid", "0, +-1, +-40, +-1e4", lambda b, t: b.sigmoid(t(logits)), lambda: 0.5 * (1.0 + np.tanh(lg / 2)))
    add("log_sigmoid", "0, +-1, +-40, +-1e4", lambda b, t: b.log_sigmoid(t(logits)), lambda: -np.logaddexp(0.0, -lg))
    sce_x = np.array([INF, -INF, INF, -INF, 1e4, -1e4, 3.0, -2.5, 0.0])
    sce_y = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.25, 1.0, 0.5])
    add("sigmoid_cross_entropy", "limits at +-inf", lambda b, t: b.sigmoid_cross_entropy(t(sce_y), t(sce_x)),
        lambda: _sigmoid_cross_entropy(round_to(sce_y), round_to(sce_x)))  # fmt: skip
    masked = np.array([[1e4, 1e4, -1e4], [-INF, 0.0, 0.0], [-INF, -INF, -INF]])
    # the masked rows padded with -inf (adds nothing to a sum of exponentials) above rows of X:
    # X's shape, so the reduction shares the compiled ops of the axis=-1 case above
    masked_x = np.concatenate([np.pad(masked, ((0, 0), (0, 1)), constant_values=-INF)[None], X[1:]])
    for axis, keepdims in ((-1, False), (-1, True), (None, False), (0, False)):
        add("logsumexp", f"axis={axis}, keepdims={keepdims}",
            lambda b, t, axis=axis, keepdims=keepdims: b.logsumexp(t(X), axis=axis, keepdims=keepdims),
            lambda axis=axis, keepdims=keepdims: _logsumexp(x, axis, keepdims))  # fmt: skip
    add("logsumexp", "+-1e4, -inf, an all -inf row", lambda b, t: b.logsumexp(t(masked_x), axis=-1),
        lambda: _logsumexp(round_to(masked_x), -1, False))  # fmt: skip
    # over no entries: log(0) = -inf (an empty batch of pairwise scores, as the Circle loss makes)
    add("logsumexp", "an empty axis is -inf", lambda b, t: b.logsumexp(t(np.zeros((2, 0))), axis=-1),
        lambda: np.array([-INF, -INF]))  # fmt: skip
    add("logsumexp", "an empty (0, 0) matrix", lambda b, t: b.logsumexp(t(np.zeros((0, 0))), axis=1),
        lambda: np.zeros((0,)))  # fmt: skip
    add("log_softmax", "an empty axis", lambda b, t: b.log_softmax(t(np.zeros((2, 0)))), lambda: np.zeros((2, 0)))
    add("softmax", "an empty axis", lambda b, t: b.softmax(t(np.zeros((2, 0)))), lambda: np.zeros((2, 0)))
    add("log_softmax", "axis=-1", lambda b, t: b.log_softmax(t(X)), lambda: x - _logsumexp(x, -1, True))
    add(
        "log_softmax",
        "axis=1, +-1e4",
        lambda b, t: b.log_softmax(t(logits), axis=1),
        lambda: lg - _logsumexp(lg, 1, True),
    )
    # a slice holding +inf is NaN throughout (+inf - +inf), as the frameworks' fused kernels give it
    infinite = np.array([[0.0, INF, 1.0], [INF, INF, 0.0], [-INF, 0.0, 1.0]])
    add("log_softmax", "a +inf entry makes its slice nan", lambda b, t: b.log_softmax(t(infinite)),
        lambda: np.array([[NAN] * 3, [NAN] * 3, [-INF, *(infinite[2, 1:] - np.logaddexp(0.0, 1.0))]]), SAME, False, True)  # fmt: skip
    add("softmax", "axis=-1, +-1e4 and -inf", lambda b, t: b.softmax(t(masked[:2])),
        lambda: np.exp(round_to(masked[:2]) - _logsumexp(round_to(masked[:2]), -1, True)))  # fmt: skip
    vectors = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    add("l2_normalize", "a zero vector stays 0", lambda b, t: b.l2_normalize(t(vectors)),
        lambda: vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-6))  # fmt: skip
    labels = np.array([3, 0])
    add("pick_along_axis", "one per row", lambda b, t: b.pick_along_axis(t(logits), t(labels, "int32"), -1),
        lambda: lg[np.arange(2), labels])  # fmt: skip
    add("pick_along_axis", "an id out of range raises IndexError",
        lambda b, t: _raises(IndexError, b.pick_along_axis, t(logits), t(np.array([4, 0]), "int32"), -1),
        lambda: "IndexError", None, True, True)  # fmt: skip
    add("sparse_softmax_cross_entropy", "+-1e4 logits",
        lambda b, t: b.sparse_softmax_cross_entropy(t(labels, "int32"), t(logits)),
        lambda: -(lg - _logsumexp(lg, -1, True))[np.arange(2), labels])  # fmt: skip
    xs, ys = np.array([0.0, 0.0, 1.0, 2.5]), np.array([0.0, 1.0, 2.0, 0.5])
    add("xlogy", "xlogy(0, 0) = 0", lambda b, t: b.xlogy(t(xs), t(ys)), lambda: _xlogy(round_to(xs), round_to(ys)))
    add("logaddexp", "+-1e4, ties", lambda b, t: b.logaddexp(t(logits), t(logits[::-1].copy())),
        lambda: np.logaddexp(lg, lg[::-1]))  # fmt: skip
    ctc_labels = np.array([[1, 2, 2], [3, 1, 0]])
    ctc_logits = rng.normal(size=(2, 5, 4))
    add("ctc_loss", "repeated label, padding",
        lambda b, t: b.ctc_loss(t(ctc_labels, "int32"), t(ctc_logits), t(np.array([3, 2]), "int32"), t(np.array([5, 4]), "int32")),
        lambda: _ctc(ctc_labels, round_to(ctc_logits), [3, 2], [5, 4]))  # fmt: skip
    return out


def _quiet(formula, values):
    with np.errstate(all="ignore"):
        return formula(values)


def _raises(kind, fn, *args):
    try:
        fn(*args)
    except kind:
        return kind.__name__
    return "nothing raised"


def _logsumexp(x, axis, keepdims):
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else (np.squeeze(out, axis) if axis is not None else out.reshape(()))


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(x / 2))


def _sigmoid_cross_entropy(y, x):
    """``softplus(x) - y x``, and its limits at infinite logits: 0 where the
    label sits on the logit's side, +inf elsewhere."""
    finite = np.isfinite(x)
    safe = np.where(finite, x, 0.0)
    terms = np.logaddexp(0.0, safe) - y * safe
    on_side = np.where(x > 0, y == 1.0, y == 0.0)
    return np.where(finite, terms, np.where(on_side, 0.0, INF))


def _xlogy(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def _ctc(labels, logits, label_length, logit_length):
    """-log p(labels | logits) by brute force: the sum over every alignment
    path of length T that collapses to the label (merge repeats, drop blanks)."""
    import itertools

    out = []
    for b in range(len(labels)):
        target = tuple(labels[b, : label_length[b]])
        steps = logit_length[b]
        log_probs = logits[b, :steps] - _logsumexp(logits[b, :steps], -1, True)
        total = -INF
        for path in itertools.product(range(logits.shape[-1]), repeat=steps):
            collapsed = [c for i, c in enumerate(path) if c != 0 and (i == 0 or c != path[i - 1])]
            if tuple(collapsed) == target:
                total = np.logaddexp(total, sum(log_probs[i, c] for i, c in enumerate(path)))
        out.append(-total)
    return np.array(out)


def hook_cases(backend, has_autograd: bool, has_compiler: bool) -> list[OpCase]:
    """Gradients through ``value_and_grad`` and compiled runs through
    ``compile``, where the adapter has them (float32 inputs)."""
    values = np.array([-50.0, -3.0, -0.5, 0.0, 0.5, 3.0, 50.0, 1e4, -1e4])
    v = values.astype(np.float32).astype(np.float64)
    out = []
    if has_autograd:
        out += [
            OpCase("value_and_grad", "softplus: value and sigmoid",
                   lambda b, t: b.value_and_grad(lambda w: b.softplus(w))(t(values)),
                   lambda: (np.logaddexp(0.0, v), 0.5 * (1.0 + np.tanh(v / 2)))),
            OpCase("value_and_grad", "sigmoid: s (1 - s), 1/4 at 0",
                   lambda b, t: b.value_and_grad(lambda w: b.sigmoid(w))(t(values)),
                   lambda: (_sigmoid(v), _sigmoid(v) * (1.0 - _sigmoid(v)))),
            OpCase("value_and_grad", "mean: 1/n everywhere",
                   lambda b, t: b.value_and_grad(lambda w: b.mean(w))(t(values)),
                   lambda: (np.mean(v), np.full(v.shape, 1.0 / v.size))),
            OpCase("value_and_grad", "logsumexp: the softmax",
                   lambda b, t: b.value_and_grad(lambda w: b.logsumexp(w, axis=-1))(t(values[:7])),
                   lambda: (_logsumexp(v[:7], -1, False), np.exp(v[:7] - _logsumexp(v[:7], -1, True)))),
            OpCase("value_and_grad", "xlogy at 0: finite gradients",
                   lambda b, t: b.value_and_grad(lambda w: b.xlogy(t(np.array([0.0, 1.0, 2.0])), w))(t(np.array([0.0, 2.0, 0.5]))),
                   lambda: (np.array([0.0, np.log(2.0), 2 * np.log(0.5)]), np.array([0.0, 0.5, 4.0]))),
        ]  # fmt: skip
    if has_compiler:
        out += [
            OpCase("compile", "softplus", lambda b, t: b.compile(lambda w: b.softplus(w))(t(values)),
                   lambda: np.logaddexp(0.0, v)),
            OpCase("compile", "sparse softmax cross-entropy",
                   lambda b, t: b.compile(lambda y, w: b.sparse_softmax_cross_entropy(y, w))(
                       t(np.array([1, 0]), "int32"), t(values[:8].reshape(2, 4))),
                   lambda: -(v[:8].reshape(2, 4) - _logsumexp(v[:8].reshape(2, 4), -1, True))[[0, 1], [1, 0]]),
            OpCase("compile", "is_concrete is False while tracing",
                   lambda b, t: bool(b.to_numpy(b.compile(lambda w: w + 1.0 if b.is_concrete(w) else w)(t(values)))[0] == values[0]),
                   lambda: True, None, True),
            OpCase("compile", "host_values is None while tracing",
                   lambda b, t: bool(b.to_numpy(b.compile(lambda w: w if b.host_values(w) is None else w + 1.0)(t(values)))[0] == values[0]),
                   lambda: True, None, True),
        ]  # fmt: skip
    return out
