#!/usr/bin/env python3
"""projector-log-customer: the example projector log-customer
(evented.ProjectorCoordinator): one JSON line per customer event on standard
output (see shop/eventlog.py for the line). Configure it in evented as
asynchronous, without history, for domain customer.

    python examples/python/projector-log-customer/main.py

Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
interface; PORT default 50056). The service's own messages go to standard
error.
"""
import pathlib
import sys

sys.path.insert(1, str(pathlib.Path(__file__).resolve().parent.parent))  # the shared package shop

import log_customer  # noqa: E402
from shop import service  # noqa: E402

if __name__ == "__main__":
    service.run("projector-log-customer", 50056, "evented.ProjectorCoordinator: projector log-customer", log_customer.new())
