"""Stateful metrics (see issue: metrics)."""
