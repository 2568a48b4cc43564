"""The projector behind the example log projectors (projector-log-customer,
projector-log-transaction): one JSON line per event.

Every example language writes the same line, one JSON object per line on
standard output, with at least these keys::

    {"msg": "event", "projector": "log-customer", "domain": "customer",
     "root": "bee85a38-babe-5251-8d7d-f8a8ed93ed9c", "sequence": 0,
     "type": "examples.CustomerCreated", "event": {"name": "Alice", ...}}

("event" is the event in protobuf's JSON form, when its type is known.)
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from typing import Any, TextIO

from google.protobuf import any_pb2, json_format
from google.protobuf.message import Message

import evented

# The example domain's messages, imported so that events are logged field by
# field rather than as bytes.
from shop import domains_pb2  # noqa: F401


def new(name: str, out: TextIO | None = None, **options: Any) -> evented.Projector[None]:
    """The projector called name that writes a line for every event it is
    delivered to out (standard output by default). It keeps no state and is
    called asynchronously, without history, so each event is logged once per
    delivery (at least once)."""
    p: evented.Projector[None] = evented.Projector(name, **options)
    lock = threading.Lock()  # gRPC calls run on several threads: whole lines

    @p.on_any
    def log(_state: None, event: Message, ev: evented.Event) -> None:
        line: dict[str, Any] = {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(),
            "level": "INFO",
            "msg": "event",
            "projector": name,
            "domain": ev.cover.domain,
            "root": str(ev.cover.root),
            "sequence": ev.sequence,
        }
        if isinstance(event, any_pb2.Any):  # a type this program does not know
            line["type"] = event.type_url.rsplit("/", 1)[-1]
            line["bytes"] = len(event.value)
        else:
            line["type"] = event.DESCRIPTOR.full_name
            line["event"] = json_format.MessageToDict(event)
        text = json.dumps(line) + "\n"
        stream = out or sys.stdout
        with lock:
            stream.write(text)
            stream.flush()

    return p
