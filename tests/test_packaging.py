"""Packaging (ARCHITECTURE.md, "Layers, and who may import what"): ``backends/`` ships as
``lossbridge.backends`` in a wheel and in an editable install, nothing named
plain ``backends`` is installed, and third-party backends are found through
the ``lossbridge.backends`` entry-point group. The sdist carries the license,
the metadata and the complete test suite, which collects from the unpacked
archive.

Everything is built offline from a copy of the sources (so no build output
lands in the checkout) into throwaway virtual environments that see this
interpreter's packages (numpy, frameworks) through a ``.pth`` line, but not
any lossbridge installed here.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from lossbridge import backends

pytestmark = pytest.mark.slow(seconds=20)  # builds and installs: scheduled early (conftest.py)

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = Path(__file__).resolve().parent / "data" / "plugin_backend"
SOURCES = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "MANIFEST.in",
    "conftest.py",
    "lossbridge",
    "backends",
    "tests",
    "benchmarks",
)
#: the adapter to import: torch where installed (the issue's example), else NumPy
ADAPTER = "torch" if "torch" in backends.installed() else "numpy"


def run(*command, cwd):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def copy_sources(destination):
    """The files a build needs, without caches or build output."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", ".hypothesis")
    destination.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        else:
            shutil.copy2(source, destination / name)
    return destination


def make_venv(path):
    """A venv without pip (this interpreter's pip installs into it) whose
    sys.path ends with this interpreter's site-packages."""
    run(sys.executable, "-m", "venv", "--without-pip", str(path), cwd=path.parent)
    python = path / "bin" / "python"
    purelib = run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=path).strip()
    ours = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    Path(purelib, "zz_host_packages.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    return python


def pip_install(python, *arguments, cwd):
    run(sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
        "--no-build-isolation", *map(str, arguments), cwd=cwd)  # fmt: skip


@pytest.fixture(scope="session")  # built once (xdist: --dist=loadfile)
def build_requirements():
    pytest.importorskip("setuptools", reason="--no-build-isolation builds need setuptools installed")


@pytest.fixture(scope="session")  # built once (xdist: --dist=loadfile)
def wheel(tmp_path_factory, build_requirements):
    """The lossbridge wheel built from a copy of the sources."""
    work = tmp_path_factory.mktemp("wheel")
    source = copy_sources(work / "src")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index", "--no-build-isolation",
        "-w", str(work / "dist"), str(source), cwd=work)  # fmt: skip
    (found,) = (work / "dist").glob("lossbridge-*.whl")
    return found


