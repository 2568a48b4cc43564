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

/// The gRPC metadata naming the subscribers a command waits for.
pub const WAIT_FOR_METADATA: &str = "evented-wait-for";
/// The gRPC metadata bounding that wait (a duration such as `2000ms`).
pub const WAIT_TIMEOUT_METADATA: &str = "evented-wait-timeout";
/// The gRPC metadata, set to `true`, on deliveries that are replays.
pub const REPLAY_METADATA: &str = "evented-replay";

/// Asks evented to answer the command of `request` only once the named
/// asynchronous projectors (or sagas, or `bus`) have handled its events, for
/// at most `timeout` (`None`: evented's default). The reply's `waits` say
/// whether each was in time; a wait that runs out is not an error, the
/// command is committed.
///
/// ```
/// # use evented::pb::CommandBook;
/// let mut request = tonic::Request::new(CommandBook::default());
/// evented::with_wait_for(&mut request, &["receipt"], Some(std::time::Duration::from_secs(2))).unwrap();
/// // client.handle(request).await?
/// ```
pub fn with_wait_for<T>(
    request: &mut tonic::Request<T>,
    subscribers: &[&str],
    timeout: Option<std::time::Duration>,
) -> Result<(), Error> {
    if subscribers.is_empty() || subscribers.iter().any(|s| s.is_empty() || s.contains(',')) {
        return Err(crate::invalid(
            "evented-wait-for: want one or more subscriber names without commas",
        ));
    }
    let names: MetadataValue<_> = subscribers
        .join(",")
        .parse()
        .map_err(|_| crate::invalid("evented-wait-for: not a valid metadata value"))?;
    request.metadata_mut().insert(WAIT_FOR_METADATA, names);
    if let Some(t) = timeout {
        if t.is_zero() {
            return Err(crate::invalid(
                "evented-wait-timeout: want a duration above 0",
            ));
        }
        let value: MetadataValue<_> = format!("{}ms", t.as_millis().max(1))
            .parse()
            .map_err(|_| crate::invalid("evented-wait-timeout: not a valid metadata value"))?;
        request.metadata_mut().insert(WAIT_TIMEOUT_METADATA, value);
    }
    Ok(())
}

/// Whether the events a projector or saga is handling (the metadata of its
/// gRPC request) are delivered again: its subscription was reset (a
/// rebuild), or it is a new version catching up. Hold side effects then.
pub fn replaying(metadata: &tonic::metadata::MetadataMap) -> bool {
    metadata
        .get(REPLAY_METADATA)
        .is_some_and(|v| v.as_bytes() == b"true")
}

#[cfg(test)]
mod lifecycle_tests {
    use super::*;

    #[test]
    fn wait_for_sets_the_metadata() {
        let mut r = tonic::Request::new(());
        with_wait_for(
            &mut r,
            &["receipt", "loyalty"],
            Some(std::time::Duration::from_secs(2)),
        )
        .unwrap();
        assert_eq!(
            r.metadata().get(WAIT_FOR_METADATA).unwrap(),
            "receipt,loyalty"
        );
        assert_eq!(r.metadata().get(WAIT_TIMEOUT_METADATA).unwrap(), "2000ms");
        assert!(with_wait_for(&mut tonic::Request::new(()), &[], None).is_err());
        assert!(with_wait_for(&mut tonic::Request::new(()), &["a,b"], None).is_err());
    }

    #[test]
    fn replaying_reads_the_metadata() {
        let mut md = tonic::metadata::MetadataMap::new();
        assert!(!replaying(&md));
        md.insert(REPLAY_METADATA, "true".parse().unwrap());
        assert!(replaying(&md));
    }
}
