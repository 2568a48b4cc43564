package command

import (
	"container/list"
	"sync"
	"unsafe"

	"github.com/evented/evented/internal/eventstore"
)

// DefaultCacheEvents is the default of Options.CacheEvents.
const DefaultCacheEvents = 1 << 16

// DefaultCacheBytes is the default of Options.CacheBytes.
const DefaultCacheBytes = 64 << 20

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
// events, for its snapshot) and at most maxBytes bytes (payloads, states,
// type URLs, causes and the structures holding them: see size), least
// recently used books going first; a book over a quarter of either bound
// is not kept. Counting bytes matters: a few aggregates with megabyte
// snapshots would otherwise hold gigabytes under an events-only bound.
type books struct {
	mu       sync.Mutex
	max      int
	maxBytes int
	events   int
	bytes    int
	lru      *list.List // of *bookEntry, most recent first
	m        map[eventstore.Cover]*list.Element
}

type bookEntry struct {
	book  eventstore.Book
	bytes int
}

func newBooks(max, maxBytes int) *books {
	return &books{max: max, maxBytes: maxBytes, lru: list.New(), m: map[eventstore.Cover]*list.Element{}}
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
	b.putLocked(book)
}

func (b *books) putLocked(book eventstore.Book) {
	b.remove(book.Cover)
	n := size(book)
	if weight(book) > b.max/4 || n > b.maxBytes/4 {
		return
	}
	b.m[book.Cover] = b.lru.PushFront(&bookEntry{book: book, bytes: n})
	b.events += weight(book)
	b.bytes += n
	b.trim()
}

// trim forgets the least recently used books until both bounds hold.
func (b *books) trim() {
	for b.events > b.max || b.bytes > b.maxBytes {
		b.remove(b.lru.Back().Value.(*bookEntry).book.Cover)
	}
}

// putAppended remembers prior with events appended as cover's latest
// state. When prior's events are the remembered ones, events are
// appended in place, past the end of every slice get handed out (each ends
// at its length), so a command costs its own events, not a copy of the
// aggregate's history.
func (b *books) putAppended(cover eventstore.Cover, prior eventstore.Book, events []eventstore.Event) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	el, ok := b.m[cover]
	if ok {
		e := el.Value.(*bookEntry)
		old := e.book.Events
		if len(old) == len(prior.Events) && len(old) > 0 && &old[0] == &prior.Events[0] && e.book.Snapshot == prior.Snapshot {
			grown := append(old, events...)
			n := e.bytes + (cap(grown)-cap(old))*eventOverhead + eventsSize(events)
			b.events -= weight(e.book)
			b.bytes -= e.bytes
			e.book.Events, e.bytes = grown, n
			if weight(e.book) > b.max/4 || n > b.maxBytes/4 {
				b.lru.Remove(el)
				delete(b.m, cover)
				return
			}
			b.events += weight(e.book)
			b.bytes += n
			b.lru.MoveToFront(el)
			b.trim()
			return
		}
	}
	n := len(prior.Events)
	b.putLocked(eventstore.Book{Cover: cover, Snapshot: prior.Snapshot, Events: append(prior.Events[:n:n], events...)})
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
		b.bytes -= el.Value.(*bookEntry).bytes
		b.lru.Remove(el)
		delete(b.m, cover)
	}
}

func weight(book eventstore.Book) int { return len(book.Events) + 1 }

// Fixed costs of a kept book: its entry (list element, map slot, entry)
// and each event's and the snapshot's structure.
const (
	bookOverhead     = 256
	eventOverhead    = int(unsafe.Sizeof(eventstore.Event{}))
	snapshotOverhead = int(unsafe.Sizeof(eventstore.Snapshot{}))
)

// size is what keeping book costs in memory, in bytes: at least its
// capacity's worth of events (a slice keeps its whole array alive).
func size(book eventstore.Book) int {
	n := bookOverhead + cap(book.Events)*eventOverhead + eventsSize(book.Events)
	if s := book.Snapshot; s != nil {
		n += snapshotOverhead + len(s.TypeURL) + cap(s.State)
	}
	return n
}

// eventsSize is what events hold beyond their structures.
func eventsSize(events []eventstore.Event) int {
	n := 0
	for _, e := range events {
		n += len(e.TypeURL) + cap(e.Payload) + len(e.Cause.CorrelationID) + len(e.Cause.CommandID) + len(e.Cause.CausedBy.Cover.Domain)
	}
	return n
}

// len is how many books are remembered, their weight and their size.
func (b *books) len() (books, events, bytes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m), b.events, b.bytes
}
