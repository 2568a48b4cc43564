"""Subscription queries against a real evented: the Go binary, built from
this repository (or EVENTED_BIN), run as a process on 127.0.0.1 with the
memory store and a projector served here."""
import os
import pathlib
import shutil
import socket
import subprocess
import threading
import time
import uuid
from concurrent import futures

import grpc
import pytest
from google.protobuf import any_pb2

import evented
from evented import evented_pb2 as pb
from evented import evented_pb2_grpc as pb_grpc

ROOT = pathlib.Path(__file__).resolve().parents[3]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def evented_bin(tmp_path_factory):
    if os.environ.get("EVENTED_BIN"):
        return os.environ["EVENTED_BIN"]
    if shutil.which("go") is None:
        pytest.skip("needs go to build evented (or EVENTED_BIN)")
    out = tmp_path_factory.mktemp("bin") / "evented"
    subprocess.run(["go", "build", "-o", str(out), "./cmd/evented"], cwd=ROOT, check=True, timeout=600)
    return str(out)


class View(pb_grpc.ProjectorCoordinatorServicer):
    """The projection of an aggregate is the sequence of its newest event;
    every one returned is recorded."""

    def __init__(self):
        self.lock, self.returned = threading.Lock(), []

    def HandleSync(self, book, context):
        last = book.pages[-1].num
        with self.lock:
            if not self.returned or self.returned[-1] < last:
                self.returned.append(last)
        return pb.Projection(cover=book.cover, sequence=last,
                             projection=any_pb2.Any(type_url="type.googleapis.com/test.View", value=str(last).encode()))


@pytest.fixture
def server(evented_bin, tmp_path):
    view = View()
    projector = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_ProjectorCoordinatorServicer_to_server(view, projector)
    pport = projector.add_insecure_port("127.0.0.1:0")
    projector.start()
    cmd, qry = free_port(), free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"""
storage: {{type: memory}}
server: {{host: 127.0.0.1, command_handler_port: {cmd}, event_query_port: {qry}, admin_port: -1}}
delivery: {{backoff_min: 1ms, backoff_max: 10ms}}
projectors:
  - {{name: view, address: "127.0.0.1:{pport}", publish_projections: true}}
""")
    proc = subprocess.Popen([evented_bin, "serve", "--config", str(config)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{cmd}")
        grpc.channel_ready_future(channel).result(timeout=20)
        yield view, channel, grpc.insecure_channel(f"127.0.0.1:{qry}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        projector.stop(0)


def send(channel, cover, n, wait=False):
    """Send n commands; with wait, the last returns once "view" handled it."""
    stub = pb_grpc.BusinessCoordinatorStub(channel)
    for i in range(n):
        md = (("evented-wait-for", "view"), ("evented-wait-timeout", "10s")) if wait and i == n - 1 else ()
        stub.Handle(pb.CommandBook(cover=cover, pages=[pb.CommandPage(command=any_pb2.Any(type_url="AddEntry"))]),
                    timeout=15, metadata=md)


def test_watch_projection_every_update_then_resume(server):
    view, commands, query = server
    cover = evented.Cover("ledger", uuid.uuid4())
    send(commands, cover.to_pb(), 1)
    got, versions = [], []
    deadline = time.monotonic() + 20
    for update in evented.watch_projection(query, "view", cover=cover):
        got.append(int(update.projection.projection.value))
        versions.append(update.version)
        assert update.key == str(cover)
        if len(got) == 1:
            send(commands, cover.to_pb(), 9)
        if got[-1] == 9 or time.monotonic() > deadline:
            break
    assert got == view.returned[view.returned.index(got[0]):]
    assert versions == sorted(set(versions))

    # Resume after the last version: only what came since.
    send(commands, cover.to_pb(), 5, wait=True)  # the resume starts behind the newest change
    resumed = []
    for update in evented.watch_projection(query, "view", cover=cover, after_version=versions[-1]):
        resumed.append(int(update.projection.projection.value))
        if resumed[-1] == 14 or time.monotonic() > deadline:
            break
    assert got + resumed == view.returned


def test_unknown_projector_is_refused(server):
    _, _, query = server
    with pytest.raises(grpc.RpcError) as err:
        next(evented.watch_projection(query, "nope", key="k"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "configured projectors: [view]" in err.value.details()
