//! Serving aggregates, projectors and sagas over gRPC.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};

use crate::pb::business_logic_server::{BusinessLogic, BusinessLogicServer};
use crate::pb::projector_coordinator_server::{ProjectorCoordinator, ProjectorCoordinatorServer};
use crate::pb::saga_coordinator_server::{SagaCoordinator, SagaCoordinatorServer};
use crate::pb::upcaster_server::UpcasterServer;
use crate::{Aggregate, Error, Projector, Saga, Upcaster, pb};

/// The largest request a server accepts (64 MiB): a projector or saga with
/// history receives a whole aggregate in one book.
pub const MAX_MESSAGE_SIZE: usize = 64 << 20;

/// How long calls in flight get after shutdown begins.
const GRACE: Duration = Duration::from_secs(5);

trait Logic: Send + Sync {
    fn handle_command(&self, request: &pb::ContextualCommand) -> Result<pb::EventBook, Error>;
    fn take_snapshot(&self, book: &pb::EventBook) -> Result<pb::Snapshot, Error>;
}

impl<S: Default + 'static> Logic for Aggregate<S> {
    fn handle_command(&self, request: &pb::ContextualCommand) -> Result<pb::EventBook, Error> {
        Aggregate::handle_command(self, request)
    }
    fn take_snapshot(&self, book: &pb::EventBook) -> Result<pb::Snapshot, Error> {
        Aggregate::take_snapshot(self, book)
    }
}

/// Routes each command to the aggregate of its domain.
struct Router(HashMap<String, Arc<dyn Logic>>);

#[tonic::async_trait]
impl BusinessLogic for Router {
    async fn handle(
        &self,
        request: Request<pb::ContextualCommand>,
    ) -> Result<Response<pb::EventBook>, Status> {
        let request = request.into_inner();
        let domain = request
            .command
            .as_ref()
            .and_then(|c| c.cover.as_ref())
            .map_or("", |c| c.domain.as_str());
        let logic = match self.0.get(domain) {
            Some(l) => l,
            // A single aggregate's own message names its domain.
            None if self.0.len() == 1 => self.0.values().next().expect("one aggregate"),
            None => {
                let mut known: Vec<_> = self.0.keys().cloned().collect();
                known.sort();
                return Err(Status::new(
                    Code::NotFound,
                    format!("this service handles domains {known:?}, not {domain:?}"),
                ));
            }
        };
        Ok(Response::new(logic.handle_command(&request)?))
    }

    async fn snapshot(
        &self,
        request: Request<pb::EventBook>,
    ) -> Result<Response<pb::Snapshot>, Status> {
        let book = request.into_inner();
        let domain = book.cover.as_ref().map_or("", |c| c.domain.as_str());
        let logic = match self.0.get(domain) {
            Some(l) => l,
            None if self.0.len() == 1 => self.0.values().next().expect("one aggregate"),
            None => {
                let mut known: Vec<_> = self.0.keys().cloned().collect();
                known.sort();
                return Err(Status::new(
                    Code::NotFound,
                    format!("this service handles domains {known:?}, not {domain:?}"),
                ));
            }
        };
        Ok(Response::new(logic.take_snapshot(&book)?))
    }
}

struct ProjectorService<S>(Arc<Projector<S>>);

#[tonic::async_trait]
impl<S: Default + 'static> ProjectorCoordinator for ProjectorService<S> {
    async fn handle(&self, request: Request<pb::EventBook>) -> Result<Response<()>, Status> {
        self.0.handle_events(request.get_ref()).await?;
        Ok(Response::new(()))
    }

    async fn handle_sync(
        &self,
        request: Request<pb::EventBook>,
    ) -> Result<Response<pb::Projection>, Status> {
        Ok(Response::new(self.0.handle_sync(request.get_ref()).await?))
    }
}

struct SagaService<S>(Arc<Saga<S>>);

