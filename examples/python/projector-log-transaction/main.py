#!/usr/bin/env python3
"""projector-log-transaction: the example projector log-transaction
(evented.ProjectorCoordinator): one JSON line per transaction event on standard
output (see shop/eventlog.py for the line). Configure it in evented as
asynchronous, without history, for domain transaction.

    python examples/python/projector-log-transaction/main.py

Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
interface; PORT default 50057). The service's own messages go to standard
error.
"""
import pathlib
import sys

sys.path.insert(1, str(pathlib.Path(__file__).resolve().parent.parent))  # the shared package shop

import log_transaction  # noqa: E402
from shop import service  # noqa: E402

if __name__ == "__main__":
    service.run("projector-log-transaction", 50057, "evented.ProjectorCoordinator: projector log-transaction", log_transaction.new())