@pytest.fixture(scope="session")  # built once (xdist: --dist=loadfile)
def installed(tmp_path_factory, wheel):
    """A venv with the wheel and the plugin distribution installed."""
    work = tmp_path_factory.mktemp("venv")
    python = make_venv(work / "venv")
    plugin = work / "plugin"
    shutil.copytree(PLUGIN, plugin, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    pip_install(python, wheel, plugin, cwd=work)
    return python


def python_in(python, code, cwd):
    return run(str(python), "-c", code, cwd=cwd).strip().splitlines()


def test_wheel_ships_backends_inside_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert not [name for name in names if name.startswith("backends/")]
    assert not [name for name in names if name.startswith("tests/")]
    for adapter in ("__init__", "base", "numpy", "torch", "jax", "tensorflow"):
        assert f"lossbridge/backends/{adapter}.py" in names
    assert "lossbridge/losses/__init__.py" in names


def test_wheel_install_imports_the_adapter(installed, tmp_path):
    lines = python_in(
        installed,
        f"import importlib.util, lossbridge, lossbridge.backends.{ADAPTER} as adapter\n"
        "print(lossbridge.__file__)\nprint(adapter.__file__)\n"
        "print(importlib.util.find_spec('backends'))",
        cwd=tmp_path,
    )
    venv = installed.parent.parent
    assert Path(lines[0]).is_relative_to(venv) and Path(lines[1]).is_relative_to(venv)
    assert lines[1].endswith(f"lossbridge/backends/{ADAPTER}.py")
    assert lines[2] == "None"  # no top-level `backends` package


def test_plugin_backend_is_found_by_name(installed, tmp_path):
    lines = python_in(
        installed,
        "import numpy as np, lossbridge, lossbridge.backends as b\n"
        "print('fakenp' in b.registered(), 'fakenp' in b.installed())\n"
        "plugin = b.get('fakenp')\n"
        "print(type(plugin).__name__, plugin.name)\n"
        "with lossbridge.use_backend('fakenp'):\n"
        "    print(lossbridge.get_backend(), lossbridge.losses.mean_squared_error([[1.0, 3.0]], [[0.0, 0.0]]))",
        cwd=tmp_path,
    )
    assert lines == ["True True", "FakeNumpyBackend fakenp", "fakenp [5.]"]


def test_editable_install_maps_backends(tmp_path_factory, build_requirements):
    work = tmp_path_factory.mktemp("editable")
    source = copy_sources(work / "src")
    python = make_venv(work / "venv")
    pip_install(python, "-e", source, cwd=work)
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    lines = python_in(
        python,
        f"import importlib.util, lossbridge.backends.{ADAPTER} as adapter\n"
        "print(adapter.__file__)\nprint(importlib.util.find_spec('backends'))",
        cwd=elsewhere,
    )
    assert Path(lines[0]) == source / "backends" / f"{ADAPTER}.py"
    assert lines[1] == "None"


# ------------------------------------------------------------------ the sdist
@pytest.fixture(scope="session")  # built once (xdist: --dist=loadfile)
def sdist(tmp_path_factory, build_requirements):
    """``(path, member names)`` of the sdist built by ``build`` from a copy of the sources."""
    pytest.importorskip("build", reason="the sdist is built with the `build` package")
    work = tmp_path_factory.mktemp("sdist")
    source = copy_sources(work / "src")
    run(sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(work / "dist"), source, cwd=work)
    (found,) = (work / "dist").glob("lossbridge-*.tar.gz")
    with tarfile.open(found) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    return found, names


def _suite_files():
    """What the suite needs to run: conftest.py and everything under tests/ but caches."""
    files = [ROOT / "conftest.py", *(p for p in (ROOT / "tests").rglob("*") if p.is_file())]
    cached = ("__pycache__", ".hypothesis", ".pytest_cache")
    return sorted(str(p.relative_to(ROOT)) for p in files if not any(part in cached for part in p.parts))


def test_sdist_ships_the_complete_suite_and_the_license(sdist):
    _, names = sdist
    needed = {"LICENSE", "README.md", "pyproject.toml", "conftest.py", "tests/__init__.py", "tests/helpers.py",
              "tests/reference.py", "tests/data/plugin_backend/pyproject.toml", "lossbridge/__init__.py",
              "backends/torch.py"}  # fmt: skip
    assert needed <= set(names), sorted(needed - set(names))
    missing = sorted(set(_suite_files()) - set(names))
    assert not missing, f"suite files left out of the sdist: {missing}"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_sdist_metadata_names_the_license_version_and_urls(sdist):
    import lossbridge

    path, _ = sdist
    with tarfile.open(path) as archive:
        (info,) = [m for m in archive.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")]
        metadata = archive.extractfile(info).read().decode()
        license_text = archive.extractfile(info.name.replace("PKG-INFO", "LICENSE")).read().decode()
    fields = [line.split(": ", 1) for line in metadata.split("\n\n", 1)[0].splitlines() if ": " in line]
    assert ["Version", lossbridge.__version__] in fields  # one source: lossbridge.__version__
    assert ["License-Expression", "Apache-2.0"] in fields and ["License-File", "LICENSE"] in fields
    assert ["Project-URL", "Source, https://github.com/lossbridge/lossbridge"] in fields
    assert any(key == "Classifier" and value.startswith("Programming Language :: Python :: 3") for key, value in fields)
    assert any(key == "Keywords" and "keras" in value for key, value in fields)
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text


def test_suite_collects_from_the_unpacked_sdist(sdist, tmp_path):
    """Every test module imports and collects from the archive alone (nothing
    from this checkout on the path)."""
    path, _ = sdist
    with tarfile.open(path) as archive:
        archive.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.glob("lossbridge-*")
    out = run(sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests", cwd=unpacked)
    assert "error" not in out.strip().splitlines()[-1].lower(), out[-2000:]
    modules = {line.split("::", 1)[0] for line in out.splitlines() if "::" in line}
    expected = {name for name in _suite_files() if Path(name).name.startswith("test_")}
    assert modules == expected, sorted(modules ^ expected)


def test_lossbridge_warnings_are_errors_in_the_test_run():
    """pyproject.toml's filterwarnings: a warning lossbridge gives where no test
    expects it (pytest.warns) fails the run (issue 18)."""
    import warnings

    from lossbridge import LossbridgeRuntimeWarning, LossbridgeWarning

    for category in (LossbridgeWarning, LossbridgeRuntimeWarning):
        with pytest.raises(category):
            warnings.warn("unexpected", category, stacklevel=1)
