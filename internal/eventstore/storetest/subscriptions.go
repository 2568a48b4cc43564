package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// SubscriptionStore is what the Checkpoints and Parking suites need.
type SubscriptionStore interface {
	eventstore.Checkpoints
	eventstore.Parking
	Close() error
}

// RunSubscriptions runs the Checkpoints and Parking conformance suite.
// reopen, when set, returns a store over the same data as s after the suite
// closed s (persistent backends); the suite then checks that checkpoints
// and parked events survive.
func RunSubscriptions(t *testing.T, open func(t *testing.T) SubscriptionStore, reopen func(t *testing.T, s SubscriptionStore) SubscriptionStore) {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()

	t.Run("Checkpoints", func(t *testing.T) {
		s := open(t)
		if cp, err := s.Checkpoint(ctx, "receipt"); err != nil || cp != 0 {
			t.Fatalf("new subscriber's checkpoint = %d, %v; want 0", cp, err)
		}
		for _, pos := range []uint64{5, 9, 1 << 40} {
			if err := s.SaveCheckpoint(ctx, "receipt", pos); err != nil {
				t.Fatal(err)
			}
			if cp, err := s.Checkpoint(ctx, "receipt"); err != nil || cp != pos {
				t.Fatalf("checkpoint = %d, %v; want %d", cp, err, pos)
			}
		}
		if cp, _ := s.Checkpoint(ctx, "loyalty"); cp != 0 {
			t.Fatalf("another subscriber sees checkpoint %d", cp)
		}
		if reopen != nil {
			s = reopenSubs(t, s, reopen)
			if cp, err := s.Checkpoint(ctx, "receipt"); err != nil || cp != 1<<40 {
				t.Fatalf("after reopen checkpoint = %d, %v; want %d", cp, err, uint64(1<<40))
			}
		}
	})

	t.Run("Parking", func(t *testing.T) {
		s := open(t)
		c := newCover("orders")
		cause := causes()[0]
		park := func(pos uint64, seq uint32, reason string) {
			t.Helper()
			e := eventstore.Event{Sequence: seq, CreatedAt: time.Now().UTC(), TypeURL: "t", Payload: []byte{byte(seq)}}
			if seq == 2 {
				e.Cause = cause // parked with its cause; sequence 1 without
			}
			err := s.Park(ctx, "receipt", eventstore.Parked{
				Logged: eventstore.Logged{Position: pos, Cover: c, Event: e},
				Reason: reason, Attempts: 3,
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		park(20, 2, "boom")
		park(10, 1, "first")
		park(20, 2, "boom again")
		got, err := s.ParkedEvents(ctx, "receipt")
		if err != nil {
			t.Fatal(err)
		}
		positions := func(ps []eventstore.Parked) []uint64 {
			var out []uint64
			for _, p := range ps {
				out = append(out, p.Position)
			}
			return out
		}
		if !slices.Equal(positions(got), []uint64{10, 20}) {
			t.Fatalf("parked positions = %v; want [10 20] (ordered, one entry per position)", positions(got))
		}
		p := got[1]
		if p.Reason != "boom again" || p.Attempts != 3 || p.Cover != c || p.Sequence != 2 || p.TypeURL != "t" ||
			len(p.Payload) != 1 || p.Payload[0] != 2 || p.ParkedAt.IsZero() || p.Cause != cause {
			t.Fatalf("parked event = %+v", p)
		}
		if !got[0].Cause.IsZero() {
			t.Fatalf("parked without a cause, read back with %+v", got[0].Cause)
		}
		if other, _ := s.ParkedEvents(ctx, "loyalty"); len(other) != 0 {
			t.Fatalf("another subscriber sees %d parked events", len(other))
		}
		if reopen != nil {
			s = reopenSubs(t, s, reopen)
		}
		if err := s.Unpark(ctx, "receipt", 10, 99); err != nil {
			t.Fatal(err)
		}
		got, err = s.ParkedEvents(ctx, "receipt")
		if err != nil || !slices.Equal(positions(got), []uint64{20}) {
			t.Fatalf("after Unpark(10) parked = %v, %v; want [20]", positions(got), err)
		}
	})
}

func reopenSubs(t *testing.T, s SubscriptionStore, reopen func(*testing.T, SubscriptionStore) SubscriptionStore) SubscriptionStore {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return reopen(t, s)
}
