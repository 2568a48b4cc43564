package deadline_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/deadline"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
	"github.com/evented/evented/internal/eventstore/postgres"
	"github.com/evented/evented/internal/eventstore/redis"
	"github.com/evented/evented/internal/eventstore/sqlite"
)

var (
	benchConcurrency = flag.Int("deadline.concurrency", 0, "BenchmarkFire10k: commands dispatched at once (0: the Firer's default)")
	benchGroup       = flag.Int("deadline.group", 0, "BenchmarkFire10k: deadlines fired together (0: the Firer's default; -1: one Dispatch each, no groups)")
	benchLead        = flag.Duration("deadline.lead", 2*time.Second, "BenchmarkFire10k: how long after the wave is built it is due (time to schedule it)")
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

type benchStore interface {
	delivery.Storage
	eventstore.Deadlines
}

// benchBackends opens a fresh store of each backend measured: memory,
// SQLite (sync: full) and, when POSTGRES_TEST_URL is set, PostgreSQL (a
// schema of its own, dropped after), when REDIS_TEST_URL is set, Redis (a
// key prefix of its own, left behind).
func benchBackends(b testing.TB) map[string]func() benchStore {
	out := map[string]func() benchStore{
		"memory": func() benchStore { return memory.New() },
		"sqlite": func() benchStore {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "events.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	if url := os.Getenv("POSTGRES_TEST_URL"); url != "" {
		out["postgres"] = func() benchStore {
			ctx := context.Background()
			var r [6]byte
			rand.Read(r[:])
			schema := "evented_bench_" + hex.EncodeToString(r[:])
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
				conn.Close(context.Background())
			})
			sep := "?"
			if slices.Contains([]byte(url), '?') {
				sep = "&"
			}
			s, err := postgres.Open(ctx, url+sep+"search_path="+schema, postgres.WithLogger(quiet))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
	}
	if url := os.Getenv("REDIS_TEST_URL"); url != "" {
		out["redis"] = func() benchStore {
			var r [6]byte
			rand.Read(r[:])
			sep := "?"
			if slices.Contains([]byte(url), '?') {
				sep = "&"
			}
			s, err := redis.Open(context.Background(), url+sep+"prefix=evented-bench-"+hex.EncodeToString(r[:])+":", redis.WithLogger(quiet))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
	}
	return out
}

// cpuTime is the CPU time (user and system) this process has used: the
// firing's cost, which the machine's other work does not change as it does
// the delays.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // fails only for an invalid who
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFire10k schedules 10,000 deadlines due in the same instant on
// one replica whose Firer is already running (its segments leased), and
// reports the firing delay (due → the deadline's command applied) at p50,
// p99 and max, and the CPU time of the process per firing (from the end
// of the scheduling to the last firing: Go's and, in process, SQLite's,
// not PostgreSQL's). The due time is two seconds after the wave is built, so
// that scheduling it (one transaction) is done before it is due; a run
// whose scheduling ends less than half a second before fails. One
// iteration is one such wave; -deadline.concurrency sets the commands
// dispatched at once.
func BenchmarkFire10k(b *testing.B) {
	backends := benchBackends(b)
	for _, backend := range []string{"memory", "sqlite", "postgres", "redis"} {
		open, ok := backends[backend]
		if !ok {
			continue
		}
		b.Run(backend, func(b *testing.B) {
			const n = 10000
			var all []time.Duration
			var cpu time.Duration
			for b.Loop() {
				store := open()
				coord := command.New(store, store, router{shop{}}, command.Options{MaxAttempts: 3}, quiet)
				obs := &delays{}
				opts := deadline.Options{Segments: 4, Observer: obs, Concurrency: *benchConcurrency, FireGroup: coord.FireGroup, Group: *benchGroup}
				if *benchGroup < 0 {
					opts.FireGroup, opts.Group = nil, 0
				}
				f, err := deadline.NewFirer(store, delivery.NewReplica(store, "r1", 10*time.Second), coord.Fire, opts, quiet)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { f.Run(ctx); close(done) }()
				for end := time.Now().Add(10 * time.Second); len(f.Held()) < 4 && time.Now().Before(end); {
					time.Sleep(5 * time.Millisecond)
				}
				due := time.Now().Add(*benchLead)
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
				if left := time.Until(due); left < 500*time.Millisecond {
					b.Fatalf("scheduling the wave ended %v before it was due: too late to measure", left)
				}
				cpu0 := cpuTime()
				for end := due.Add(30 * time.Second); obs.count() < n && time.Now().Before(end); {
					time.Sleep(5 * time.Millisecond)
				}
				cpu += cpuTime() - cpu0
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
			b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-µs/firing")
			b.ReportMetric(0, "ns/op")
		})
	}
}
