"""Clients of evented: connecting with TLS and a token, idempotency keys."""
from __future__ import annotations

import collections
import ipaddress
from typing import Any

import grpc

IDEMPOTENCY_KEY_METADATA = "idempotency-key"
WAIT_FOR_METADATA = "evented-wait-for"
WAIT_TIMEOUT_METADATA = "evented-wait-timeout"
REPLAY_METADATA = "evented-replay"


def wait_for_metadata(*subscribers: str, timeout: float | None = None) -> tuple[tuple[str, str], ...]:
    """gRPC metadata asking evented to answer a command only once the named
    asynchronous projectors (or sagas, or ``bus``) have handled its events,
    for at most ``timeout`` seconds (None: evented's default). The reply's
    ``waits`` say whether each was in time; a wait that runs out is not an
    error, the command is committed::

        stub.Handle(book, metadata=evented.wait_for_metadata("receipt", timeout=2))
    """
    if not subscribers or any(not s or "," in s for s in subscribers):
        raise ValueError(f"subscribers {subscribers!r}: want one or more names without commas")
    md: list[tuple[str, str]] = [(WAIT_FOR_METADATA, ",".join(subscribers))]
    if timeout is not None:
        if timeout <= 0:
            raise ValueError(f"timeout {timeout!r}: want seconds above 0")
        md.append((WAIT_TIMEOUT_METADATA, f"{int(timeout * 1000)}ms"))
    return tuple(md)


def replaying(context: grpc.ServicerContext) -> bool:
    """Whether the events a projector or saga is handling (``context`` of its
    gRPC call) are delivered again: its subscription was reset (a rebuild), or
    it is a new version catching up. Hold side effects such as e-mails then."""
    return any(k == REPLAY_METADATA and v == "true" for k, v in context.invocation_metadata())


def idempotency_metadata(key: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata naming a command by an idempotency key.

    evented stores the key with the events the command produced and answers
    a repeat (within its retention window, 24h by default) with those events
    instead of deciding the command again, so a command whose outcome is
    unknown (a deadline passed, UNAVAILABLE "the outcome is unknown") can be
    sent again safely. The same key with another command fails with
    ALREADY_EXISTS. A key is 1 to 256 characters of printable ASCII::

        stub.Handle(book, metadata=evented.idempotency_metadata("order-42/pay"))
    """
    if not key or len(key) > 256 or not all(" " <= ch <= "~" for ch in key):
        raise ValueError(f"idempotency key {key[:40]!r}: want 1 to 256 characters of printable ASCII")
    return ((IDEMPOTENCY_KEY_METADATA, key),)


AUTHORIZATION_METADATA = "authorization"


def connect(
    target: str,
    *,
    ca_file: str | None = None,
    ca_pem: bytes | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    server_name: str | None = None,
    tls: bool = False,
    token: str | None = None,
    options: list[tuple[str, Any]] | None = None,
) -> grpc.Channel:
    """A channel to evented's command or query port (or any gRPC server).

    Without arguments it is plaintext, for a server on this machine. ca_file or
    ca_pem (the server's CA, PEM) turn TLS on, as does tls=True (the system's
    roots); cert_file and key_file present a client certificate (mutual TLS);
    server_name is the name the server's certificate must hold when it is not
    the target's host. token is sent as ``authorization: Bearer <token>`` with
    every call; without TLS only to a loopback target, so that it never
    crosses the network in clear::

        channel = evented.connect("evented.example.com:1313",
                                  ca_file="ca.pem", token=os.environ["EVENTED_TOKEN"])
        coordinator = evented.evented_pb2_grpc.BusinessCoordinatorStub(channel)

    Files are read here; a missing one raises OSError naming it. Like
    grpc.secure_channel, connect does not wait for the server: a failed
    handshake (a certificate of another CA) fails calls with UNAVAILABLE.
    """
    opts = list(options or [])
    if token is not None:
        _check_token(token)
    if (cert_file is None) != (key_file is None):
        raise ValueError("cert_file and key_file: want both (a client certificate and its key) or neither")
    secure = tls or ca_file is not None or ca_pem is not None or cert_file is not None
    if not secure:
        if token is None:
            return grpc.insecure_channel(target, options=opts)
        if not _loopback(target):
            raise ValueError(
                f"token without TLS to {target!r} would cross the network in clear: "
                "pass ca_file, ca_pem or tls=True, or connect to a loopback address"
            )
        return grpc.intercept_channel(grpc.insecure_channel(target, options=opts), _Bearer(token))
    if ca_file is not None:
        ca_pem = _read(ca_file, "ca_file")
    chain = _read(cert_file, "cert_file") if cert_file else None
    key = _read(key_file, "key_file") if key_file else None
    creds = grpc.ssl_channel_credentials(root_certificates=ca_pem, private_key=key, certificate_chain=chain)
    if token is not None:
        creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(token))
    if server_name:
        opts.append(("grpc.ssl_target_name_override", server_name))
    return grpc.secure_channel(target, creds, options=opts)


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise OSError(e.errno, f"{what}: cannot read {path!r}: {e.strerror}") from e


def _check_token(token: str) -> None:
    if not token or not all("!" <= ch <= "~" for ch in token):
        raise ValueError("token: want printable ASCII without spaces or line breaks")


def _loopback(target: str) -> bool:
    if ":///" in target:
        target = target.split(":///", 1)[1]
    host = target.rsplit(":", 1)[0] if ":" in target else target
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
              grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds the bearer token to every call of a plaintext loopback channel
    (gRPC's call credentials require TLS)."""

    def __init__(self, token: str) -> None:
        self._md = (AUTHORIZATION_METADATA, f"Bearer {token}")

    def _with(self, details: Any) -> Any:
        md = [m for m in (details.metadata or ()) if m[0] != AUTHORIZATION_METADATA]
        return _Details(details.method, details.timeout, md + [self._md], details.credentials,
                        details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._with(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._with(details), request)

    def intercept_stream_unary(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return continuation(self._with(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return continuation(self._with(details), requests)


class _Details(
    collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
    grpc.ClientCallDetails,
):
    pass
