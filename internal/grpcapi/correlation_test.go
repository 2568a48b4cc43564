package grpcapi

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/metadata"

	"github.com/evented/evented/internal/eventstore"
)

func TestCorrelation(t *testing.T) {
	in := func(v ...string) context.Context {
		md := metadata.MD{}
		for _, s := range v {
			md.Append(CorrelationKey, s)
		}
		return metadata.NewIncomingContext(context.Background(), md)
	}
	if id, err := correlation(in("order-42 / retry 1")); err != nil || id != "order-42 / retry 1" {
		t.Errorf("a valid id: %q, %v", id, err)
	}
	if id, err := correlation(in(strings.Repeat("~", maxCorrelation))); err != nil || len(id) != maxCorrelation {
		t.Errorf("an id of %d characters: %q, %v", maxCorrelation, id, err)
	}
	if id, err := correlation(context.Background()); err != nil || uuid.Validate(id) != nil {
		t.Errorf("no id: %q, %v; want a new UUID", id, err)
	}
	for _, bad := range []string{"", strings.Repeat("x", maxCorrelation+1), "tab\there", "caf\u00e9", "nul\x00"} {
		if _, err := correlation(in(bad)); !errors.Is(err, eventstore.ErrInvalid) || !strings.HasPrefix(err.Error(), CorrelationKey) {
			t.Errorf("correlation id %q: %v; want invalid, naming %s", bad, err, CorrelationKey)
		}
	}
}
