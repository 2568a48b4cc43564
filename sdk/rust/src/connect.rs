//! Connecting to evented with TLS and a bearer token.

use std::fmt;

use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The gRPC metadata that carries a bearer token: `authorization: Bearer <token>`.
pub const AUTHORIZATION_METADATA: &str = "authorization";

/// A connection made by [`Connect`]: a channel that adds the bearer token, if
/// any, to every call. Every generated client takes it:
/// `BusinessCoordinatorClient::new(conn)`.
pub type Connection = InterceptedService<Channel, Bearer>;

/// How to reach evented's command or query port (or any gRPC server): with
/// TLS verified by a CA of your own, a client certificate for mutual TLS,
/// and a bearer token sent with every call.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use evented::pb::business_coordinator_client::BusinessCoordinatorClient;
///
/// let conn = evented::Connect::new("evented.example.com:1313")
///     .ca_file("ca.pem")
///     .token(std::env::var("EVENTED_TOKEN")?)
///     .connect()
///     .await?;
/// let mut coordinator = BusinessCoordinatorClient::new(conn);
/// # Ok(()) }
/// ```
///
/// Without TLS the connection is plaintext, and a token is sent only to a
/// loopback target (`localhost`, `127.0.0.1`, `[::1]`), so that it never
/// crosses the network in clear.
#[derive(Clone, Debug, Default)]
pub struct Connect {
    target: String,
    tls: bool,
    ca: Vec<Pem>,
    identity: Option<(Pem, Pem)>,
    server_name: Option<String>,
    token: Option<String>,
}

#[derive(Clone, Debug)]
enum Pem {
    File(String),
    Bytes(Vec<u8>),
}

impl Pem {
    fn read(&self, what: &str) -> Result<Vec<u8>, ConnectError> {
        match self {
            Pem::Bytes(b) => Ok(b.clone()),
            Pem::File(path) => std::fs::read(path)
                .map_err(|e| ConnectError(format!("{what}: cannot read {path:?}: {e}"))),
        }
    }
}

impl Connect {
    /// A connection to `target`: `host:port`, or a URL (`https://host:port`).
    pub fn new(target: impl Into<String>) -> Self {
        Connect {
            target: target.into(),
            ..Connect::default()
        }
    }

    /// TLS, verifying the server with the system's roots (see [`ca_file`](Self::ca_file) for a CA of your own).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// TLS, verifying the server's certificate with the CA of a PEM file.
    pub fn ca_file(mut self, path: impl Into<String>) -> Self {
        self.tls = true;
        self.ca.push(Pem::File(path.into()));
        self
    }

    /// TLS, verifying the server's certificate with a CA in PEM.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls = true;
        self.ca.push(Pem::Bytes(pem.into()));
        self
    }

    /// TLS with a client certificate and key of two PEM files (mutual TLS).
    pub fn client_certificate_files(
        mut self,
        cert_file: impl Into<String>,
        key_file: impl Into<String>,
    ) -> Self {
        self.tls = true;
        self.identity = Some((Pem::File(cert_file.into()), Pem::File(key_file.into())));
        self
    }

    /// TLS with a client certificate and key in PEM (mutual TLS).
    pub fn client_certificate_pem(
        mut self,
        cert: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls = true;
        self.identity = Some((Pem::Bytes(cert.into()), Pem::Bytes(key.into())));
        self
    }

    /// The name the server's certificate must hold, when it is not the
    /// target's host.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Sends `authorization: Bearer <token>` with every call.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Builds the endpoint: files are read and checked here.
    pub fn endpoint(&self) -> Result<(Endpoint, Bearer), ConnectError> {
        let scheme = if self.tls { "https" } else { "http" };
        let url = if self.target.contains("://") {
            self.target.clone()
        } else {
            format!("{scheme}://{}", self.target)
        };
        let bearer = match &self.token {
            None => Bearer(None),
            Some(token) => {
                if token.is_empty() || !token.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
                    return Err(ConnectError(
                        "token: want printable ASCII without spaces or line breaks".into(),
                    ));
                }
                if !self.tls && !loopback(&url) {
                    return Err(ConnectError(format!(
                        "a token without TLS to {:?} would cross the network in clear: \
                         add ca_file, ca_pem or tls, or connect to a loopback address",
                        self.target
                    )));
                }
                let value: AsciiMetadataValue = MetadataValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| ConnectError("token: not a valid metadata value".into()))?;
                Bearer(Some(value))
            }
        };
        let mut endpoint = Endpoint::from_shared(url)
            .map_err(|e| ConnectError(format!("target {:?}: {e}", self.target)))?;
        if self.tls {
            let mut tc = ClientTlsConfig::new();
            if self.ca.is_empty() {
                tc = tc.with_native_roots();
            }
            for ca in &self.ca {
                tc = tc.ca_certificate(Certificate::from_pem(ca.read("CA")?));
            }
            if let Some((cert, key)) = &self.identity {
                tc = tc.identity(Identity::from_pem(
                    cert.read("client certificate")?,
                    key.read("client key")?,
                ));
            }
            if let Some(name) = &self.server_name {
                tc = tc.domain_name(name.clone());
            }
            endpoint = endpoint
                .tls_config(tc)
                .map_err(|e| ConnectError(format!("TLS to {:?}: {e}", self.target)))?;
        }
        Ok((endpoint, bearer))
    }

    /// Connects, waiting for the server (a failed handshake is an error
    /// here).
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        let (endpoint, bearer) = self.endpoint()?;
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| ConnectError(format!("connect to {:?}: {}", self.target, chain(&e))))?;
        Ok(InterceptedService::new(channel, bearer))
    }

    /// Connects on first use, like gRPC's clients in other languages: a
    /// failed handshake fails the calls with `UNAVAILABLE`.
    pub fn connect_lazy(&self) -> Result<Connection, ConnectError> {
        let (endpoint, bearer) = self.endpoint()?;
        Ok(InterceptedService::new(endpoint.connect_lazy(), bearer))
    }
}

/// The interceptor of a [`Connection`]: adds the bearer token, if any.
#[derive(Clone, Debug)]
pub struct Bearer(Option<AsciiMetadataValue>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            request
                .metadata_mut()
                .insert(AUTHORIZATION_METADATA, v.clone());
        }
        Ok(request)
    }
}

/// Why [`Connect`] could not connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError(String);

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "evented: {}", self.0)
    }
}

impl std::error::Error for ConnectError {}

/// The error and its sources, joined: tonic's own message is only "transport error".
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

fn loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((h, _)) => h,
        None => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets() {
        for t in [
            "http://localhost:1313",
            "http://127.0.0.1:1313",
            "http://[::1]:1313",
        ] {
            assert!(loopback(t), "{t}");
        }
        for t in ["http://evented.example.com:1313", "http://10.0.0.1:1313"] {
            assert!(!loopback(t), "{t}");
        }
    }
}
