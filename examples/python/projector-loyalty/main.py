#!/usr/bin/env python3
"""projector-loyalty: the example projector loyalty-balance
(evented.ProjectorCoordinator): each customer's loyalty balance, a read model
that clients wait for (read-your-writes) and watch (subscription queries).
Configure it in evented as asynchronous, for domain customer, with history:
true and publish_projections: true.

    python examples/python/projector-loyalty/main.py

Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
interface; PORT default 50058). Logs go to standard error.
"""
import pathlib
import sys

sys.path.insert(1, str(pathlib.Path(__file__).resolve().parent.parent))  # the shared package shop

import loyalty_balance  # noqa: E402
from shop import service  # noqa: E402

if __name__ == "__main__":
    service.run("projector-loyalty", 50058, "evented.ProjectorCoordinator: projector loyalty-balance", loyalty_balance.new())
