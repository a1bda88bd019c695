"""pytest plugin: run a test once per installed lossbridge backend.

Installed with lossbridge (entry point ``pytest11: lossbridge``), so any
project's tests can write::

    def test_my_loss(lossbridge_backend):
        y = lossbridge_backend.convert_to_tensor(np.ones((2, 3)))
        ...

``lossbridge_backend`` is the adapter instance (``lossbridge.backends.get``)
of each installed backend in turn; ``--lossbridge-backend NAME`` (repeatable,
or comma-separated) restricts the run, and a named backend that is not
installed skips with the pip extra to install. Without installing lossbridge,
load the plugin with ``pytest -p lossbridge.testing.plugin``.

The names are prefixed so that they never clash with a project's own
``--backend`` option or ``backend`` fixture (lossbridge's own test suite has
both).
"""

from __future__ import annotations

import pytest

OPTION = "--lossbridge-backend"


def pytest_addoption(parser):
    group = parser.getgroup("lossbridge")
    group.addoption(
        OPTION,
        action="append",
        default=None,
        metavar="NAME",
        help="run lossbridge_backend tests on this backend only (repeatable or comma-separated; "
        "default: every installed backend)",
    )


def pytest_configure(config):
    _params(config)  # an unknown name is a usage error before collection starts


def _params(config):
    """``pytest.param`` per selected backend; an uninstalled one is skipped."""
    from lossbridge import backends

    installed = backends.installed()
    chosen = [name.strip() for value in config.getoption(OPTION) or [] for name in value.split(",") if name.strip()]
    if not chosen:
        return [pytest.param(name, id=name) for name in installed]
    params = []
    for name in chosen:
        canonical = backends.ALIASES.get(name, name)
        if any(param.values[0] == canonical for param in params):
            continue
        if canonical not in backends.registered():
            raise pytest.UsageError(
                f"{OPTION} {name!r}: unknown backend; registered backends: {', '.join(backends.registered())}"
            )
        if canonical in installed:
            params.append(pytest.param(canonical, id=canonical))
        else:
            extra = backends.BUILTIN.get(canonical, ("", "", canonical))[2]
            reason = f"backend {canonical!r} is not installed here; pip install 'lossbridge[{extra}]'"
            params.append(pytest.param(canonical, id=canonical, marks=pytest.mark.skip(reason=reason)))
    return params


def pytest_generate_tests(metafunc):
    if "lossbridge_backend" in metafunc.fixturenames:
        metafunc.parametrize("lossbridge_backend", _params(metafunc.config), indirect=True)


@pytest.fixture
def lossbridge_backend(request):
    """The lossbridge backend adapter of this test's parameter."""
    from lossbridge import backends

    return backends.get(request.param)


def pytest_report_header(config):
    from lossbridge import backends

    return f"lossbridge backends installed: {', '.join(backends.installed())}"
