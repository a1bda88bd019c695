"""Cross-backend parity kit (see issue: parity)."""
