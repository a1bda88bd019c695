"""Which backend runs a call (ARCHITECTURE.md, "Which backend runs a call"):
detection from the inputs, forcing by environment, ``set_backend`` and
``use_backend`` (thread- and task-local), conversion of foreign tensors, and
the errors for mixed frameworks, unknown names and missing frameworks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import lossbridge
from lossbridge import backends, dispatch, losses
from tests.helpers import beyond_numpy, native_type, to_backend, to_numpy

ROOT = Path(__file__).resolve().parents[1]
STRONG = [name for name in ("torch", "jax", "tensorflow", "mlx") if name in backends.installed()]
Y_TRUE = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]], np.float32)
Y_PRED = np.array([[0.5, 1.0, 1.0], [1.0, 3.0, 1.0]], np.float32)
MSE = [(0.25 + 0 + 1) / 3, 4 / 3]  # by hand


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter at the repository root; its stdout."""
    environment = {key: value for key, value in os.environ.items() if key != "LOSSBRIDGE_BACKEND"}
    environment.update(TF_CPP_MIN_LOG_LEVEL="2", **env)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# ---------------------------------------------------------------- detection
@pytest.mark.parametrize("weak", ["numpy", "list", "scalar"])
def test_strong_input_decides_and_weak_follows(backend, weak):
    weak_true = {"numpy": Y_TRUE, "list": Y_TRUE.tolist(), "scalar": 1.0}[weak]
    result = losses.mean_squared_error(weak_true, to_backend(backend, Y_PRED))
    assert isinstance(result, native_type(backend))
    expected = MSE if weak != "scalar" else np.mean((Y_PRED - 1.0) ** 2, axis=-1)
    np.testing.assert_allclose(to_numpy(backend, result), expected, rtol=1e-6)
    flipped = losses.mean_squared_error(to_backend(backend, Y_TRUE), Y_PRED)
    assert isinstance(flipped, native_type(backend))


def test_all_weak_inputs_run_on_numpy():
    for y_true, y_pred in [(Y_TRUE, Y_PRED), (Y_TRUE.tolist(), Y_PRED.tolist()), (Y_TRUE.tolist(), Y_PRED)]:
        result = losses.mean_squared_error(y_true, y_pred)
        assert isinstance(result, np.ndarray) and result.dtype == np.float32
        np.testing.assert_allclose(result, MSE, rtol=1e-6)


def test_resolve_returns_the_backend_and_converted_values(backend):
    strong = to_backend(backend, Y_PRED)
    chosen, (weak, same) = dispatch.resolve(("y_true", "y_pred"), (Y_TRUE, strong))
    assert chosen is backend
    assert same is strong  # never convert what is already the right type
    assert backend.is_tensor(weak)
    assert backend.device(weak) == backend.device(strong)


def test_detection_caches_per_type(backend):
    strong = to_backend(backend, Y_PRED)
    expected = None if backend.name == "numpy" else backend
    assert dispatch.owner(strong) is expected
    assert dispatch._owner_by_type[type(strong)] is expected


@pytest.mark.gpu
def test_weak_input_moves_to_the_strong_inputs_gpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    result = losses.mean_squared_error(Y_TRUE, torch.as_tensor(Y_PRED, device="cuda"))
    assert result.device.type == "cuda"


# ---------------------------------------------------------------- forcing
def test_use_backend_converts_every_input(backend):
    with lossbridge.use_backend(backend.name):
        assert lossbridge.get_backend() == backend.name
        result = losses.mean_squared_error(Y_TRUE, Y_PRED)
    assert isinstance(result, native_type(backend))
    np.testing.assert_allclose(to_numpy(backend, result), MSE, rtol=1e-6)
    assert lossbridge.get_backend() == "auto"
    assert isinstance(losses.mean_squared_error(Y_TRUE, Y_PRED), np.ndarray)


def test_set_backend_forces_until_reset(backend):
    try:
        lossbridge.set_backend(backend.name)
        assert lossbridge.get_backend() == backend.name
        assert isinstance(losses.mean_squared_error(Y_TRUE, Y_PRED), native_type(backend))
    finally:
        lossbridge.set_backend("auto")
    assert lossbridge.get_backend() == "auto"


