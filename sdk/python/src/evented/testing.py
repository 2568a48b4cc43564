"""A Given/When/Then kit for unit tests of aggregates, projectors and sagas.

It calls them exactly as evented does — a ContextualCommand for an aggregate,
an EventBook for a projector or saga — without a server or a network, and
fails with AssertionError (pytest shows the difference)::

    from evented import testing

    def test_redeem_needs_enough_points():
        (testing.aggregate(customer.new)
            .given(pb.CustomerCreated(name="Alice", email="a@example.com"),
                   pb.LoyaltyPointsAdded(points=10, new_balance=10))
            .when(pb.RedeemLoyaltyPoints(points=20))
            .then_rejected(grpc.StatusCode.FAILED_PRECONDITION, "Insufficient points: have 10, need 20"))

The factory passed in (customer.new above) takes keyword options and passes
them to Aggregate / Projector / Saga: the kit passes ``clock`` (fixed at NOW),
and for projectors and sagas ``event_query``, a reader serving the Given
events, so a consumer without history sees the same prior state as under
evented. Beyond the events, the kit checks what evented relies on: events
numbered from the aggregate's next sequence, the command's cover, a
snapshot's sequence after the new events.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import grpc
from google.protobuf import text_format
from google.protobuf.message import Message

from . import evented_pb2 as pb
from ._fold import pack, type_name, unpack
from .aggregate import Aggregate
from .consumer import Command, Projector, Saga, decode_any
from .errors import Error
from .ids import Cover, root

S = TypeVar("S")

#: The time the kit's clock reads: times a handler stamps with now() come out
#: as this, so expected events can be exact.
NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.timezone.utc)

#: Names the aggregate a case is about unless for_root / for_aggregate says
#: otherwise (its root is evented.root(DEFAULT_ROOT)).
DEFAULT_ROOT = "sdktest"


def clock() -> dt.datetime:
    return NOW


def fmt(m: Message | None) -> str:
    """A message as ``full.Name{field: value ...}``."""
    if m is None:
        return "<none>"
    return f"{m.DESCRIPTOR.full_name}{{{text_format.MessageToString(m, as_one_line=True)}}}"


def _fmt_any(a: Any) -> str:
    m = decode_any(a)
    return fmt(m) if m is not a else f"{a.type_url} ({len(a.value)} bytes)"


def _pages(first: int, events: list[Message]) -> list[pb.EventPage]:
    out = []
    for i, e in enumerate(events):
        p = pb.EventPage(num=first + i, event=pack(e))
        p.created_at.FromDatetime(NOW)
        out.append(p)
    return out


def _decoded_as(a: Any, want: Message) -> Message | None:
    """a decoded as want's type, or None when it is of another type."""
    if type_name(a) != want.DESCRIPTOR.full_name:
        return None
    return unpack(type(want), a)


def _check_status(err: Error | None, code: grpc.StatusCode, message: str, exact: bool, instead: Callable[[], str]) -> None:
    if err is None:
        raise AssertionError(f"succeeded with {instead()}, want {code.name} {'' if exact else 'containing '}{message!r}")
    ok = err.message == message if exact else message in err.message
    if err.code != code or not ok:
        raise AssertionError(f"failed with {err.code.name} {err.message!r}, want {code.name} {'' if exact else 'containing '}{message!r}")


class _History:
    """What a case is given: the aggregate, an optional snapshot, events."""

    def __init__(self, cover: Cover) -> None:
        self.cover = cover
        self.snapshot: pb.Snapshot | None = None
        self.given_events: list[Message] = []

    def _set_snapshot(self, state: Message, sequence: int) -> None:
        self.snapshot = pb.Snapshot(sequence=sequence, state=pack(state))

    @property
    def first(self) -> int:
        return self.snapshot.sequence if self.snapshot is not None else 0

    def next(self) -> int:
        """The sequence after the Given events."""
        return self.first + len(self.given_events)


