"""How a state is rebuilt from a snapshot and events (shared by every kind)."""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from . import evented_pb2 as pb
from .errors import Error, status_of

S = TypeVar("S")
M = TypeVar("M", bound=Message)
F = TypeVar("F", bound=Callable[..., Any])


def full_name(cls: type[Message]) -> str:
    return cls.DESCRIPTOR.full_name


def type_name(a: any_pb2.Any) -> str:
    """The full message name of an Any's type URL (after its last '/')."""
    return a.type_url.rsplit("/", 1)[-1]


def pack(m: Message) -> any_pb2.Any:
    if not isinstance(m, Message):
        raise TypeError(f"{m!r} is not a protobuf message")
    a = any_pb2.Any()
    a.Pack(m)
    return a


def unpack(cls: type[M], a: any_pb2.Any) -> M:
    m = cls()
    m.ParseFromString(a.value)
    return m


def message_class(fn: Callable[..., Any], index: int, what: str) -> type[Message]:
    """The message class fn's parameter number index is annotated with."""
    params = list(inspect.signature(fn).parameters.values())
    if len(params) <= index:
        raise TypeError(f"{what} {fn.__qualname__}: takes {len(params)} parameters, want at least {index + 1}")
    ann = params[index].annotation
    if isinstance(ann, str):  # from __future__ import annotations
        try:
            ann = eval(ann, fn.__globals__)  # noqa: S307 - the function's own annotation
        except Exception as exc:  # pragma: no cover - message depends on the annotation
            raise TypeError(
                f"{what} {fn.__qualname__}: cannot resolve the annotation {ann!r} of parameter "
                f"{params[index].name!r} ({exc}); pass the message class instead: @x.{what}(MyMessage)"
            ) from None
    if not (isinstance(ann, type) and issubclass(ann, Message)):
        raise TypeError(
            f"{what} {fn.__qualname__}: annotate parameter {params[index].name!r} with its protobuf message "
            f"class, or pass the class: @x.{what}(MyMessage)"
        )
    return ann


def registrar(register: Callable[[type[Message], Callable[..., Any]], None], what: str, index: int, arg: Any) -> Any:
    """The decorator behind apply, handle, on, ...: used bare (the message type
    comes from the annotation of parameter index) or called with the class."""
    if isinstance(arg, type) and issubclass(arg, Message):
        cls = arg

        def decorate(fn: F) -> F:
            register(cls, fn)
            return fn

        return decorate
    if not callable(arg):
        raise TypeError(f"{what}: want a function or a protobuf message class, got {arg!r}")
    register(message_class(arg, index, what), arg)
    return arg


def sequences(book: pb.EventBook) -> list[int]:
    """A book's pages numbered: a page's num when it has one, else the one
    after the previous page (the first after the snapshot's sequence)."""
    n = book.snapshot.sequence
    out = []
    for p in book.pages:
        if p.WhichOneof("sequence") == "num":
            n = p.num
        out.append(n)
        n += 1
    return out


def next_sequence(book: pb.EventBook) -> int:
    """The sequence after a book's last page (the snapshot's for no pages)."""
    s = sequences(book)
    return s[-1] + 1 if s else book.snapshot.sequence


def _call(fn: Callable[[Any, Any], Any], state: Any, msg: Message, where: str) -> Any:
    try:
        return fn(state, msg)
    except Exception as exc:  # noqa: BLE001 - a bug in fn becomes INTERNAL
        raise status_of(where, exc) from None


class Fold(Generic[S]):
    """The Apply and Restore functions of one state type.

    A function takes the state and a message; it changes the state in place
    and returns None, or returns the new state (for immutable states).
    """

    def __init__(self, new_state: Callable[[], S]) -> None:
        self.new_state = new_state
        self.apply: dict[str, tuple[type[Message], Callable[[S, Any], Any]]] = {}
        self.restore: dict[str, tuple[type[Message], Callable[[S, Any], Any]]] = {}

    def add(self, table: dict, what: str, cls: type[Message], fn: Callable[..., Any]) -> None:
        name = full_name(cls)
        if name in table:
            raise ValueError(f"{what} for {name} registered twice")
        table[name] = (cls, fn)

    @property
    def stateful(self) -> bool:
        return bool(self.apply or self.restore)

    def restore_from(self, state: S, book: pb.EventBook) -> S:
        if not book.HasField("snapshot") or not book.snapshot.HasField("state") or not self.stateful:
            return state
        name = type_name(book.snapshot.state)
        entry = self.restore.get(name)
        if entry is None:
            raise Error(
                f"received a snapshot of type {name} and has no restore for it (known: {sorted(self.restore)})",
                grpc.StatusCode.FAILED_PRECONDITION,
            )
        cls, fn = entry
        try:
            snap = unpack(cls, book.snapshot.state)
        except DecodeError as exc:
            raise Error(f"decode snapshot {name}: {exc}", grpc.StatusCode.INTERNAL) from None
        out = _call(fn, state, snap, f"restore {name}")
        return state if out is None else out

    def apply_page(self, state: S, seq: int, page: pb.EventPage) -> S:
        name = type_name(page.event)
        entry = self.apply.get(name)
        if entry is None:
            return state
        cls, fn = entry
        try:
            event = unpack(cls, page.event)
        except DecodeError as exc:
            raise Error(f"decode event {name} at sequence {seq}: {exc}", grpc.StatusCode.INTERNAL) from None
        out = _call(fn, state, event, f"apply {name} at sequence {seq}")
        return state if out is None else out


class Folder(Generic[S]):
    """What an Aggregate, a Projector and a Saga share: apply and restore."""

    _fold: Fold[S]

    def apply(self, arg: Any) -> Any:
        """Registers how an event changes the state::

            @agg.apply
            def created(s: State, e: pb.CustomerCreated) -> None:
                s.exists = True

        The event type comes from the annotation, or is passed:
        ``@agg.apply(pb.CustomerCreated)``. Every event of that type is applied
        in sequence order when the state is rebuilt; events of a type with no
        apply leave the state as it is. Return None after changing the state in
        place, or return the new state.
        """
        return registrar(lambda cls, fn: self._fold.add(self._fold.apply, "apply", cls, fn), "apply", 1, arg)

    def restore(self, arg: Any) -> Any:
        """Registers how a snapshot message seeds the state (as apply does for
        an event). Once anything is registered with apply or restore, a
        snapshot of a type with no restore is an error rather than a silently
        wrong state."""
        return registrar(lambda cls, fn: self._fold.add(self._fold.restore, "restore", cls, fn), "restore", 1, arg)
