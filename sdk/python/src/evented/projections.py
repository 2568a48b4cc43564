"""Subscription queries: follow the projections a projector produces."""
from __future__ import annotations

import time
from collections.abc import Iterator

import grpc

from . import evented_pb2, evented_pb2_grpc
from .ids import Cover

PROJECTION_KEY_METADATA = "evented-projection-key"
"""Response header by which a projector's HandleSync names the key its
projection is kept under, instead of the aggregate::

    context.send_initial_metadata(((evented.PROJECTION_KEY_METADATA, "region-eu"),))
"""

_RESUMABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}


def watch_projection(
    channel: grpc.Channel,
    projector: str,
    *,
    cover: evented_pb2.Cover | Cover | None = None,
    key: str = "",
    after_version: int = 0,
    retry_max: float = 2.0,
) -> Iterator[evented_pb2.ProjectionUpdate]:
    """Yield the current projection of cover (or key), then every change.

    channel is a channel to evented's query port. The projector must be
    synchronous or configured with ``publish_projections: true``. Updates
    come in version order; when the stream breaks (evented restarted, or this
    client fell behind and was dropped), it subscribes again after the last
    version yielded, so each change is yielded once, none missed. Errors that
    retrying cannot fix (an unknown projector) are raised as grpc.RpcError.
    Stop by leaving the loop (the call is cancelled)::

        for update in evented.watch_projection(channel, "balance", cover=cover):
            print(update.version, update.projection.projection)
    """
    if isinstance(cover, Cover):
        cover = cover.to_pb()
    stub = evented_pb2_grpc.ProjectionQueryStub(channel)
    after = after_version
    pause = 0.05
    while True:
        call = stub.Subscribe(
            evented_pb2.ProjectionSubscription(projector=projector, cover=cover, key=key, after_version=after)
        )
        try:
            for update in call:
                if update.version <= after:
                    continue  # already yielded (resumed)
                yield update
                after = update.version
                pause = 0.05
        except grpc.RpcError as err:
            if err.code() not in _RESUMABLE:
                raise
        finally:
            call.cancel()
        time.sleep(pause)
        pause = min(2 * pause, retry_max)
