"""The ``compile`` option of Loss and Metric objects.

A Loss compiles its forward computation; a Metric its stateful update
(``update_state``), the state an input and an output of the compiled
function, so that the stateful API runs one compiled step per batch.

``set_compile(mode)`` sets the process default; an object's own ``compile=``
argument wins over it (None follows the default). Modes:

* ``False`` (the default): run eagerly.
* ``True``: compile with the backend's own compiler (``jax.jit``,
  ``torch.compile``, ``tf.function``). NumPy has no compiler and runs eagerly.
* ``"auto"``: compile only where it pays, by the measurements of
  ``python -m benchmarks.compile_sweep`` (benchmarks/README.md).
  A Loss: always on JAX (a jitted loss runs 2-3x faster than its eager ops
  at every size); on torch and TensorFlow for inputs of at least
  :data:`AUTO_MIN_ELEMENTS` elements or on a GPU. On a CPU their compiled
  call costs more than a small eager loss (torch's guards ~15 us, a
  tf.function call ~200 us), while from ~2^18 (torch) and ~2^20
  (TensorFlow) elements fusion wins (1.3-12x); the first compile costs
  seconds on torch, so it pays in loops, not in one call.
  A Metric: from its own ``auto_compile_from[backend]`` elements (a backend
  missing there: never). A metric's update is longer than a loss: compiled,
  AUC runs 2-4x, F1 1.6-4.9x and MeanIoU 1.0-2.2x faster at every size
  from 2^10 on torch and TF, 1.4-14x on JAX, so it compiles at any size
  there; ``Mean`` and ``Sum`` take a cheaper eager route and stay eager
  (compiled 0.4-0.9x on torch and TF; on JAX 1.1-1.2x up to 2^16 values,
  0.7-0.8x from 2^18); the mean of a per-sample function
  (``MeanMetricWrapper``: accuracies, the loss metrics) compiles from 2^18
  elements on torch, 2^20 on TF and 2^10 on JAX, where fusing the function
  pays (2-10x on torch at 2^20).

``call(owner, backend, fn, *args)`` compiles ``fn`` once per owner, backend
and ``fn.__code__`` and reuses it; the compiler caches per shape, dtype and
device, so repeated shapes never retrace. A function the compiler rejects runs
eagerly, and keeps doing so for that owner and backend, after one warning.
Gradients flow through: ``torch.compile`` compiles the backward too
(AOTAutograd), ``jax.jit`` composes with ``jax.grad``. The compiler is the
adapter's ``compile`` hook, so nothing here imports a framework.
"""

from __future__ import annotations

import math
import warnings

from . import dispatch
from .backends.base import Backend
from .backends.notices import LossbridgeRuntimeWarning

_MODES = (False, True, "auto")
_default = False

#: backends "auto" always compiles
AUTO_ALWAYS = frozenset({"jax"})
#: backend -> "auto" compiles calls whose first tensor has at least this many
#: elements, or lives on a GPU (break-even on a CPU, benchmarks/README.md)
AUTO_MIN_ELEMENTS = {"torch": 1 << 18, "tensorflow": 1 << 20}
#: backends whose compiled function may run on traced inputs: a jitted
#: function under ``jax.grad`` gives a compiled backward, under an outer
#: ``jax.jit`` it is inlined. Elsewhere an outer compiler already sees all.
NESTS = frozenset({"jax"})

#: backends whose compiler guards on the Python state the traced code reads:
#: a cache a formula fills at its first use (a bound formula, a fused kernel)
#: is empty at the first trace and full at the next call, which then compiles
#: again. With ``eager_first`` (a metric's update) the first call there runs
#: eagerly and fills those caches, and the second compiles, once.
WARM_UP_EAGERLY = frozenset({"torch"})

CACHE_ATTRIBUTE = "_lossbridge_compiled"  # where an owner keeps its table (not pickled)
_EAGER = object()  # a table entry whose compile failed
_WARMED = object()  # a table entry whose first call ran eagerly (WARM_UP_EAGERLY)


def set_compile(mode) -> None:
    """Set the process default compile mode: False, True or ``"auto"``."""
    global _default
    _default = _check(mode)


def get_compile():
    """The process default compile mode."""
    return _default


def resolve(option):
    """An object's ``compile`` option, None replaced by the process default."""
    return _default if option is None else _check(option)


def off(option) -> bool:
    """Whether an object whose ``compile`` option is ``option`` runs eagerly
    for sure (False, or None while the process default is False): the cheap
    test every call makes before anything else."""
    return option is False or (option is None and _default is False)


def wanted(owner, backend, args) -> bool:
    """Whether :func:`call` would compile ``owner``'s call on these ``args``
    (its mode, the backend's compiler, "auto"'s thresholds)."""
    mode = resolve(getattr(owner, "compile", True))
    return bool(mode) and _wants(mode, owner, backend, args)


def _check(mode):
    if mode is True or mode is False or (isinstance(mode, str) and mode == "auto"):
        return mode
    raise ValueError(f"compile must be one of {_MODES} or None; received {mode!r}")


