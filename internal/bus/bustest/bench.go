package bustest

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/eventstore"
)

// Benchmarks shared by the backends. Method:
//
//   - Books are one event with a 100-byte payload (a small domain event as
//     protobuf), each on its own cover, in one domain that a durable
//     subscription listens to, so the broker really stores every book
//     (RabbitMQ confirms a message routed to no queue without writing it,
//     JetStream with interest retention drops it).
//   - BenchmarkPublish reports confirmed books per second: with one
//     publisher (each Publish waits for its confirmation: the latency-bound
//     rate a relay with one worker gets) and with 16 concurrent publishers
//     (what confirms pipelined over one connection give).
//   - BenchmarkLatency publishes one book at a time and measures from just
//     before Publish until Receive returns it, acking each; it reports the
//     50th and 99th percentile in microseconds. One book in flight, so it is
//     the bus's own latency, not queueing behind other books.
//
// Run against the brokers of .ci/services.sh (127.0.0.1, one node, data in
// a temp dir), e.g.
//
//	go test -run '^$' -bench . -benchtime 2000x ./internal/bus/...

func benchBook(domain string) eventstore.Book {
	payload := make([]byte, 100)
	for i := range payload {
		payload[i] = byte(i)
	}
	return eventstore.Book{Cover: cover(domain), Events: []eventstore.Event{{
		Sequence: 0, CreatedAt: time.Now(), TypeURL: "type.googleapis.com/bench.Happened", Payload: payload,
	}}}
}

// benchSubscription makes a durable subscription on a fresh domain so that
// published books are stored; it is deleted, with what it holds, at the end.
func benchSubscription(b *testing.B, s Bus) (domain string, sub bus.Subscription) {
	b.Helper()
	prefix := newPrefix()
	domain, name := prefix+"-bench", prefix+"_bench"
	ctx := context.Background()
	sub, err := s.Subscribe(ctx, name, domain)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		sub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Unsubscribe(ctx, name); err != nil {
			b.Errorf("Unsubscribe: %v", err)
		}
	})
	return domain, sub
}

// BenchmarkPublish measures confirmed publishes per second (see the method
// above) on the bus that open returns.
func BenchmarkPublish(b *testing.B, open func(b *testing.B) Bus) {
	for _, publishers := range []int{1, 16} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			s := open(b)
			domain, _ := benchSubscription(b, s)
			ctx := context.Background()
			var failed atomic.Int64
			b.ResetTimer()
			start := time.Now()
			if publishers == 1 {
				for range b.N {
					if err := s.Publish(ctx, benchBook(domain)); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				runConcurrently(b.N, publishers, func() {
					if err := s.Publish(ctx, benchBook(domain)); err != nil {
						failed.Add(1)
					}
				})
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d publishes failed", n)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "books/s")
		})
	}
}

// runConcurrently calls fn n times from exactly workers goroutines.
func runConcurrently(n, workers int, fn func()) {
	var next atomic.Int64
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for next.Add(1) <= int64(n) {
				fn()
			}
		}()
	}
	for range workers {
		<-done
	}
}

// BenchmarkLatency measures publish→receive latency (see the method above)
// on the bus that open returns.
func BenchmarkLatency(b *testing.B, open func(b *testing.B) Bus) {
	s := open(b)
	domain, sub := benchSubscription(b, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		book := benchBook(domain)
		start := time.Now()
		if err := s.Publish(ctx, book); err != nil {
			b.Fatal(err)
		}
		m, err := sub.Receive(ctx)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if m.Book.Cover != book.Cover {
			b.Fatalf("received %s, want %s", bus.ID(m.Book), bus.ID(book))
		}
		if err := m.Ack(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Microsecond) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
