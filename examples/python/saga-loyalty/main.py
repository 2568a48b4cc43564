#!/usr/bin/env python3
"""saga-loyalty: the example saga loyalty (evented.SagaCoordinator): loyalty
points for the customer of every completed transaction. Configure it in
evented for domain transaction with history: true.

    python examples/python/saga-loyalty/main.py

Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
interface; PORT default 50054). Logs go to standard error.
"""
import pathlib
import sys

sys.path.insert(1, str(pathlib.Path(__file__).resolve().parent.parent))  # the shared package shop

import loyalty  # noqa: E402
from shop import service  # noqa: E402

if __name__ == "__main__":
    service.run("saga-loyalty", 50054, "evented.SagaCoordinator: saga loyalty", loyalty.new())
