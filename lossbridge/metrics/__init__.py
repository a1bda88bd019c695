"""Stateful metrics, written once against ``K``, on every backend."""

from __future__ import annotations

from .base import Metric
from .reduction import Mean, Sum

__all__ = ["Mean", "Metric", "Sum"]
