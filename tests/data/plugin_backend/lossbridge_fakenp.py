"""A plugin backend: NumPy's adapter registered under another name."""

from lossbridge.backends.numpy import NumpyBackend


class FakeNumpyBackend(NumpyBackend):
    name = "fakenp"
    extra = ""