#[tonic::async_trait]
impl<S: Default + 'static> SagaCoordinator for SagaService<S> {
    async fn handle(&self, _: Request<pb::EventBook>) -> Result<Response<()>, Status> {
        // A fire-and-forget call cannot return commands; evented asks HandleSync.
        Err(Status::unimplemented(format!(
            "saga {:?} answers HandleSync: its commands are in the answer",
            self.0.name()
        )))
    }

    async fn handle_sync(
        &self,
        request: Request<pb::EventBook>,
    ) -> Result<Response<pb::SynchronousProcessingResponse>, Status> {
        Ok(Response::new(self.0.handle_sync(request.get_ref()).await?))
    }
}

struct UpcasterService(Arc<Upcaster>);

#[tonic::async_trait]
impl crate::pb::upcaster_server::Upcaster for UpcasterService {
    async fn upcast(
        &self,
        request: Request<pb::UpcastRequest>,
    ) -> Result<Response<pb::UpcastResponse>, Status> {
        Ok(Response::new(self.0.upcast(request.get_ref())?))
    }
}

/// A gRPC server for aggregates (`evented.BusinessLogic`, several routed by
/// the command's domain), at most one projector
/// (`evented.ProjectorCoordinator`) and one saga (`evented.SagaCoordinator`) —
/// the names evented calls, not the legacy `Projector` / `Saga` — with gRPC
/// health.
///
/// ```ignore
/// Server::new().aggregate(customer::new(Options::default()))
///     .serve("127.0.0.1:50052".parse()?, evented::shutdown_signal()).await?;
/// ```
#[derive(Default)]
pub struct Server {
    logic: HashMap<String, Arc<dyn Logic>>,
    routes: tonic::service::RoutesBuilder,
    projector: Option<String>,
    saga: Option<String>,
    upcaster: Option<String>,
    problems: Vec<String>,
    tls: Option<tonic::transport::ServerTlsConfig>,
}

impl Server {
    pub fn new() -> Self {
        Server::default()
    }

