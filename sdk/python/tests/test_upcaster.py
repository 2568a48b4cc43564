"""The Upcaster helper: typed steps, the steps list, refusals."""
from __future__ import annotations

import grpc
import pytest
from google.protobuf import wrappers_pb2 as w

import evented
from evented import evented_pb2 as pb
from evented import evented_pb2_grpc as pb_grpc


def chain() -> evented.Upcaster:
    up = evented.Upcaster("names")

    @up.step(w.StringValue, from_version=1)
    def v1(e: w.StringValue) -> w.StringValue:
        return w.StringValue(value=e.value + "|")

    @up.step(w.StringValue, from_version=2, to=w.BytesValue)
    def v2(e: w.StringValue) -> w.BytesValue:
        return w.BytesValue(value=(e.value + "none@example.com").encode())

    return up


def request(*events: tuple[str, int]) -> pb.UpcastRequest:
    req = pb.UpcastRequest(domain="customer")
    for value, version in events:
        e = req.events.add(schema_version=version)
        e.event.Pack(w.StringValue(value=value))
    return req


def test_each_event_one_version_up() -> None:
    resp = chain().upcast(request(("ann", 0), ("bob|", 2)))
    first, second = resp.events
    assert first.schema_version == 2 and first.event.type_url.endswith("StringValue")
    got = w.StringValue()
    first.event.Unpack(got)
    assert got.value == "ann|"
    assert second.schema_version == 3 and second.event.type_url == "type.googleapis.com/google.protobuf.BytesValue"
    b = w.BytesValue()
    second.event.Unpack(b)
    assert b.value == b"bob|none@example.com"


def test_steps_for_the_configuration() -> None:
    assert chain().steps() == [
        {"type": "type.googleapis.com/google.protobuf.StringValue", "from_version": 1},
        {"type": "type.googleapis.com/google.protobuf.StringValue", "from_version": 2,
         "to": "type.googleapis.com/google.protobuf.BytesValue"},
    ]


def test_refusals() -> None:
    up = chain()
    with pytest.raises(ValueError, match="two steps"):
        up.step(w.StringValue, from_version=1)(lambda e: e)
    with pytest.raises(ValueError, match="want 1 or more"):
        up.step(w.StringValue, from_version=0)
    with pytest.raises(LookupError, match="no step for type.googleapis.com/google.protobuf.StringValue v3"):
        up.upcast(request(("x", 3)))


def test_served() -> None:
    running = evented.start("127.0.0.1:0", chain())
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
            resp = pb_grpc.UpcasterStub(ch).Upcast(request(("ann", 1)), timeout=10)
            assert resp.events[0].schema_version == 2
            with pytest.raises(grpc.RpcError) as err:
                pb_grpc.UpcasterStub(ch).Upcast(request(("x", 9)), timeout=10)
            assert err.value.code() == grpc.StatusCode.INTERNAL
            assert "no step" in err.value.details()
    finally:
        running.stop(0)