def test_use_backend_wins_over_set_backend(backend):
    try:
        lossbridge.set_backend("numpy")
        with lossbridge.use_backend(backend.name):
            assert isinstance(losses.mean_squared_error(Y_TRUE, Y_PRED), native_type(backend))
        assert isinstance(losses.mean_squared_error(Y_TRUE, Y_PRED), np.ndarray)
    finally:
        lossbridge.set_backend(None)


@pytest.mark.parametrize("source", STRONG)
def test_forced_backend_converts_foreign_tensors(backend, source):
    source_backend = backends.get(source)
    y_true, y_pred = to_backend(source_backend, Y_TRUE), to_backend(source_backend, Y_PRED)
    with lossbridge.use_backend(backend.name):
        result = losses.mean_squared_error(y_true, y_pred)
    assert isinstance(result, native_type(backend))
    np.testing.assert_allclose(to_numpy(backend, result), MSE, rtol=1e-6)


def test_jax_array_reaches_torch_through_dlpack_without_a_copy():
    if not {"torch", "jax"} <= set(STRONG):
        pytest.skip("needs torch and jax")
    import jax.numpy as jnp

    source = jnp.arange(12.0).reshape(3, 4)
    moved = backends.get("torch").from_foreign(source, backends.get("jax"))
    assert moved.data_ptr() == source.unsafe_buffer_pointer()
    np.testing.assert_array_equal(moved.numpy(), np.arange(12.0).reshape(3, 4))


