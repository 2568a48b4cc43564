//! projector-receipt: the example projector receipt
//! (evented.ProjectorCoordinator): a Receipt for every completed transaction.
//! Configure it in evented for domain transaction, synchronous, with history:
//! true.
//!
//! ```text
//! cargo run -p projector-receipt
//! ```
//!
//! Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
//! interface; PORT default 50055). Logs go to standard error.

use std::process::ExitCode;

use evented::{Options, Server};

#[tokio::main]
async fn main() -> ExitCode {
    let server = Server::new().projector(projector_receipt::new(Options::default()));
    shop::service::run(
        "projector-receipt",
        50055,
        "evented.ProjectorCoordinator: projector receipt",
        server,
    )
    .await
}