    /// Serves `agg` as the business logic of its domain.
    pub fn aggregate<S: Default + Send + 'static>(mut self, agg: Aggregate<S>) -> Self {
        let domain = agg.domain().to_string();
        if self.logic.contains_key(&domain) {
            self.problems
                .push(format!("two aggregates of domain {domain:?}"));
        }
        self.logic.insert(domain, Arc::new(agg));
        self
    }

    /// Serves `p` as `evented.ProjectorCoordinator` (one per server: evented
    /// calls ProjectorCoordinator per address).
    pub fn projector<S: Default + Send + 'static>(mut self, p: Projector<S>) -> Self {
        if let Some(first) = &self.projector {
            self.problems.push(format!(
                "projectors {first:?} and {:?}: one gRPC server serves one projector",
                p.name()
            ));
            return self;
        }
        self.projector = Some(p.name().to_string());
        let svc = ProjectorCoordinatorServer::new(ProjectorService(Arc::new(p)))
            .max_decoding_message_size(MAX_MESSAGE_SIZE);
        self.routes.add_service(svc);
        self
    }

    /// Serves `s` as `evented.SagaCoordinator` (one per server).
    pub fn saga<S: Default + Send + 'static>(mut self, s: Saga<S>) -> Self {
        if let Some(first) = &self.saga {
            self.problems.push(format!(
                "sagas {first:?} and {:?}: one gRPC server serves one saga",
                s.name()
            ));
            return self;
        }
        self.saga = Some(s.name().to_string());
        let svc = SagaCoordinatorServer::new(SagaService(Arc::new(s)))
            .max_decoding_message_size(MAX_MESSAGE_SIZE);
        self.routes.add_service(svc);
        self
    }

    /// Serves `u` as `evented.Upcaster` (one per server: put every step in one).
    pub fn upcaster(mut self, mut u: Upcaster) -> Self {
        self.problems.append(&mut u.problems);
        if let Some(first) = &self.upcaster {
            self.problems.push(format!(
                "upcasters {first:?} and {:?}: one gRPC server serves one upcaster",
                u.name()
            ));
            return self;
        }
        self.upcaster = Some(u.name().to_string());
        let svc = UpcasterServer::new(UpcasterService(Arc::new(u)))
            .max_decoding_message_size(MAX_MESSAGE_SIZE);
        self.routes.add_service(svc);
        self
    }

    /// Serves TLS with the certificate and key of two PEM files; with
    /// `client_ca_file`, clients must present a certificate of that CA
    /// (mutual TLS: evented's `cert_file` and `key_file` in the service's
    /// `tls` block). A file that cannot be read is an error of `serve`.
    ///
    /// ```ignore
    /// Server::new().aggregate(customer::new(Options::default()))
    ///     .tls_files("tls.crt", "tls.key", Some("evented-ca.pem"))
    ///     .serve("0.0.0.0:50052".parse()?, evented::shutdown_signal()).await?;
    /// ```
    pub fn tls_files(
        mut self,
        cert_file: &str,
        key_file: &str,
        client_ca_file: Option<&str>,
    ) -> Self {
        let mut read = |what: &str, path: &str| match std::fs::read(path) {
            Ok(b) => Some(b),
            Err(e) => {
                self.problems
                    .push(format!("{what}: cannot read {path:?}: {e}"));
                None
            }
        };
        let cert = read("TLS certificate", cert_file);
        let key = read("TLS key", key_file);
        let ca = client_ca_file.map(|f| read("client CA", f));
        let (Some(cert), Some(key)) = (cert, key) else {
            return self;
        };
        let mut tc = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(cert, key));
        match ca {
            Some(Some(ca)) => tc = tc.client_ca_root(tonic::transport::Certificate::from_pem(ca)),
            Some(None) => return self,
            None => {}
        }
        self.tls = Some(tc);
        self
    }

    /// Serves on `addr` until `shutdown` completes, then stops gracefully:
    /// health turns NOT_SERVING and calls in flight get up to 5 seconds.
    pub async fn serve(
        self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| ServeError(format!("listen on {addr}: {e}")))?;
        self.serve_listener(listener, shutdown).await
    }

    /// [`serve`](Server::serve) on a listener it takes over (tests bind port 0).
    pub async fn serve_listener(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        if !self.problems.is_empty() {
            return Err(ServeError(self.problems.join("; ")));
        }
        if self.logic.is_empty() && self.projector.is_none() && self.saga.is_none() {
            return Err(ServeError(
                "nothing to serve: add an aggregate, a projector or a saga".into(),
            ));
        }
        if !self.logic.is_empty() {
            let router = Router(std::mem::take(&mut self.logic));
            self.routes.add_service(
                BusinessLogicServer::new(router).max_decoding_message_size(MAX_MESSAGE_SIZE),
            );
        }
        let (health, health_service) = tonic_health::server::health_reporter();
        self.routes.add_service(health_service);

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut builder = tonic::transport::Server::builder();
        if let Some(tc) = self.tls.take() {
            builder = builder
                .tls_config(tc)
                .map_err(|e| ServeError(format!("TLS: {e}")))?;
        }
        let server = builder
            .add_routes(self.routes.routes())
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            });
        tokio::pin!(server);
        tokio::select! {
            res = &mut server => return res.map_err(|e| ServeError(e.to_string())),
            _ = shutdown => {}
        }
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        let _ = stop.send(());
        match tokio::time::timeout(GRACE, server).await {
            Ok(res) => res.map_err(|e| ServeError(e.to_string())),
            Err(_) => Ok(()), // calls still running after the grace period are dropped
        }
    }
}

/// Why a server could not serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeError(String);

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "evented: serve: {}", self.0)
    }
}

impl std::error::Error for ServeError {}

/// Completes on SIGTERM or Ctrl-C (SIGINT): the usual `shutdown` of
/// [`Server::serve`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
