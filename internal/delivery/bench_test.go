package delivery_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/sqlite"
)

// replayCount counts the events a subscription delivers.
type replayCount struct {
	name string
	n    atomic.Int64
}

func (c *replayCount) Name() string { return c.name }

func (c *replayCount) Deliver(_ context.Context, book eventstore.Book, _ bool) (delivery.Outcome, error) {
	c.n.Add(int64(len(book.Events)))
	return delivery.Outcome{}, nil
}

const rebuildEvents = 100_000

// rebuildStore is an SQLite file holding rebuildEvents events appended 10
// at a time round-robin over 1,000 aggregates (the bench command's log).
func rebuildStore(b *testing.B) *sqlite.Store {
	b.Helper()
	store, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "events.db"), sqlite.Options{Sync: "normal"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	covers := make([]eventstore.Cover, 1000)
	for i := range covers {
		covers[i] = eventstore.Cover{Domain: "bench", Root: uuid.New()}
	}
	pages := make([]eventstore.Page, 10)
	for i := range pages {
		pages[i] = eventstore.Page{TypeURL: "type.googleapis.com/bench.Event", Payload: make([]byte, 100)}
	}
	for i := 0; i < rebuildEvents; i += len(pages) {
		if _, err := store.Append(b.Context(), covers[(i/len(pages))%len(covers)], pages); err != nil {
			b.Fatal(err)
		}
	}
	return store
}

// BenchmarkRebuild replays the whole log to a consumer that only counts,
// through the delivery pipeline with the server's default options (4
// segments, one log reader). Its floor is one sequential SELECT of the
// same rows: BenchmarkRawReadLog in internal/eventstore/sqlite, and
// `evented bench --scenarios lifecycle`, which puts the two side by side.
func BenchmarkRebuild(b *testing.B) {
	store := rebuildStore(b)
	opts := delivery.Options{MaxAttempts: 3, BackoffMin: time.Millisecond, BackoffMax: time.Second, Workers: 4, Owner: "bench"}
	b.ReportAllocs()
	for b.Loop() {
		c := &replayCount{name: "rebuild-" + uuid.NewString()[:8]}
		sub := delivery.New(c, store, nil, opts, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan error, 1)
		go func() { done <- sub.Run(ctx) }()
		for c.n.Load() < rebuildEvents {
			time.Sleep(100 * time.Microsecond)
		}
		cancel()
		<-done
	}
	b.ReportMetric(float64(rebuildEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}
