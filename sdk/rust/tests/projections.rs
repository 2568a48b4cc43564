//! Subscription queries against a real evented: the Go binary, built from
//! this repository (or `EVENTED_BIN`), run as a process on 127.0.0.1 with the
//! memory store and a projector served here.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evented::pb::business_coordinator_client::BusinessCoordinatorClient;
use evented::pb::projector_coordinator_server::{ProjectorCoordinator, ProjectorCoordinatorServer};
use evented::{Connect, Watch, pb, watch_projection};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};

/// The projection of an aggregate is the sequence of its newest event;
/// every one returned is recorded.
#[derive(Clone, Default)]
struct View(Arc<Mutex<Vec<u32>>>);

#[tonic::async_trait]
impl ProjectorCoordinator for View {
    async fn handle(&self, _: Request<pb::EventBook>) -> Result<Response<()>, Status> {
        Err(Status::internal(
            "publish_projections should ask HandleSync",
        ))
    }

    async fn handle_sync(
        &self,
        request: Request<pb::EventBook>,
    ) -> Result<Response<pb::Projection>, Status> {
        let book = request.into_inner();
        let last = book.pages.last().map(|p| match p.sequence {
            Some(pb::event_page::Sequence::Num(n)) => n,
            _ => 0,
        });
        let last = last.unwrap_or(0);
        {
            let mut got = self.0.lock().unwrap();
            if got.last().is_none_or(|&l| l < last) {
                got.push(last);
            }
        }
        Ok(Response::new(pb::Projection {
            cover: book.cover,
            projector: String::new(),
            sequence: last,
            projection: Some(prost_types::Any {
                type_url: "type.googleapis.com/test.View".into(),
                value: last.to_string().into_bytes(),
            }),
        }))
    }
}

struct Evented(Child);

impl Drop for Evented {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn evented_bin(dir: &std::path::Path) -> PathBuf {
    if let Ok(bin) = std::env::var("EVENTED_BIN") {
        return bin.into();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = dir.join("evented");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg("./cmd/evented")
        .current_dir(root)
        .status()
        .expect("go build (or set EVENTED_BIN)");
    assert!(status.success(), "go build ./cmd/evented failed");
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cover(root: uuid::Uuid) -> pb::Cover {
    pb::Cover {
        domain: "ledger".into(),
        root: Some(pb::Uuid {
            value: root.as_bytes().to_vec(),
        }),
    }
}

fn entry(root: uuid::Uuid) -> pb::CommandBook {
    pb::CommandBook {
        cover: Some(cover(root)),
        pages: vec![pb::CommandPage {
            command: Some(prost_types::Any {
                type_url: "AddEntry".into(),
                value: vec![],
            }),
            ..Default::default()
        }],
    }
}

async fn send(
    cmd: &mut BusinessCoordinatorClient<evented::Connection>,
    root: uuid::Uuid,
    n: usize,
) {
    for _ in 0..n {
        cmd.handle(entry(root)).await.expect("command");
    }
}

#[tokio::test]
async fn watch_projection_every_update_then_resume() {
    let unique = format!("{}-{:?}", std::process::id(), std::time::SystemTime::now());
    let dir = std::env::temp_dir().join(format!("evented-subq-{}", evented::root(&unique)));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = evented_bin(&dir);

    let view = View::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pport = listener.local_addr().unwrap().port();
    let serving = view.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(ProjectorCoordinatorServer::new(serving))
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
    });

    let (cport, qport) = (free_port(), free_port());
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "storage: {{type: memory}}\n\
             server: {{host: 127.0.0.1, command_handler_port: {cport}, event_query_port: {qport}, admin_port: -1}}\n\
             delivery: {{backoff_min: 1ms, backoff_max: 10ms}}\n\
             projectors:\n  - {{name: view, address: \"127.0.0.1:{pport}\", publish_projections: true}}\n"
        ),
    )
    .unwrap();
    let _evented = Evented(
        Command::new(&bin)
            .args(["serve", "--config"])
            .arg(&config)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start evented"),
    );

    let commands = Connect::new(format!("http://127.0.0.1:{cport}"))
        .connect_lazy()
        .unwrap();
    let query = Connect::new(format!("http://127.0.0.1:{qport}"))
        .connect_lazy()
        .unwrap();
    let mut cmd = BusinessCoordinatorClient::new(commands);
    // Wait (bounded) until evented answers.
    let root = evented::root(&format!("ledger-{unique}"));
    let mut ready = false;
    for _ in 0..200 {
        if cmd.handle(entry(root)).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "evented did not answer within 20s");

    let value = |u: &pb::ProjectionUpdate| -> u32 {
        String::from_utf8(
            u.projection
                .as_ref()
                .unwrap()
                .projection
                .as_ref()
                .unwrap()
                .value
                .clone(),
        )
        .unwrap()
        .parse()
        .unwrap()
    };
    let watch = Watch {
        projector: "view".into(),
        cover: Some(cover(root)),
        ..Default::default()
    };

    // The current projection, then 9 more, in order.
    let mut got = Vec::new();
    let mut versions = Vec::new();
    let mut sender = Some(cmd.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watching = tokio::time::timeout(
        Duration::from_secs(20),
        watch_projection(query.clone(), watch.clone(), |u| {
            tx.send(()).ok();
            got.push(value(&u));
            versions.push(u.version);
            assert_eq!(u.key, format!("ledger/{root}"));
            if *got.last().unwrap() == 9 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }),
    );
    let sending = async {
        rx.recv().await; // the first update arrived
        send(sender.as_mut().unwrap(), root, 9).await;
    };
    let (watched, ()) = tokio::join!(watching, sending);
    watched.expect("all updates within 20s").expect("watch");
    let returned = view.0.lock().unwrap().clone();
    let first = returned.iter().position(|&s| s == got[0]).unwrap();
    assert_eq!(
        got,
        returned[first..],
        "every projection from the first received on, in order, once"
    );
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "versions increase: {versions:?}"
    );

    // Resume after the last version: only what came since.
    // The last waits until "view" handled it (its projection stored), so
    // the resume below starts behind the newest change.
    send(&mut cmd, root, 4).await;
    let mut last = tonic::Request::new(entry(root));
    last.metadata_mut()
        .insert("evented-wait-for", "view".parse().unwrap());
    last.metadata_mut()
        .insert("evented-wait-timeout", "10s".parse().unwrap());
    cmd.handle(last).await.expect("command");
    let mut resumed = Vec::new();
    let resume = Watch {
        after_version: *versions.last().unwrap(),
        ..watch.clone()
    };
    tokio::time::timeout(
        Duration::from_secs(20),
        watch_projection(query.clone(), resume, |u| {
            resumed.push(value(&u));
            if *resumed.last().unwrap() == 14 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }),
    )
    .await
    .expect("resumed updates within 20s")
    .expect("watch");
    let all: Vec<u32> = got.iter().chain(&resumed).copied().collect();
    assert_eq!(all, *view.0.lock().unwrap());

    // An unknown projector is an error, not retried.
    let err = watch_projection(
        query,
        Watch {
            projector: "nope".into(),
            key: "k".into(),
            ..Default::default()
        },
        |_| ControlFlow::Continue(()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("configured projectors: [view]"),
        "{}",
        err.message()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
