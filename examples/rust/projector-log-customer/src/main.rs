//! projector-log-customer: the example projector log-customer
//! (evented.ProjectorCoordinator): one JSON line per customer event on standard
//! output (see shop::eventlog for the line). Configure it in evented as
//! asynchronous, without history, for domain customer.
//!
//! ```text
//! cargo run -p projector-log-customer
//! ```
//!
//! Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
//! interface; PORT default 50056). The service's own messages go to standard
//! error.

use std::process::ExitCode;

use evented::{Options, Server};

#[tokio::main]
async fn main() -> ExitCode {
    let server = Server::new().projector(projector_log_customer::new(
        std::io::stdout(),
        Options::default(),
    ));
    shop::service::run(
        "projector-log-customer",
        50056,
        "evented.ProjectorCoordinator: projector log-customer",
        server,
    )
    .await
}
