"""``python -m node`` is the ``mutualaid`` command."""

from node.cli import main

raise SystemExit(main())
