"""A node as it was before reconciliation version 2: it answers only version 1
messages (a version 2 opener gets HTTP 400 ``bad_reconcile_message``, as the
previous code's parser answered it) and opens its own sessions in version 1.
Run as ``python -m tests.peering._reconcile_v1 run ...`` with the arguments of
``mutualaid``."""

from __future__ import annotations

import sys

import protocol.reconcile
from node import cli
from node.peering import sync

protocol.reconcile.VERSIONS = (1,)  # what _parse accepts
protocol.reconcile.Reconciler.__init__.__defaults__ = (protocol.reconcile.ReconcileConfig(), 1)  # its responder
sync.PROTOCOL_VERSION = 1  # type: ignore[attr-defined]  # what it opens with

if __name__ == "__main__":
    sys.exit(cli.main())
