"""Helpers for clients of evented's BusinessCoordinator."""

IDEMPOTENCY_KEY_METADATA = "idempotency-key"


def idempotency_metadata(key: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata naming a command by an idempotency key.

    evented stores the key with the events the command produced and answers
    a repeat (within its retention window, 24h by default) with those events
    instead of deciding the command again, so a command whose outcome is
    unknown (a deadline passed, UNAVAILABLE "the outcome is unknown") can be
    sent again safely. The same key with another command fails with
    ALREADY_EXISTS. A key is 1 to 256 characters of printable ASCII::

        stub.Handle(book, metadata=evented.idempotency_metadata("order-42/pay"))
    """
    if not key or len(key) > 256 or not all(" " <= ch <= "~" for ch in key):
        raise ValueError(f"idempotency key {key[:40]!r}: want 1 to 256 characters of printable ASCII")
    return ((IDEMPOTENCY_KEY_METADATA, key),)
