"""Projectors and sagas: consumers of the events evented delivers."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

import grpc
from google.protobuf import any_pb2, descriptor_pool, empty_pb2, message_factory
from google.protobuf.message import DecodeError, Message

from . import evented_pb2 as pb
from ._fold import Fold, Folder, full_name, next_sequence, pack, registrar, sequences, type_name, unpack
from .aggregate import utc_now
from .errors import Error, prefixed, status_of
from .ids import Cover

S = TypeVar("S")

#: How long reading earlier events from evented (event_query) may take.
QUERY_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class Event:
    """One delivered event: which aggregate, where in its history, and when it
    was stored (None when the page does not say)."""

    cover: Cover
    sequence: int = 0
    created_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Command:
    """A command a saga sends to another aggregate."""

    to: Cover
    message: Message


class EventReader(Protocol):
    """Reads an aggregate's events from evented's query port; the generated
    ``evented_pb2_grpc.EventQueryStub`` is one."""

    def GetEvents(self, request: pb.Query, timeout: float | None = None) -> Iterable[pb.EventBook]: ...  # noqa: N802


def decode_any(a: any_pb2.Any) -> Message:
    """a decoded to its generated class when that class is imported in this
    program, else a itself."""
    try:
        desc = descriptor_pool.Default().FindMessageTypeByName(type_name(a))
    except KeyError:
        return a
    cls = message_factory.GetMessageClass(desc)
    try:
        return unpack(cls, a)
    except DecodeError as exc:
        raise Error(f"decode event {type_name(a)}: {exc}", grpc.StatusCode.INTERNAL) from None


class _Consumer(Folder[S], Generic[S]):
    """What a Projector and a Saga share: a name, options, and the state
    folded from each book evented delivers."""

    kind = "consumer"

    def __init__(
        self,
        name: str,
        state: Callable[[], S],
        *,
        history: bool = False,
        event_query: EventReader | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if not name:
            raise ValueError(f"{type(self).__name__}: name must not be empty")
        self.name = name
        self.history = history
        self._events = event_query
        self._clock = clock or utc_now
        self._fold = Fold(state)

    def now(self) -> dt.datetime:
        """The consumer's clock."""
        return self._clock()

    def _where(self) -> str:
        return f'{self.kind} "{self.name}"'

    def _wrap(self, err: Error) -> Error:
        return prefixed(self._where(), err)

    def _replay(self, book: pb.EventBook, handle: Callable[[S, pb.EventPage, Event], None]) -> tuple[S, Event]:
        """Folds book into a new state, calling handle for each new page right
        after applying it. Returns the state and the last page's Event."""
        cover = Cover.from_pb(book.cover if book.HasField("cover") else None, "cover")
        last = Event(cover)
        pages, seqs, has_snap = book.pages, sequences(book), book.HasField("snapshot")
        if self.history and not has_snap and pages and seqs[0] > 0:
            raise Error(
                f"{self._where()} expects books with history, but the book of {cover} starts at sequence {seqs[0]} "
                "with no snapshot: set history: true for it in evented's configuration",
                grpc.StatusCode.FAILED_PRECONDITION,
            )
        if not self.history and has_snap:
            raise Error(
                f"{self._where()} got a book with history (a snapshot) for {cover} but was not built with "
                "history=True, so it would handle old events again: build it with history=True or set "
                "history: false in evented's configuration",
                grpc.StatusCode.FAILED_PRECONDITION,
            )
        try:
            state = self._fold.restore_from(self._fold.new_state(), book)
        except Error as err:
            raise self._wrap(err) from None
        if not self.history and self._events is not None and self._fold.stateful and pages and seqs[0] > 0:
            state = self._before(state, cover, seqs[0])
        for i, (seq, page) in enumerate(zip(seqs, pages)):
            try:
                state = self._fold.apply_page(state, seq, page)
            except Error as err:
                raise self._wrap(err) from None
            created = page.created_at.ToDatetime(tzinfo=dt.timezone.utc) if page.HasField("created_at") else None
            last = Event(cover, seq, created)
            if self.history and i < len(pages) - 1:
                continue  # history: only the newest event is handled
            try:
                handle(state, page, last)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a status
                raise status_of(f"{self._where()}: {type_name(page.event)} at {cover}/{seq}", exc) from None
        return state, last

    def _before(self, state: S, cover: Cover, up_to: int) -> S:
        """Folds cover's events [0, up_to) read from evented into state."""
        query = pb.Query(domain=cover.domain, root=pb.UUID(value=cover.root.bytes), upper_bound=up_to)
        try:
            for b in self._events.GetEvents(query, timeout=QUERY_TIMEOUT):  # type: ignore[union-attr]
                try:
                    state = self._fold.restore_from(state, b)
                    for seq, page in zip(sequences(b), b.pages):
                        if seq >= up_to:
                            return state
                        state = self._fold.apply_page(state, seq, page)
                except Error as err:
                    raise self._wrap(err) from None
        except grpc.RpcError as exc:
            why = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            raise Error(
                f"{self._where()}: read the events of {cover} before sequence {up_to}: {why}", grpc.StatusCode.UNAVAILABLE
            ) from None
        return state


