"""``K``: the one interface a loss is written against.

``K.mean(x)`` runs the active backend's ``mean``: inside a bridged call that is
the backend the inputs chose, elsewhere the forced backend or NumPy. The list
of operations is the adapter contract, ``lossbridge.backends.base.Backend``:
its primitives (one per framework op) and stable composites.
"""

from __future__ import annotations

import re
import sys
import types

from . import dispatch


class _Facade:
    __slots__ = ()

    def __getattr__(self, name, _active=dispatch._active):
        return getattr(_active.backend or dispatch.default_backend(), name)

    def __dir__(self):
        return [n for n in dir(dispatch.default_backend()) if not n.startswith("_")]

    def __repr__(self):
        return f"<lossbridge.K on {dispatch.active().name}>"


K = _Facade()

# (module globals id, backend) -> copy of the module's globals with K bound
_namespaces: dict[tuple[int, object], dict] = {}
# (function, backend) -> that function bound: the one cache of bound formulas
_bound: dict[tuple[object, object], object] = {}


def bind(fn, backend):
    """``fn`` with ``K`` bound to ``backend`` itself rather than the facade.

    Every ``K`` operation through the facade costs one Python ``__getattr__``
    (~0.4 us); bound, it is a plain attribute read. Only formulas defined in
    lossbridge's own modules are bound: the function and every function of its
    module (the helpers it calls) run against one copy of the module's globals,
    taken at the first call per backend, so those modules must not rebind
    their globals at run time. Anything else (a user's loss) is returned as is
    and keeps reading the facade, which sees later edits of its module.
    Cached per function and backend, so callers keep no caches of their own.
    While torch.compile traces the caller (``Backend.tracing_python``) a
    function not yet bound is returned as is: binding would break the graph.

    What it is worth, measured against the same formula defined outside
    lossbridge (which reads the facade), Loss objects at 32x10: 0.7 of 6.4 us
    for MSE and 2.8 of 15.4 us for BCE on NumPy, 0.8 and 5 us on torch. The
    Loss object's target, at most 1.15x the hand-written formula, needs it.
    """
    if type(fn) is not types.FunctionType:  # a callable object, a builtin: nothing to bind
        return fn
    bound = _bound.get((fn, backend))
    if bound is not None:
        return bound
    if backend.tracing_python():  # binding makes a module, which would break torch.compile's graph
        return fn
    source = fn.__globals__
    module_name = source.get("__name__", "")
    if source.get("K") is not K or not module_name.startswith("lossbridge."):
        return fn
    key = (id(source), backend)
    namespace = _namespaces.get(key)
    if namespace is None:
        namespace = _namespaces[key] = _bound_namespace(source, module_name, backend)
    bound = _bound[(fn, backend)] = _rebind(fn, namespace)
    return bound


# (backend, function, config) -> that function as one fused kernel
_kernels: dict[tuple[object, object, tuple, bool], object] = {}


def fused(fn, *config, short=False, backend=None):
    """``fn(*tensors, *config)`` on the active backend as one kernel of its
    tensor arguments (``Backend.fused``: jax.jit on JAX, where each eager op
    is a dispatch and a pass over memory; a tf.function graph on TensorFlow;
    ``fn`` itself on NumPy and PyTorch). ``config`` holds the hashable
    options the kernel is specialised on, constants to a compiler. Made once
    per backend, function and config (and bound, :func:`bind`), so callers
    keep no caches (none while torch.compile traces: it sees ``fn`` whole,
    and a lookup here would make it guard on every entry): call it as
    ``fused(fn, *config)(*tensors)``. ``short``: ``fn`` is a handful of ops
    (``Backend.fused``). ``backend``: the backend to fuse for, where the
    caller holds it and it may not be the active one (default: the active)."""
    backend = backend or dispatch.active()
    if backend.tracing_python():
        return lambda *tensors: dispatch.run_on(backend, fn, *tensors, *config)
    key = (backend, fn, config, short)
    kernel = _kernels.get(key)
    if kernel is None:
        body = bind(fn, backend)

        def run(*tensors):
            return dispatch.run_on(backend, body, *tensors, *config)

        kernel = _kernels[key] = backend.fused(run, short)
    return kernel


def _bound_namespace(source, module_name, backend):
    """A copy of a module's globals with ``K`` bound, as the dict of a module
    registered in ``sys.modules``: torch.compile finds a function's globals by
    their ``__name__``, and must find these, not the facade's module."""
    name = module_name + "._bound_" + re.sub(r"\W", "_", backend.name)
    module = types.ModuleType(name)
    namespace = module.__dict__
    namespace.update(source)
    namespace.update(__name__=name, __spec__=None, K=backend)
    for attribute, value in source.items():
        if isinstance(value, types.FunctionType) and value.__globals__ is source:
            namespace[attribute] = _rebind(value, namespace)
    sys.modules[name] = module
    return namespace


def _rebind(fn, namespace):
    bound = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    bound.__kwdefaults__ = fn.__kwdefaults__
    bound.__qualname__, bound.__doc__ = fn.__qualname__, fn.__doc__
    bound.__dict__.update(fn.__dict__)
    return bound
