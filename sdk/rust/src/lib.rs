//! Write [evented](https://github.com/evented/evented) business logic,
//! projectors and sagas in Rust.
//!
//! evented stores events and calls your services over gRPC; this crate turns
//! typed Rust closures into those services (tonic + prost). The wire types are
//! [`pb`], generated at build time from the repository's `proto/`.
//!
//! # Business logic: an [`Aggregate`]
//!
//! An `Aggregate<S>` decides what commands mean for one domain. `S` is your
//! state type; `S::default()` is a new aggregate. Register how events change
//! the state (`apply`), what each command means (`handle`), and optionally
//! snapshots (`snapshot`, `restore`):
//!
//! ```ignore
//! use evented::{Aggregate, Options, reject};
//!
//! #[derive(Default)]
//! struct State { exists: bool }
//!
//! fn new(opts: Options) -> Aggregate<State> {
//!     Aggregate::new("customer", opts)
//!         .apply(|s: &mut State, _: CustomerCreated| s.exists = true)
//!         .handle(|s: &State, c: CreateCustomer| {
//!             if s.exists {
//!                 return Err(reject("customer already exists")); // FAILED_PRECONDITION
//!             }
//!             Ok(CustomerCreated { name: c.name, ..Default::default() }.into())
//!         })
//! }
//! ```
//!
//! For each command evented sends the aggregate's latest snapshot and the
//! events after it; the SDK rebuilds `S` from them, runs the handler, applies
//! the new events (so the snapshot and the next command of the same book see
//! them) and numbers them from the aggregate's next sequence. [`reject`] and
//! [`invalid`] become `FAILED_PRECONDITION` and `INVALID_ARGUMENT` for the
//! client; a panic in a handler is `INTERNAL`.
//!
//! # Projectors and sagas
//!
//! A [`Projector`] builds read models, a [`Saga`] sends [`Command`]s to other
//! aggregates; both fold a state from the books evented delivers (`apply`,
//! `restore`) and call typed handlers for the new events (`on`, `react`). What
//! a book holds depends on evented's configuration of the consumer, which
//! [`Options::with_history`] must match.
//!
//! # Serving and testing
//!
//! [`Server`] serves any number of aggregates (routed by domain), at most one
//! projector and one saga, with gRPC health, until [`shutdown_signal`].
//! [`testing`] tests them with Given/When/Then, without a server.
//!
//! Messages: every prost message generated with `enable_type_names` (and the
//! `type.googleapis.com` domain) is a [`Proto`]. Aggregate ids: [`root`] maps
//! a name (`cust-001`) to the aggregate's UUID the same way in every language
//! and in evented's CLI. Clients: [`with_idempotency_key`] names a command so
//! that sending it again stores nothing twice.

mod aggregate;
mod client;
mod connect;
mod consumer;
mod deadline;
mod error;
mod fold;
mod ids;
mod msg;
mod options;
mod projections;
mod server;
pub mod testing;
mod upcaster;

/// The wire contract (protobuf package `evented`): messages, gRPC clients and
/// servers, generated from `proto/evented/evented.proto`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("evented");
}

pub use aggregate::Aggregate;
pub use client::{
    IDEMPOTENCY_KEY_METADATA, REPLAY_METADATA, WAIT_FOR_METADATA, WAIT_TIMEOUT_METADATA, replaying,
    with_idempotency_key, with_wait_for,
};
pub use connect::{AUTHORIZATION_METADATA, Bearer, Connect, ConnectError, Connection};
pub use consumer::{BoxFuture, Command, Event, EventReader, Projector, Saga};
pub use deadline::{cancel_deadline, deadline_after, deadline_at};
pub use error::{Error, invalid, reject};
pub use ids::{Cover, root};
pub use msg::{Events, Msg, Proto, decode, type_name};
pub use options::{Clock, Options};
pub use projections::{PROJECTION_KEY_METADATA, Watch, watch_projection};
pub use server::{MAX_MESSAGE_SIZE, ServeError, Server, shutdown_signal};
pub use upcaster::{UpcastStep, Upcaster};

/// Re-exported for the types in this crate's API.
pub use {prost, prost_types, tonic, uuid};
