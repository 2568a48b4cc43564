"""connect and server_credentials with real TLS on 127.0.0.1: certificates
made here (a CA, a server and a client certificate), a server that requires
TLS, a client certificate and a bearer token, as evented's auth does."""
import datetime
import ipaddress
from concurrent import futures

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

import counter
import evented
from evented import evented_pb2 as pb
from evented import evented_pb2_grpc as pb_grpc
from evented._fold import pack
from messages import Create

TOKEN = "s3cret"


class CA:
    def __init__(self, dir, name):
        self.dir, self.key = dir, ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            self._builder(self.name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.file = self._write(f"{name}-ca.pem", self.pem)

    def _builder(self, subject, public_key):
        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.name).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        )

    def _write(self, name, data):
        path = self.dir / name
        path.write_bytes(data)
        return str(path)

    def issue(self, name, *hosts, client=False):
        """Returns (cert_file, key_file) of a server (hosts) or client certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        b = self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key.public_key())
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if hosts:
            names = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
            b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return (self._write(f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM)),
                self._write(f"{name}-key.pem", key_pem))


class _RequireToken(grpc.ServerInterceptor):
    def intercept_service(self, continuation, details):
        if (evented.AUTHORIZATION_METADATA, f"Bearer {TOKEN}") in details.invocation_metadata:
            return continuation(details)

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "want metadata authorization: Bearer <token>")
        return grpc.unary_unary_rpc_method_handler(deny)


@pytest.fixture
def pki(tmp_path):
    ca, clients, other = CA(tmp_path, "evented"), CA(tmp_path, "clients"), CA(tmp_path, "other")
    return ca, clients, other


def _guarded(ca, clients, plaintext=False):
    """A health server requiring TLS, a client certificate of clients and the token."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[_RequireToken()])
    hs = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)
    hs.set("", health_pb2.HealthCheckResponse.SERVING)
    if plaintext:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        cert, key = ca.issue("server", "127.0.0.1", "evented.internal")
        port = server.add_secure_port("127.0.0.1:0", evented.server_credentials(cert, key, clients.file))
    server.start()
    return server, f"127.0.0.1:{port}"


def _check(channel):
    try:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    finally:
        channel.close()


def test_connect_with_tls_client_certificate_and_token(pki):
    ca, clients, other = pki
    server, addr = _guarded(ca, clients)
    cert, key = clients.issue("orders-service", client=True)
    try:
        assert _check(evented.connect(addr, ca_file=ca.file, cert_file=cert, key_file=key, token=TOKEN)).status == \
            health_pb2.HealthCheckResponse.SERVING
        # The CA from memory, and a server name other than the target's host.
        _check(evented.connect(addr, ca_pem=ca.pem, server_name="evented.internal",
                               cert_file=cert, key_file=key, token=TOKEN))
        failures = [
            ("no token", dict(ca_file=ca.file, cert_file=cert, key_file=key), grpc.StatusCode.UNAUTHENTICATED),
            ("wrong token", dict(ca_file=ca.file, cert_file=cert, key_file=key, token="guess"),
             grpc.StatusCode.UNAUTHENTICATED),
            ("wrong CA", dict(ca_file=other.file, cert_file=cert, key_file=key, token=TOKEN),
             grpc.StatusCode.UNAVAILABLE),
            ("no client certificate", dict(ca_file=ca.file, token=TOKEN), grpc.StatusCode.UNAVAILABLE),
            ("plaintext", dict(), grpc.StatusCode.UNAVAILABLE),
        ]
        for name, kwargs, code in failures:
            with pytest.raises(grpc.RpcError) as e:
                _check(evented.connect(addr, **kwargs))
            assert e.value.code() == code, (name, e.value)
    finally:
        server.stop(0)


def test_token_in_clear_only_to_loopback(pki):
    ca, clients, _ = pki
    with pytest.raises(ValueError, match="would cross the network in clear"):
        evented.connect("evented.example.com:1313", token=TOKEN)
    with pytest.raises(ValueError, match="printable ASCII"):
        evented.connect("localhost:1313", token="two words")
    with pytest.raises(ValueError, match="want both"):
        evented.connect("localhost:1313", cert_file="c.pem")
    with pytest.raises(OSError, match="ca_file: cannot read 'missing.pem'"):
        evented.connect("localhost:1313", ca_file="missing.pem")
    # A plaintext server on this machine gets the token.
    server, addr = _guarded(ca, clients, plaintext=True)
    try:
        _check(evented.connect(addr, token=TOKEN))
        with pytest.raises(grpc.RpcError) as e:
            _check(evented.connect(addr))
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        server.stop(0)


def test_serve_tls_with_client_certificates(pki):
    ca, clients, _ = pki
    cert, key = ca.issue("counter", "127.0.0.1")
    running = evented.start("127.0.0.1:0", counter.new(),
                            credentials=evented.server_credentials(cert, key, clients.file))
    addr = f"127.0.0.1:{running.port}"
    ccert, ckey = clients.issue("evented", client=True)
    try:
        cover = evented.Cover.of("counter", "c").to_pb()
        cmd = pb.CommandBook(cover=cover)
        cmd.pages.add().command.CopyFrom(pack(Create(name="a")))
        channel = evented.connect(addr, ca_file=ca.file, cert_file=ccert, key_file=ckey)
        out = pb_grpc.BusinessLogicStub(channel).Handle(pb.ContextualCommand(events=pb.EventBook(cover=cover), command=cmd),
                                                        timeout=10)
        channel.close()
        assert [p.num for p in out.pages] == [0]
        with pytest.raises(grpc.RpcError) as e:
            _check(evented.connect(addr, ca_file=ca.file))
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop(0)