class Projector(_Consumer[S], Generic[S]):
    """Builds a read model from events (evented.ProjectorCoordinator).

    For each book evented delivers, the projector folds a new state from it
    (restore from the book's snapshot, apply for each page), calling the on
    handlers for the new events as it goes. handle_events (asynchronous
    delivery) stops there; handle_sync (a synchronous projector) then asks the
    project function for the projection evented puts into the command's reply.

    A projector that needs the whole aggregate (a receipt needs the items of
    TransactionCreated when TransactionCompleted arrives) is configured in
    evented with ``history: true`` and built with ``history=True``: the state is
    folded from the aggregate's whole history and the on handlers see the
    newest event only. Without history every page is new and handled;
    ``event_query`` (an EventQueryStub) lets a stateful projector fold the
    events before the book first.

    Delivery is at least once: an event is identified by Event.cover and
    Event.sequence.
    """

    kind = "projector"

    def __init__(self, name: str, state: Callable[[], S] = lambda: None, **options: Any) -> None:  # type: ignore[assignment,return-value]
        super().__init__(name, state, **options)
        self._on: dict[str, tuple[type[Message], Callable[..., Any]]] = {}
        self._on_any: Callable[[S, Message, Event], Any] | None = None
        self._project: Callable[[S, Event], Message | None] | None = None

    def on(self, arg: Any) -> Any:
        """Registers the handler of new events of a type: ``fn(state, event,
        ev: Event)``, called with the state that already includes the event. An
        exception fails the delivery (evented retries it, then parks it)."""

        def register(cls: type[Message], fn: Callable[..., Any]) -> None:
            name = full_name(cls)
            if name in self._on:
                raise ValueError(f"on for {name} registered twice")
            self._on[name] = (cls, fn)

        return registrar(register, "on", 1, arg)

    def on_any(self, fn: Callable[[S, Message, Event], Any]) -> Callable[[S, Message, Event], Any]:
        """Registers a handler called for every new event, after the typed one
        if any (a log of everything). The event is decoded to its generated
        class when that class is imported, else it is the Any."""
        self._on_any = fn
        return fn

    def project(self, fn: Callable[[S, Event], Message | None]) -> Callable[[S, Event], Message | None]:
        """Registers how the folded state becomes the projection handle_sync
        returns; last describes the book's newest event. None means no
        projection for this book (the Projection then carries only the cover,
        the projector's name and the sequence)."""
        self._project = fn
        return fn

    def _visit(self, state: S, page: pb.EventPage, ev: Event) -> None:
        entry = self._on.get(type_name(page.event))
        if entry is not None:
            cls, fn = entry
            try:
                event = unpack(cls, page.event)
            except DecodeError as exc:
                raise Error(f"decode event {type_name(page.event)}: {exc}", grpc.StatusCode.INTERNAL) from None
            fn(state, event, ev)
        if self._on_any is not None:
            self._on_any(state, decode_any(page.event), ev)

    def handle_events(self, book: pb.EventBook) -> empty_pb2.Empty:
        """What ProjectorCoordinator/Handle answers (asynchronous delivery)."""
        self._replay(book, self._visit)
        return empty_pb2.Empty()

    def handle_sync(self, book: pb.EventBook) -> pb.Projection:
        """What ProjectorCoordinator/HandleSync answers: the Projection's
        sequence is the one after the book's last event."""
        state, last = self._replay(book, self._visit)
        out = pb.Projection(projector=self.name, sequence=next_sequence(book))
        out.cover.CopyFrom(book.cover)
        if self._project is None:
            return out
        try:
            m = self._project(state, last)
        except Exception as exc:  # noqa: BLE001
            raise status_of(f"{self._where()}: project", exc) from None
        if m is not None:
            out.projection.CopyFrom(pack(m))
        return out


