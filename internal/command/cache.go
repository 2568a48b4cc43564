package command

import (
	"container/list"
	"sync"

	"github.com/evented/evented/internal/eventstore"
)

// DefaultCacheEvents is the default of Options.CacheEvents.
const DefaultCacheEvents = 1 << 16

// books remembers the aggregates this coordinator handled last, as it
// stored them, so that their next command skips the load from the store
// (a snapshot read and an event read per command otherwise).
//
// A remembered book may be stale: another writer (Record, another server
// on the same store) may have appended since. That is safe: every page the
// coordinator appends carries its expected sequence, so a decision taken on
// a stale book conflicts instead of being stored, and the coordinator then
// forgets the book and loads the aggregate from the store.
//
// It holds at most max events in all (a book counts one more than its
// events, for its snapshot), least recently used books going first; a book
// longer than a quarter of that is not kept.
type books struct {
	mu     sync.Mutex
	max    int
	events int
	lru    *list.List // of *bookEntry, most recent first
	m      map[eventstore.Cover]*list.Element
}

type bookEntry struct {
	book eventstore.Book
}

func newBooks(max int) *books {
	return &books{max: max, lru: list.New(), m: map[eventstore.Cover]*list.Element{}}
}

// get returns cover's remembered book. The caller must not modify its
// events (it may append to the slice: its capacity ends at its length).
func (b *books) get(cover eventstore.Cover) (eventstore.Book, bool) {
	if b == nil {
		return eventstore.Book{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	el, ok := b.m[cover]
	if !ok {
		return eventstore.Book{}, false
	}
	b.lru.MoveToFront(el)
	book := el.Value.(*bookEntry).book
	n := len(book.Events)
	book.Events = book.Events[:n:n]
	return book, true
}

// put remembers book as cover's latest state.
func (b *books) put(book eventstore.Book) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remove(book.Cover)
	if weight(book) > b.max/4 {
		return
	}
	b.m[book.Cover] = b.lru.PushFront(&bookEntry{book: book})
	b.events += weight(book)
	for b.events > b.max {
		b.remove(b.lru.Back().Value.(*bookEntry).book.Cover)
	}
}

// drop forgets cover's book.
func (b *books) drop(cover eventstore.Cover) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remove(cover)
}

func (b *books) remove(cover eventstore.Cover) {
	if el, ok := b.m[cover]; ok {
		b.events -= weight(el.Value.(*bookEntry).book)
		b.lru.Remove(el)
		delete(b.m, cover)
	}
}

func weight(book eventstore.Book) int { return len(book.Events) + 1 }

// len is how many books are remembered and their weight.
func (b *books) len() (books, events int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m), b.events
}
