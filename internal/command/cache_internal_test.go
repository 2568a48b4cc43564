package command

import (
	"testing"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

func bookOf(n int) eventstore.Book {
	b := eventstore.Book{Cover: eventstore.Cover{Domain: "d", Root: uuid.New()}}
	for i := range n {
		b.Events = append(b.Events, eventstore.Event{Sequence: uint32(i)})
	}
	return b
}

func TestBooksStayWithinTheirBound(t *testing.T) {
	b := newBooks(40, 1<<30)
	var kept []eventstore.Book
	for range 20 {
		book := bookOf(3) // weight 4
		b.put(book)
		kept = append(kept, book)
	}
	if n, w, _ := b.len(); n != 10 || w != 40 {
		t.Fatalf("%d books of weight %d, want the 10 latest, 40", n, w)
	}
	if _, ok := b.get(kept[9].Cover); ok {
		t.Error("an evicted book is still there")
	}
	got, ok := b.get(kept[19].Cover)
	if !ok || len(got.Events) != 3 {
		t.Fatalf("latest book: ok=%v, %d events", ok, len(got.Events))
	}
	// The caller may append: the kept book is not touched.
	_ = append(got.Events, eventstore.Event{Sequence: 99})
	if again, _ := b.get(kept[19].Cover); len(again.Events) != 3 || cap(again.Events) != 3 {
		t.Errorf("kept book changed: %d events, cap %d", len(again.Events), cap(again.Events))
	}
	// Using a book keeps it: kept[10] is the oldest now, unless used.
	b.get(kept[10].Cover)
	b.put(bookOf(3))
	if _, ok := b.get(kept[10].Cover); !ok {
		t.Error("a book just used was evicted")
	}
	if _, ok := b.get(kept[11].Cover); ok {
		t.Error("the least recently used book was kept")
	}
	long := bookOf(10) // weight 11 > 40/4
	b.put(long)
	if _, ok := b.get(long.Cover); ok {
		t.Error("a book longer than a quarter of the bound was kept")
	}
	b.drop(kept[19].Cover)
	if _, ok := b.get(kept[19].Cover); ok {
		t.Error("a dropped book is still there")
	}
	var none *books
	none.put(long)
	if _, ok := none.get(long.Cover); ok {
		t.Error("a nil cache returned a book")
	}
}

// Books are bounded by their bytes too: aggregates with large snapshots
// and events are evicted long before the event bound is reached.
func TestBooksStayWithinTheirBytes(t *testing.T) {
	const mib = 1 << 20
	b := newBooks(DefaultCacheEvents, 8*mib)
	big := func(snapshot, event int) eventstore.Book {
		book := bookOf(2)
		book.Snapshot = &eventstore.Snapshot{Sequence: 0, TypeURL: "State", State: make([]byte, snapshot)}
		for i := range book.Events {
			book.Events[i].Payload = make([]byte, event)
		}
		return book
	}
	var kept []eventstore.Book
	for range 100 {
		book := big(mib, 256<<10) // 1.5 MiB each
		b.put(book)
		kept = append(kept, book)
	}
	n, events, bytes := b.len()
	if bytes > 8*mib || n > 5 || n < 4 {
		t.Fatalf("%d books (%d events) of %d bytes, want the latest 4 or 5 within 8 MiB", n, events, bytes)
	}
	if _, ok := b.get(kept[99].Cover); !ok {
		t.Error("the latest book was evicted")
	}
	if _, ok := b.get(kept[0].Cover); ok {
		t.Error("the oldest book is still kept")
	}
	huge := big(3*mib, 0) // over a quarter of 8 MiB
	b.put(huge)
	if _, ok := b.get(huge.Cover); ok {
		t.Error("a book over a quarter of the bytes was kept")
	}
	for _, k := range kept {
		b.drop(k.Cover)
	}
	if n, events, bytes := b.len(); n != 0 || events != 0 || bytes != 0 {
		t.Errorf("after dropping all: %d books, %d events, %d bytes", n, events, bytes)
	}
}

// events numbered [from, to), each carrying its number as payload.
func numbered(from, to int) []eventstore.Event {
	var out []eventstore.Event
	for i := from; i < to; i++ {
		out = append(out, eventstore.Event{Sequence: uint32(i), Payload: []byte{byte(i)}})
	}
	return out
}

func wantNumbered(t *testing.T, what string, events []eventstore.Event, n int) {
	t.Helper()
	if len(events) != n {
		t.Fatalf("%s: %d events, want %d", what, len(events), n)
	}
	for i, e := range events {
		if e.Sequence != uint32(i) || len(e.Payload) != 1 || e.Payload[0] != byte(i) {
			t.Fatalf("%s: event %d is %d (payload %v)", what, i, e.Sequence, e.Payload)
		}
	}
}

// A command's events are appended to the kept book in place, yet every
// book handed out keeps what it held, and a book appended to twice (a
// stale copy) never writes over what the first append kept.
func TestAppendedBooksNeverChangeWhatWasHandedOut(t *testing.T) {
	b := newBooks(DefaultCacheEvents, DefaultCacheBytes)
	cover := eventstore.Cover{Domain: "d", Root: uuid.New()}
	b.put(eventstore.Book{Cover: cover, Events: numbered(0, 3)})
	var handed []eventstore.Book
	for n := 3; n < 40; n++ {
		prior, ok := b.get(cover)
		if !ok {
			t.Fatalf("book of %d events not kept", n)
		}
		handed = append(handed, prior)
		b.putAppended(cover, prior, numbered(n, n+1))
	}
	for i, h := range handed {
		wantNumbered(t, "a book handed out earlier", h.Events, 3+i)
	}
	latest, _ := b.get(cover)
	wantNumbered(t, "the latest book", latest.Events, 40)

	// A stale copy (39 events) appended to: a copy, not written in place
	// over event 39 of the latest book.
	stale := handed[len(handed)-1]
	b.putAppended(cover, stale, []eventstore.Event{{Sequence: 39, Payload: []byte{99}}})
	wantNumbered(t, "the latest book after a stale append", latest.Events, 40)
	if got, _ := b.get(cover); len(got.Events) != 40 || got.Events[39].Payload[0] != 99 {
		t.Fatalf("after the stale append the kept book is %v", got.Events)
	}
}

// Appending a command's events costs no copy of the history: on average
// less than one allocation per command, however long the aggregate.
func TestAppendingToAKeptBookDoesNotCopyIt(t *testing.T) {
	b := newBooks(DefaultCacheEvents, DefaultCacheBytes)
	cover := eventstore.Cover{Domain: "d", Root: uuid.New()}
	b.put(eventstore.Book{Cover: cover, Events: numbered(0, 1000)})
	next := []eventstore.Event{{Sequence: 1000}}
	allocs := testing.AllocsPerRun(200, func() {
		prior, _ := b.get(cover)
		next[0].Sequence = uint32(len(prior.Events))
		b.putAppended(cover, prior, next)
	})
	if allocs >= 1 {
		t.Fatalf("%.2f allocations per command; want the history appended to in place", allocs)
	}
}
