"""Make ``lossbridge.backends`` importable from a source checkout.

Installed (wheel or editable), ``backends/`` is mapped to
``lossbridge.backends`` by the package-dir entry in pyproject.toml. Run from
the repository root without installing, Python finds ``lossbridge/`` in the
working directory and nothing maps the sibling ``backends/`` folder, so this
registers it under its package name once.
"""

from __future__ import annotations

import importlib.util
import os
import sys


def attach_backends(package_dir: str) -> None:
    if "lossbridge.backends" in sys.modules or os.path.isdir(os.path.join(package_dir, "backends")):
        return
    if importlib.util.find_spec("lossbridge.backends") is not None:
        return  # an editable install's finder already maps it
    folder = os.path.join(os.path.dirname(package_dir), "backends")
    init = os.path.join(folder, "__init__.py")
    if not os.path.isfile(init):
        return
    spec = importlib.util.spec_from_file_location("lossbridge.backends", init, submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules["lossbridge.backends"] = module
    spec.loader.exec_module(module)
    # as an import of the subpackage would: `lossbridge.backends` is an attribute too
    sys.modules[__package__].backends = module
