package redis_test

// Method. Every benchmark works under a fresh key prefix of the server at
// REDIS_TEST_URL (skipped without it), with the server's persistence
// settings (the CI server: appendonly yes, appendfsync always, so Redis
// fsyncs its append-only file before it replies, once per event-loop
// iteration for all the writes of that iteration). Same driver (go-redis
// v9, its default pool) for the store and the floors. Events are 128-byte
// payloads with a type URL, as a small protobuf event would be.
//
// BenchmarkAppend measures Store.Append of one event per call: one writer
// appending in a loop, and 16 writers (goroutines, one aggregate each)
// sharing b.N appends. Every append carries the optimistic check (HasNum).
//
// BenchmarkRawPush is the floor: one plain RPUSH of the same encoded event
// per append (no script, no check, no log, no roots, no publish), from 1
// and 16 goroutines the same way. BenchmarkRawPushPipelined sends the
// pushes of 16 appends in one pipeline from one goroutine.
//
// BenchmarkLoad measures Store.Read of one aggregate of 1,000 events;
// BenchmarkRawRange is the plain LRANGE of the same list, not decoded.
//
// Every benchmark reports events/s. Run:
//
//	go test -run '^$' -bench . -benchtime=2s ./internal/eventstore/redis/

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/redis"
)

const benchTypeURL = "type.googleapis.com/bench.Event"

var benchPayload = make([]byte, 128)

func reportEvents(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "events/s")
}

func parallel(b *testing.B, writers int, fn func(w int)) {
	var n atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range writers {
		wg.Go(func() {
			for n.Add(1) <= int64(b.N) {
				fn(w)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}

func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := open(b, freshPrefix(b))
			ctx := context.Background()
			covers := make([]eventstore.Cover, writers)
			next := make([]uint32, writers)
			for w := range covers {
				covers[w] = eventstore.Cover{Domain: "bench", Root: uuid.New()}
			}
			parallel(b, writers, func(w int) {
				page := []eventstore.Page{{HasNum: true, Num: next[w], TypeURL: benchTypeURL, Payload: benchPayload}}
				if _, err := s.Append(ctx, covers[w], page); err != nil {
					b.Error(err)
					return
				}
				next[w]++
			})
			reportEvents(b, 1)
		})
	}
}

// rawEvent is what the store pushes for the benchmark's event: version,
// time, type URL with its length, payload.
var rawEvent = func() []byte {
	b := append([]byte{1}, make([]byte, 8)...)
	b = append(b, byte(len(benchTypeURL)))
	b = append(b, benchTypeURL...)
	return append(b, benchPayload...)
}()

func BenchmarkRawPush(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			prefix := open(b, freshPrefix(b)).Prefix()
			c := admin(b)
			ctx := context.Background()
			keys := make([]string, writers)
			for w := range keys {
				keys[w] = prefix + "raw:" + uuid.NewString()
			}
			parallel(b, writers, func(w int) {
				if err := c.RPush(ctx, keys[w], rawEvent).Err(); err != nil {
					b.Error(err)
				}
			})
			reportEvents(b, 1)
		})
	}
}

func BenchmarkRawPushPipelined(b *testing.B) {
	const writers = 16
	b.Run(fmt.Sprintf("pushes=%d", writers), func(b *testing.B) {
		prefix := open(b, freshPrefix(b)).Prefix()
		c := admin(b)
		ctx := context.Background()
		keys := make([]string, writers)
		for w := range keys {
			keys[w] = prefix + "raw:" + uuid.NewString()
		}
		for b.Loop() {
			pipe := c.Pipeline()
			for _, k := range keys {
				pipe.RPush(ctx, k, rawEvent)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
		reportEvents(b, writers)
	})
}

func filled(b *testing.B, n int) (*redis.Store, eventstore.Cover) {
	b.Helper()
	s := open(b, freshPrefix(b))
	cover := eventstore.Cover{Domain: "bench", Root: uuid.New()}
	pages := make([]eventstore.Page, n)
	for i := range pages {
		pages[i] = eventstore.Page{TypeURL: benchTypeURL, Payload: benchPayload}
	}
	if _, err := s.Append(context.Background(), cover, pages); err != nil {
		b.Fatal(err)
	}
	return s, cover
}

func BenchmarkLoad(b *testing.B) {
	const n = 1_000
	b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
		s, cover := filled(b, n)
		for b.Loop() {
			events, err := s.Read(context.Background(), cover, 0, 0)
			if err != nil || len(events) != n {
				b.Fatalf("read %d events, %v; want %d", len(events), err, n)
			}
		}
		reportEvents(b, n)
	})
}

func BenchmarkRawRange(b *testing.B) {
	const n = 1_000
	b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
		s, cover := filled(b, n)
		c := admin(b)
		key := s.Prefix() + "events:" + cover.Domain + ":" + fmt.Sprintf("%x", cover.Root[:])
		for b.Loop() {
			items, err := c.LRange(context.Background(), key, 0, -1).Result()
			if err != nil || len(items) != n {
				b.Fatalf("read %d items, %v; want %d", len(items), err, n)
			}
		}
		reportEvents(b, n)
	})
}
