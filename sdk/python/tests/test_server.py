"""The SDK served for real, on 127.0.0.1, called through gRPC."""
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import counter
import evented
from evented import evented_pb2 as pb
from evented import evented_pb2_grpc as pb_grpc
from evented._fold import pack, unpack
from messages import Add, Added, Create, Total


@pytest.fixture
def server():
    other = evented.Aggregate("other", dict)
    other.handle(Add)(lambda s, c: Added(points=c.points))
    running = evented.start("127.0.0.1:0", counter.new(), other, counter.totals(), counter.mirror())
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    yield channel
    channel.close()
    running.stop(1)


def command(domain, name, *msgs):
    cover = evented.Cover.of(domain, name).to_pb()
    cmd = pb.CommandBook(cover=cover)
    for m in msgs:
        cmd.pages.add().command.CopyFrom(pack(m))
    return pb.ContextualCommand(events=pb.EventBook(cover=cover), command=cmd)


def test_business_logic_routes_by_domain(server):
    logic = pb_grpc.BusinessLogicStub(server)
    out = logic.Handle(command("counter", "c", Create(name="a"), Add(points=2)), timeout=10)
    assert [p.num for p in out.pages] == [0, 1] and out.snapshot.sequence == 2
    out = logic.Handle(command("other", "o", Add(points=3)), timeout=10)
    assert unpack(Added, out.pages[0].event) == Added(points=3)
    with pytest.raises(grpc.RpcError) as e:
        logic.Handle(command("nope", "n", Add(points=3)), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == "this service handles domains ['counter', 'other'], not \"nope\""


def test_rejections_reach_the_caller_with_their_code(server):
    logic = pb_grpc.BusinessLogicStub(server)
    with pytest.raises(grpc.RpcError) as e:
        logic.Handle(command("counter", "c", Add(points=2)), timeout=10)
    assert (e.value.code(), e.value.details()) == (grpc.StatusCode.FAILED_PRECONDITION, "counter does not exist")
    with pytest.raises(grpc.RpcError) as e:
        logic.Handle(command("counter", "c", Create()), timeout=10)
    assert (e.value.code(), e.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "name is required")


def test_projector_and_saga_under_the_coordinator_names(server):
    b = pb.EventBook(cover=evented.Cover.of("counter", "c").to_pb())
    b.pages.add(num=0, event=pack(Added(points=10)))
    proj = pb_grpc.ProjectorCoordinatorStub(server).HandleSync(b, timeout=10)
    assert unpack(Total, proj.projection) == Total(points=10, events=1)
    pb_grpc.ProjectorCoordinatorStub(server).Handle(b, timeout=10)
    saga = pb_grpc.SagaCoordinatorStub(server)
    with pytest.raises(grpc.RpcError) as e:
        saga.HandleSync(b, timeout=10)  # the counter has no name: a failed delivery
    assert e.value.code() == grpc.StatusCode.INTERNAL
    with pytest.raises(grpc.RpcError) as e:
        saga.Handle(b, timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    with pytest.raises(grpc.RpcError) as e:  # the legacy names are not registered
        pb_grpc.SagaStub(server).HandleSync(b, timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_health_is_serving_then_not(server):
    resp = health_pb2_grpc.HealthStub(server).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_large_books_are_accepted(server):
    b = pb.EventBook(cover=evented.Cover.of("counter", "c").to_pb())
    for i in range(6000):
        b.pages.add(num=i, event=pack(Create(name="x" * 1000)))  # ~6 MB, over gRPC's default 4 MiB
    proj = pb_grpc.ProjectorCoordinatorStub(server).HandleSync(b, timeout=30)
    assert proj.sequence == 6000


def test_one_projector_per_server():
    with pytest.raises(ValueError, match="one gRPC server serves one projector"):
        evented.start("127.0.0.1:0", counter.totals(), counter.totals())
    with pytest.raises(TypeError):
        evented.start("127.0.0.1:0", object())


def test_stop_turns_health_off():
    running = evented.start("127.0.0.1:0", counter.new())
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
        assert health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    running.stop(1)
    running.stop(1)  # idempotent
    assert running.wait(5)
