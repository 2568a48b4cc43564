//! saga-loyalty: the example saga loyalty (evented.SagaCoordinator): loyalty
//! points for the customer of every completed transaction. Configure it in
//! evented for domain transaction with history: true.
//!
//! ```text
//! cargo run -p saga-loyalty
//! ```
//!
//! Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
//! interface; PORT default 50054). Logs go to standard error.

use std::process::ExitCode;

use evented::{Options, Server};

#[tokio::main]
async fn main() -> ExitCode {
    let server = Server::new().saga(saga_loyalty::new(Options::default()));
    shop::service::run(
        "saga-loyalty",
        50054,
        "evented.SagaCoordinator: saga loyalty",
        server,
    )
    .await
}
