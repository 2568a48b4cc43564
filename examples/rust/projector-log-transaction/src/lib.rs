//! The example projector log-transaction: one JSON line per transaction event (see
//! shop::eventlog for the line).

use std::io::Write;

use evented::{Options, Projector};

#[cfg(test)]
mod tests;

/// The projector, writing to `out` (standard output in the service).
pub fn new(out: impl Write + Send + 'static, opts: Options) -> Projector<()> {
    shop::eventlog::new("log-transaction", out, opts)
}
