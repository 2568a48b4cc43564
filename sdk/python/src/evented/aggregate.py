"""Business logic: an Aggregate decides what commands mean for one domain."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

from . import evented_pb2 as pb
from ._fold import Fold, Folder, full_name, next_sequence, pack, registrar, sequences, type_name, unpack
from .errors import Error, prefixed, status_of
from .ids import Cover

S = TypeVar("S")

Events = Message | Iterable[Message] | None
"""What a command handler returns: one event, several, or None (nothing happened)."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def events_of(out: Any, where: str) -> list[Message]:
    """A handler's answer as a list of events."""
    if out is None:
        return []
    if isinstance(out, Message):
        return [out]
    try:
        events = list(out)
    except TypeError:
        raise Error(f"{where}: returned {type(out).__name__}, want an event, a list of events or None", grpc.StatusCode.INTERNAL) from None
    for i, e in enumerate(events):
        if not isinstance(e, Message):
            raise Error(f"{where}: event #{i} is {type(e).__name__}, not a protobuf message", grpc.StatusCode.INTERNAL)
    return events


def deadline_at(id: str, due: dt.datetime, command: Message) -> pb.Deadline:
    """Schedules command for the same aggregate at due, under id: return it from
    a handler among the events (it goes out as a deadline, not an event).
    evented keeps it in the store once the events are committed and sends the
    command at due, once; scheduling id again replaces it, cancel_deadline(id)
    removes it. The id names the deadline within the aggregate (the SDK
    prefixes it with "<domain>/<root>/"), e.g. "timeout"."""
    d = pb.Deadline(id=id)
    d.due.FromDatetime(due)
    d.command.pages.add().command.CopyFrom(pack(command))
    return d


def deadline_after(id: str, delay: dt.timedelta, command: Message) -> pb.Deadline:
    """deadline_at(id, now + delay, command)."""
    return deadline_at(id, utc_now() + delay, command)


def cancel_deadline(id: str) -> pb.Deadline:
    """Cancels the pending deadline id (within the aggregate): return it from a
    handler among the events. A deadline cancelled before it is due never fires."""
    return pb.Deadline(id=id, cancel=True)


