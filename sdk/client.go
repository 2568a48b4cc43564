package sdk

import (
	"context"

	"google.golang.org/grpc/metadata"
)

// IdempotencyKeyMetadata is the gRPC metadata that carries a command's
// idempotency key to evented's BusinessCoordinator (Handle and Record).
const IdempotencyKeyMetadata = "idempotency-key"

// WithIdempotencyKey returns ctx with key as the idempotency key of the
// calls made with it: evented stores the key with the events the command
// produced, and answers a repeat (within its retention window, 24h by
// default) with those events instead of deciding the command again. A
// client can therefore retry a command whose outcome it does not know (a
// deadline passed, UNAVAILABLE "the outcome is unknown") without doing it
// twice. The same key with another command fails with ALREADY_EXISTS.
// A key is 1 to 256 bytes of printable ASCII; use one per command.
//
//	ctx := sdk.WithIdempotencyKey(ctx, "order-42/pay")
//	reply, err := coordinator.Handle(ctx, cmd)
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, IdempotencyKeyMetadata, key)
}
