"""pytest plugin: placeholder until the parity kit lands."""
