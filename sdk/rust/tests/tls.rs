//! `Connect` and `Server::tls_files` with real TLS on 127.0.0.1: a CA, server
//! and client certificates made here (rcgen), and a server that requires TLS,
//! a client certificate and a bearer token, as evented's auth does.
mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use evented::pb::business_logic_client::BusinessLogicClient;
use evented::{Connect, Connection, Cover, Msg, Options, Server, pb};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic::{Code, Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const TOKEN: &str = "s3cret";

/// A temporary directory for one test's files, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "evented-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

struct Ca {
    pem: String,
    file: String,
    issuer: Issuer<'static, KeyPair>,
    dir: PathBuf,
}

/// A certificate and its key, as PEM and as files.
struct Pair {
    cert: String,
    key: String,
    cert_file: String,
    key_file: String,
}

impl Ca {
    fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        let file = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&file, &pem).unwrap();
        Ca {
            pem,
            file: file.to_string_lossy().into(),
            issuer: Issuer::new(params, key),
            dir: dir.to_path_buf(),
        }
    }

    fn issue(&self, name: &str, hosts: &[&str], client: bool) -> Pair {
        let sans: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap().pem();
        let key = key.serialize_pem();
        let cert_file = self.dir.join(format!("{name}.pem"));
        let key_file = self.dir.join(format!("{name}-key.pem"));
        std::fs::write(&cert_file, &cert).unwrap();
        std::fs::write(&key_file, &key).unwrap();
        Pair {
            cert,
            key,
            cert_file: cert_file.to_string_lossy().into(),
            key_file: key_file.to_string_lossy().into(),
        }
    }
}

fn require_token(req: Request<()>) -> Result<Request<()>, Status> {
    match req.metadata().get(evented::AUTHORIZATION_METADATA) {
        Some(v) if v == format!("Bearer {TOKEN}").as_str() => Ok(req),
        _ => Err(Status::unauthenticated(
            "want metadata authorization: Bearer <token>",
        )),
    }
}

/// Starts a health server requiring TLS with `server`, a client certificate
/// of `clients` and the token; returns its address and a stop sender.
async fn guarded(server: &Pair, clients: &Ca) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&server.cert, &server.key))
        .client_ca_root(Certificate::from_pem(&clients.pem));
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = tonic::transport::Server::builder()
        .tls_config(tls)
        .unwrap()
        .add_service(InterceptedService::new(health, require_token))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
            let _ = stopped.await;
        });
    tokio::spawn(serve);
    (addr, stop)
}

async fn check(conn: Connection) -> Result<(), Status> {
    HealthClient::new(conn)
        .check(HealthCheckRequest::default())
        .await
        .map(|_| ())
}

