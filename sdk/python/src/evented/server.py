"""Serving aggregates, projectors and sagas over gRPC."""
from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from . import evented_pb2 as pb
from . import evented_pb2_grpc as pb_grpc
from .aggregate import Aggregate
from .consumer import Projector, Saga
from .errors import Error, status_of
from .upcaster import Upcaster, _UpcasterServicer

log = logging.getLogger("evented")

#: The largest request a server accepts (64 MiB): a projector or saga with
#: history receives a whole aggregate in one book.
MAX_MESSAGE_SIZE = 64 << 20

Service = Aggregate[Any] | Projector[Any] | Saga[Any] | Upcaster


def _call(context: grpc.ServicerContext, where: str, fn: Callable[[], Any]) -> Any:
    """Runs fn, turning an exception into the call's status."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a status
        err = exc if isinstance(exc, Error) else status_of(where, exc)
        context.abort(err.code, err.message)


class _BusinessLogic(pb_grpc.BusinessLogicServicer):
    """Routes each command to the aggregate of its domain."""

    def __init__(self, aggregates: dict[str, Aggregate[Any]]) -> None:
        self._by_domain = aggregates

    def Handle(self, request: pb.ContextualCommand, context: grpc.ServicerContext) -> pb.EventBook:  # noqa: N802
        domain = request.command.cover.domain
        agg = self._by_domain.get(domain)
        if agg is None:
            if len(self._by_domain) == 1:
                agg = next(iter(self._by_domain.values()))  # its own message names the domain
            else:
                context.abort(grpc.StatusCode.NOT_FOUND, f'this service handles domains {sorted(self._by_domain)}, not "{domain}"')
        return _call(context, domain, lambda: agg.handle_command(request))

    def Snapshot(self, request: pb.EventBook, context: grpc.ServicerContext) -> pb.Snapshot:  # noqa: N802
        domain = request.cover.domain
        agg = self._by_domain.get(domain)
        if agg is None:
            if len(self._by_domain) == 1:
                agg = next(iter(self._by_domain.values()))  # its own message names the domain
            else:
                context.abort(grpc.StatusCode.NOT_FOUND, f'this service handles domains {sorted(self._by_domain)}, not "{domain}"')
        return _call(context, domain, lambda: agg.take_snapshot(request))


class _ProjectorCoordinator(pb_grpc.ProjectorCoordinatorServicer):
    def __init__(self, projector: Projector[Any]) -> None:
        self._p = projector

    def Handle(self, request: pb.EventBook, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return _call(context, self._p.name, lambda: self._p.handle_events(request))

    def HandleSync(self, request: pb.EventBook, context: grpc.ServicerContext) -> pb.Projection:  # noqa: N802
        return _call(context, self._p.name, lambda: self._p.handle_sync(request))


class _SagaCoordinator(pb_grpc.SagaCoordinatorServicer):
    def __init__(self, saga: Saga[Any]) -> None:
        self._s = saga

    def Handle(self, request: pb.EventBook, context: grpc.ServicerContext) -> Any:  # noqa: N802
        # A fire-and-forget call cannot return commands; evented asks HandleSync.
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f'saga "{self._s.name}" answers HandleSync: its commands are in the answer')

    def HandleSync(self, request: pb.EventBook, context: grpc.ServicerContext) -> pb.SynchronousProcessingResponse:  # noqa: N802
        return _call(context, self._s.name, lambda: self._s.handle_sync(request))


def add_to_server(server: grpc.Server, *services: Service) -> None:
    """Registers services on a grpc.Server you built yourself: aggregates as
    evented.BusinessLogic (several are routed by the command's domain), a
    projector as evented.ProjectorCoordinator, a saga as evented.SagaCoordinator
    — the names evented calls, not the legacy Projector / Saga — and an
    upcaster as evented.Upcaster."""
    aggregates: dict[str, Aggregate[Any]] = {}
    projector: Projector[Any] | None = None
    saga: Saga[Any] | None = None
    upcaster: Upcaster | None = None
    for s in services:
        if isinstance(s, Aggregate):
            if s.domain in aggregates:
                raise ValueError(f'two aggregates of domain "{s.domain}"')
            aggregates[s.domain] = s
        elif isinstance(s, Projector):
            if projector is not None:
                raise ValueError(f'projector "{s.name}": one gRPC server serves one projector (evented calls ProjectorCoordinator per address)')
            projector = s
        elif isinstance(s, Saga):
            if saga is not None:
                raise ValueError(f'saga "{s.name}": one gRPC server serves one saga (evented calls SagaCoordinator per address)')
            saga = s
        elif isinstance(s, Upcaster):
            if upcaster is not None:
                raise ValueError(f'upcaster "{s.name}": one gRPC server serves one upcaster (put all steps in one)')
            upcaster = s
        else:
            raise TypeError(f"not an Aggregate, Projector, Saga or Upcaster: {s!r}")
    if aggregates:
        pb_grpc.add_BusinessLogicServicer_to_server(_BusinessLogic(aggregates), server)
    if projector is not None:
        pb_grpc.add_ProjectorCoordinatorServicer_to_server(_ProjectorCoordinator(projector), server)
    if saga is not None:
        pb_grpc.add_SagaCoordinatorServicer_to_server(_SagaCoordinator(saga), server)
    if upcaster is not None:
        pb_grpc.add_UpcasterServicer_to_server(_UpcasterServicer(upcaster), server)


class Running:
    """A started server: its port, and stop."""

    def __init__(self, server: grpc.Server, health_servicer: health.HealthServicer, port: int) -> None:
        self.server = server
        self.port = port
        self._health = health_servicer
        self._stopped = threading.Event()

    def stop(self, grace: float = 5.0) -> None:
        """Stops gracefully: health turns NOT_SERVING, new calls are refused and
        calls in flight get up to grace seconds. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._health.enter_graceful_shutdown()
        self.server.stop(grace).wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the server has stopped (or timeout); True when stopped."""
        return not self.server.wait_for_termination(timeout)


def server_credentials(cert_file: str, key_file: str, client_ca_file: str | None = None) -> grpc.ServerCredentials:
    """TLS for start and serve: the certificate and key of two PEM files, and
    with client_ca_file, client certificates of that CA required (mutual TLS;
    evented presents one with cert_file and key_file in the service's tls
    block). A file that cannot be read raises OSError naming it."""
    def read(path: str, what: str) -> bytes:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise OSError(e.errno, f"{what}: cannot read {path!r}: {e.strerror}") from e

    pair = (read(key_file, "key_file"), read(cert_file, "cert_file"))
    if client_ca_file is None:
        return grpc.ssl_server_credentials([pair])
    return grpc.ssl_server_credentials([pair], root_certificates=read(client_ca_file, "client_ca_file"),
                                       require_client_auth=True)


def start(address: str, *services: Service, max_workers: int = 16,
          credentials: grpc.ServerCredentials | None = None) -> Running:
    """Starts a gRPC server for services on address ("127.0.0.1:50052",
    "[::]:50052"; port 0 picks a free one, see Running.port) with gRPC health
    (SERVING), and returns at once. With credentials (server_credentials) it
    serves TLS."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_SIZE)],
    )
    add_to_server(server, *services)
    hs = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)
    hs.set("", health_pb2.HealthCheckResponse.SERVING)
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    server.start()
    return Running(server, hs, port)


