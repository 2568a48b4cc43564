//! customer: the business logic of the example domain customer
//! (evented.BusinessLogic): CreateCustomer, AddLoyaltyPoints,
//! RedeemLoyaltyPoints; and its upcaster (evented.Upcaster), which turns the
//! first version's CustomerSignedUp into CustomerCreated.
//!
//! ```text
//! cargo run -p customer
//! ```
//!
//! Listens on LISTEN_HOST:PORT (environment; LISTEN_HOST empty or unset: every
//! interface; PORT default 50052). Logs go to standard error.

use std::process::ExitCode;

use evented::{Options, Server};

#[tokio::main]
async fn main() -> ExitCode {
    let server = Server::new()
        .aggregate(customer::new(Options::default()))
        .upcaster(customer::upcaster());
    shop::service::run(
        "customer",
        50052,
        "evented.BusinessLogic for domain customer",
        server,
    )
    .await
}