class AggregateCase(_History, Generic[S]):
    """One Given/When/Then of an aggregate."""

    def __init__(self, agg: Aggregate[S]) -> None:
        super().__init__(Cover(agg.domain, root(DEFAULT_ROOT)))
        self.aggregate = agg
        self.commands: list[Message] = []

    def for_root(self, name: str) -> AggregateCase[S]:
        """Sets the aggregate's root: evented.root(name)."""
        self.cover = Cover(self.cover.domain, root(name))
        return self

    def given_snapshot(self, state: Message, sequence: int) -> AggregateCase[S]:
        """Starts the history at a snapshot of state holding the first sequence
        events; given events follow it."""
        self._set_snapshot(state, sequence)
        return self

    def given(self, *events: Message) -> AggregateCase[S]:
        """Adds events to the aggregate's history."""
        self.given_events.extend(events)
        return self

    def when(self, *commands: Message) -> AggregateCase[S]:
        """Sets the commands (pages of one command book)."""
        self.commands.extend(commands)
        return self

    def run(self) -> pb.EventBook:
        """Calls the aggregate as evented would; raises Error for a refusal."""
        if not self.commands:
            raise AssertionError("no command: call when() before then()")
        cmd = pb.CommandBook(cover=self.cover.to_pb())
        for c in self.commands:
            cmd.pages.add().command.CopyFrom(pack(c))
        prior = pb.EventBook(cover=self.cover.to_pb(), pages=_pages(self.first, self.given_events))
        if self.snapshot is not None:
            prior.snapshot.CopyFrom(self.snapshot)
        return self.aggregate.handle_command(pb.ContextualCommand(events=prior, command=cmd))

    def _run_ok(self) -> pb.EventBook:
        try:
            return self.run()
        except Error as err:
            raise AssertionError(f"the commands failed: {err.code.name} {err.message!r}") from None

    def then(self, *events: Message) -> AggregateCase[S]:
        """Asserts that the commands produced exactly events, in order (none:
        nothing happened), numbered from the aggregate's next sequence."""
        book = self._run_ok()
        if book.cover != self.cover.to_pb():
            raise AssertionError(f"the answer's cover is {book.cover}, want the command's {self.cover}")
        _check_events(list(book.pages), list(events))
        for i, p in enumerate(book.pages):
            want = self.next() + i
            if p.WhichOneof("sequence") != "num" or p.num != want:
                raise AssertionError(f"event #{i} is numbered {p.WhichOneof('sequence')}={getattr(p, p.WhichOneof('sequence') or 'num')}, want num {want} (the aggregate's next sequence)")
        if book.HasField("snapshot"):
            want = self.next() + len(book.pages)
            if book.snapshot.sequence != want:
                raise AssertionError(f"the snapshot's sequence is {book.snapshot.sequence}, want {want} (the sequence after the new events)")
        return self

    def then_snapshot(self, state: Message) -> AggregateCase[S]:
        """Asserts that the answer carries a snapshot equal to state."""
        book = self._run_ok()
        if not book.HasField("snapshot"):
            raise AssertionError(f"no snapshot returned, want {fmt(state)}")
        got = _decoded_as(book.snapshot.state, state)
        if got != state:
            raise AssertionError(f"snapshot:\n got  {_fmt_any(book.snapshot.state)}\n want {fmt(state)}")
        return self

    def then_rejected(self, code: grpc.StatusCode, message: str) -> None:
        """Asserts that the commands were refused with code and exactly message."""
        try:
            book = self.run()
        except Error as err:
            _check_status(err, code, message, True, lambda: "")
            return
        _check_status(None, code, message, True, lambda: "events " + _fmt_pages(list(book.pages)))


def _fmt_pages(pages: list[pb.EventPage]) -> str:
    return "[" + ", ".join(_fmt_any(p.event) for p in pages) + "]"


def _check_events(got: list[pb.EventPage], want: list[Message]) -> None:
    if len(got) != len(want):
        raise AssertionError(f"{len(got)} events, want {len(want)}:\n got  {_fmt_pages(got)}\n want [{', '.join(fmt(w) for w in want)}]")
    for i, (g, w) in enumerate(zip(got, want)):
        if _decoded_as(g.event, w) != w:
            raise AssertionError(f"event #{i}:\n got  {_fmt_any(g.event)}\n want {fmt(w)}")


