package delivery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

// gate holds every delivery until opened, then records.
type gate struct {
	*readModel
	open chan struct{}
}

func (g *gate) Deliver(ctx context.Context, book eventstore.Book, inline bool) (delivery.Outcome, error) {
	<-g.open
	return g.readModel.Deliver(ctx, book, inline)
}

// WaitFor returns only once the consumer has the events, on this replica
// or another; when its context ends first it says how far it got.
func TestWaitForReachesThePositionOnEveryReplica(t *testing.T) {
	store := memory.New()
	g := &gate{readModel: newReadModel("p"), open: make(chan struct{})}
	// Leases long enough that none lapses while deliveries are held.
	a := delivery.New(g, store, nil, fast(delivery.Options{Owner: "a", LeaseTTL: 3 * time.Second}), quiet)
	b := delivery.New(g, store, nil, fast(delivery.Options{Owner: "b", LeaseTTL: 3 * time.Second}), quiet)
	defer runAsync(t, a)()
	defer runAsync(t, b)()
	eventually(t, "two segments each", func() bool { return locals(a) == 2 && locals(b) == 2 })

	covers := make([]eventstore.Cover, 8)
	for i := range covers {
		covers[i] = cover("a")
		appendN(t, store, covers[i], 1)
	}
	head, err := store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	reached, err := a.WaitFor(short, head, nil)
	var we *delivery.WaitError
	if !errors.As(err, &we) || reached >= head || we.Position != head || we.Subscriber != "p" {
		t.Fatalf("WaitFor with the consumer held = %d, %v; want a WaitError below %d", reached, err, head)
	}
	close(g.open)
	// Each aggregate waited for through the replica that does not own it
	// as well as the one that does.
	for _, c := range covers {
		for _, sub := range []*delivery.Subscription{a, b} {
			if _, err := sub.WaitFor(t.Context(), head, &c); err != nil {
				t.Fatal(err)
			}
			if m, _, _ := g.snapshot(); len(m[c]) != 1 {
				t.Fatalf("%s: WaitFor returned before the consumer had its event: %v (head %d, status a %+v b %+v)", c, m[c], head, a.Status(), b.Status())
			}
		}
	}
	if _, err := b.WaitFor(t.Context(), head, nil); err != nil {
		t.Fatal(err)
	}
}

// hangs holds every delivery of one aggregate until released.
type hangs struct {
	*readModel
	cover   eventstore.Cover
	release chan struct{}
}

func (h *hangs) Deliver(ctx context.Context, book eventstore.Book, inline bool) (delivery.Outcome, error) {
	if book.Cover == h.cover {
		<-h.release
	}
	return h.readModel.Deliver(ctx, book, inline)
}

// A segment whose lease is lost while its consumer hangs stops in the
// background: the subscription's other segments go on (their leases are
// renewed, they start again after a reset) while the call hangs.
func TestHungDeliveryOnALostLeaseHoldsUpNoOtherSegment(t *testing.T) {
	store := memory.New()
	stuck := cover("a")
	h := &hangs{readModel: newReadModel("p"), cover: stuck, release: make(chan struct{})}
	sub := delivery.New(h, store, nil, fast(delivery.Options{LeaseTTL: time.Second}), quiet)
	defer run(t, sub)()
	defer close(h.release) // before the subscription stops: it waits for the call
	appendN(t, store, stuck, 1)
	time.Sleep(50 * time.Millisecond) // its delivery hangs now
	if _, err := sub.Reset(t.Context(), delivery.ResetTo{}); err != nil {
		t.Fatal(err)
	}
	var others []eventstore.Cover
	for len(others) < 6 {
		if c := cover("a"); eventstore.SegmentOf(c, 4) != eventstore.SegmentOf(stuck, 4) {
			others = append(others, c)
			appendN(t, store, c, 1)
		}
	}
	eventually(t, "the other segments' events", func() bool {
		m, _, _ := h.snapshot()
		for _, c := range others {
			if len(m[c]) == 0 {
				return false
			}
		}
		return true
	})
}
