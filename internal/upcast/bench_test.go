package upcast_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
	"github.com/evented/evented/internal/upcast"
)

// BenchmarkRead reads a 1,000-event aggregate of v1 events through the
// two-step in-process chain; ns/op divided by 1,000 is the cost per event.
// "raw" is the memory store alone, "uncached" upcasts every read (cache
// off), "cached" serves every read after the first from the cache.
func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	raw := memory.New()
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	pages := make([]eventstore.Page, 1000)
	for i := range pages {
		pages[i] = eventstore.Page{TypeURL: created, Payload: fmt.Appendf(nil, "customer-%04d", i)}
	}
	if _, err := raw.Append(ctx, cover, pages); err != nil {
		b.Fatal(err)
	}
	var calls atomic.Int64
	for _, bc := range []struct {
		name string
		st   eventstore.Store
	}{
		{"raw", raw},
		{"uncached", upcast.Storage(raw, chain(&calls), upcast.Options{CacheBytes: -1})},
		{"cached", upcast.Storage(raw, chain(&calls), upcast.Options{})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.st.Read(ctx, cover, 0, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
		})
	}
}
