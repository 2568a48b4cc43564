package command

import (
	"context"
	"sync"

	"github.com/evented/evented/internal/eventstore"
)

// keyedMutex sequences work per cover. Entries live only while someone holds
// or waits for them, so memory stays bounded by concurrency, not by the
// number of aggregates ever seen.
type keyedMutex struct {
	mu sync.Mutex
	m  map[eventstore.Cover]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{} // holds a token while locked
	refs int
}

// lock waits for cover's turn or ctx's end, and returns the unlock function.
func (k *keyedMutex) lock(ctx context.Context, cover eventstore.Cover) (func(), error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[eventstore.Cover]*keyedEntry)
	}
	e := k.m[cover]
	if e == nil {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.m[cover] = e
	}
	e.refs++
	k.mu.Unlock()

	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; k.release(cover, e) }, nil
	case <-ctx.Done():
		k.release(cover, e)
		return nil, ctx.Err()
	}
}

func (k *keyedMutex) release(cover eventstore.Cover, e *keyedEntry) {
	k.mu.Lock()
	if e.refs--; e.refs == 0 {
		delete(k.m, cover)
	}
	k.mu.Unlock()
}
