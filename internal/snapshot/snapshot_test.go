package snapshot_test

import (
	"context"
	"encoding/binary"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
	"github.com/evented/evented/internal/eventstore/sqlite"
	"github.com/evented/evented/internal/snapshot"
)

// counter is business logic whose state is the number of events folded
// in (8 bytes, big-endian). It never returns a snapshot with a command.
type counter struct {
	mu      sync.Mutex
	calls   int
	maxBook int
	noSnap  bool
	typeURL string
	handled int
}

func (c *counter) Name() string { return "counter" }

func (c *counter) Handle(context.Context, business.Request) (business.Decision, error) {
	c.mu.Lock()
	c.handled++
	c.mu.Unlock()
	return business.Decision{}, nil
}

func (c *counter) Snapshot(_ context.Context, prior eventstore.Book) (business.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.maxBook = max(c.maxBook, len(prior.Events))
	if c.noSnap {
		return business.Snapshot{}, business.ErrNoSnapshots
	}
	var n uint64
	if prior.Snapshot != nil {
		n = binary.BigEndian.Uint64(prior.Snapshot.State)
	}
	n += uint64(len(prior.Events))
	typeURL := c.typeURL
	if typeURL == "" {
		typeURL = "type.googleapis.com/test.Count"
	}
	return business.Snapshot{TypeURL: typeURL, State: binary.BigEndian.AppendUint64(nil, n)}, nil
}

type route struct{ l business.Logic }

func (r route) Route(string) (business.Logic, error) { return r.l, nil }

var cover = eventstore.Cover{Domain: "counter", Root: uuid.MustParse("2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f")}