def _noted(_signum: int, _frame: Any) -> None:
    """serve's handler for SIGTERM and SIGINT: none of the default action;
    the signal's number is on serve's wake-up pipe already."""


def serve(address: str, *services: Service, grace: float = 5.0,
          credentials: grpc.ServerCredentials | None = None,
          on_serving: Callable[[int], None] | None = None) -> None:
    """Serves services on address until SIGTERM or SIGINT, then stops
    gracefully (calls in flight get up to grace seconds)::

        evented.serve("127.0.0.1:50052", customer.new())

    Call it from the main thread (it installs the signal handlers). With
    credentials (server_credentials) it serves TLS. on_serving, if given, is
    called with the bound port once the server listens: the place for a
    service's own "serving" line, which then never precedes a failure to
    bind."""
    # A signal reaches the process on whichever of its threads the kernel
    # picks, often one of gRPC's; Python runs the handler later, in the main
    # thread, between any two steps of what it was doing, with that code's
    # locks held (in the middle of writing a log line, say, where logging
    # again is a reentrant write that raises). So the handler does nothing:
    # the interpreter's own C handler writes the signal's number to the
    # wake-up pipe from any thread, and the loop below reads it and logs.
    wake_r, wake_w = os.pipe()
    try:
        os.set_blocking(wake_w, False)
        previous_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)  # main thread only
    except BaseException:
        os.close(wake_r)
        os.close(wake_w)
        raise

    # The handlers come first: a signal sent as soon as the serving line
    # is read stops the server gracefully, never in the middle of its start.
    stops = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, _noted) for s in stops}
    running = None
    try:
        running = start(address, *services, credentials=credentials)
        log.info("serving on %s (port %d)", address, running.port)
        if on_serving is not None:
            on_serving(running.port)
        signum = 0
        while signum not in stops:  # other signals with handlers wake it too
            signum = os.read(wake_r, 1)[0]
        log.info("signal %d: stopping", signum)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(previous_wakeup)
        os.close(wake_r)
        os.close(wake_w)
        if running is not None:
            running.stop(grace)
