//! projector-loyalty: the example projector loyalty-balance
//! (evented.ProjectorCoordinator): each customer's loyalty balance, a read
//! model that clients wait for (read-your-writes) and watch (subscription
//! queries). Configure it in evented as asynchronous, for domain customer,
//! with history: true and publish_projections: true.
//!
//! ```text
//! cargo run -p projector-loyalty
//! ```
//!
//! Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
//! interface; PORT default 50058). Logs go to standard error.

use std::process::ExitCode;

use evented::{Options, Server};

#[tokio::main]
async fn main() -> ExitCode {
    let server = Server::new().projector(projector_loyalty::new(Options::default()));
    shop::service::run(
        "projector-loyalty",
        50058,
        "evented.ProjectorCoordinator: projector loyalty-balance",
        server,
    )
    .await
}
