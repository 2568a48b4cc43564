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
//! TRANSACTION_TIMEOUT (seconds, default 1800) is how long a transaction may
//! stay pending before a deadline cancels it.

use std::process::ExitCode;
use std::time::Duration;

use evented::{Options, Server};

#[tokio::main]
async fn main() -> ExitCode {
    let timeout = match std::env::var("TRANSACTION_TIMEOUT") {
        Ok(v) => match v.parse::<f64>() {
            Ok(secs) if secs > 0.0 => Duration::from_secs_f64(secs),
            _ => {
                eprintln!(
                    "TRANSACTION_TIMEOUT={v:?}: want a positive number of seconds such as 1800"
                );
                return ExitCode::from(2);
            }
        },
        Err(_) => transaction::OPEN_TIMEOUT,
    };
    let server = Server::new().aggregate(transaction::with_timeout(Options::default(), timeout));
    shop::service::run(
        "transaction",
        50053,
        "evented.BusinessLogic for domain transaction",
        server,
    )
    .await
}