def aggregate(new: Callable[..., Aggregate[S]]) -> AggregateCase[S]:
    """Starts a case for the aggregate new(clock=...) builds, about aggregate
    DEFAULT_ROOT with no history."""
    return AggregateCase(new(clock=clock))


class _Reader:
    """Serves a case's Given events as evented's query port would."""

    def __init__(self, case: _ConsumerCase) -> None:
        self._case = case

    def GetEvents(self, request: pb.Query, timeout: float | None = None) -> Iterator[pb.EventBook]:  # noqa: N802
        c = self._case
        if request.domain != c.cover.domain or request.root.value != c.cover.root.bytes:
            return iter(())  # another aggregate: unknown, no events
        b = pb.EventBook(cover=c.cover.to_pb())
        if c.snapshot is not None:
            b.snapshot.CopyFrom(c.snapshot)
        for p in _pages(c.first, c.given_events):
            if p.num >= request.lower_bound and (request.upper_bound == 0 or p.num < request.upper_bound):
                b.pages.append(p)
        return iter([b])


class _ConsumerCase(_History):
    def __init__(self) -> None:
        super().__init__(Cover(DEFAULT_ROOT, root(DEFAULT_ROOT)))
        self.new_events: list[Message] = []

    def _book(self, history: bool) -> pb.EventBook:
        """What evented would deliver: with history the snapshot, the given and
        the new events; without, the new events only (the reader serves the
        given ones)."""
        if not self.new_events:
            raise AssertionError("no event delivered: call when() before then()")
        b = pb.EventBook(cover=self.cover.to_pb())
        if history:
            if self.snapshot is not None:
                b.snapshot.CopyFrom(self.snapshot)
            b.pages.extend(_pages(self.first, self.given_events))
        b.pages.extend(_pages(self.next(), self.new_events))
        return b


class ProjectorCase(_ConsumerCase, Generic[S]):
    """One Given/When/Then of a projector."""

    def __init__(self, new: Callable[..., Projector[S]]) -> None:
        super().__init__()
        self.projector = new(clock=clock, event_query=_Reader(self))

    def for_aggregate(self, domain: str, name: str) -> ProjectorCase[S]:
        """Sets the aggregate the events are of: domain, root evented.root(name)."""
        self.cover = Cover(domain, root(name))
        return self

    def given_snapshot(self, state: Message, sequence: int) -> ProjectorCase[S]:
        """Starts the aggregate's history at a snapshot of state holding the
        first sequence events."""
        self._set_snapshot(state, sequence)
        return self

    def given(self, *events: Message) -> ProjectorCase[S]:
        """Adds events the aggregate had before the delivered ones."""
        self.given_events.extend(events)
        return self

    def when(self, *events: Message) -> ProjectorCase[S]:
        """Sets the new events evented delivers."""
        self.new_events.extend(events)
        return self

    def handle_sync(self) -> pb.Projection:
        """Delivers the book as to a synchronous projector; raises Error."""
        return self.projector.handle_sync(self._book(self.projector.history))

    def _projection(self) -> pb.Projection:
        try:
            p = self.handle_sync()
        except Error as err:
            raise AssertionError(f"HandleSync failed: {err.code.name} {err.message!r}") from None
        if p.projector != self.projector.name:
            raise AssertionError(f"projector {p.projector!r}, want {self.projector.name!r}")
        if p.cover != self.cover.to_pb():
            raise AssertionError(f"cover {p.cover}, want {self.cover}")
        want = self.next() + len(self.new_events)
        if p.sequence != want:
            raise AssertionError(f"sequence {p.sequence}, want {want} (the one after the new events)")
        return p

    def then_projection(self, projection: Message) -> None:
        """Asserts that HandleSync answers projection, named after the
        projector, for the aggregate, at the sequence after the new events."""
        p = self._projection()
        if not p.HasField("projection"):
            raise AssertionError(f"no projection, want {fmt(projection)}")
        if _decoded_as(p.projection, projection) != projection:
            raise AssertionError(f"projection:\n got  {_fmt_any(p.projection)}\n want {fmt(projection)}")

    def then_no_projection(self) -> None:
        """Asserts that HandleSync succeeds with no projection."""
        p = self._projection()
        if p.HasField("projection"):
            raise AssertionError(f"projection {_fmt_any(p.projection)}, want none")

    def then_handled(self) -> None:
        """Delivers the book as to an asynchronous projector (Handle) and
        asserts it succeeds; check the projector's effects after it."""
        try:
            self.projector.handle_events(self._book(self.projector.history))
        except Error as err:
            raise AssertionError(f"Handle failed: {err.code.name} {err.message!r}") from None

    def then_fails(self, code: grpc.StatusCode, message: str) -> None:
        """Asserts that delivery (HandleSync) fails with code and a message
        containing message."""
        try:
            p = self.handle_sync()
        except Error as err:
            _check_status(err, code, message, False, lambda: "")
            return
        _check_status(None, code, message, False, lambda: f"projection {p}")


