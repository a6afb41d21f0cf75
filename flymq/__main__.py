"""``python -m flymq`` runs the ``flymq`` command."""

from flymq.cli import main

raise SystemExit(main())
