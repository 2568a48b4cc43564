#!/usr/bin/env python3
"""transaction: the business logic of the example domain transaction
(evented.BusinessLogic): CreateTransaction, ApplyDiscount, CompleteTransaction,
CancelTransaction.

    python examples/python/transaction/main.py

Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
interface; PORT default 50053). Logs go to standard error. TRANSACTION_TIMEOUT
(seconds, default 1800) is how long a transaction may stay pending before a
deadline cancels it.
"""
import datetime as dt
import os
import pathlib
import sys

sys.path.insert(1, str(pathlib.Path(__file__).resolve().parent.parent))  # the shared package shop

import transaction  # noqa: E402
from shop import service  # noqa: E402

if __name__ == "__main__":
    service.run("transaction", 50053, "evented.BusinessLogic for domain transaction", transaction.new(dt.timedelta(seconds=float(os.environ.get("TRANSACTION_TIMEOUT", "1800")))))
