"""The Given/When/Then kit passes what is right and fails what is wrong."""
import grpc
import pytest

import counter
import evented
from evented import testing
from messages import Add, Added, Create, Created, State, Total


def test_aggregate_case():
    (testing.aggregate(counter.new).given(Created(name="a")).when(Add(points=2))
        .then(Added(points=2, balance=2)).then_snapshot(State(name="a", points=2)))
    testing.aggregate(counter.new).when(Add(points=2)).then_rejected(grpc.StatusCode.FAILED_PRECONDITION, "counter does not exist")
    testing.aggregate(counter.new).given_snapshot(State(name="a", points=5), 9).when(Add(points=1)).then(Added(points=1, balance=6))


def test_aggregate_case_fails_on_the_wrong_outcome():
    with pytest.raises(AssertionError, match=r"event #0:\n got  sdktest.Added\{points: 2 balance: 2\}"):
        testing.aggregate(counter.new).given(Created(name="a")).when(Add(points=2)).then(Added(points=2, balance=3))
    with pytest.raises(AssertionError, match="1 events, want 0"):
        testing.aggregate(counter.new).given(Created(name="a")).when(Add(points=2)).then()
    with pytest.raises(AssertionError, match="the commands failed: FAILED_PRECONDITION 'counter does not exist'"):
        testing.aggregate(counter.new).when(Add(points=2)).then(Added(points=2, balance=2))
    with pytest.raises(AssertionError, match="failed with FAILED_PRECONDITION 'counter does not exist', want INVALID_ARGUMENT"):
        testing.aggregate(counter.new).when(Add(points=2)).then_rejected(grpc.StatusCode.INVALID_ARGUMENT, "x")
    with pytest.raises(AssertionError, match=r"succeeded with events \[sdktest.Created"):
        testing.aggregate(counter.new).when(Create(name="a")).then_rejected(grpc.StatusCode.INVALID_ARGUMENT, "x")
    with pytest.raises(AssertionError, match="snapshot:"):
        testing.aggregate(counter.new).when(Create(name="a")).then_snapshot(State(name="b"))


def test_aggregate_case_checks_the_numbering():
    def misnumbering(**options):
        agg = counter.new(**options)
        inner = agg.handle_command

        def handle(request):
            out = inner(request)
            for p in out.pages:
                p.num = 0  # the defect of the original examples
            return out

        agg.handle_command = handle
        return agg

    with pytest.raises(AssertionError, match=r"event #0 is numbered num=0, want num 1"):
        testing.aggregate(misnumbering).given(Created(name="a")).when(Add(points=2)).then(Added(points=2, balance=2))


def test_projector_case():
    testing.projector(counter.totals).given(Added(points=3)).when(Added(points=4)).then_projection(Total(points=7, events=2))
    testing.projector(counter.totals).when(Created(name="x")).then_no_projection()
    with pytest.raises(AssertionError, match="projection:"):
        testing.projector(counter.totals).when(Added(points=4)).then_projection(Total(points=5, events=1))
    with pytest.raises(AssertionError, match="no projection"):
        testing.projector(counter.totals).when(Created(name="x")).then_projection(Total(points=5, events=1))


def test_saga_case_without_history_reads_the_given_events():
    cmd = evented.Command(evented.Cover.of("counter", "mirror-a"), Add(points=10))
    testing.saga(counter.mirror).given(Created(name="a")).when(Added(points=10), Added(points=1)).then_commands(cmd)
    testing.saga(counter.mirror).when(Added(points=10)).then_fails(grpc.StatusCode.INTERNAL, "has no name")
    with pytest.raises(AssertionError, match="0 commands, want 1"):
        testing.saga(counter.mirror).given(Created(name="a")).when(Added(points=1)).then_commands(cmd)
    with pytest.raises(AssertionError, match="command #0 is for counter/"):
        other = evented.Command(evented.Cover.of("counter", "elsewhere"), Add(points=10))
        testing.saga(counter.mirror).given(Created(name="a")).when(Added(points=10)).then_commands(other)
