package sqlite

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// TestHeadsKeptBehindAnotherProcess: two Stores on one file, as two
// processes. The writer keeps the heads it stored and does not ask
// whether anyone else wrote; a head kept that the other process moved
// past must neither reuse a sequence, nor skip one, nor turn a right
// numbered append into a conflict.
func TestHeadsKeptBehindAnotherProcess(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	a, b := openStore(t, path), openStore(t, path)
	cover := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	append1 := func(s *Store, page eventstore.Page) ([]eventstore.Event, error) {
		t.Helper()
		page.TypeURL = "E"
		return s.Append(ctx, cover, []eventstore.Page{page})
	}
	storedAt := func(s *Store, page eventstore.Page, want uint32) {
		t.Helper()
		events, err := append1(s, page)
		if err != nil || len(events) != 1 || events[0].Sequence != want {
			t.Fatalf("append: %v, %v; want it stored at %d", events, err, want)
		}
	}
	conflict := func(page eventstore.Page, expected, actual uint32) {
		t.Helper()
		_, err := append1(a, page)
		var c *eventstore.ConflictError
		if !errors.As(err, &c) || c.Expected != expected || c.Actual != actual {
			t.Fatalf("append numbered %d: %v; want a conflict, expected %d, actual %d", page.Num, err, expected, actual)
		}
	}

	storedAt(a, eventstore.Page{}, 0) // a keeps head 1
	unrelated := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	if _, err := a.Append(ctx, unrelated, []eventstore.Page{{TypeURL: "E"}}); err != nil {
		t.Fatal(err)
	}
	storedAt(b, eventstore.Page{}, 1)
	storedAt(b, eventstore.Page{}, 2)
	// Unnumbered: placed at the head kept (1), taken: run again at 3.
	storedAt(a, eventstore.Page{}, 3)
	if n := a.staleHeads.Load(); n != 1 {
		t.Fatalf("%d batches run again; want 1", n)
	}
	// Only the covers of the batch run again are read anew.
	if next, ok := a.heads[unrelated]; !ok || next != 1 {
		t.Fatalf("head kept of another cover: %d, %v; want 1 kept", next, ok)
	}
	storedAt(b, eventstore.Page{}, 4)
	// Numbered at the stored head, past the one kept (4): stored.
	storedAt(a, eventstore.Page{HasNum: true, Num: 5}, 5)
	storedAt(b, eventstore.Page{}, 6)
	// Numbered at the head kept (6), which b took: a conflict at 7.
	conflict(eventstore.Page{HasNum: true, Num: 6}, 6, 7)
	// Numbered past the stored head: a conflict at 7, not at a head kept.
	conflict(eventstore.Page{HasNum: true, Num: 9}, 9, 7)
	if n := a.staleHeads.Load(); n != 2 {
		t.Fatalf("%d batches run again; want 2", n)
	}

	// In a batch of several appends, one to a cover b moved on: every one
	// is stored where it belongs.
	storedAt(b, eventstore.Page{}, 7)
	other := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	res := a.AppendGroup(ctx, []eventstore.GroupAppend{
		{Cover: other, Pages: []eventstore.Page{{TypeURL: "E"}}},
		{Cover: cover, Pages: []eventstore.Page{{TypeURL: "E"}}},
	})
	for i, want := range []uint32{0, 8} {
		if res[i].Err != nil || len(res[i].Events) != 1 || res[i].Events[0].Sequence != want {
			t.Fatalf("group append %d: %+v; want it stored at %d", i, res[i], want)
		}
	}
	if n := a.staleHeads.Load(); n != 3 {
		t.Fatalf("%d batches run again; want 3", n)
	}

	events, err := b.Read(ctx, cover, 0, 0)
	if err != nil || len(events) != 9 {
		t.Fatalf("read %d events, %v; want 9", len(events), err)
	}
	for i, e := range events {
		if e.Sequence != uint32(i) {
			t.Fatalf("sequences %v", events)
		}
	}
}

// TestBatchRunAgainStoresEachEventOnce: a batch whose one INSERT of all its
// events fails after it stored the first (the head kept of its second
// cover is behind: another process appended there) is run again from the
// heads as stored. The statement keeps the rows it stored before failing
// (eventsSQL: OR FAIL), so only the transaction's rollback keeps the run
// again from storing the first event a second time.
func TestBatchRunAgainStoresEachEventOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	a, b := openStore(t, path), openStore(t, path)
	fresh := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	behind := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	page := []eventstore.Page{{TypeURL: "E"}}
	if _, err := a.Append(ctx, behind, page); err != nil { // a keeps head 1
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, behind, page); err != nil { // stored at 1
		t.Fatal(err)
	}
	a.writing.Lock()
	results := a.commit([]*request{{cover: fresh, pages: page}, {cover: behind, pages: page}})
	a.writing.Unlock()
	if n := a.staleHeads.Load(); n != 1 {
		t.Fatalf("%d batches run again; want 1", n)
	}
	for i, want := range []uint32{0, 2} {
		if r := results[i]; r.err != nil || len(r.events) != 1 || r.events[0].Sequence != want {
			t.Fatalf("append %d: %v, %v; want its event stored at %d", i, r.events, r.err, want)
		}
	}
	for cover, want := range map[eventstore.Cover]int{fresh: 1, behind: 3} {
		events, err := a.Read(ctx, cover, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != want {
			t.Fatalf("%s holds %d events; want %d", cover, len(events), want)
		}
		for i, e := range events {
			if e.Sequence != uint32(i) {
				t.Fatalf("%s: event %d at sequence %d", cover, i, e.Sequence)
			}
		}
	}
	head, err := a.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head != 4 {
		t.Fatalf("log head %d; want 4 (each event logged once)", head)
	}
}
