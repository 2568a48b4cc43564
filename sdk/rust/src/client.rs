//! Helpers for clients of evented's `BusinessCoordinator`.

use tonic::metadata::MetadataValue;

use crate::Error;

/// The gRPC metadata that carries a command's idempotency key.
pub const IDEMPOTENCY_KEY_METADATA: &str = "idempotency-key";

/// Names the command of `request` by an idempotency key.
///
/// evented stores the key with the events the command produced and answers a
/// repeat (within its retention window, 24h by default) with those events
/// instead of deciding the command again, so a command whose outcome is
/// unknown (a deadline passed, `UNAVAILABLE` "the outcome is unknown") can be
/// sent again safely. The same key with another command fails with
/// `ALREADY_EXISTS`. A key is 1 to 256 bytes of printable ASCII; anything else
/// is an `INVALID_ARGUMENT` error here, before anything is sent.
///
/// ```
/// # use evented::pb::CommandBook;
/// let mut request = tonic::Request::new(CommandBook::default());
/// evented::with_idempotency_key(&mut request, "order-42/pay").unwrap();
/// // client.handle(request).await?
/// ```
pub fn with_idempotency_key<T>(request: &mut tonic::Request<T>, key: &str) -> Result<(), Error> {
    let printable = key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if key.is_empty() || key.len() > 256 || !printable {
        return Err(crate::invalid(format!(
            "idempotency-key: want 1 to 256 bytes of printable ASCII, got {} bytes",
            key.len()
        )));
    }
    let value: MetadataValue<_> = key
        .parse()
        .map_err(|_| crate::invalid("idempotency-key: not a valid metadata value"))?;
    request
        .metadata_mut()
        .insert(IDEMPOTENCY_KEY_METADATA, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_the_metadata() {
        let mut request = tonic::Request::new(());
        with_idempotency_key(&mut request, "order-42/pay").unwrap();
        assert_eq!(
            request.metadata().get(IDEMPOTENCY_KEY_METADATA).unwrap(),
            "order-42/pay"
        );
        // Set again, the key replaces the first.
        with_idempotency_key(&mut request, "order-42/pay-again").unwrap();
        assert_eq!(
            request
                .metadata()
                .get_all(IDEMPOTENCY_KEY_METADATA)
                .iter()
                .count(),
            1
        );
    }

    #[test]
    fn refuses_what_evented_would() {
        for key in ["", &"k".repeat(257), "tab\there", "naïve"] {
            let mut request = tonic::Request::new(());
            let err = with_idempotency_key(&mut request, key).unwrap_err();
            assert!(
                err.to_string().contains("printable ASCII"),
                "{key:?}: {err}"
            );
        }
    }
}
