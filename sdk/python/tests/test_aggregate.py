import grpc
import pytest

import counter
import evented
from evented import evented_pb2 as pb
from evented._fold import pack, type_name, unpack
from messages import Add, Added, Create, Created, Reset, State

COVER = evented.Cover.of("counter", "c-1")


def contextual(prior_pages=(), commands=(), snapshot=None, cover=COVER):
    prior = pb.EventBook(cover=cover.to_pb())
    if snapshot is not None:
        prior.snapshot.CopyFrom(snapshot)
    for p in prior_pages:
        prior.pages.append(p)
    cmd = pb.CommandBook(cover=cover.to_pb())
    for c in commands:
        cmd.pages.add().command.CopyFrom(pack(c))
    return pb.ContextualCommand(events=prior, command=cmd)


def page(event, num=None):
    p = pb.EventPage(event=pack(event))
    if num is not None:
        p.num = num
    return p


def decoded(book):
    return [unpack({"sdktest.Created": Created, "sdktest.Added": Added}[type_name(p.event)], p.event) for p in book.pages]


def test_new_events_are_numbered_from_the_next_sequence():
    out = counter.new().handle_command(contextual([page(Created(name="a"), 0), page(Added(points=1, balance=1), 1)], [Add(points=2)]))
    assert [p.num for p in out.pages] == [2]
    assert decoded(out) == [Added(points=2, balance=3)]
    assert out.cover == COVER.to_pb()


def test_prior_pages_without_num_follow_the_snapshot():
    # evented-rs style: pages with force or nothing; the snapshot holds 5 events.
    snap = pb.Snapshot(sequence=5, state=pack(State(name="a", points=10)))
    forced = page(Added(points=1, balance=11))
    forced.force = True
    out = counter.new().handle_command(contextual([forced, page(Added(points=1, balance=12))], [Add(points=3)], snapshot=snap))
    assert [p.num for p in out.pages] == [7]
    assert decoded(out) == [Added(points=3, balance=15)]
    assert out.snapshot.sequence == 8
    assert unpack(State, out.snapshot.state) == State(name="a", points=15)


def test_commands_of_one_book_see_each_other():
    out = counter.new().handle_command(contextual([], [Create(name="a"), Add(points=4), Add(points=5)]))
    assert [p.num for p in out.pages] == [0, 1, 2]
    assert decoded(out) == [Created(name="a"), Added(points=4, balance=4), Added(points=5, balance=9)]
    assert out.snapshot.sequence == 3


def test_nothing_happened_is_an_empty_book_without_snapshot():
    out = counter.new().handle_command(contextual([page(Created(name="a"), 0)], [Reset()]))
    assert list(out.pages) == []
    assert not out.HasField("snapshot")
    assert out.cover == COVER.to_pb()


@pytest.mark.parametrize(
    "prior,command,code,message",
    [
        ([], Create(), grpc.StatusCode.INVALID_ARGUMENT, "name is required"),
        ([page(Created(name="a"), 0)], Create(name="a"), grpc.StatusCode.FAILED_PRECONDITION, "counter already exists"),
        ([], Add(points=1), grpc.StatusCode.FAILED_PRECONDITION, "counter does not exist"),
        ([], Add(points=-1), grpc.StatusCode.INVALID_ARGUMENT, "points must be positive, got -1"),
    ],
)
def test_refusals_keep_their_code_and_message(prior, command, code, message):
    with pytest.raises(evented.Error) as e:
        counter.new().handle_command(contextual(prior, [command]))
    assert (e.value.code, e.value.message) == (code, message)


def test_a_bug_in_a_handler_is_internal_and_says_where():
    with pytest.raises(evented.Error) as e:
        counter.new().handle_command(contextual([page(Created(name="a"), 0), page(Added(points=1), 1)], [Reset()]))
    assert e.value.code == grpc.StatusCode.INTERNAL
    assert e.value.message == "counter: sdktest.Reset: ZeroDivisionError: a bug"


def test_unknown_command_and_other_domain_and_no_pages():
    with pytest.raises(evented.Error) as e:
        counter.new().handle_command(contextual([], [State()]))
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert 'no handler for "type.googleapis.com/sdktest.State"' in e.value.message
    with pytest.raises(evented.Error) as e:
        counter.new().handle_command(contextual([], [Add(points=1)], cover=evented.Cover.of("other", "x")))
    assert (e.value.code, e.value.message) == (grpc.StatusCode.NOT_FOUND, 'this service handles domain "counter", not "other"')
    with pytest.raises(evented.Error) as e:
        counter.new().handle_command(contextual([], []))
    assert (e.value.code, e.value.message) == (grpc.StatusCode.INVALID_ARGUMENT, "command.pages: must hold at least one command")
    with pytest.raises(evented.Error) as e:
        counter.new().handle_command(pb.ContextualCommand())
    assert e.value.message == "command.cover: missing"


def test_a_snapshot_of_an_unknown_type_is_refused():
    snap = pb.Snapshot(sequence=1, state=pack(Created(name="x")))
    with pytest.raises(evented.Error) as e:
        counter.new().handle_command(contextual([], [Add(points=1)], snapshot=snap))
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.message.startswith("counter: received a snapshot of type sdktest.Created and has no restore for it")


def test_registration_mistakes_are_caught_early():
    agg = evented.Aggregate("d", dict)
    agg.handle(Add)(lambda s, c: None)
    with pytest.raises(ValueError, match="handle for sdktest.Add registered twice"):
        agg.handle(Add)(lambda s, c: None)
    with pytest.raises(TypeError, match="annotate parameter 'c'"):

        @agg.handle
        def untyped(s, c):
            return None

    with pytest.raises(ValueError):
        evented.Aggregate("", dict)


def test_immutable_state_returned_by_apply():
    agg = evented.Aggregate("sum", lambda: 0)
    agg.apply(Added)(lambda total, e: total + e.points)
    agg.handle(Add)(lambda total, c: Added(points=c.points, balance=total + c.points))
    out = agg.handle_command(contextual([page(Added(points=2), 0), page(Added(points=3), 1)], [Add(points=1)], cover=evented.Cover.of("sum", "s")))
    assert decoded(out) == [Added(points=1, balance=6)]


def test_clock_and_timestamp():
    from evented.testing import NOW

    agg = evented.Aggregate("d", dict, clock=lambda: NOW)
    assert agg.now() == NOW
    assert evented.timestamp(NOW).ToDatetime() == NOW.replace(tzinfo=None)


def test_take_snapshot_folds_the_snapshot_and_events_without_a_command():
    book = pb.EventBook(cover=COVER.to_pb())
    book.snapshot.CopyFrom(pb.Snapshot(sequence=5, state=pack(State(name="a", points=10))))
    book.pages.append(page(Added(points=2, balance=12), 5))
    book.pages.append(page(Added(points=3, balance=15), 6))
    out = counter.new().take_snapshot(book)
    assert out.sequence == 7
    assert unpack(State, out.state) == State(name="a", points=15)


def test_take_snapshot_without_a_snapshot_function_is_unimplemented():
    agg = evented.Aggregate("counter", dict)
    with pytest.raises(evented.Error) as info:
        agg.take_snapshot(pb.EventBook(cover=COVER.to_pb()))
    assert info.value.code == grpc.StatusCode.UNIMPLEMENTED
