import uuid

import grpc
import pytest

import evented
from evented import evented_pb2 as pb


def test_root_of_a_name_is_the_same_in_every_language():
    # Go: sdk.Root("cust-001"); Rust: evented::root("cust-001").
    assert str(evented.root("cust-001")) == "bee85a38-babe-5251-8d7d-f8a8ed93ed9c"
    assert evented.root("cust-001") == uuid.uuid5(uuid.NAMESPACE_URL, "evented:cust-001")


@pytest.mark.parametrize(
    "name",
    [
        "2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f",
        "2C9D1A4E-7B3F-4C1D-9E8A-5F6B7C8D9E0F",
        "{2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f}",
        "urn:uuid:2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f",
        "URN:UUID:2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f",
        "2c9d1a4e7b3f4c1d9e8a5f6b7c8d9e0f",
    ],
)
def test_a_uuid_is_itself(name):
    assert evented.root(name) == uuid.UUID("2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f")


@pytest.mark.parametrize("name", ["2c9d1a4e-7b3f4c1d-9e8a-5f6b7c8d9e0f-", "2c9d1a4e7b3f-4c1d-9e8a-5f6b7c8d9e0f", "", "{x}"])
def test_what_is_not_a_uuid_is_a_name(name):
    assert evented.root(name) == uuid.uuid5(uuid.NAMESPACE_URL, "evented:" + name)


def test_cover_from_the_wire_names_the_bad_field():
    with pytest.raises(evented.Error) as e:
        evented.Cover.from_pb(None, "command.cover")
    assert (e.value.code, e.value.message) == (grpc.StatusCode.INVALID_ARGUMENT, "command.cover: missing")
    with pytest.raises(evented.Error) as e:
        evented.Cover.from_pb(pb.Cover(domain="", root=pb.UUID(value=bytes(16))))
    assert e.value.message == "cover.domain: must not be empty"
    with pytest.raises(evented.Error) as e:
        evented.Cover.from_pb(pb.Cover(domain="d", root=pb.UUID(value=b"abc")))
    assert e.value.message == "cover.root.value: must be exactly 16 bytes, got 3"
    c = evented.Cover.of("customer", "cust-001")
    assert evented.Cover.from_pb(c.to_pb()) == c
    assert str(c) == "customer/bee85a38-babe-5251-8d7d-f8a8ed93ed9c"
