package sdk_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/evented/evented/sdk"
)

func TestWithIdempotencyKey(t *testing.T) {
	ctx := sdk.WithIdempotencyKey(context.Background(), "order-42/pay")
	md, _ := metadata.FromOutgoingContext(ctx)
	if got := md.Get("idempotency-key"); !slices.Equal(got, []string{"order-42/pay"}) {
		t.Errorf("outgoing idempotency-key = %q; want [order-42/pay]", got)
	}
}

func TestWaitForAndReplayingMetadata(t *testing.T) {
	ctx := sdk.WithWaitFor(context.Background(), 2*time.Second, "receipt", "loyalty")
	md, _ := metadata.FromOutgoingContext(ctx)
	if got := md.Get(sdk.WaitForMetadata); len(got) != 1 || got[0] != "receipt,loyalty" {
		t.Fatalf("%s = %v", sdk.WaitForMetadata, got)
	}
	if got := md.Get(sdk.WaitTimeoutMetadata); len(got) != 1 || got[0] != "2s" {
		t.Fatalf("%s = %v", sdk.WaitTimeoutMetadata, got)
	}
	if md, _ := metadata.FromOutgoingContext(sdk.WithWaitFor(context.Background(), 0, "receipt")); len(md.Get(sdk.WaitTimeoutMetadata)) != 0 {
		t.Fatal("a zero timeout was sent")
	}
	in := metadata.NewIncomingContext(context.Background(), metadata.Pairs(sdk.ReplayMetadata, "true"))
	if !sdk.Replaying(in) || sdk.Replaying(context.Background()) {
		t.Fatal("Replaying does not read evented-replay")
	}
}
