"""The example projector log-transaction: one JSON line per transaction event (see
shop.eventlog for the line)."""
from __future__ import annotations

from typing import Any, TextIO

import evented
from shop import eventlog


def new(out: TextIO | None = None, **options: Any) -> evented.Projector[None]:
    """The projector, writing to out (standard output by default)."""
    return eventlog.new("log-transaction", out, **options)
