"""Upcasters: old event shapes turned into new ones as evented reads them.

Every stored event has a schema version (``metadata.schema_version``, 0
meaning 1). An Upcaster serves evented.Upcaster: each step turns one event
type at version N into version N+1, possibly as another type. evented calls
it for the steps configured under ``upcasters:`` (``steps()`` prints them),
chains steps and caches the results; stored events never change::

    up = evented.Upcaster()

    @up.step(pb.CustomerCreatedV1, from_version=1)
    def split_name(old: pb.CustomerCreatedV1) -> pb.CustomerCreated:
        first, _, last = old.name.partition(" ")
        return pb.CustomerCreated(first_name=first, last_name=last)

    evented.serve("127.0.0.1:50060", up)

A step's input is decoded as the message class it was declared with; what it
returns is packed as the next version, under the returned message's type.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from . import evented_pb2 as pb
from . import evented_pb2_grpc as pb_grpc

TYPE_PREFIX = "type.googleapis.com/"

M = TypeVar("M", bound=Message)


def type_url_of(cls: type[Message]) -> str:
    """The type URL evented stores for messages of cls."""
    return TYPE_PREFIX + cls.DESCRIPTOR.full_name


@dataclass(frozen=True)
class Step:
    """One step: events of type_url at from_version become from_version+1 of to."""

    type_url: str
    from_version: int
    to: str
    fn: Callable[[Any], Message]
    message: type[Message]


class Upcaster:
    """A set of upcast steps, served as evented.Upcaster (serve, start,
    add_to_server). Register steps with ``step``."""

    def __init__(self, name: str = "upcaster") -> None:
        self.name = name
        self._steps: dict[tuple[str, int], Step] = {}

    def step(self, message: type[M], from_version: int, to: type[Message] | None = None) -> Callable[[Callable[[M], Message]], Callable[[M], Message]]:
        """Registers the decorated function as the step of message's type
        from from_version to from_version+1. ``to`` names the result's type
        for ``steps()`` (default: message's); the function must return it."""
        if from_version < 1:
            raise ValueError(f"{self.name}: from_version {from_version}: want 1 or more")
        key = (type_url_of(message), from_version)
        if key in self._steps:
            raise ValueError(f"{self.name}: two steps for {key[0]} v{from_version}")

        def register(fn: Callable[[M], Message]) -> Callable[[M], Message]:
            self._steps[key] = Step(key[0], from_version, type_url_of(to or message), fn, message)
            return fn
        return register

    def steps(self) -> list[dict[str, Any]]:
        """The steps as the ``steps:`` list of evented's ``upcasters:`` entry."""
        out = []
        for s in sorted(self._steps.values(), key=lambda s: (s.type_url, s.from_version)):
            d: dict[str, Any] = {"type": s.type_url, "from_version": s.from_version}
            if s.to != s.type_url:
                d["to"] = s.to
            out.append(d)
        return out

    def upcast(self, request: pb.UpcastRequest) -> pb.UpcastResponse:
        """Raises each event of the request by one version. An event with no
        step raises LookupError (evented sends only configured steps)."""
        resp = pb.UpcastResponse()
        for i, e in enumerate(request.events):
            version = e.schema_version or 1
            s = self._steps.get((e.event.type_url, version))
            if s is None:
                raise LookupError(f"{self.name}: events[{i}]: no step for {e.event.type_url} v{version} "
                                  f"(steps: {[(k[0], k[1]) for k in sorted(self._steps)]})")
            old = s.message()
            old.ParseFromString(e.event.value)
            new = s.fn(old)
            if not isinstance(new, Message):
                raise TypeError(f"{self.name}: step {s.type_url} v{version} returned {type(new).__name__}, not a message")
            out = resp.events.add(schema_version=version + 1)
            out.event.Pack(new)
            if out.event.type_url != s.to:
                raise TypeError(f"{self.name}: step {s.type_url} v{version} returned {out.event.type_url}; declared {s.to}")
        return resp


class _UpcasterServicer(pb_grpc.UpcasterServicer):
    def __init__(self, upcaster: Upcaster) -> None:
        self._u = upcaster

    def Upcast(self, request: pb.UpcastRequest, context: grpc.ServicerContext) -> pb.UpcastResponse:  # noqa: N802
        try:
            return self._u.upcast(request)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a status
            context.abort(grpc.StatusCode.INTERNAL, f"{self._u.name}: {exc}")
