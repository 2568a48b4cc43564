//! transaction: the business logic of the example domain transaction
//! (evented.BusinessLogic): CreateTransaction, ApplyDiscount,
//! CompleteTransaction, CancelTransaction.
//!
//! ```text
//! cargo run -p transaction
//! ```
//!
//! Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
//! interface; PORT default 50053). Logs go to standard error.

use std::process::ExitCode;

use evented::{Options, Server};

#[tokio::main]
async fn main() -> ExitCode {
    let server = Server::new().aggregate(transaction::new(Options::default()));
    shop::service::run(
        "transaction",
        50053,
        "evented.BusinessLogic for domain transaction",
        server,
    )
    .await
}
