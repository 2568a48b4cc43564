package delivery_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

func putView(t *testing.T, h *delivery.Projections, cover eventstore.Cover, seq uint32) {
	t.Helper()
	if err := h.Put(t.Context(), eventstore.Projection{Projector: "view", Key: cover.String(), Cover: cover, Sequence: seq,
		TypeURL: "t", Payload: []byte(fmt.Sprint(seq))}); err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, w *delivery.Watcher) eventstore.Projection {
	t.Helper()
	select {
	case p := <-w.Updates():
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
		return eventstore.Projection{}
	}
}

func runProjections(t *testing.T, store *memory.Store, opts delivery.ProjectionOptions) *delivery.Projections {
	h := delivery.NewProjections(store, opts, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// A watcher gets the current projection, then each change once, in
// order; a second one resuming from a version gets what followed it.
func TestWatchCurrentThenChangesAndResume(t *testing.T) {
	store := memory.New()
	h := runProjections(t, store, delivery.ProjectionOptions{PollInterval: time.Hour}) // puts here kick the poller
	cover := eventstore.Cover{Domain: "ledger", Root: uuid.New()}
	putView(t, h, cover, 0)
	putView(t, h, cover, 1)
	var first []eventstore.Projection
	w, err := h.Watch(t.Context(), "view", cover.String(), 0, func(p eventstore.Projection) error { first = append(first, p); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if len(first) != 1 || first[0].Sequence != 1 {
		t.Fatalf("caught up with %+v; want the current projection only, at 1", first)
	}
	for seq := uint32(2); seq < 6; seq++ {
		putView(t, h, cover, seq)
	}
	for seq := uint32(2); seq < 6; seq++ {
		if p := next(t, w); p.Sequence != seq || p.Version != uint64(seq+1) {
			t.Fatalf("update %+v; want sequence %d at version %d", p, seq, seq+1)
		}
	}
	var resumed []uint32
	r, err := h.Watch(t.Context(), "view", cover.String(), 3, func(p eventstore.Projection) error { resumed = append(resumed, p.Sequence); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if fmt.Sprint(resumed) != "[3 4 5]" {
		t.Fatalf("resumed after version 3 with %v; want [3 4 5]", resumed)
	}
	putView(t, h, cover, 6)
	if p := next(t, r); p.Sequence != 6 {
		t.Fatalf("resumed watcher's next update at %d; want 6", p.Sequence)
	}
}

// A watcher that does not take its updates is dropped once Buffer of them
// wait; the others go on.
func TestSlowWatcherIsDropped(t *testing.T) {
	store := memory.New()
	h := runProjections(t, store, delivery.ProjectionOptions{PollInterval: time.Hour, Buffer: 2})
	cover := eventstore.Cover{Domain: "ledger", Root: uuid.New()}
	noop := func(eventstore.Projection) error { return nil }
	slow, err := h.Watch(t.Context(), "view", cover.String(), 0, noop)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := h.Watch(t.Context(), "view", cover.String(), 0, noop)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	for seq := range uint32(5) {
		putView(t, h, cover, seq)
		if p := next(t, fast); p.Sequence != seq {
			t.Fatalf("fast watcher got %d; want %d", p.Sequence, seq)
		}
	}
	select {
	case <-slow.Dropped():
	case <-time.After(5 * time.Second):
		t.Fatal("the slow watcher was not dropped")
	}
	if n := len(slow.Updates()); n != 2 {
		t.Errorf("%d updates wait for the dropped watcher; want its buffer, 2", n)
	}
}

// Live lists each watcher with its client and what it was handed, and
// forgets it when it closes.
func TestLiveListsWatchers(t *testing.T) {
	store := memory.New()
	h := runProjections(t, store, delivery.ProjectionOptions{PollInterval: time.Hour})
	cover := eventstore.Cover{Domain: "ledger", Root: uuid.New()}
	putView(t, h, cover, 0)
	w, err := h.Watch(delivery.WithWatcher(t.Context(), "alice"), "view", cover.String(), 0, func(eventstore.Projection) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	putView(t, h, cover, 1)
	next(t, w)
	live := h.Live()
	if len(live) != 1 {
		t.Fatalf("Live() = %+v; want one watcher", live)
	}
	if l := live[0]; l.Projector != "view" || l.Key != cover.String() || l.Client != "alice" || l.Version != 2 || l.Updates != 2 || l.Since.IsZero() {
		t.Errorf("Live()[0] = %+v; want view/%s by alice at version 2 after 2 updates", l, cover)
	}
	w.Close()
	if live := h.Live(); len(live) != 0 {
		t.Errorf("after Close, Live() = %+v; want none", live)
	}
}
