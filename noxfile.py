"""nox sessions (ARCHITECTURE.md): the suite once per backend with only that
framework installed, all backends together, lint and the benchmarks.

    nox -s tests-torch          # torch alone (+ NumPy), tests run with --backend torch
    nox -s tests-all lint       # every framework; ruff
    nox -s tests-jax -- -x -q   # extra arguments go to pytest

Every install is pinned by .ci/constraints.txt (the CPU torch wheel).
"""

from __future__ import annotations

import re
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests-all"]

CONSTRAINTS = ("-c", ".ci/constraints.txt")
#: backend -> the extra that installs its framework ("" for NumPy)
BACKENDS = {"numpy": "", "torch": "torch", "jax": "jax", "tensorflow": "tensorflow"}
#: test requirements that install a framework of their own, and which one
PULLS_FRAMEWORK = {"optax": "jax", "lightning": "torch", "torchmetrics": "torch"}


def test_requirements(backend=None):
    """The ``test`` extra of pyproject.toml, less anything that would install
    a framework other than ``backend``'s (optax brings jax). setuptools is
    added for the packaging tests' --no-build-isolation builds."""
    text = Path(__file__).with_name("pyproject.toml").read_text()
    listed = re.search(r"^test = \[(.*?)\]", text, re.MULTILINE | re.DOTALL).group(1)
    requirements = re.findall(r'"([^"]+)"', listed)

    def allowed(requirement):
        name = re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()
        return backend is None or PULLS_FRAMEWORK.get(name, backend) == backend

    return [requirement for requirement in requirements if allowed(requirement)] + ["setuptools>=68"]


def run_tests(session, backend):
    extra = BACKENDS[backend]
    target = f".[{extra}]" if extra else "."
    session.install(*CONSTRAINTS, "-e", target, *test_requirements(backend))
    session.run("python", "-m", "pytest", "--backend", backend, *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "2"})


def _backend_session(backend):
    def tests(session):
        run_tests(session, backend)

    tests.__doc__ = f"The test suite on {backend} (only that framework installed)."
    return nox.session(name=f"tests-{backend}")(tests)


for _backend in BACKENDS:
    _backend_session(_backend)


@nox.session(name="tests-all")
def tests_all(session):
    """The test suite on every backend at once, as CI runs it."""
    session.install(*CONSTRAINTS, "-e", ".[all,test,plot]", "setuptools>=68")
    session.run("python", "-m", "pytest", *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "2"})


@nox.session
def lint(session):
    """ruff over the repository (configuration in pyproject.toml)."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".", *session.posargs)


@nox.session
def bench(session):
    """The benchmarks: every loss against its hand-written formula, the
    framework's native op and Keras 3 (``python -m benchmarks``)."""
    session.install(*CONSTRAINTS, "-e", ".[all,report]", "keras>=3.3", "optax>=0.2")
    session.run("python", "-m", "benchmarks", *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "2"})


# ---------------------------------------------------------------- issue 16: adapters beyond the four
@nox.session(name="conformance")
def conformance(session):
    """The adapter conformance kit on every built-in backend (operations) and on
    array-api-strict and MLX (the whole catalogue), plus its own tests."""
    session.install(*CONSTRAINTS, "-e", ".[all,array-api]", *test_requirements())  # all includes mlx
    session.run(
        "python", "-m", "pytest", "tests/test_conformance.py", *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "2"}
    )


@nox.session(name="plugin")
def plugin(session):
    """The example third-party plugin (examples/plugin): installed, selected by
    name, run through the kit; a broken plugin; an unsupported array type."""
    session.install(*CONSTRAINTS, "-e", ".", *test_requirements("numpy"))
    session.run("python", "-m", "pytest", "tests/test_plugins.py", *session.posargs)


@nox.session(name="array-api-strict")
def array_api_strict(session):
    """The generic Array API adapter on array-api-strict: the whole kit, from the
    command line and from the tests (NumPy is the only other array library)."""
    session.install(*CONSTRAINTS, "-e", ".[array-api]", *test_requirements("numpy"))
    session.run("python", "-m", "lossbridge", "check-backend", "array_api:array_api_strict", "--failures-only")
    session.run("python", "-m", "pytest", "tests/test_conformance.py", "--backend", "numpy", *session.posargs)


@nox.session(name="dask")
def dask(session):
    """Dask through the generic Array API adapter (lazy losses and metrics) and
    lossbridge.integrations.dask."""
    session.install(*CONSTRAINTS, "-e", ".[array-api,dask]", *test_requirements("numpy"))
    session.run(
        "python", "-m", "pytest", "tests/test_array_api_dask.py", "tests/test_dask_integration.py", "--backend",
        "numpy", *session.posargs,
    )  # fmt: skip


@nox.session(name="mlx")
def mlx(session):
    """MLX (mlx[cpu] on Linux): the whole conformance kit, operations and the
    loss and metric catalogue with gradients and mx.compile."""
    session.install(*CONSTRAINTS, "-e", ".[mlx,array-api]", *test_requirements("numpy"))
    session.run("python", "-m", "pytest", "tests/test_conformance.py", "--backend", "mlx", *session.posargs)
