package sdk

import (
	"context"
	"slices"
	"strings"
	"time"

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

// Read-your-writes and replay metadata (docs/howto/projections.md).
const (
	WaitForMetadata     = "evented-wait-for"
	WaitTimeoutMetadata = "evented-wait-timeout"
	ReplayMetadata      = "evented-replay"
	// PositionMetadata, "true", asks for a reply's position without waiting.
	PositionMetadata = "evented-want-position"
)

// WithWaitFor returns ctx asking evented to answer the commands sent with
// it only once the named asynchronous projectors (or sagas, or bus) have
// handled their events, for at most timeout (0: evented's default, 90% of
// the call's deadline or 10s). The reply's Waits say whether each was in
// time; a wait that runs out is not an error, the command is committed.
//
//	ctx := sdk.WithWaitFor(ctx, 2*time.Second, "receipt")
//	reply, err := coordinator.Handle(ctx, cmd) // receipt has the events
func WithWaitFor(ctx context.Context, timeout time.Duration, subscribers ...string) context.Context {
	kv := []string{WaitForMetadata, strings.Join(subscribers, ",")}
	if timeout > 0 {
		kv = append(kv, WaitTimeoutMetadata, timeout.String())
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

// Replaying reports whether the events a projector or saga is handling
// (ctx of its Handle call) are delivered again: its subscription was reset
// (a rebuild), or it is a new version catching up. Hold side effects such
// as e-mails then; rebuild the read model as usual.
func Replaying(ctx context.Context) bool {
	return slices.Contains(metadata.ValueFromIncomingContext(ctx, ReplayMetadata), "true")
}
