//! A client of evented with TLS and a bearer token: sends one command and
//! reads its event back, and checks what evented refuses. The end-to-end
//! suite runs it against evented itself (tests/e2e, TestSecureClients):
//!
//! ```sh
//! cargo build -p evented --example secure_client
//! go test ./tests/e2e/... -lang=rust -run TestSecureClients
//! ```
//!
//! It reads from the environment:
//!
//! - `EVENTED_COMMAND_ADDR`, `EVENTED_QUERY_ADDR`: evented's ports (host:port)
//! - `EVENTED_CA_FILE`: the CA of evented's certificate
//! - `EVENTED_OTHER_CA_FILE`: a CA that did not sign it
//! - `EVENTED_TOKEN`: a token with the roles command and query
//! - `EVENTED_READER_TOKEN`: a token with the role query only
//!
//! and prints one line per check; it exits 1 at the first that fails.

use std::process::exit;

use evented::pb::business_coordinator_client::BusinessCoordinatorClient;
use evented::pb::event_query_client::EventQueryClient;
use evented::{Connect, pb};
use tonic::Code;

const COMMAND: &str = "type.googleapis.com/examples.CreateCustomer";
const EVENT: &str = "type.googleapis.com/examples.CustomerCreated";

fn fail(what: String) -> ! {
    println!("FAIL: {what}");
    exit(1)
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| fail(format!("${name} is not set")))
}

fn uuid(root: evented::uuid::Uuid) -> Option<pb::Uuid> {
    Some(pb::Uuid {
        value: root.as_bytes().to_vec(),
    })
}

fn command(root: evented::uuid::Uuid) -> pb::CommandBook {
    pb::CommandBook {
        cover: Some(pb::Cover {
            domain: "customer".into(),
            root: uuid(root),
        }),
        pages: vec![pb::CommandPage {
            command: Some(prost_types::Any {
                type_url: COMMAND.into(),
                value: b"\n\x03Ada".to_vec(),
            }),
            ..Default::default()
        }],
    }
}

async fn connect(c: Connect) -> evented::Connection {
    c.connect().await.unwrap_or_else(|e| fail(e.to_string()))
}

#[tokio::main]
async fn main() {
    let (cmd_addr, qry_addr) = (env("EVENTED_COMMAND_ADDR"), env("EVENTED_QUERY_ADDR"));
    let (ca, other_ca) = (env("EVENTED_CA_FILE"), env("EVENTED_OTHER_CA_FILE"));
    let (token, reader) = (env("EVENTED_TOKEN"), env("EVENTED_READER_TOKEN"));
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());

    // A token with command and query: send a command, read its event back.
    let root = evented::root(&format!("secure-rust-{nonce}-{}", std::process::id()));
    let mut writer = BusinessCoordinatorClient::new(
        connect(Connect::new(&cmd_addr).ca_file(&ca).token(&token)).await,
    );
    let reply = writer
        .handle(command(root))
        .await
        .unwrap_or_else(|s| fail(format!("Handle with the command+query token: {s}")))
        .into_inner();
    let got: Vec<String> = reply
        .books
        .iter()
        .flat_map(|b| b.pages.iter())
        .map(|p| {
            p.event
                .as_ref()
                .map_or(String::new(), |e| e.type_url.clone())
        })
        .collect();
    if got != [EVENT] {
        fail(format!(
            "Handle replied with events {got:?}, want [{EVENT}]"
        ));
    }
    println!("ok: Handle with the command+query token stored {got:?}");

    let mut query =
        EventQueryClient::new(connect(Connect::new(&qry_addr).ca_file(&ca).token(&token)).await);
    let mut stream = query
        .get_events(pb::Query {
            domain: "customer".into(),
            root: uuid(root),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| fail(format!("GetEvents: {s}")))
        .into_inner();
    let mut read = Vec::new();
    while let Some(book) = stream
        .message()
        .await
        .unwrap_or_else(|s| fail(format!("GetEvents: {s}")))
    {
        for p in book.pages {
            let num = match p.sequence {
                Some(pb::event_page::Sequence::Num(n)) => n,
                other => fail(format!("GetEvents: an event without a number: {other:?}")),
            };
            read.push((num, p.event.map_or(String::new(), |e| e.type_url)));
        }
    }
    if read != [(0, EVENT.to_string())] {
        fail(format!("GetEvents read {read:?}, want [(0, {EVENT:?})]"));
    }
    println!("ok: GetEvents read it back");

    // A query-only token may not send a command; nor may a call without one.
    let as_reader = BusinessCoordinatorClient::new(
        connect(Connect::new(&cmd_addr).ca_file(&ca).token(&reader)).await,
    );
    refused(
        "Handle with the query-only token",
        as_reader,
        Code::PermissionDenied,
    )
    .await;
    let anonymous =
        BusinessCoordinatorClient::new(connect(Connect::new(&cmd_addr).ca_file(&ca)).await);
    refused("Handle without a token", anonymous, Code::Unauthenticated).await;

    // Trusting another CA: the handshake fails, so connect does.
    match Connect::new(&cmd_addr)
        .ca_file(&other_ca)
        .token(&token)
        .connect()
        .await
    {
        Ok(_) => fail("connect trusting another CA: succeeded, want the handshake to fail".into()),
        Err(e) => println!("ok: connect trusting another CA: {e}"),
    }

    println!("secure client: every check passed");
}

async fn refused(
    what: &str,
    mut client: BusinessCoordinatorClient<evented::Connection>,
    code: Code,
) {
    let root = evented::root(&format!("secure-rust-refused-{}", std::process::id()));
    match client.handle(command(root)).await {
        Ok(_) => fail(format!("{what}: succeeded, want {code:?}")),
        Err(s) if s.code() != code => fail(format!(
            "{what}: {:?} {:?}, want {code:?}",
            s.code(),
            s.message()
        )),
        Err(s) => println!("ok: {what}: {:?} {:?}", s.code(), s.message()),
    }
}
