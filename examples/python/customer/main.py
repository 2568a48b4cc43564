#!/usr/bin/env python3
"""customer: the business logic of the example domain customer
(evented.BusinessLogic): CreateCustomer, AddLoyaltyPoints, RedeemLoyaltyPoints;
and its upcaster (evented.Upcaster), which turns the first version's
CustomerSignedUp into CustomerCreated.

    python examples/python/customer/main.py

Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
interface; PORT default 50052). Logs go to standard error.
"""
import pathlib
import sys

sys.path.insert(1, str(pathlib.Path(__file__).resolve().parent.parent))  # the shared package shop

import customer  # noqa: E402
import upcaster  # noqa: E402
from shop import service  # noqa: E402

if __name__ == "__main__":
    service.run("customer", 50052, "evented.BusinessLogic for domain customer", customer.new(), upcaster.new())
