"""Options and fixtures shared by every test.

``backend``: the adapter of each installed backend in turn (``--backend``
restricts the run, repeatable). ``gpu``-marked tests skip cleanly where no
CUDA device is present.

``@pytest.mark.exists_if(predicate)``: ``predicate(params)`` (the test's
parameters by name; ``params["backend"]`` is the backend's name) says which
combinations exist. The others are deselected at collection: a combination
that cannot exist (gradients on NumPy, a torch-only property on jax) is not
generated, rather than reported as a skip. Skips are left for what a machine
lacks (a GPU, an uninstalled framework).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    # One JAX compilation cache for the whole run, on disk, shared by the
    # xdist workers and every subprocess a test starts (they inherit the
    # environment). Eager JAX compiles each primitive once per shape and dtype
    # (~25 ms on a CPU) and the processes of one run compile largely the same
    # ones; a hit costs ~5 ms. Every compile is cached, not only the slow ones.
    # Numerics are unchanged: a hit loads the very executable XLA built.
    # The controller made it and removes it (pytest_unconfigure).
    import tempfile

    os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE = tempfile.mkdtemp(prefix="lossbridge-jax-cache-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
else:
    _JAX_CACHE = None


def _quick_xla_codegen_flags():
    """XLA flags that make CPU compiles ~40% faster in this suite (measured:
    the JAX tests of test_loss_edges, test_metrics_compile and
    test_conformance, 126 s -> 79 s on a 2-core CPU), or "" where they are
    not known to exist. XLA compile time is most of a JAX test's time
    (``jax.monitoring``: 14 of 25 s of a Keras fit).

    What they change: code generation only. ``xla_backend_optimization_level=0``
    is LLVM's optimisation level and ``xla_cpu_use_fusion_emitters=false`` picks
    XLA's older emitter for fused loops; XLA's HLO passes (the rewrites of the
    math: algebraic simplification, fusion decisions) run as by default, and
    neither enables fast math, so results stay IEEE float results compared
    against float64 references. Users and ``benchmarks/`` run XLA's defaults.

    XLA aborts on a flag it does not know, and JAX is not pinned: only the
    jaxlib versions where these flags were checked get them (a newer one runs
    the suite at XLA's defaults, slower, until someone checks it). A user's
    own XLA_FLAGS choosing either option wins."""
    from importlib import metadata

    try:
        version = tuple(int(part) for part in metadata.version("jaxlib").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return ""
    if version != (0, 10):
        return ""
    mine = os.environ.get("XLA_FLAGS", "")
    flags = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false")
    return " ".join(flag for flag in flags if flag.split("=")[0] not in mine)


if os.environ.get("LOSSBRIDGE_TEST_XLA_DEFAULTS") != "1":  # set it to 1 to test at XLA's default codegen
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_quick_xla_codegen_flags()}".strip()

import pytest  # noqa: E402

import lossbridge  # noqa: E402,F401  (attaches lossbridge.backends in a source checkout)
from lossbridge import backends  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(
        "--backend",
        action="append",
        default=None,
        help="run backend-parametrised tests only on this backend (repeatable); default: every installed one",
    )


def selected_backends(config):
    chosen = config.getoption("--backend")
    here = [name for name in backends.installed() if name in backends.BUILTIN]
    if not chosen:
        return here
    unknown = [name for name in chosen if name not in backends.BUILTIN]
    if unknown:
        raise pytest.UsageError(f"--backend {unknown}: choose from {list(backends.BUILTIN)}")
    return [name for name in chosen if name in here]


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        names = selected_backends(metafunc.config)
        metafunc.parametrize("backend", names, indirect=True, ids=names)


@pytest.fixture
def backend(request):
    """The adapter instance (``lossbridge.backends.get(name)``)."""
    return backends.get(request.param)


def _cuda_available():
    try:
        import torch

        if torch.cuda.is_available():
            return True
    except ImportError:
        pass
    try:
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    except Exception:  # noqa: BLE001 - no jax, or no GPU plugin
        return False


def pytest_unconfigure(config):
    if _JAX_CACHE is not None:
        import shutil

        shutil.rmtree(_JAX_CACHE, ignore_errors=True)


def pytest_configure(config):
    config.addinivalue_line("markers", "exists_if(predicate): only the parameter combinations it accepts are generated")


def pytest_collection_modifyitems(config, items):
    dropped = []
    for item in items:
        params = dict(getattr(getattr(item, "callspec", None), "params", {}))
        if not all(marker.args[0](params) for marker in item.iter_markers("exists_if")):
            dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(map(id, dropped))
        items[:] = [item for item in items if id(item) not in gone]
    _schedule(items)
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if gpu_items and not _cuda_available():
        skip = pytest.mark.skip(reason="no CUDA device on this machine")
        for item in gpu_items:
            item.add_marker(skip)


def _schedule(items):
    """Order the files as pytest-xdist hands them out (``--dist=loadfile
    --no-loadscope-reorder``: whole files, in this order, each to the first
    worker that is free): longest first, so that the run ends on short files
    and both workers finish together. A long file says how long it takes
    (``@pytest.mark.slow(seconds=N)``, N measured on a 2-core CPU: an order,
    not a limit); the others follow by their count of tests, as xdist's own
    order has them. Within a file the slow tests come first.

    Measured on the 2-core CI machine: xdist's own order (by count of tests)
    left the file of the replica tests (~75 s) last, and one worker idle for
    the final ~65 s; starting every slow file at once instead ran five
    framework processes on two cores (11 min 13 s against 9 min 43 s)."""
    files, seconds = {}, {}
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        files.setdefault(path, []).append(item)
        for mark in item.iter_markers("slow"):
            seconds[path] = max(seconds.get(path, 0), mark.kwargs.get("seconds", 0))
    order = sorted(files, key=lambda path: (-seconds.get(path, 0), -len(files[path])))
    items[:] = [
        item for path in order for item in sorted(files[path], key=lambda item: item.get_closest_marker("slow") is None)
    ]


@pytest.fixture(autouse=True)
def _fresh_torch_compile_cache():
    """Each test starts with an empty torch.compile cache: test helpers compile
    the same nested function for many metrics and losses, and dynamo's
    recompilation bookkeeping across tests (one code object, many guards) has
    crashed inside torch while explaining a guard failure."""
    yield
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is not None:
        dynamo.reset()