def test_use_backend_is_thread_local(backend):
    """Two threads inside different use_backend blocks at the same time each
    see their own backend."""
    barrier = threading.Barrier(2, timeout=30)
    seen = {}

    def work(name):
        with lossbridge.use_backend(name):
            barrier.wait()  # both scopes are open now
            result = losses.mean_squared_error(Y_TRUE, Y_PRED)
            seen[name] = (lossbridge.get_backend(), type(result))
            barrier.wait()

    other = "numpy" if backend.name != "numpy" else (STRONG or ["numpy"])[0]
    threads = [threading.Thread(target=work, args=(name,)) for name in (backend.name, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen[backend.name][0] == backend.name
    assert issubclass(seen[backend.name][1], native_type(backend))
    assert seen[other][0] == other
    assert lossbridge.get_backend() == "auto"


def test_use_backend_is_task_local(backend):
    """asyncio tasks interleaving inside different use_backend blocks."""

    async def work(name):
        with lossbridge.use_backend(name):
            await asyncio.sleep(0)  # let the other task enter its own block
            result = losses.mean_squared_error(Y_TRUE, Y_PRED)
            await asyncio.sleep(0)
            return lossbridge.get_backend(), type(result)

    async def both():
        return await asyncio.gather(work(backend.name), work("numpy"))

    (mine, mine_type), (numpy_name, numpy_type) = asyncio.run(both())
    assert mine == backend.name and issubclass(mine_type, native_type(backend))
    assert numpy_name == "numpy" and issubclass(numpy_type, np.ndarray)


def test_environment_variable_forces_the_backend():
    if "torch" not in STRONG:
        pytest.skip("needs torch")
    code = (
        "import numpy as np, lossbridge.losses as L\n"
        "out = L.mean_squared_error(np.ones((2, 3)), np.zeros((2, 3)))\n"
        "print(type(out).__module__, type(out).__name__, out.tolist())"
    )
    assert run_python(code, LOSSBRIDGE_BACKEND="torch").split() == ["torch", "Tensor", "[1.0,", "1.0]"]


# ---------------------------------------------------------------- errors
@pytest.mark.exists_if(lambda p: p["backend"] not in ("numpy", p["other"]))  # two different strong frameworks
@pytest.mark.parametrize("other", STRONG)
def test_mixed_frameworks_name_both_and_the_fix(backend, other):
    y_true, y_pred = to_backend(backend, Y_TRUE), to_backend(backends.get(other), Y_PRED)
    with pytest.raises(TypeError) as info:
        losses.mean_squared_error(y_true, y_pred)
    message = str(info.value)
    assert backend.name in message and other in message
    assert "y_true" in message and "y_pred" in message and "use_backend" in message


def test_unknown_backend_lists_registered_and_installed():
    for attempt in (lambda: backends.get("nosuch"), lambda: lossbridge.set_backend("nosuch")):
        with pytest.raises(ValueError, match="unknown backend 'nosuch'") as info:
            attempt()
        message = str(info.value)
        assert "registered" in message and "installed" in message
        assert all(name in message for name in backends.BUILTIN)
    with pytest.raises(ValueError, match="nosuch"), lossbridge.use_backend("nosuch"):
        pass
    assert lossbridge.get_backend() == "auto"


def test_aliases_of_backend_names():
    assert backends.get("np") is backends.get("numpy")
    for alias, name in (("pytorch", "torch"), ("tf", "tensorflow")):
        if name in backends.installed():
            assert backends.get(alias) is backends.get(name)


def test_missing_framework_names_the_pip_extra():
    """Each framework hidden (``sys.modules[name] = None`` makes its import
    fail) in a fresh interpreter."""
    code = (
        "import sys\n"
        "for name in ('torch', 'jax', 'tensorflow'):\n"
        "    sys.modules[name] = None\n"
        "import lossbridge, lossbridge.backends as b\n"
        "for name in ('torch', 'jax', 'tensorflow'):\n"
        "    try:\n"
        "        b.get(name)\n"
        "    except ImportError as error:\n"
        "        print(name, '|', error)\n"
        "try:\n"
        "    lossbridge.use_backend('torch').__enter__()\n"
        "except ImportError as error:\n"
        "    print('use_backend |', error)\n"
    )
    lines = dict(line.split(" | ", 1) for line in run_python(code).splitlines())
    for name in ("torch", "jax", "tensorflow"):
        assert f"pip install 'lossbridge[{name}]'" in lines[name]
        assert f"backend {name!r} needs {name}" in lines[name]
    assert "lossbridge[torch]" in lines["use_backend"]


def test_numpy_inputs_import_no_framework():
    code = (
        "import sys, numpy as np\n"
        "import lossbridge\n"
        "from lossbridge import losses, K, dispatch\n"
        "losses.mean_squared_error(np.ones((2, 3)), [[0.0, 1.0, 2.0]] * 2)\n"
        "losses.get('bce')(np.ones((2, 3)), np.full((2, 3), 0.5))\n"
        "dispatch.run_on(dispatch.default_backend(), lambda: K.mean(np.ones(3)))\n"
        "lossbridge.backends.installed(); lossbridge.backends.registered()\n"
        "print(sorted(m for m in ('torch', 'jax', 'jaxlib', 'tensorflow', 'keras') if m in sys.modules))"
    )
    assert run_python(code).strip() == "[]"


@pytest.mark.parametrize("source", STRONG)
def test_misaligned_foreign_buffers_are_safe(backend, source):
    """A view at an odd offset (4 bytes past a 64-byte boundary) crosses
    frameworks intact; TensorFlow kernels abort on such a buffer shared as is."""
    raw = np.zeros(4 * 20 + 64, np.uint8)
    start = (-raw.ctypes.data) % 64 + 4
    values = raw[start : start + 4 * 12].view(np.float32).reshape(2, 6)
    values[:] = np.arange(12).reshape(2, 6)
    if source == "torch":
        import torch

        foreign = torch.from_numpy(values)
    else:
        foreign = to_backend(backends.get(source), values)
    moved = backend.from_foreign(foreign, backends.get(source)) if backend.name != source else foreign
    total = dispatch.run_on(backend, lambda: lossbridge.K.sum(moved - 1.0, axis=-1))
    np.testing.assert_array_equal(to_numpy(backend, total), [15.0 - 6.0, 51.0 - 6.0])


# ---------------------------------------------------------------- names, the environment, generators
def _runs_on():
    """The framework a loss call on NumPy inputs runs on, read from its result."""
    result = losses.mean_squared_error(Y_TRUE, Y_PRED)
    return next(name for name in backends.installed() if isinstance(result, native_type(backends.get(name))))


@pytest.mark.parametrize("bad", [["torch"], ("jax",), 3, b"torch"])
def test_backend_names_that_are_not_strings_are_a_type_error(bad):
    for attempt, function in ((lossbridge.set_backend, "set_backend"), (lossbridge.use_backend, "use_backend")):
        with pytest.raises(TypeError) as info:
            with contextlib.ExitStack() as stack:
                stack.enter_context(attempt(bad)) if function == "use_backend" else attempt(bad)
        message = str(info.value)
        assert f"`name` of {function}()" in message and "a str such as 'torch'" in message, message
        assert dispatch.describe(bad) in message, message
    assert lossbridge.get_backend() == "auto"


def test_backend_names_are_case_insensitive(backend):
    upper, title = backend.name.upper(), backend.name.title()
    with lossbridge.use_backend(title):
        assert lossbridge.get_backend() == backend.name
    try:
        lossbridge.set_backend(upper)
        assert lossbridge.get_backend() == backend.name
        lossbridge.set_backend(" AUTO ")
        assert lossbridge.get_backend() == "auto"
    finally:
        lossbridge.set_backend(None)


def test_unknown_environment_backend_names_the_variable():
    code = (
        "import numpy as np, lossbridge.losses as L\n"
        "try:\n"
        "    L.mean_squared_error(np.ones((2, 3)), np.zeros((2, 3)))\n"
        "except ValueError as error:\n"
        "    print(error)\n"
    )
    message = run_python(code, LOSSBRIDGE_BACKEND="bogus")
    assert "LOSSBRIDGE_BACKEND='bogus'" in message and "unknown backend 'bogus'" in message, message


@beyond_numpy  # needs a strong framework to force
def test_a_suspended_generator_does_not_force_its_consumer(backend):
    seen = []

    def generator():
        with lossbridge.use_backend(backend.name):
            for _ in range(2):
                seen.append(_runs_on())
                yield lossbridge.get_backend()

    items = generator()
    assert next(items) == backend.name
    assert _runs_on() == "numpy" and lossbridge.get_backend() == "auto"  # leaked before
    assert next(items) == backend.name
    assert _runs_on() == "numpy"
    items.close()
    assert seen == [backend.name] * 2


def test_a_consumers_own_scope_applies_while_a_generator_is_suspended(backend):
    def generator():
        with lossbridge.use_backend(backend.name):
            yield lossbridge.get_backend()

    with lossbridge.use_backend("numpy"):
        items = generator()
        assert next(items) == backend.name
        assert lossbridge.get_backend() == "numpy"
    assert lossbridge.get_backend() == "auto"
    items.close()  # after the consumer's block: closing must not bring that block back
    assert lossbridge.get_backend() == "auto"
    with lossbridge.use_backend("numpy"):
        items = generator()
        next(items)
        with lossbridge.use_backend(backend.name):
            items.close()  # inside a newer block of the consumer: that block stays
            assert lossbridge.get_backend() == backend.name
        assert lossbridge.get_backend() == "numpy"


def test_a_context_manager_generator_forces_its_callers_block(backend):
    @contextlib.contextmanager
    def on_backend():
        with lossbridge.use_backend(backend.name):
            yield

    with on_backend():
        assert lossbridge.get_backend() == backend.name
        assert _runs_on() == backend.name
    assert lossbridge.get_backend() == "auto"

    def generator():  # a plain generator around the context manager is again its own
        with on_backend():
            yield lossbridge.get_backend()

    items = generator()
    assert next(items) == backend.name
    assert lossbridge.get_backend() == "auto"
    items.close()


def test_an_async_generator_does_not_force_its_consumer(backend):
    async def generator():
        with lossbridge.use_backend(backend.name):
            yield lossbridge.get_backend()
            yield lossbridge.get_backend()

    async def consume():
        seen = []
        async for name in generator():
            seen.append((name, lossbridge.get_backend()))
        return seen

    assert asyncio.run(consume()) == [(backend.name, "auto")] * 2


# ------------------------------------------------ the NumPy return convention
def _numpy_results():
    """(label, result) of every registered loss class (every reduction), loss
    function, metric class and metric function, on NumPy inputs."""
    from lossbridge import metrics
    from lossbridge.losses.registry import LOSSES
    from lossbridge.metrics.registry import METRICS
    from lossbridge.testing.cases import cases_for, random_example

    rng = np.random.default_rng(0)
    for registry in (LOSSES, METRICS):
        for name, obj in sorted({**registry.classes, **registry.functions}.items()):
            for case in cases_for(name)[:1]:
                inputs = random_example(case.kind, rng)  # (values,) or (y_true, y_pred)
                if isinstance(obj, type) and registry is LOSSES:
                    for reduction in ("sum_over_batch_size", "sum", "none"):
                        yield f"{name}({reduction})", obj(reduction=reduction, **case.options)(*inputs)
                elif isinstance(obj, type):
                    metric = obj(**case.options)
                    metric.update_state(*inputs)
                    yield name, metric.result()
                else:
                    yield name, obj(*inputs, **case.options)
    yield "Mean()", metrics.Mean()(np.array([1.0, 2.0], np.float32))


def test_numpy_results_are_arrays_never_numpy_scalars():
    """On NumPy a result is an np.ndarray, 0-d for a scalar (README, "What you get
    back"): losses used to return np.float32 scalars while metrics returned 0-d
    arrays. Every registered loss and metric, class and function, is checked."""
    seen = 0
    for label, result in _numpy_results():
        assert type(result) is np.ndarray, f"{label} returned {type(result).__name__}, not np.ndarray"
        seen += 1
    assert seen > 150  # the whole catalogue ran, not an empty loop
    assert losses.MeanSquaredError()(Y_TRUE, Y_PRED).shape == ()
    np.testing.assert_allclose(losses.MeanSquaredError()(Y_TRUE, Y_PRED), np.mean(MSE), rtol=1e-6)


# ---------------------------------------------------------------- wide integers
def test_wide_numpy_ids_are_kept_or_refused_never_wrapped_into_range(backend):
    """JAX without x64 narrows a NumPy int64 (uint64) array to 32 bits by
    wrapping it (2**32 + 1 becomes 1, silently); the other backends hold 64
    bits. A label of 2**32 + 1 beside the backend's predictions is kept, out
    of range (the accuracy refuses it, MeanIoU leaves its pixel out), or
    refused where it is converted, naming the input; never counted as 1."""
    from lossbridge import metrics

    scores = to_backend(backend, np.array([[0.1, 0.8, 0.1], [0.9, 0.05, 0.05]], np.float32))
    predicted_ids = to_backend(backend, np.array([2, 0], np.int32))
    narrows = backend.name == "jax" and backend.accumulator_dtype != "float64"
    for dtype in (np.int64, np.uint64):
        labels = np.array([2**32 + 1, 0], dtype)
        if narrows:
            refused = r"`y_true`: a NumPy u?int64 array of shape \(2,\) holding 4294967297 .* wrap it to 1"
            with pytest.raises(ValueError, match=refused):
                metrics.SparseCategoricalAccuracy()(labels, scores)
            with pytest.raises(ValueError, match=refused):
                losses.sparse_categorical_crossentropy(labels, scores)
            with pytest.raises(ValueError, match=refused):
                metrics.MeanIoU(num_classes=3)(labels, predicted_ids)
            continue
        with pytest.raises(ValueError, match="outside"):
            metrics.SparseCategoricalAccuracy()(labels, scores)
        # only the pixel (0, 0) counts: IoU 1 for class 0, the only class present (wrapped: 1/3)
        value = float(to_numpy(backend, metrics.MeanIoU(num_classes=3)(labels, predicted_ids)))
        assert value == pytest.approx(1.0, abs=1e-6)
    # a float target converts on the host and keeps the value
    wide = np.array([2**40, 0], np.int64)
    conversions = [backend.convert_to_tensor(wide, dtype="float32")]
    if backend.name == "jax":  # its cast takes host data too
        conversions.append(backend.cast(wide, "float32"))
    for converted in conversions:
        np.testing.assert_array_equal(to_numpy(backend, converted), [2.0**40, 0.0])


@pytest.mark.exists_if(lambda params: params["backend"] not in ("numpy", "jax") and "jax" in backends.installed())
def test_wide_foreign_ints_brought_to_jax_without_x64_are_refused_not_wrapped(backend):
    """Under ``use_backend("jax")`` another framework's int64 tensor comes
    over DLPack, which without x64 wraps 2**32 + 1 to 1 as jnp.asarray does:
    such a tensor is refused, naming the input; ids that fit come over."""
    from lossbridge import metrics

    jax_backend = backends.get("jax")
    if jax_backend.accumulator_dtype == "float64":
        pytest.skip("this run has jax_enable_x64 on: JAX holds int64")
    predicted = to_backend(backend, np.array([2, 0], np.int64))
    with lossbridge.use_backend("jax"):
        with pytest.raises(ValueError, match=r"`y_true`: .* holding 4294967297 .* wrap it to 1"):
            metrics.MeanIoU(num_classes=3)(to_backend(backend, np.array([2**32 + 1, 0], np.int64)), predicted)
        # both pixels count: class 2 predicted for class 1 (IoU 0), class 0 right (IoU 1): mean 1/3, by hand
        value = metrics.MeanIoU(num_classes=3)(to_backend(backend, np.array([1, 0], np.int64)), predicted)
    assert float(to_numpy(jax_backend, value)) == pytest.approx(1 / 3, abs=1e-6)