// grow appends n events to cover in batches of batch, delivering each
// batch to w as the log would.
func grow(tb testing.TB, store eventstore.Store, w *snapshot.Worker, n, batch int) {
	tb.Helper()
	ctx := context.Background()
	pages := make([]eventstore.Page, batch)
	for i := range pages {
		pages[i] = eventstore.Page{TypeURL: "type.googleapis.com/test.Counted", Payload: []byte{1}}
	}
	for done := 0; done < n; done += batch {
		events, err := store.Append(ctx, cover, pages[:min(batch, n-done)])
		if err != nil {
			tb.Fatal(err)
		}
		if w != nil {
			if _, err := w.Deliver(ctx, eventstore.Book{Cover: cover, Events: events}, false); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// A million-event aggregate under the every-1000 policy loads its snapshot
// and fewer than 1000 events, though no command ever returned a snapshot,
// and business logic was never sent more than a chunk of events at once.
func TestEveryKeepsAMillionEventAggregateShort(t *testing.T) {
	total := 1_000_000
	if testing.Short() {
		total = 100_000
	}
	store := memory.New()
	logic := &counter{}
	w := snapshot.New(store, store, route{logic}, map[string]snapshot.Policy{"counter": {Every: 1000}}, snapshot.Options{}, slog.New(slog.DiscardHandler))
	grow(t, store, w, total, 733) // batches that do not line up with the policy
	book, err := eventstore.Load(t.Context(), store, store, cover)
	if err != nil {
		t.Fatal(err)
	}
	if book.Snapshot == nil || len(book.Events) >= 1000 || book.Next() != uint32(total) {
		t.Fatalf("a load reads snapshot %v and %d events; want a snapshot and fewer than 1000 events up to %d", book.Snapshot, len(book.Events), total)
	}
	if got := binary.BigEndian.Uint64(book.Snapshot.State); got != uint64(book.Snapshot.Sequence) {
		t.Errorf("the snapshot at %d holds a count of %d: events were folded twice or missed", book.Snapshot.Sequence, got)
	}
	if logic.handled != 0 || logic.maxBook > 1000 {
		t.Errorf("commands handled %d, largest book sent %d; want none, and at most a chunk (1000)", logic.handled, logic.maxBook)
	}
}

// An aggregate that grew before the policy existed is folded in chunks:
// never one message holding its whole history.
func TestTakeFoldsAlongHistoryInChunks(t *testing.T) {
	store := memory.New()
	grow(t, store, nil, 25_000, 1000)
	logic := &counter{}
	w := snapshot.New(store, store, route{logic}, map[string]snapshot.Policy{"counter": {Every: 100}}, snapshot.Options{Chunk: 4000}, slog.New(slog.DiscardHandler))
	if !w.Take(t.Context(), cover, "every") {
		t.Fatal("no snapshot taken")
	}
	s, ok, err := store.Snapshot(t.Context(), cover)
	if err != nil || !ok || s.Sequence != 25_000 || binary.BigEndian.Uint64(s.State) != 25_000 {
		t.Fatalf("snapshot %v %v %v; want one at 25000 counting 25000 events", s, ok, err)
	}
	if logic.calls != 7 || logic.maxBook != 4000 {
		t.Errorf("%d calls, largest book %d; want 7 calls of at most 4000 events", logic.calls, logic.maxBook)
	}
	if w.Take(t.Context(), cover, "every") {
		t.Error("a second snapshot with no new event was stored")
	}
}

// The idle rule snapshots an aggregate once no event came for Idle.
func TestIdleSnapshotsAQuietAggregate(t *testing.T) {
	store := memory.New()
	logic := &counter{}
	w := snapshot.New(store, store, route{logic}, map[string]snapshot.Policy{"counter": {Idle: 50 * time.Millisecond}}, snapshot.Options{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	grow(t, store, w, 7, 7)
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, ok, _ := store.Snapshot(t.Context(), cover)
		if ok && s.Sequence == 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no idle snapshot at 7 after 5s (%v %v)", s, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A load slower than LoadOver gets the aggregate a snapshot.
func TestSlowLoadSnapshots(t *testing.T) {
	store := memory.New()
	logic := &counter{}
	w := snapshot.New(store, store, route{logic}, map[string]snapshot.Policy{"counter": {LoadOver: 5 * time.Millisecond}}, snapshot.Options{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	grow(t, store, nil, 30, 30)
	w.Loaded(cover, time.Millisecond, 30) // fast: nothing
	time.Sleep(50 * time.Millisecond)
	if _, ok, _ := store.Snapshot(t.Context(), cover); ok {
		t.Fatal("a fast load took a snapshot")
	}
	w.Loaded(cover, 20*time.Millisecond, 30)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, ok, _ := store.Snapshot(t.Context(), cover); ok && s.Sequence == 30 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no snapshot 5s after a slow load")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Filter hides snapshots of another state type.
func TestFilterHidesOtherStateTypes(t *testing.T) {
	store := memory.New()
	if err := store.PutSnapshot(t.Context(), cover, eventstore.Snapshot{Sequence: 3, TypeURL: "type.googleapis.com/test.V1"}); err != nil {
		t.Fatal(err)
	}
	f := snapshot.Filter(store, func(string) string { return "type.googleapis.com/test.V2" })
	if s, ok, err := f.Snapshot(t.Context(), cover); ok || err != nil {
		t.Errorf("filtered: %v %v %v; want none", s, ok, err)
	}
	if _, ok, _ := snapshot.Filter(store, func(string) string { return "" }).Snapshot(t.Context(), cover); !ok {
		t.Error("with no state type, the snapshot is hidden")
	}
}

// BenchmarkLoadMillionEvents measures what a command pays to load a
// 1,000,000-event aggregate from SQLite: with the every-1000 policy, at
// best (a snapshot just taken: the snapshot alone) and at worst (999
// events after it, the most the policy leaves; 999,999 events in all),
// and without a policy
// (every event). Building the aggregate is not timed.
func BenchmarkLoadMillionEvents(b *testing.B) {
	for _, bc := range []struct {
		name        string
		policy      bool
		eventsAfter int
	}{{"policy=every1000/best", true, 0}, {"policy=every1000/worst", true, 999}, {"policy=none", false, 0}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "events.db"), sqlite.Options{Sync: "normal"})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			var w *snapshot.Worker
			if bc.policy {
				w = snapshot.New(store, store, route{&counter{}}, map[string]snapshot.Policy{"counter": {Every: 1000}}, snapshot.Options{}, slog.New(slog.DiscardHandler))
			}
			if bc.eventsAfter == 0 {
				grow(b, store, w, 1_000_000, 1000)
			} else {
				// A snapshot at 999,000, then 999 events: 999,999 in all.
				grow(b, store, w, 999_000, 1000)
				grow(b, store, nil, bc.eventsAfter, bc.eventsAfter) // not delivered: no snapshot yet
			}
			var events int
			for b.Loop() {
				book, err := eventstore.Load(ctx, store, store, cover)
				if err != nil {
					b.Fatal(err)
				}
				events = len(book.Events)
			}
			b.ReportMetric(float64(events), "events/load")
		})
	}
}
