"""Which backend runs a call, and bringing every input to it.

Rules (ARCHITECTURE.md, "Which backend runs a call"):

1. A forced backend (``LOSSBRIDGE_BACKEND``, :func:`set_backend`,
   :func:`use_backend`) converts every input to itself.
2. Otherwise the inputs decide: a tensor of torch, jax or tensorflow is
   *strong*; NumPy arrays, Python numbers and lists are *weak*, follow the
   strong input (onto its device) and run on NumPy when none is strong.
3. Detection reads ``type(x).__module__`` and caches the answer per type, so
   it never imports a framework.

While a bridged call runs, its backend is the *active* one that ``K`` reads.
That is a thread-local, not a ContextVar: a call is synchronous, so
save-and-restore around it is both thread- and async-safe, and unlike
``ContextVar.set`` it traces under torch.compile without a graph break.
The user-facing ``use_backend`` scope does need to span ``await`` and so is a
ContextVar, read only while some scope is open. A ContextVar set in a
generator is seen by the generator's consumer while it is suspended; a scope
opened there is therefore bound to the generator's frame (see
:func:`use_backend`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import sys
import threading

import numpy as np

from . import backends as registry

_WEAK_TYPES = (np.ndarray, np.generic, int, float, bool, list, tuple)

#: type -> Backend for strong types, None for weak ones
_owner_by_type: dict[type, object] = {}


class _Active(threading.local):
    backend = None

    def __init__(self):
        # an instance attribute from the start (per thread): torch.compile
        # guards on whether the attribute is in the instance dict, and a
        # frame that first sets it would fail its own guard
        self.backend = None


_active = _Active()


class _Scope:
    """One ``use_backend`` block: its backend, the generator frame it is
    bound to (None: not bound), the scope it is nested in, and whether it is
    still open (a block can close while it is not the innermost one: a
    generator closed after its consumer's own block ended)."""

    __slots__ = ("backend", "frame", "outer", "open")

    def __init__(self, backend, frame, outer):
        self.backend, self.frame, self.outer, self.open = backend, frame, outer, True


_scoped = contextvars.ContextVar("lossbridge_backend", default=None)
_open_scopes = 0  # how many use_backend blocks are open, in any thread
_scope_lock = threading.Lock()
_ENVIRONMENT = "LOSSBRIDGE_BACKEND"
_forced_name = os.environ.get(_ENVIRONMENT, "auto").strip().lower() or "auto"
_forced = None  # the Backend for _forced_name, loaded on first use
#: code flags of frames that can be suspended with a scope open inside them
_SUSPENDABLE = 0x20 | 0x200  # CO_GENERATOR | CO_ASYNC_GENERATOR


def _framework_name(x) -> str:
    root = type(x).__module__.partition(".")[0]
    return {"builtins": "Python"}.get(root, root)


def describe(x) -> str:
    """'torch float32 tensor of shape (4, 3)': for error messages."""
    shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
    if shape is None:
        return f"{type(x).__name__} {x!r:.60}"
    return f"{_framework_name(x)} {type(x).__name__} of shape {tuple(shape)} and dtype {dtype}"


def owner(x, argument="input"):
    """The Backend that owns ``x``, or None when ``x`` is weak."""
    tp = type(x)
    try:
        return _owner_by_type[tp]
    except KeyError:
        pass
    if issubclass(tp, _WEAK_TYPES):
        found = None
    else:
        name = registry.owner_of_module(tp.__module__.partition(".")[0])
        # no dedicated adapter: the generic one, where the type has an Array API namespace
        found = registry.get(name) if name is not None else registry.array_api_backend(x)
        if found is None:
            raise unsupported_type(x, argument)
    _owner_by_type[tp] = found
    return found


def unsupported_type(x, argument):
    """The TypeError for an input that no adapter claims and that has no
    Array API namespace: its type, what is accepted, and the two ways to add
    support for it."""
    strong = [name for name in registry.BUILTIN if name != "numpy"]
    return TypeError(
        f"`{argument}` must be an array or number; received {describe(x)}, of type "
        f"{type(x).__module__}.{type(x).__qualname__}, which no lossbridge backend handles: no adapter claims "
        f"its module {type(x).__module__.partition('.')[0]!r} and array-api-compat finds no Array API namespace "
        f"for it. Accepted: NumPy arrays, Python numbers or lists, {', '.join(strong)} tensors, and arrays of "
        "any Array API library (array-api-strict, dask.array, CuPy, ...). To add support for this type, either "
        "(1) write an adapter, a subclass of lossbridge.backends.Backend, and declare it under the entry-point "
        "group 'lossbridge.backends' in its distribution (docs/adapters.md); or (2) make the type follow the "
        "Python Array API standard (`__array_namespace__`), which lossbridge's generic adapter then runs on "
        "(pip install 'lossbridge[array-api]')."
    )


def to_numpy_weak(x, argument="input", floatx="float32"):
    """A weak input as a NumPy array; Python floats become ``floatx`` as in Keras."""
    if isinstance(x, np.ndarray):
        array = x
    else:
        array = np.asarray(x)
        if array.dtype == np.float64 and not isinstance(x, np.generic):
            array = array.astype(floatx)
    if array.dtype.kind not in "biuf" and array.dtype.name != "bfloat16":
        raise TypeError(
            f"`{argument}` must be numeric; received {describe(x)} of dtype {array.dtype}. "
            "Accepted dtypes: bool, integer and floating point."
        )
    return array


# ---------------------------------------------------------------- forcing
def forced():
    """The backend forced by ``use_backend``/``set_backend``/env, or None (auto)."""
    global _forced
    if _open_scopes:
        scope = _scoped.get()
        while scope is not None:
            if scope.open and (scope.frame is None or _on_stack(scope.frame)):
                return scope.backend
            scope = scope.outer  # closed, or opened in a suspended generator: not this caller's
    if _forced is None and _forced_name != "auto":
        _forced = _from_environment(_forced_name)
    return _forced


def _from_environment(name):
    try:
        return registry.get(name)
    except (ValueError, ImportError) as error:
        raise type(error)(f"{_ENVIRONMENT}={name!r} names no usable backend: {error}") from error


_NAMES = "a backend name: a str such as 'torch', 'jax', 'tensorflow' or 'numpy'"


def _named(name, function, accepted=_NAMES):
    """The Backend called ``name`` (any case, surrounding blanks ignored, as
    in ``LOSSBRIDGE_BACKEND``); ``function`` and ``accepted`` word the error."""
    if not isinstance(name, str):
        raise TypeError(f"`name` of {function}() must be {accepted}; received {describe(name)}.")
    return registry.get(name.strip().lower())


def set_backend(name: str | None) -> None:
    """Force every call in this process onto backend ``name`` (``"auto"`` or
    None restores detection from the inputs; any case)."""
    global _forced, _forced_name
    if name is None or (isinstance(name, str) and name.strip().lower() == "auto"):
        _forced, _forced_name = None, "auto"
    else:
        _forced = _named(name, "set_backend", _NAMES + ", or 'auto' or None")
        _forced_name = _forced.name


def get_backend():
    """The name of the forced backend, or ``"auto"``."""
    backend = forced()
    return "auto" if backend is None else backend.name


@contextlib.contextmanager
def use_backend(name: str):
    """Within the block, run every call on backend ``name`` (any case).

    The block is this thread's or task's only (a ContextVar). Inside a
    generator, it is the generator's only: while the generator is suspended
    at a ``yield`` inside the block, its consumer's calls are not forced (a
    ContextVar alone would force them: generators share their consumer's
    context), and an enclosing block of the consumer applies again. The
    exception is a generator that *is* a context manager
    (``@contextlib.contextmanager`` / ``asynccontextmanager``): there the
    caller's ``with`` body is inside the block, as intended.

    Limit: a block opened in a generator is not seen by a thread or task to
    which its context is copied (``contextvars.copy_context``,
    ``asyncio.to_thread``); one opened in a plain function or coroutine is.
    """
    global _open_scopes
    backend = _named(name, "use_backend")
    scope = _Scope(backend, _suspendable_owner(sys._getframe(1)), _scoped.get())
    token = _scoped.set(scope)
    with _scope_lock:  # += on a global is not atomic across threads
        _open_scopes += 1
    try:
        yield backend
    finally:
        scope.open = False
        with _scope_lock:
            _open_scopes -= 1
        if _scoped.get() is scope:
            _scoped.reset(token)
        # else a scope opened later is innermost (a generator closing after its
        # consumer's block ended): resetting would end that one; closed, this
        # one is skipped


def _in_contextlib(frame):
    return frame.f_globals.get("__name__") == "contextlib"


def _suspendable_owner(frame):
    """The generator frame whose ``with`` opened a scope, or None when that
    frame cannot be suspended with the scope open (a plain function; a
    coroutine, whose suspension ends its task's turn and whose context is
    its task's). ``frame`` is the first frame above ``use_backend``'s own;
    contextlib's frames (``__enter__``, ``ExitStack``) are skipped, and so is
    a context-manager generator, whose caller's ``with`` is the real owner."""
    while frame is not None:
        if _in_contextlib(frame):
            frame = frame.f_back
            continue
        if not frame.f_code.co_flags & _SUSPENDABLE:
            return None
        if frame.f_back is not None and _in_contextlib(frame.f_back):
            frame = frame.f_back  # resumed by contextlib: a @contextmanager body
            continue
        return frame
    return None


def _on_stack(frame):
    """Whether ``frame`` is running in this thread now (not suspended)."""
    current = sys._getframe(2)
    while current is not None:
        if current is frame:
            return True
        current = current.f_back
    return False


def default_backend():
    """The backend used where no input decides: the forced one, else NumPy."""
    return forced() or registry.get("numpy")


def active():
    """The backend of the call in progress (what ``K`` runs on)."""
    return _active.backend or default_backend()


# ---------------------------------------------------------------- resolving
def resolve(names, values):
    """Choose the backend for ``values`` (None entries are skipped) and bring
    every value to it. Returns ``(backend, converted_values)``."""
    target = forced()
    if target is None:
        lead, lead_name = None, None
        for name, value in zip(names, values, strict=True):
            if value is None:
                continue
            backend = owner(value, name)
            if backend is None:
                continue
            if target is None:
                target, lead, lead_name = backend, value, name
            elif backend is not target:
                raise TypeError(
                    f"`{lead_name}` is a {target.name} tensor but `{name}` is a {backend.name} tensor; "
                    "lossbridge will not guess which framework to run on. Convert one of them, or pick "
                    "one with `lossbridge.use_backend(name)` or LOSSBRIDGE_BACKEND."
                )
        if target is None:
            return registry.get("numpy"), [
                None if v is None else to_numpy_weak(v, n) for n, v in zip(names, values, strict=True)
            ]
    else:
        lead = None
    out = []
    for name, value in zip(names, values, strict=True):
        if value is None:
            out.append(None)
            continue
        source = owner(value, name)
        out.append(value if source is target else _bring(target, source, value, name, lead))
    return target, out


def _bring(target, source, value, name, lead):
    """``value`` (weak where ``source`` is None) as a tensor of ``target``."""
    try:
        if source is None:
            return target.convert_to_tensor(to_numpy_weak(value, name), like=lead)
        return target.from_foreign(value, source)
    except ValueError as error:  # values the target cannot hold (wide ints on JAX without x64): name the input
        raise ValueError(f"`{name}`: {error}") from None


_UNSEEN = object()


def resolve_pair(names, first, second):
    """:func:`resolve` for two values that are not None (a loss's ``y_true``
    and ``y_pred``) returning ``(backend, first, second)``. The common case,
    no forced backend and two tensors of one framework already seen (or two
    numeric NumPy arrays), costs two dict lookups instead of two loops."""
    if not _open_scopes and _forced_name == "auto":
        backend = _owner_by_type.get(type(first), _UNSEEN)
        if backend is _owner_by_type.get(type(second)):
            if backend is not None and backend is not _UNSEEN:
                return backend, first, second
            if (
                backend is None
                and type(first) is np.ndarray
                and type(second) is np.ndarray
                and first.dtype.kind in "biuf"
                and second.dtype.kind in "biuf"
            ):
                return registry.get("numpy"), first, second
    backend, (first, second) = resolve(names, (first, second))
    return backend, first, second


def bridged(*argnames):
    """Decorate a function written against ``K``: the arguments named in
    ``argnames`` pick the backend and are converted to it, and ``K`` runs on
    that backend while the function does. The undecorated function stays
    available as ``.raw`` for callers already inside a bridged call."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            count = len(argnames)
            values = list(args[:count]) + [kwargs.pop(n, None) for n in argnames[len(args) :]]
            backend, values = resolve(argnames, values)
            previous = _active.backend
            _active.backend = backend
            try:
                return returned(fn(*values, *args[count:], **kwargs))
            finally:
                _active.backend = previous

        wrapper.raw = fn
        return wrapper

    return decorate


def run_on(backend, fn, *args, **kwargs):
    """Call ``fn`` with ``backend`` active (for callers that resolved already)."""
    previous = _active.backend
    _active.backend = backend
    try:
        return returned(fn(*args, **kwargs))
    finally:
        _active.backend = previous


def returned(out):
    """The one NumPy return convention: a result leaves lossbridge as an
    ``np.ndarray``, 0-d for a scalar, as a torch or jax result is a tensor.
    NumPy's own reductions give ``np.float32`` scalars, which would make
    losses and metrics disagree (README, "What you get back")."""
    return np.asarray(out) if isinstance(out, np.generic) else out
