package storetest

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// GroupStore is a store whose deadlines fire through AppendGroup. Close
// may be called again by the test's cleanup.
type GroupStore interface {
	Schedule(ctx context.Context, ds []eventstore.Deadline) error
	eventstore.GroupAppender
	io.Closer
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // fails only for an invalid who
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchAppendGroup measures a store's AppendGroup as the deadline firer
// uses it: 10,000 pending deadlines fired by appends of one event each, to
// aggregates of their own, each with its idempotency key and its deadline
// removed with it, in groups of 64 of which 4 are under way at once. One
// iteration is one such wave on a store open makes afresh; it reports the
// wall time and the process's CPU time per append (the client's, for a
// store behind a server). The stores' BenchmarkAppendGroup call it.
func BenchAppendGroup(b *testing.B, open func(b *testing.B) GroupStore, typeURL string, payload []byte) {
	const n, group, atOnce = 10000, 64, 4
	ctx := context.Background()
	var wall, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		s := open(b)
		ds := make([]eventstore.Deadline, n)
		due := time.Now()
		for i := range ds {
			id := fmt.Sprintf("bench-%d", i)
			ds[i] = eventstore.Deadline{ID: id, Due: due, Cover: eventstore.Cover{Domain: "bench", Root: uuid.New()},
				Command: []byte("expire"), Key: "deadline:" + id}
		}
		if err := s.Schedule(ctx, ds); err != nil {
			b.Fatal(err)
		}
		as := make([]eventstore.GroupAppend, n)
		for i := range as {
			d := &ds[i]
			as[i] = eventstore.GroupAppend{Cover: d.Cover, Pages: []eventstore.Page{{TypeURL: typeURL, Payload: payload, HasNum: true}},
				Key: &eventstore.Key{ID: d.Key, TTL: time.Hour}, Fired: d}
		}
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		var wg sync.WaitGroup
		next := make(chan []eventstore.GroupAppend)
		for range atOnce {
			wg.Go(func() {
				for g := range next {
					for _, r := range s.AppendGroup(ctx, g) {
						if r.Err != nil || !r.Removed {
							b.Errorf("append: %v (removed: %v)", r.Err, r.Removed)
						}
					}
				}
			})
		}
		for i := 0; i < n; i += group {
			next <- as[i:min(i+group, n)]
		}
		close(next)
		wg.Wait()
		wall += time.Since(start)
		cpu += cpuTime() - cpu0
		b.StopTimer()
		// Closed now, not at the end: with -benchtime 100x the waves'
		// stores left open took more connections than PostgreSQL allows.
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(wall.Microseconds())/float64(b.N*n), "µs/append")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/append")
	b.ReportMetric(0, "ns/op")
}
