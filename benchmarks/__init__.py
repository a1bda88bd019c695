"""Reproducible speed comparisons of lossbridge against hand-written formulas,
the frameworks' native losses and Keras 3 (``python -m benchmarks --help``).

Not timed tests: nothing here asserts a speed. See benchmarks/README.md.
"""
