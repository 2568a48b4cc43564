//! What the Rust example services share: the example domain's messages
//! (protobuf package `examples`, generated at build time from
//! proto/examples/domains.proto), the log projector behind
//! projector-log-customer and projector-log-transaction, and running a
//! service from the environment.

pub mod eventlog;
pub mod service;

/// The example domain's messages (protobuf package `examples`).
#[allow(clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/examples.rs"));
}

/// The descriptors of the example domain's messages (a FileDescriptorSet).
pub(crate) const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/domains.bin"));
