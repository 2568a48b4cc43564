import grpc
import pytest

import counter
import evented
from evented import evented_pb2 as pb
from evented._fold import pack, unpack
from messages import Add, Added, Created, State, Total

COVER = evented.Cover.of("counter", "c-1")


def book(events, first=0, snapshot=None):
    b = pb.EventBook(cover=COVER.to_pb())
    if snapshot is not None:
        b.snapshot.CopyFrom(snapshot)
    for i, e in enumerate(events):
        b.pages.add(num=first + i, event=pack(e))
    return b


def test_projector_with_history_folds_everything_and_handles_the_newest():
    p = counter.totals()
    snap = pb.Snapshot(sequence=3, state=pack(State(points=100)))
    proj = p.handle_sync(book([Added(points=5), Added(points=7)], first=3, snapshot=snap))
    assert proj.projector == "totals" and proj.sequence == 5 and proj.cover == COVER.to_pb()
    assert unpack(Total, proj.projection) == Total(points=112, events=5)
    assert p.seen == [("Added", 4)]  # only the newest event is handled


def test_projector_without_projection():
    proj = counter.totals().handle_sync(book([Created(name="a")]))
    assert not proj.HasField("projection") and proj.sequence == 1


def test_history_misconfiguration_is_named():
    with pytest.raises(evented.Error) as e:
        counter.totals().handle_sync(book([Added(points=1)], first=4))
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "set history: true for it in evented's configuration" in e.value.message
    with pytest.raises(evented.Error) as e:
        counter.mirror().commands(book([Added(points=1)], snapshot=pb.Snapshot(sequence=0)))
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "history=True" in e.value.message


class Reader:
    def __init__(self, books):
        self.books, self.queries = books, []

    def GetEvents(self, request, timeout=None):  # noqa: N802
        self.queries.append(request)
        return iter(self.books)


def test_saga_without_history_reads_the_earlier_events():
    reader = Reader([book([Created(name="src"), Added(points=1), Added(points=99)])])
    cmds = counter.mirror(event_query=reader).commands(book([Added(points=10), Added(points=3), Added(points=20)], first=2))
    assert [(c.to, c.message) for c in cmds] == [
        (evented.Cover.of("counter", "mirror-src"), Add(points=10)),
        (evented.Cover.of("counter", "mirror-src"), Add(points=20)),
    ]
    (q,) = reader.queries
    assert (q.domain, q.root.value, q.lower_bound, q.upper_bound) == ("counter", COVER.root.bytes, 0, 2)


def test_saga_failure_and_unreachable_query():
    with pytest.raises(evented.Error) as e:
        counter.mirror().handle_sync(book([Added(points=10)]))
    assert e.value.code == grpc.StatusCode.INTERNAL
    assert e.value.message.startswith(f'saga "mirror": sdktest.Added at {COVER}/0: RuntimeError: counter ')

    class Down:
        def GetEvents(self, request, timeout=None):  # noqa: N802
            raise grpc.RpcError("connection refused")

    with pytest.raises(evented.Error) as e:
        counter.mirror(event_query=Down()).commands(book([Added(points=10)], first=1))
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert e.value.message.startswith(f'saga "mirror": read the events of {COVER} before sequence 1')


def test_saga_answer_has_one_book_per_command():
    resp = counter.mirror().handle_sync(book([Created(name="x"), Added(points=10), Added(points=11)]))
    assert [b.cover for b in resp.commands] == [evented.Cover.of("counter", "mirror-x").to_pb()] * 2
    assert [unpack(Add, b.pages[0].command) for b in resp.commands] == [Add(points=10), Add(points=11)]


def test_on_any_sees_decoded_events_and_unknown_ones():
    seen = []
    p = evented.Projector("log")
    p.on_any(lambda s, e, ev: seen.append((e, ev.sequence, ev.created_at)))
    b = book([Added(points=1)])
    b.pages[0].created_at.FromSeconds(60)
    unknown = b.pages.add(num=1)
    unknown.event.type_url = "type.googleapis.com/nowhere.Thing"
    unknown.event.value = b"\x08\x01"
    p.handle_events(b)
    assert seen[0][:2] == (Added(points=1), 0)
    assert seen[0][2].timestamp() == 60
    assert seen[1][0].type_url.endswith("nowhere.Thing") and seen[1][2] is None