class SagaCase(_ConsumerCase, Generic[S]):
    """One Given/When/Then of a saga."""

    def __init__(self, new: Callable[..., Saga[S]]) -> None:
        super().__init__()
        self.saga = new(clock=clock, event_query=_Reader(self))

    def for_aggregate(self, domain: str, name: str) -> SagaCase[S]:
        """Sets the aggregate the events are of: domain, root evented.root(name)."""
        self.cover = Cover(domain, root(name))
        return self

    def given_snapshot(self, state: Message, sequence: int) -> SagaCase[S]:
        """Starts the aggregate's history at a snapshot of state holding the
        first sequence events."""
        self._set_snapshot(state, sequence)
        return self

    def given(self, *events: Message) -> SagaCase[S]:
        """Adds events the aggregate had before the delivered ones."""
        self.given_events.extend(events)
        return self

    def when(self, *events: Message) -> SagaCase[S]:
        """Sets the new events evented delivers."""
        self.new_events.extend(events)
        return self

    def handle_sync(self) -> pb.SynchronousProcessingResponse:
        """Delivers the book as evented does; raises Error."""
        return self.saga.handle_sync(self._book(self.saga.history))

    def then_commands(self, *commands: Command) -> None:
        """Asserts that the saga answers exactly commands, in order (none: no
        command)."""
        try:
            resp = self.handle_sync()
        except Error as err:
            raise AssertionError(f"HandleSync failed: {err.code.name} {err.message!r}") from None
        got = list(resp.commands)

        def show_got() -> str:
            return "[" + ", ".join(f"{Cover.from_pb(b.cover)} {[_fmt_any(p.command) for p in b.pages]}" for b in got) + "]"

        if len(got) != len(commands):
            want = "[" + ", ".join(f"{c.to} {fmt(c.message)}" for c in commands) + "]"
            raise AssertionError(f"{len(got)} commands, want {len(commands)}:\n got  {show_got()}\n want {want}")
        for i, (b, want_c) in enumerate(zip(got, commands)):
            if b.cover != want_c.to.to_pb():
                raise AssertionError(f"command #{i} is for {Cover.from_pb(b.cover)}, want {want_c.to}")
            if len(b.pages) != 1:
                raise AssertionError(f"command #{i} has {len(b.pages)} pages, want 1")
            if _decoded_as(b.pages[0].command, want_c.message) != want_c.message:
                raise AssertionError(f"command #{i}:\n got  {_fmt_any(b.pages[0].command)}\n want {fmt(want_c.message)}")

    def then_fails(self, code: grpc.StatusCode, message: str) -> None:
        """Asserts that delivery fails with code and a message containing message."""
        try:
            resp = self.handle_sync()
        except Error as err:
            _check_status(err, code, message, False, lambda: "")
            return
        _check_status(None, code, message, False, lambda: f"commands {list(resp.commands)}")


def projector(new: Callable[..., Projector[S]]) -> ProjectorCase[S]:
    """Starts a case for the projector new(clock=..., event_query=...) builds."""
    return ProjectorCase(new)


def saga(new: Callable[..., Saga[S]]) -> SagaCase[S]:
    """Starts a case for the saga new(clock=..., event_query=...) builds."""
    return SagaCase(new)
