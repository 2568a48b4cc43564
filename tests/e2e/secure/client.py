"""The Python SDK's client against evented with TLS and tokens (tests/e2e, TestSecureClients).

Run by the end-to-end suite, not by pytest. It reads from the environment:

    EVENTED_COMMAND_ADDR, EVENTED_QUERY_ADDR   evented's ports (host:port)
    EVENTED_CA_FILE        the CA of evented's certificate
    EVENTED_OTHER_CA_FILE  a CA that did not sign it
    EVENTED_TOKEN          a token with the roles command and query
    EVENTED_READER_TOKEN   a token with the role query only

and prints one line per check; it exits 1 at the first that fails.
"""
from __future__ import annotations

import os
import sys
import uuid

import grpc
from google.protobuf import any_pb2

import evented
from evented import evented_pb2 as pb
from evented import evented_pb2_grpc as pb_grpc

COMMAND = "type.googleapis.com/examples.CreateCustomer"
EVENT = "type.googleapis.com/examples.CustomerCreated"


def fail(what: str) -> None:
    print(f"FAIL: {what}", flush=True)
    sys.exit(1)


def command(root: uuid.UUID) -> pb.CommandBook:
    return pb.CommandBook(
        cover=pb.Cover(domain="customer", root=pb.UUID(value=root.bytes)),
        pages=[pb.CommandPage(command=any_pb2.Any(type_url=COMMAND, value=b"\n\x03Ada"))],
    )


def refused(what: str, call, code: grpc.StatusCode) -> None:
    try:
        call()
    except grpc.RpcError as e:
        if e.code() != code:
            fail(f"{what}: {e.code().name} {e.details()!r}, want {code.name}")
        print(f"ok: {what}: {code.name} {e.details()!r}", flush=True)
        return
    fail(f"{what}: succeeded, want {code.name}")


def main() -> None:
    env = os.environ
    cmd_addr, qry_addr = env["EVENTED_COMMAND_ADDR"], env["EVENTED_QUERY_ADDR"]
    ca, other_ca = env["EVENTED_CA_FILE"], env["EVENTED_OTHER_CA_FILE"]
    token, reader = env["EVENTED_TOKEN"], env["EVENTED_READER_TOKEN"]
    timeout = 15

    # A token with command and query: send a command, read its event back.
    root = evented.root(f"secure-python-{uuid.uuid4()}")
    writer = pb_grpc.BusinessCoordinatorStub(evented.connect(cmd_addr, ca_file=ca, token=token))
    reply = writer.Handle(command(root), timeout=timeout)
    got = [p.event.type_url for b in reply.books for p in b.pages]
    if got != [EVENT]:
        fail(f"Handle replied with events {got}, want [{EVENT}]")
    print(f"ok: Handle with the command+query token stored {got}", flush=True)
    query = pb_grpc.EventQueryStub(evented.connect(qry_addr, ca_file=ca, token=token))
    pages = [p for b in query.GetEvents(pb.Query(domain="customer", root=pb.UUID(value=root.bytes)), timeout=timeout) for p in b.pages]
    if [(p.num, p.event.type_url) for p in pages] != [(0, EVENT)]:
        fail(f"GetEvents read {[(p.num, p.event.type_url) for p in pages]}, want [(0, {EVENT!r})]")
    print("ok: GetEvents read it back", flush=True)

    # A query-only token may not send a command.
    as_reader = pb_grpc.BusinessCoordinatorStub(evented.connect(cmd_addr, ca_file=ca, token=reader))
    refused("Handle with the query-only token", lambda: as_reader.Handle(command(uuid.uuid4()), timeout=timeout),
            grpc.StatusCode.PERMISSION_DENIED)

    # No token at all.
    anonymous = pb_grpc.BusinessCoordinatorStub(evented.connect(cmd_addr, ca_file=ca))
    refused("Handle without a token", lambda: anonymous.Handle(command(uuid.uuid4()), timeout=timeout),
            grpc.StatusCode.UNAUTHENTICATED)

    # Trusting another CA: the handshake fails.
    misled = pb_grpc.BusinessCoordinatorStub(evented.connect(cmd_addr, ca_file=other_ca, token=token))
    refused("Handle trusting another CA", lambda: misled.Handle(command(uuid.uuid4()), timeout=timeout),
            grpc.StatusCode.UNAVAILABLE)

    print("secure client: every check passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        fail(f"{e.code().name} {e.details()!r}")
