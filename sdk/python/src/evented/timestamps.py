"""Timestamps for events."""
from __future__ import annotations

import datetime as dt

from google.protobuf import timestamp_pb2


def timestamp(when: dt.datetime) -> timestamp_pb2.Timestamp:
    """when as a protobuf Timestamp (a naive datetime is taken as UTC)::

        pb.CustomerCreated(name=c.name, created_at=evented.timestamp(agg.now()))
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when)
    return ts