def call(owner, backend, fn, *args):
    """``fn(*args)`` with ``K`` bound to ``backend``, compiled as ``owner.compile``
    (or the process default) asks.

    ``fn`` is compiled once per ``(owner, backend, fn.__code__)``, so a bound
    method fetched anew on each call still hits the cache. Its varying inputs
    come in ``args`` (tensors, None, or tuples/dicts of them); anything else
    it reads must stay fixed for the owner's lifetime.
    """
    if not wanted(owner, backend, args):
        return dispatch.run_on(backend, fn, *args)
    return run_compiled(owner, backend, fn, *args)


def run_compiled(owner, backend, fn, *args, eager_first=False):
    """:func:`call` once :func:`wanted` said yes (a caller that asked
    already, and runs another eager route on a no, calls this directly).
    ``eager_first``: see :data:`WARM_UP_EAGERLY`."""
    table = _table(owner)
    key = (backend, getattr(fn, "__code__", fn))
    compiled = table.get(key)
    if compiled is None and eager_first and backend.name in WARM_UP_EAGERLY:
        table[key] = _WARMED
        return dispatch.run_on(backend, fn, *args)
    if compiled is None or compiled is _WARMED:
        compiled = table[key] = backend.compile(_trampoline(owner, backend, fn))
    elif compiled is _EAGER:
        return dispatch.run_on(backend, fn, *args)
    try:
        # no backend active outside: the trampoline activates it inside the trace
        return dispatch.run_on(None, compiled, *args)
    except Exception as error:  # noqa: BLE001 - any compiler failure falls back to eager
        result = dispatch.run_on(backend, fn, *args)  # a genuine input error raises again here
        table[key] = _EAGER
        warnings.warn(
            f"{type(owner).__name__}: the {backend.name} compiler rejected it "
            f"({type(error).__name__}: {str(error)[:300]}); it runs eagerly from now on.",
            LossbridgeRuntimeWarning,
            stacklevel=3,
        )
        return result


def compiled_function(owner, backend, fn):
    """The compiled function cached for ``(owner, backend, fn)``: None before
    the first compiled call, ``fn`` itself once it fell back to eager."""
    entry = _table(owner).get((backend, getattr(fn, "__code__", fn)))
    return fn if entry is _EAGER else None if entry is _WARMED else entry


def clear(owner) -> None:
    """Forget ``owner``'s compiled functions (the next call compiles anew)."""
    _table(owner).clear()


def _wants(mode, owner, backend, args):
    """Whether to compile this call: never without a compiler, nor (outside
    :data:`NESTS`) while a compiler is already tracing the inputs."""
    if type(backend).compile is Backend.compile:  # no compiler (NumPy)
        return False
    first = next((a for a in args if a is not None), None)
    if first is None or (backend.name not in NESTS and not backend.is_concrete(first)):
        return False
    if mode is True:
        return True
    rule = getattr(owner, "auto_compile_from", None)  # a metric's own measured rule
    if rule is None:  # a Loss
        if backend.name in AUTO_ALWAYS:
            return True
        rule = AUTO_MIN_ELEMENTS
    threshold = rule.get(backend.name)
    if threshold is not None:
        return _on_gpu(backend, first) or math.prod(backend.shape(first)) >= threshold
    return False


def _on_gpu(backend, x):
    device = backend.device(x).lower()
    return "cuda" in device or "gpu" in device


class _Table(dict):
    """An owner's compiled functions. They are bound to that very object and
    to this process, so a copy or an unpickled owner starts with none."""

    def __init__(self, owner_id):
        super().__init__()
        self.owner_id = owner_id

    def __reduce__(self):
        return (_Table, (None,))

    def __copy__(self):
        return _Table(None)

    def __deepcopy__(self, memo):
        return _Table(None)


_unowned: dict[int, tuple[object, _Table]] = {}  # owners without a __dict__ (kept alive)


def _table(owner):
    state = getattr(owner, "__dict__", None)
    if state is None:
        entry = _unowned.get(id(owner))
        if entry is None or entry[0] is not owner:
            entry = _unowned[id(owner)] = (owner, _Table(id(owner)))
        return entry[1]
    table = state.get(CACHE_ATTRIBUTE)
    if table is None or table.owner_id != id(owner):  # absent, or shared by a shallow copy
        table = state[CACHE_ATTRIBUTE] = _Table(id(owner))
    return table


def _trampoline(owner, backend, fn):
    """``fn`` with ``backend`` active, behind a function with a code object of
    its own. torch.compile caches compiled frames on the code object, at most
    8 per code: every Loss object sharing ``Loss._forward``'s code would soon
    exhaust that. The backend is activated inside the traced region: a value
    set outside is one the compiler must guard on, and torch 2.11's dynamo
    cannot guard on an adapter object (it rejected every compile=True loss)."""

    def compiled_call(*args):
        return dispatch.run_on(backend, fn, *args)

    code = compiled_call.__code__.replace(co_name=f"{type(owner).__name__}_compiled_call")
    compiled_call.__code__ = code
    compiled_call.__name__ = compiled_call.__qualname__ = code.co_name
    return compiled_call
