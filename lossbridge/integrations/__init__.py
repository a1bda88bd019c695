"""Bridges to the libraries users train and evaluate with (Keras, Lightning and
torchmetrics, Dask). Each lives in its own module and imports its library only
when that module is imported; ``import lossbridge`` never loads them."""
