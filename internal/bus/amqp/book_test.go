package amqp

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/eventstore"
)

// The codec itself is tested in internal/wire; here, that the backend's
// bodies round-trip and that its errors are the bus's.
func TestBodies(t *testing.T) {
	in := eventstore.Book{
		Cover:  eventstore.Cover{Domain: "customer", Root: uuid.New()},
		Events: []eventstore.Event{{Sequence: 3, CreatedAt: time.Now().UTC(), TypeURL: "t/a", Payload: []byte{1}}},
	}
	data, err := encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := decode(data); err != nil || out.Cover != in.Cover || out.Events[0].Sequence != 3 {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	if _, err := decode([]byte("not a book")); !errors.Is(err, bus.ErrMalformed) {
		t.Fatalf("malformed body: %v, want bus.ErrMalformed", err)
	}
}
