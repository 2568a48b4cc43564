package deadline_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/deadline"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
	"github.com/evented/evented/internal/eventstore/sqlite"
)

// delays records each firing's delay from its due time to the end of its
// command.
type delays struct {
	mu sync.Mutex
	d  []time.Duration
}

func (o *delays) Fired(_ string, d time.Duration, err error) {
	o.mu.Lock()
	o.d = append(o.d, d)
	o.mu.Unlock()
}

func (o *delays) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.d)
}

// BenchmarkFire10k schedules 10,000 deadlines due in the same instant,
// one second ahead, on one replica, and reports the firing delay (due →
// the deadline's command applied) at p50, p99 and max, and how long the
// last one took. One iteration is one such wave.
func BenchmarkFire10k(b *testing.B) {
	for _, backend := range []string{"memory", "sqlite"} {
		b.Run(backend, func(b *testing.B) {
			const n = 10000
			var all []time.Duration
			for b.Loop() {
				var store interface {
					delivery.Storage
				}
				if backend == "memory" {
					store = memory.New()
				} else {
					s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "events.db"), sqlite.Options{})
					if err != nil {
						b.Fatal(err)
					}
					store = s
				}
				coord := command.New(store, store, router{shop{}}, command.Options{MaxAttempts: 3}, quiet)
				obs := &delays{}
				f, err := deadline.NewFirer(store, delivery.NewReplica(store, "r1", 10*time.Second), coord.Dispatch,
					deadline.Options{Segments: 4, Observer: obs}, quiet)
				if err != nil {
					b.Fatal(err)
				}
				due := time.Now().Add(time.Second)
				ds := make([]eventstore.Deadline, n)
				for i := range ds {
					cover := eventstore.Cover{Domain: "shop", Root: uuid.New()}
					cmd, _ := deadline.Encode(business.CommandBook{Cover: cover, Pages: []business.Command{{TypeURL: "Expire"}}})
					id := fmt.Sprintf("bench-%d", i)
					ds[i] = eventstore.Deadline{ID: id, Due: due, Cover: cover, Command: cmd, Key: deadline.Key(id, "bench")}
				}
				if err := store.Schedule(context.Background(), ds); err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { f.Run(ctx); close(done) }()
				for end := time.Now().Add(30 * time.Second); obs.count() < n && time.Now().Before(end); {
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
				<-done
				store.Close()
				if obs.count() < n {
					b.Fatalf("%d of %d fired within 30s", obs.count(), n)
				}
				all = append(all, obs.d...)
			}
			slices.Sort(all)
			q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Milliseconds()) }
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(1), "max-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
