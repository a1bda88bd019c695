"""``python -m lossbridge``: the command line of :mod:`lossbridge.cli`."""

from .cli import main

raise SystemExit(main())
