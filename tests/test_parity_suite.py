"""The project's parity suite: every registered loss and metric, on every
selected backend, against the float64 NumPy reference of
:mod:`lossbridge.testing`.

What runs, per registered entry with input recipes (the ``examples`` a loss
or a metric class declares, read by ``lossbridge.testing.cases.cases_for``):

* loss functions: edge inputs (0, 1, eps, 1 - eps, logits of 0, +-100, +-1e4,
  huge regression errors, int32/int64/bool labels, empty batches) in float32,
  float64, float16 and bfloat16, values and gradients; random inputs drawn by
  hypothesis in float64 (a few examples); one seeded example of each loss
  compiled (jax.jit, tf.function; torch.compile on a small subset, seconds
  each);
* Loss classes (the formula of their function, checked above): a seeded
  example with per-sample and (regression) temporal sample weights, float32;
* metrics, values only (they stop gradients): seeded and edge inputs in
  float32, seeded in float64, edges in float16; a sample of them compiled.

An entry that declares no recipe is skipped with the reason, so losses and
metrics added later never fail here before someone writes their recipe.
``--backend`` restricts the backends as everywhere in this suite. Known
defects found by this suite are listed in KNOWN_ISSUES (xfail, not strict:
fixing one shows up as XPASS).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lossbridge import backends as registry
from lossbridge.testing import cases, catalogue, check_parity
from lossbridge.testing import strategies as lbst

pytestmark = pytest.mark.slow(seconds=120)  # the whole catalogue on every backend: scheduled first (conftest.py)

ENTRIES = catalogue.entries()
FUNCTIONS = [(e, c) for e in ENTRIES if e.family == "loss" and not isinstance(e.obj, type) for c in e.cases]
#: Loss classes run the formula their function runs (checked in full above): one case each
#: metrics whose value is nan (0 / 0) on constant inputs, as in Keras
UNDEFINED_ON_CONSTANT_INPUTS = ("pearson_correlation",)
#: losses whose default ``axis=None`` gives one value for the whole batch
BATCH_LEVEL_LOSSES = ("Dice", "Tversky")
LOSS_CLASSES = [(e, e.cases[0]) for e in ENTRIES if e.family == "loss" and isinstance(e.obj, type) and e.cases]
METRICS = [(e, c) for e in ENTRIES if e.family == "metric" for c in e.cases]
UNKNOWN = [e for e in ENTRIES if not e.cases]

#: the few cases torch.compile runs on (each compile takes seconds)
TORCH_COMPILED = {"mean_squared_error", "categorical_crossentropy[from_logits]", "binary_crossentropy"}
HALF = ("float16", "bfloat16")

#: (family, case id, dtype) -> the defect, reported to the owners
KNOWN_ISSUES = {}


def _id(pair):
    entry, case = pair
    return f"{entry.family}:{entry.name}:{case.id}" if entry.name != case.name else f"{entry.family}:{case.id}"


@pytest.fixture(scope="module")
def chosen(pytestconfig):
    """The backends to compare: ``--backend`` (repeatable), default every installed one."""
    here = registry.installed()
    return [name for name in (pytestconfig.getoption("--backend") or here) if name in here]


def _known(entry, case, dtype):
    for key in ((entry.family, case.id, dtype), (entry.family, case.name, dtype)):
        if key in KNOWN_ISSUES:
            pytest.xfail(KNOWN_ISSUES[key])


@contextlib.contextmanager
def _x64(dtype, names):
    """float64 on jax needs jax_enable_x64; switched on for float64 checks only."""
    if dtype == "float64" and "jax" in names:
        import jax

        with jax.enable_x64(True):
            yield
    else:
        yield


def _check(entry, case, inputs, dtype, names, **options):
    with _x64(dtype, names):
        result = check_parity(entry.function(case), *inputs, dtypes=(dtype,), backends=names, **options)
    assert result.ok, "\n" + result.table()
    return result


# ------------------------------------------------------------------ what is skipped
# every catalogue entry has a recipe today: the one placeholder parameter is deselected, not run
@pytest.mark.parametrize(
    "entry",
    [pytest.param(e, id=f"{e.family}:{e.name}") for e in UNKNOWN]
    or [pytest.param(None, id="none", marks=pytest.mark.exists_if(lambda p: False))],
)
def test_entries_without_a_recipe_are_skipped(entry):
    pytest.skip(entry.skip_reason)


def test_the_catalogue_is_checked():
    """The basic Keras losses at least are known; a recipe-less catalogue would pass vacuously."""
    known = {case.name for _, case in FUNCTIONS}
    assert {"mean_squared_error", "binary_crossentropy", "sparse_categorical_crossentropy"} <= known


# ------------------------------------------------------------------ loss functions
@pytest.mark.exists_if(lambda p: cases.edge_batches(p["pair"][1].kind, "float32"))  # a kind with edge inputs (not ctc)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("pair", FUNCTIONS, ids=[_id(p) for p in FUNCTIONS])
def test_loss_function_edges(pair, dtype, chosen):
    entry, case = pair
    _known(entry, case, dtype)
    batches = cases.edge_batches(case.kind, dtype)
    if dtype != "float32":  # label dtypes and empty batches do not depend on the float dtype
        batches = batches[:1]
    for _, inputs in batches:
        _check(entry, case, inputs, dtype, chosen, compiled=False)


# fixed shapes, the seeded examples' own: jax and tensorflow compile each op per
# shape, and fresh shapes every example would spend the suite's time on that
_SHAPE, _BATCH, _CLASSES = st.just((4, cases.FEATURES)), st.just(4), st.just(cases.CLASSES)
_STRATEGIES = {
    "regression": lbst.regression_pairs(_SHAPE, magnitude=1e3),
    "signed": lbst.binary_pairs(_SHAPE, from_logits=True),
    "categorical_scores": lbst.categorical_pairs(_BATCH, _CLASSES, from_logits=True),
    "binary_probs": lbst.binary_pairs(_SHAPE),
    "binary_logits": lbst.binary_pairs(_SHAPE, from_logits=True),
    "categorical_probs": lbst.categorical_pairs(_BATCH, _CLASSES),
    "categorical_logits": lbst.categorical_pairs(_BATCH, _CLASSES, from_logits=True),
    "sparse_probs": lbst.sparse_pairs(_BATCH, _CLASSES),
    "sparse_logits": lbst.sparse_pairs(_BATCH, _CLASSES, from_logits=True),
    "distributions": lbst.categorical_pairs(_BATCH, st.just(cases.FEATURES)),
}
RANDOM = [p for p in FUNCTIONS if p[1].kind in _STRATEGIES]


@pytest.mark.parametrize("pair", RANDOM, ids=[_id(p) for p in RANDOM])
def test_loss_function_random(pair, chosen):
    """Hypothesis inputs, edge values mixed in, in float64: lower precisions
    cannot reproduce a float64 clip at exactly 0 or 1 (see cases.edge_examples)."""
    entry, case = pair

    @settings(max_examples=3, deadline=None, database=None)
    @given(inputs=_STRATEGIES[case.kind])
    def check(inputs):
        _check(entry, case, inputs, "float64", chosen, compiled=False)

    check()


#: compiled: the default case of each loss function (variants share its ops)
COMPILED = [(e, e.cases[0]) for e in ENTRIES if e.family == "loss" and not isinstance(e.obj, type) and e.cases]


@pytest.mark.parametrize("pair", COMPILED, ids=[_id(p) for p in COMPILED])
def test_loss_function_compiled(pair, chosen):
    entry, case = pair
    names = [n for n in chosen if n != "numpy" and (n != "torch" or case.id in TORCH_COMPILED)]
    if not names:
        pytest.skip("no compiler among the selected backends for this case")
    inputs = cases.random_example(case.kind, np.random.default_rng(1), batch=2)
    result = _check(entry, case, inputs, "float32", names)
    assert {row.mode for row in result.rows} == {"eager", "compiled"}


# ------------------------------------------------------------------ loss objects
@pytest.mark.parametrize("pair", LOSS_CLASSES, ids=[_id(p) for p in LOSS_CLASSES])
def test_loss_object_with_sample_weights(pair, chosen):
    entry, case, dtype = *pair, "float32"
    rng = np.random.default_rng(2)
    inputs = cases.random_example(case.kind, rng)
    weights = rng.uniform(0.0, 2.0, size=len(inputs[0]))
    if entry.name in BATCH_LEVEL_LOSSES:
        # one value for the whole batch: a weight per sample has nothing to weigh
        # (lossbridge.inputs.check_weight_shape), a scalar weight scales it
        with pytest.raises(ValueError, match="`sample_weight` of shape"):
            entry.obj()(*inputs, sample_weight=weights)
        weights = np.float64(1.5)
    _check(entry, case, (*inputs, weights), dtype, chosen, compiled=False, wrt=1)
    if case.kind == "regression":  # per-timestep weights on (batch, time, features)
        y_true, y_pred = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
        _check(entry, case, (y_true, y_pred, rng.uniform(0, 2, size=(2, 3))), dtype, chosen, compiled=False, wrt=1)


# ------------------------------------------------------------------ metrics
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("pair", METRICS, ids=[_id(p) for p in METRICS])
def test_metric(pair, dtype, chosen):
    entry, case = pair
    _known(entry, case, dtype)
    examples = [] if dtype == "float16" else [("seeded", cases.random_example(case.kind, np.random.default_rng(3)))]
    if dtype != "float64":
        examples += cases.edge_batches(case.kind, dtype)[: None if dtype == "float32" else 1]
    for label, inputs in examples:
        # a correlation of constant (all-zero) edge inputs is nan by definition:
        # allowed there explicitly, and only there
        undefined = entry.name in UNDEFINED_ON_CONSTANT_INPUTS and label != "seeded"
        _check(entry, case, inputs, dtype, chosen, compiled=False, grads=False, allow_nonfinite=undefined)


@pytest.mark.parametrize("pair", METRICS[:: max(1, len(METRICS) // 6)], ids=_id)
def test_metric_compiled(pair, chosen):
    """A sample of metrics through jax.jit and tf.function (stateless API)."""
    entry, case = pair
    names = [n for n in chosen if n in ("jax", "tensorflow")]
    if not names:
        pytest.skip("neither jax nor tensorflow selected")
    inputs = cases.random_example(case.kind, np.random.default_rng(4))
    _check(entry, case, inputs, "float32", names, grads=False)