#[tokio::test]
async fn connect_with_tls_client_certificate_and_token() {
    let dir = temp_dir();
    let ca = Ca::new(&dir.0, "evented");
    let clients = Ca::new(&dir.0, "clients");
    let other = Ca::new(&dir.0, "other");
    let server = ca.issue("server", &["127.0.0.1", "evented.internal"], false);
    let client = clients.issue("orders-service", &[], true);
    let (addr, stop) = guarded(&server, &clients).await;

    let full = Connect::new(&addr)
        .ca_file(&ca.file)
        .client_certificate_files(&client.cert_file, &client.key_file)
        .token(TOKEN);
    check(full.connect().await.unwrap()).await.unwrap();
    // PEM from memory, and a server name other than the target's host.
    let conn = Connect::new(format!("https://{addr}"))
        .ca_pem(ca.pem.clone())
        .server_name("evented.internal")
        .client_certificate_pem(client.cert.clone(), client.key.clone())
        .token(TOKEN)
        .connect()
        .await
        .unwrap();
    check(conn).await.unwrap();

    let no_token = Connect::new(&addr)
        .ca_file(&ca.file)
        .client_certificate_files(&client.cert_file, &client.key_file);
    let err = check(no_token.connect().await.unwrap()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
    let wrong_token = full.clone().token("guess");
    let err = check(wrong_token.connect().await.unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");

    // A server of another CA: the handshake fails, eagerly or on the first call.
    let wrong_ca = Connect::new(&addr)
        .ca_file(&other.file)
        .client_certificate_files(&client.cert_file, &client.key_file)
        .token(TOKEN);
    let err = wrong_ca.connect().await.unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    let err = check(wrong_ca.connect_lazy().unwrap()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");

    // No client certificate: refused by the server.
    let anonymous = Connect::new(&addr).ca_file(&ca.file).token(TOKEN);
    match anonymous.connect().await {
        Err(_) => {}
        Ok(conn) => assert!(
            check(conn).await.is_err(),
            "served without a client certificate"
        ),
    }
    let _ = stop.send(());
}

#[tokio::test]
async fn a_token_crosses_the_network_only_over_tls() {
    let err = Connect::new("evented.example.com:1313")
        .token(TOKEN)
        .connect_lazy()
        .unwrap_err();
    assert!(
        err.to_string().contains("would cross the network in clear"),
        "{err}"
    );
    assert!(
        Connect::new("localhost:1313")
            .token(TOKEN)
            .connect_lazy()
            .is_ok()
    );
    let err = Connect::new("localhost:1313")
        .token("two words")
        .connect_lazy()
        .unwrap_err();
    assert!(err.to_string().contains("printable ASCII"), "{err}");
    let err = Connect::new("localhost:1313")
        .ca_file("missing.pem")
        .connect_lazy()
        .unwrap_err();
    assert!(
        err.to_string().contains(r#"CA: cannot read "missing.pem""#),
        "{err}"
    );
}

fn create(name: &str) -> pb::ContextualCommand {
    let cover = Cover::of("counter", name).to_pb();
    let msg: Msg = Create { name: "a".into() }.into();
    pb::ContextualCommand {
        events: Some(pb::EventBook {
            cover: Some(cover.clone()),
            snapshot: None,
            pages: vec![],
            deadlines: vec![],
        }),
        command: Some(pb::CommandBook {
            cover: Some(cover),
            pages: vec![pb::CommandPage {
                sequence: 0,
                synchronous: false,
                command: Some(msg.into_any()),
            }],
        }),
    }
}

#[tokio::test]
async fn serve_tls_with_client_certificates() {
    let dir = temp_dir();
    let ca = Ca::new(&dir.0, "services");
    let clients = Ca::new(&dir.0, "clients");
    let server = ca.issue("counter", &["127.0.0.1"], false);
    let client = clients.issue("evented", &[], true);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(
        Server::new()
            .aggregate(counter(Options::default()))
            .tls_files(&server.cert_file, &server.key_file, Some(&clients.file))
            .serve_listener(listener, async {
                let _ = stopped.await;
            }),
    );

    let conn = Connect::new(&addr)
        .ca_file(&ca.file)
        .client_certificate_files(&client.cert_file, &client.key_file)
        .connect()
        .await
        .unwrap();
    let out = BusinessLogicClient::new(conn)
        .handle(create("c"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.pages.len(), 1);
    let anonymous = Connect::new(&addr).ca_file(&ca.file);
    match anonymous.connect().await {
        Err(_) => {}
        Ok(conn) => assert!(
            BusinessLogicClient::new(conn)
                .handle(create("d"))
                .await
                .is_err(),
            "served without a client certificate"
        ),
    }
    let _ = stop.send(());
    tokio::time::timeout(std::time::Duration::from_secs(10), done)
        .await
        .expect("stopped in time")
        .unwrap()
        .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = Server::new()
        .aggregate(counter(Options::default()))
        .tls_files("missing.pem", &server.key_file, None)
        .serve_listener(listener, async {})
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"TLS certificate: cannot read "missing.pem""#),
        "{err}"
    );
}
