"""``python -m fastem``: the command line (see :mod:`fastem.cli`)."""

from .cli import main

raise SystemExit(main())
