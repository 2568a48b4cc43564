//! projector-log-transaction: the example projector log-transaction
//! (evented.ProjectorCoordinator): one JSON line per transaction event on standard
//! output (see shop::eventlog for the line). Configure it in evented as
//! asynchronous, without history, for domain transaction.
//!
//! ```text
//! cargo run -p projector-log-transaction
//! ```
//!
//! Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
//! interface; PORT default 50057). The service's own messages go to standard
//! error.

use std::process::ExitCode;

use evented::{Options, Server};

#[tokio::main]
async fn main() -> ExitCode {
    let server = Server::new().projector(projector_log_transaction::new(
        std::io::stdout(),
        Options::default(),
    ));
    shop::service::run(
        "projector-log-transaction",
        50057,
        "evented.ProjectorCoordinator: projector log-transaction",
        server,
    )
    .await
}
