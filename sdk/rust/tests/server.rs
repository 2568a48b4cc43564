//! The SDK served for real, on 127.0.0.1, called through gRPC.
mod common;

use common::*;
use evented::pb::business_logic_client::BusinessLogicClient;
use evented::pb::projector_coordinator_client::ProjectorCoordinatorClient;
use evented::pb::saga_client::SagaClient;
use evented::pb::saga_coordinator_client::SagaCoordinatorClient;
use evented::{Aggregate, Cover, Msg, Options, Server, pb};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

struct Running {
    channel: Channel,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Result<(), evented::ServeError>>,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(std::time::Duration::from_secs(10), self.done)
            .await
            .expect("stopped in time")
            .unwrap()
            .unwrap();
    }
}

async fn start(server: Server) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel();
    let done = tokio::spawn(server.serve_listener(listener, async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Running {
        channel,
        stop: Some(stop),
        done,
    }
}

fn other(opts: Options) -> Aggregate<()> {
    Aggregate::new("other", opts).handle(|_, c: Add| {
        Ok(Added {
            points: c.points,
            balance: 0,
        }
        .into())
    })
}

fn command(domain: &str, name: &str, msgs: Vec<Msg>) -> pb::ContextualCommand {
    let cover = Cover::of(domain, name).to_pb();
    pb::ContextualCommand {
        events: Some(pb::EventBook {
            cover: Some(cover.clone()),
            snapshot: None,
            pages: vec![],
            deadlines: vec![],
        }),
        command: Some(pb::CommandBook {
            cover: Some(cover),
            pages: msgs
                .into_iter()
                .map(|m| pb::CommandPage {
                    sequence: 0,
                    synchronous: false,
                    command: Some(m.into_any()),
                })
                .collect(),
        }),
    }
}

fn full() -> Server {
    Server::new()
        .aggregate(counter(Options::default()))
        .aggregate(other(Options::default()))
        .projector(totals(Options::default()))
        .saga(mirror(Options::default()))
}

#[tokio::test]
async fn business_logic_routes_by_domain_and_passes_refusals() {
    let s = start(full()).await;
    let mut logic = BusinessLogicClient::new(s.channel.clone());
    let out = logic
        .handle(command(
            "counter",
            "c",
            vec![Create { name: "a".into() }.into(), Add { points: 2 }.into()],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.pages.len(), 2);
    assert_eq!(out.snapshot.unwrap().sequence, 2);
    let out = logic
        .handle(command("other", "o", vec![Add { points: 3 }.into()]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        evented::decode::<Added>(out.pages[0].event.as_ref().unwrap()),
        Some(Added {
            points: 3,
            balance: 0
        })
    );
    let err = logic
        .handle(command("nope", "n", vec![Add { points: 3 }.into()]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::NotFound,
            r#"this service handles domains ["counter", "other"], not "nope""#
        )
    );
    let err = logic
        .handle(command("counter", "c", vec![Add { points: 2 }.into()]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::FailedPrecondition, "counter does not exist")
    );
    let err = logic
        .handle(command(
            "counter",
            "c",
            vec![Create { name: "".into() }.into()],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, "name is required")
    );
    s.stop().await;
}

#[tokio::test]
async fn projector_and_saga_under_the_coordinator_names() {
    let s = start(full()).await;
    let book = pb::EventBook {
        cover: Some(Cover::of("counter", "c").to_pb()),
        snapshot: None,
        pages: vec![pb::EventPage {
            sequence: Some(pb::event_page::Sequence::Num(0)),
            created_at: None,
            event: Some(
                Msg::from(Added {
                    points: 10,
                    balance: 10,
                })
                .into_any(),
            ),
            synchronous: false,
            metadata: None,
        }],
        deadlines: vec![],
    };
    let mut projector = ProjectorCoordinatorClient::new(s.channel.clone());
    let proj = projector
        .handle_sync(book.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        evented::decode::<Total>(proj.projection.as_ref().unwrap()),
        Some(Total {
            points: 10,
            events: 1
        })
    );
    projector.handle(book.clone()).await.unwrap();
    let mut saga = SagaCoordinatorClient::new(s.channel.clone());
    assert_eq!(
        saga.handle_sync(book.clone()).await.unwrap_err().code(),
        Code::Internal
    ); // no name: a failed delivery
    assert_eq!(
        saga.handle(book.clone()).await.unwrap_err().code(),
        Code::Unimplemented
    );
    // The legacy names are not registered.
    assert_eq!(
        SagaClient::new(s.channel.clone())
            .handle_sync(book)
            .await
            .unwrap_err()
            .code(),
        Code::Unimplemented
    );
    s.stop().await;
}

#[tokio::test]
async fn health_and_large_books() {
    let s = start(full()).await;
    let status = HealthClient::new(s.channel.clone())
        .check(HealthCheckRequest { service: "".into() })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    let name = "x".repeat(1000);
    let book = pb::EventBook {
        cover: Some(Cover::of("counter", "c").to_pb()),
        snapshot: None,
        pages: (0..6000)
            .map(|i| pb::EventPage {
                sequence: Some(pb::event_page::Sequence::Num(i)),
                created_at: None,
                event: Some(Msg::from(Created { name: name.clone() }).into_any()),
                synchronous: false,
                metadata: None,
            })
            .collect(),
        deadlines: vec![],
    }; // ~6 MB, over gRPC's default 4 MiB
    let proj = ProjectorCoordinatorClient::new(s.channel.clone())
        .max_encoding_message_size(64 << 20)
        .handle_sync(book)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(proj.sequence, 6000);
    s.stop().await;
}

#[tokio::test]
async fn two_projectors_on_one_server_are_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = Server::new()
        .projector(totals(Options::default()))
        .projector(totals(Options::default()))
        .serve_listener(listener, async {})
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("one gRPC server serves one projector"),
        "{err}"
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    assert!(
        Server::new()
            .serve_listener(listener, async {})
            .await
            .is_err()
    );
}
