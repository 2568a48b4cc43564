"""A small aggregate, projector and saga on the sdktest messages."""
from __future__ import annotations

import dataclasses

import evented
from messages import Add, Added, Create, Created, Reset, State, Total


@dataclasses.dataclass
class Counter:
    exists: bool = False
    name: str = ""
    points: int = 0


def new(**options) -> evented.Aggregate[Counter]:
    agg = evented.Aggregate("counter", Counter, **options)

    @agg.apply
    def created(s: Counter, e: Created) -> None:
        s.exists, s.name = True, e.name

    @agg.apply(Added)
    def added(s, e):
        s.points += e.points

    @agg.restore
    def restore(s: Counter, snap: State) -> Counter:
        return Counter(exists=True, name=snap.name, points=snap.points)

    @agg.snapshot
    def snapshot(s: Counter) -> State:
        return State(name=s.name, points=s.points)

    @agg.handle
    def create(s: Counter, c: Create):
        if not c.name:
            raise evented.Invalid("name is required")
        if s.exists:
            raise evented.Rejected("counter already exists")
        return Created(name=c.name)

    @agg.handle
    def add(s: Counter, c: Add):
        if c.points <= 0:
            raise evented.Invalid(f"points must be positive, got {c.points}")
        if not s.exists:
            raise evented.Rejected("counter does not exist")
        return [Added(points=c.points, balance=s.points + c.points)]

    @agg.handle
    def reset(s: Counter, c: Reset):
        if s.points == 0:
            return None  # nothing happened
        raise ZeroDivisionError("a bug")

    return agg


def totals(**options) -> evented.Projector[Counter]:
    """A projector of the points added, with history."""
    p = evented.Projector("totals", lambda: Counter(), history=True, **options)
    seen: list[tuple[str, int]] = []

    @p.apply
    def added(s: Counter, e: Added) -> None:
        s.points += e.points

    @p.restore
    def restore(s: Counter, snap: State) -> None:
        s.points = snap.points

    @p.on
    def on_added(s: Counter, e: Added, ev: evented.Event) -> None:
        seen.append((type(e).DESCRIPTOR.name, ev.sequence))

    @p.project
    def project(s: Counter, last: evented.Event) -> Total | None:
        if s.points == 0:
            return None
        return Total(points=s.points, events=last.sequence + 1)

    p.seen = seen  # type: ignore[attr-defined]
    return p


def mirror(**options) -> evented.Saga[Counter]:
    """A saga without history that mirrors every addition of 10 points or more
    onto the counter named after the source's name."""
    s = evented.Saga("mirror", Counter, **options)

    @s.apply
    def created(st: Counter, e: Created) -> None:
        st.name = e.name

    @s.react
    def on_added(st: Counter, e: Added, ev: evented.Event):
        if e.points < 10:
            return None
        if not st.name:
            raise RuntimeError(f"counter {ev.cover.root} has no name")
        return evented.Command(evented.Cover.of("counter", "mirror-" + st.name), Add(points=e.points))

    return s