Commands = Command | Iterable[Command] | None
"""What a react handler returns: one command, several, or None."""


class Saga(_Consumer[S], Generic[S]):
    """Reacts to the events of one domain by sending commands to other
    aggregates (evented.SagaCoordinator). evented asks HandleSync and executes
    the commands in the answer like a client's.

    The state is folded from each delivered book as a Projector's is (see
    history and event_query there), and the react handlers are called for the
    new events with the state including them. Delivery is at least once: a book
    can be delivered again after a failure, and its commands sent again.
    """

    kind = "saga"

    def __init__(self, name: str, state: Callable[[], S] = lambda: None, **options: Any) -> None:  # type: ignore[assignment,return-value]
        super().__init__(name, state, **options)
        self._react: dict[str, tuple[type[Message], Callable[..., Any]]] = {}

    def react(self, arg: Any) -> Any:
        """Registers the handler of new events of a type: ``fn(state, event,
        ev: Event)`` returns the commands to send (a Command, a list, or None).
        An exception fails the delivery; evented retries it, then parks it."""

        def register(cls: type[Message], fn: Callable[..., Any]) -> None:
            name = full_name(cls)
            if name in self._react:
                raise ValueError(f"react for {name} registered twice")
            self._react[name] = (cls, fn)

        return registrar(register, "react", 1, arg)

    def commands(self, book: pb.EventBook) -> list[Command]:
        """Folds book and returns the commands its new events call for, in
        order: what handle_sync answers."""
        out: list[Command] = []

        def visit(state: S, page: pb.EventPage, ev: Event) -> None:
            entry = self._react.get(type_name(page.event))
            if entry is None:
                return
            cls, fn = entry
            try:
                event = unpack(cls, page.event)
            except DecodeError as exc:
                raise Error(f"decode event {type_name(page.event)}: {exc}", grpc.StatusCode.INTERNAL) from None
            got = fn(state, event, ev)
            if got is None:
                return
            if isinstance(got, Command):
                out.append(got)
                return
            out.extend(got)

        self._replay(book, visit)
        return out

    def handle_sync(self, book: pb.EventBook) -> pb.SynchronousProcessingResponse:
        """What SagaCoordinator/HandleSync answers: one command book per command."""
        out = pb.SynchronousProcessingResponse()
        for i, c in enumerate(self.commands(book)):
            if not isinstance(c, Command) or not c.to.domain or not isinstance(c.message, Message):
                raise Error(f"{self._where()}: command #{i} is not a Command with a domain and a message: {c!r}", grpc.StatusCode.INTERNAL)
            b = out.commands.add()
            b.cover.CopyFrom(c.to.to_pb())
            b.pages.add().command.CopyFrom(pack(c.message))
        return out
