#!/usr/bin/env python3
"""projector-receipt: the example projector receipt
(evented.ProjectorCoordinator): a Receipt for every completed transaction.
Configure it in evented for domain transaction, synchronous, with history:
true.

    python examples/python/projector-receipt/main.py

Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
interface; PORT default 50055). Logs go to standard error.
"""
import pathlib
import sys

sys.path.insert(1, str(pathlib.Path(__file__).resolve().parent.parent))  # the shared package shop

import receipt  # noqa: E402
from shop import service  # noqa: E402

if __name__ == "__main__":
    service.run("projector-receipt", 50055, "evented.ProjectorCoordinator: projector receipt", receipt.new())