class Aggregate(Folder[S], Generic[S]):
    """The business logic of one domain (evented.BusinessLogic).

    state makes a new aggregate's state (a dataclass, say). Register how
    events change it (apply), what each command means (handle), and optionally
    snapshots (snapshot, restore)::

        agg = Aggregate("customer", State)

        @agg.apply
        def created(s: State, e: pb.CustomerCreated) -> None:
            s.exists = True

        @agg.handle
        def create(s: State, c: pb.CreateCustomer):
            if s.exists:
                raise Rejected("customer already exists")
            return pb.CustomerCreated(name=c.name)

    For each command evented sends the aggregate's latest snapshot and the
    events after it; handle rebuilds the state from them (restore, then apply),
    runs each command's handler, applies the events it returns (so the next
    command of the book and the snapshot see them) and numbers them from the
    aggregate's next sequence. With a snapshot function, the state after the
    commands is returned as the snapshot.

    clock is what now() returns (default: the current UTC time); handlers that
    stamp times on events call it, so tests get exact events.
    """

    def __init__(self, domain: str, state: Callable[[], S], *, clock: Callable[[], dt.datetime] | None = None) -> None:
        if not domain:
            raise ValueError("Aggregate: domain must not be empty")
        self.domain = domain
        self._fold = Fold(state)
        self._handlers: dict[str, tuple[type[Message], Callable[[S, Any], Any]]] = {}
        self._snapshot: Callable[[S], Message | None] | None = None
        self._clock = clock or utc_now

    def now(self) -> dt.datetime:
        """The aggregate's clock."""
        return self._clock()

    def handle(self, arg: Any) -> Any:
        """Registers the handler of a command type (from the annotation of its
        second parameter, or passed: ``@agg.handle(pb.CreateCustomer)``).

        It decides from the state and returns the events that happened — one
        message, a list, or None for nothing — or raises Rejected /
        Invalid. It must not change the state: apply does, from the events.
        """

        def register(cls: type[Message], fn: Callable[..., Any]) -> None:
            name = full_name(cls)
            if name in self._handlers:
                raise ValueError(f"handle for {name} registered twice")
            self._handlers[name] = (cls, fn)

        return registrar(register, "handle", 1, arg)

    def snapshot(self, fn: Callable[[S], Message | None]) -> Callable[[S], Message | None]:
        """Registers how the state becomes a snapshot message, returned after
        each command that produced events (None: no snapshot). evented stores it
        (its sequence set to the one after the new events), subject to the
        domain's snapshot policy, and sends it back as prior state: register the
        matching restore too."""
        self._snapshot = fn
        return fn

    def take_snapshot(self, book: pb.EventBook) -> pb.Snapshot:
        """What evented.BusinessLogic/Snapshot answers: the state after the
        book's snapshot and events, made by the snapshot function. evented asks
        for it on its own when the domain has an automatic snapshot policy;
        without a snapshot function it is UNIMPLEMENTED and evented stops
        asking. Raises Error (a gRPC status)."""
        if self._snapshot is None:
            raise Error(f"{self.domain}: no snapshot function registered (@agg.snapshot)", grpc.StatusCode.UNIMPLEMENTED)
        cover = Cover.from_pb(book.cover if book.HasField("cover") else None, "cover")
        if cover.domain != self.domain:
            raise Error(f'this service handles domain "{self.domain}", not "{cover.domain}"', grpc.StatusCode.NOT_FOUND)
        try:
            state = self._fold.restore_from(self._fold.new_state(), book)
            for seq, page in zip(sequences(book), book.pages):
                state = self._fold.apply_page(state, seq, page)
        except Error as err:
            raise prefixed(self.domain, err) from None
        try:
            snap = self._snapshot(state)
        except Exception as exc:  # noqa: BLE001
            raise status_of(f"{self.domain}: snapshot", exc) from None
        if snap is None:
            raise Error(f"{self.domain}: the snapshot function returned no state", grpc.StatusCode.FAILED_PRECONDITION)
        out = pb.Snapshot(sequence=next_sequence(book))
        out.state.CopyFrom(pack(snap))
        return out

    def handle_command(self, request: pb.ContextualCommand) -> pb.EventBook:
        """What evented.BusinessLogic/Handle answers: the new events, numbered
        from the aggregate's next sequence. Raises Error (a gRPC status)."""
        cmd = request.command
        cover = Cover.from_pb(cmd.cover if cmd.HasField("cover") else None, "command.cover")
        if cover.domain != self.domain:
            raise Error(f'this service handles domain "{self.domain}", not "{cover.domain}"', grpc.StatusCode.NOT_FOUND)
        if not cmd.pages:
            raise Error("command.pages: must hold at least one command", grpc.StatusCode.INVALID_ARGUMENT)
        prior = request.events
        try:
            state = self._fold.restore_from(self._fold.new_state(), prior)
            for seq, page in zip(sequences(prior), prior.pages):
                state = self._fold.apply_page(state, seq, page)
        except Error as err:
            raise prefixed(self.domain, err) from None
        seq = next_sequence(prior)
        out = pb.EventBook()
        out.cover.CopyFrom(cmd.cover)
        for i, page in enumerate(cmd.pages):
            name = type_name(page.command)
            entry = self._handlers.get(name)
            if entry is None:
                raise Error(
                    f'{self.domain}: command.pages[{i}]: no handler for "{page.command.type_url}" (handles {sorted(self._handlers)})',
                    grpc.StatusCode.INVALID_ARGUMENT,
                )
            cls, fn = entry
            where = f"{self.domain}: {name}"
            try:
                command = unpack(cls, page.command)
            except DecodeError as exc:
                raise Error(f"decode command {name}: {exc}", grpc.StatusCode.INVALID_ARGUMENT) from None
            try:
                events = events_of(fn(state, command), where)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a status
                raise status_of(where, exc) from None
            for event in events:
                if isinstance(event, pb.Deadline):
                    # deadline_at / deadline_after / cancel_deadline: for this
                    # aggregate unless it names another, its id scoped to it.
                    d = out.deadlines.add()
                    d.CopyFrom(event)
                    if d.HasField("command") and not d.command.HasField("cover"):
                        d.command.cover.CopyFrom(cmd.cover)
                    d.id = f"{self.domain}/{cover.root}/{event.id}"
                    continue
                new = pb.EventPage(num=seq, event=pack(event))
                try:
                    state = self._fold.apply_page(state, seq, new)
                except Error as err:
                    raise prefixed(self.domain, err) from None
                out.pages.append(new)
                seq += 1
        if self._snapshot is not None and out.pages:
            try:
                snap = self._snapshot(state)
            except Exception as exc:  # noqa: BLE001
                raise status_of(f"{self.domain}: snapshot", exc) from None
            if snap is not None:
                out.snapshot.sequence = seq
                out.snapshot.state.CopyFrom(pack(snap))
        return out
