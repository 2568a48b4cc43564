package sdk_test

import (
	"context"
	"slices"
	"testing"

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
