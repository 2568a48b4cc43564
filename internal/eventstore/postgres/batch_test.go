package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/postgres"
)

// The tests of group commit hold the writer in a first batch that cannot
// finish (a trigger on events of the domain "slow" waits for an advisory
// lock the test holds), queue appends behind it, let it go, and check what
// the next batch, which takes them all, did with each.

// gate makes inserts of events of the domain "slow" wait until open is
// called: each takes the advisory lock, held by a connection of the test
// until then.
type gate struct{ open func() }

func slowBatch(t *testing.T, url string) *gate {
	t.Helper()
	key := time.Now().UnixNano()
	conn := admin(t, url)
	_, err := conn.Exec(t.Context(), fmt.Sprintf(`
		CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_advisory_lock(%[1]d); PERFORM pg_advisory_unlock(%[1]d); RETURN NULL; END $$;
		CREATE TRIGGER slow_insert AFTER INSERT ON events FOR EACH ROW WHEN (NEW.domain = 'slow') EXECUTE FUNCTION slow_insert();
		SELECT pg_advisory_lock(%[1]d);`, key))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	g := &gate{open: func() {
		once.Do(func() {
			if _, err := conn.Exec(context.Background(), fmt.Sprintf(`SELECT pg_advisory_unlock(%d)`, key)); err != nil {
				t.Error(err)
			}
		})
	}}
	t.Cleanup(g.open)
	return g
}

// behindSlow starts an append held by g, waits until calls (each to make
// one append) have all queued behind it, calls before (when not nil),
// opens g and returns when every append is answered.
func behindSlow(t *testing.T, s *postgres.Store, g *gate, before func(), calls ...func()) {
	t.Helper()
	slow := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), eventstore.Cover{Domain: "slow", Root: uuid.New()}, []eventstore.Page{{TypeURL: "t"}})
		slow <- err
	}()
	// The slow append is taken when the queue is empty again.
	waitFor(t, "the slow append taken", func() bool { return postgres.Queued(s) == 0 })
	time.Sleep(50 * time.Millisecond)
	var wg sync.WaitGroup
	for _, call := range calls {
		wg.Go(call)
	}
	waitFor(t, "the appends queued", func() bool { return postgres.Queued(s) == len(calls) })
	if before != nil {
		before()
	}
	g.open()
	if err := <-slow; err != nil {
		t.Fatalf("slow append: %v", err)
	}
	wg.Wait()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// txids returns the distinct transaction ids of the events of covers.
func txids(t *testing.T, url string, covers ...eventstore.Cover) []int64 {
	t.Helper()
	roots := make([]uuid.UUID, len(covers))
	for i, c := range covers {
		roots[i] = c.Root
	}
	rows, err := admin(t, url).Query(t.Context(), `SELECT DISTINCT txid FROM events WHERE aggregate_id = ANY($1) ORDER BY txid`, roots)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func page(payload string) eventstore.Page {
	return eventstore.Page{TypeURL: "type.googleapis.com/test.T", Payload: []byte(payload)}
}

// Appends queued together share one transaction; the one whose numbered
// page conflicts fails alone, with the ConflictError a lone append gets,
// and stores nothing.
func TestGroupCommitConflictFailsAlone(t *testing.T) {
	ctx := t.Context()
	url := freshSchema(t)
	s := open(t, url)
	g := slowBatch(t, url)
	taken := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	if _, err := s.Append(ctx, taken, []eventstore.Page{page("first")}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	covers := make([]eventstore.Cover, n)
	errs := make([]error, n+1)
	events := make([][]eventstore.Event, n)
	var calls []func()
	for i := range covers {
		covers[i] = eventstore.Cover{Domain: "orders", Root: uuid.New()}
		calls = append(calls, func() {
			p := page(fmt.Sprint("p", i))
			p.HasNum = true
			events[i], errs[i] = s.Append(ctx, covers[i], []eventstore.Page{p, page("more")})
		})
	}
	calls = append(calls, func() {
		p := page("again")
		p.HasNum, p.Num = true, 0 // taken by "first"
		_, errs[n] = s.Append(ctx, taken, []eventstore.Page{p})
	})
	behindSlow(t, s, g, nil, calls...)

	var conflict *eventstore.ConflictError
	if !errors.As(errs[n], &conflict) || conflict.Cover != taken || conflict.Expected != 0 || conflict.Actual != 1 {
		t.Errorf("the conflicting append: %v; want a *eventstore.ConflictError for %s (expected 0, actual 1)", errs[n], taken)
	}
	for i := range covers {
		if errs[i] != nil || len(events[i]) != 2 || events[i][0].Sequence != 0 || events[i][1].Sequence != 1 {
			t.Errorf("append %d beside the conflict: %v, %v; want sequences 0 and 1 stored", i, events[i], errs[i])
		}
	}
	if got := txids(t, url, covers...); len(got) != 1 {
		t.Errorf("the %d appends queued together were stored by %d transactions (%v); want one", n, len(got), got)
	}
	stored, err := s.Read(ctx, taken, 0, 0)
	if err != nil || len(stored) != 1 || string(stored[0].Payload) != "first" {
		t.Errorf("the conflicting cover holds %v, %v; want its first event only", stored, err)
	}
}

// In a batch, a repeated key answers with the first append's record (and
// stores nothing), a key reused for another command is a
// KeyMismatchError, and new keys are stored with their events, together.
func TestGroupCommitKeys(t *testing.T) {
	ctx := t.Context()
	url := freshSchema(t)
	s := open(t, url)
	g := slowBatch(t, url)
	key := func(id, command string) eventstore.Key {
		return eventstore.Key{ID: id, Fingerprint: sha256.Sum256([]byte(command)), TTL: time.Hour}
	}
	first := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	if _, _, err := s.AppendKeyed(ctx, first, []eventstore.Page{page("a"), page("b")}, key("k-first", "c1")); err != nil {
		t.Fatal(err)
	}
	const n = 6
	type outcome struct {
		events []eventstore.Event
		prior  *eventstore.KeyRecord
		err    error
	}
	fresh := make([]eventstore.Cover, n)
	out := make([]outcome, n+2)
	var calls []func()
	for i := range fresh {
		fresh[i] = eventstore.Cover{Domain: "orders", Root: uuid.New()}
		calls = append(calls, func() {
			o := &out[i]
			o.events, o.prior, o.err = s.AppendKeyed(ctx, fresh[i], []eventstore.Page{page("x")}, key(fmt.Sprint("k", i), "c"))
		})
	}
	retry, other := eventstore.Cover{Domain: "orders", Root: uuid.New()}, eventstore.Cover{Domain: "orders", Root: uuid.New()}
	calls = append(calls, func() {
		// A retry of the first command, decided again on a fresh load
		// (another root: as good as any, the key answers).
		o := &out[n]
		o.events, o.prior, o.err = s.AppendKeyed(ctx, retry, []eventstore.Page{page("a"), page("b")}, key("k-first", "c1"))
	}, func() {
		o := &out[n+1]
		o.events, o.prior, o.err = s.AppendKeyed(ctx, other, []eventstore.Page{page("z")}, key("k-first", "another command"))
	})
	behindSlow(t, s, g, nil, calls...)

	if o := out[n]; o.err != nil || len(o.events) != 0 || o.prior == nil || o.prior.Cover != first || o.prior.From != 0 || o.prior.To != 2 {
		t.Errorf("the repeated key: %d events, prior %+v, %v; want the first append's record (%s [0,2)) and nothing stored", len(o.events), o.prior, o.err, first)
	}
	if o := out[n+1]; !errors.Is(o.err, eventstore.ErrKeyReused) || len(o.events) != 0 {
		t.Errorf("the key reused for another command: %d events, %v; want a KeyMismatchError", len(o.events), o.err)
	}
	for _, c := range []eventstore.Cover{retry, other} {
		if got, err := s.Read(ctx, c, 0, 0); err != nil || len(got) != 0 {
			t.Errorf("%s holds %d events (%v); want none", c, len(got), err)
		}
	}
	for i := range fresh {
		o := out[i]
		if o.err != nil || o.prior != nil || len(o.events) != 1 {
			t.Errorf("new key %d: %d events, prior %v, %v; want its event stored", i, len(o.events), o.prior, o.err)
			continue
		}
		rec, ok, err := s.Lookup(ctx, fmt.Sprint("k", i))
		if err != nil || !ok || rec.Cover != fresh[i] || rec.From != 0 || rec.To != 1 {
			t.Errorf("key k%d: %+v, %v, %v; want it stored for %s [0,1)", i, rec, ok, err, fresh[i])
		}
	}
	if got := txids(t, url, fresh...); len(got) != 1 {
		t.Errorf("the %d keyed appends queued together were stored by %d transactions; want one", n, len(got))
	}
}

// An append whose caller gave up while it waited in the queue is never
// stored, and its caller gets its context's error, not an in-doubt one.
func TestGroupCommitAbandoned(t *testing.T) {
	ctx := t.Context()
	url := freshSchema(t)
	s := open(t, url)
	g := slowBatch(t, url)
	gaveUp, kept := eventstore.Cover{Domain: "orders", Root: uuid.New()}, eventstore.Cover{Domain: "orders", Root: uuid.New()}
	var errGaveUp, errKept error
	gone := make(chan struct{})
	behindSlow(t, s, g, func() { <-gone }, func() {
		defer close(gone)
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, errGaveUp = s.Append(short, gaveUp, []eventstore.Page{page("late")})
	}, func() {
		_, errKept = s.Append(ctx, kept, []eventstore.Page{page("kept")})
	})
	if !errors.Is(errGaveUp, context.DeadlineExceeded) || errors.Is(errGaveUp, eventstore.ErrOutcomeUnknown) {
		t.Errorf("the append given up while queued: %v; want context.DeadlineExceeded, not in doubt", errGaveUp)
	}
	if errKept != nil {
		t.Errorf("the append queued beside it: %v", errKept)
	}
	time.Sleep(100 * time.Millisecond) // a batch that took it would have stored it by now
	if got, err := s.Read(ctx, gaveUp, 0, 0); err != nil || len(got) != 0 {
		t.Errorf("the append given up holds %d events (%v); want none", len(got), err)
	}
}

// An append the server rejects fails alone: the batch it was in is rolled
// back and its appends are made one at a time.
func TestGroupCommitRejectedFailsAlone(t *testing.T) {
	ctx := t.Context()
	url := freshSchema(t)
	s := open(t, url)
	g := slowBatch(t, url)
	const n = 4
	covers := make([]eventstore.Cover, n)
	errs := make([]error, n+1)
	var calls []func()
	for i := range covers {
		covers[i] = eventstore.Cover{Domain: "orders", Root: uuid.New()}
		calls = append(calls, func() { _, errs[i] = s.Append(ctx, covers[i], []eventstore.Page{page("ok")}) })
	}
	bad := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	calls = append(calls, func() {
		// PostgreSQL text holds no NUL byte.
		_, errs[n] = s.Append(ctx, bad, []eventstore.Page{{TypeURL: "bad\x00type", Payload: []byte("p")}})
	})
	behindSlow(t, s, g, nil, calls...)
	if errs[n] == nil {
		t.Error("the append with a NUL byte in its type was stored")
	}
	for i := range covers {
		if errs[i] != nil {
			t.Errorf("append %d beside the rejected one: %v", i, errs[i])
		}
		if got, err := s.Read(ctx, covers[i], 0, 0); err != nil || len(got) != 1 {
			t.Errorf("append %d beside the rejected one: %d events stored (%v); want 1", i, len(got), err)
		}
	}
}

// A store's writer keeps the heads of the covers it stored to and places
// the next appends from there, without reading them; another process
// storing to the same cover meanwhile makes those heads behind, and the
// append is then placed from the heads as read: unnumbered pages after the
// other process's events, numbered ones that no longer fit refused with
// the ConflictError a fresh store would answer. Positions follow sequences
// either way.
func TestHeadsKeptBehindAnotherProcess(t *testing.T) {
	url := freshSchema(t)
	a, b := open(t, url), open(t, url)
	ctx := t.Context()
	x := eventstore.Cover{Domain: "heads", Root: uuid.New()}
	numbered := func(n uint32) []eventstore.Page {
		return []eventstore.Page{{HasNum: true, Num: n, TypeURL: "t", Payload: []byte{byte(n)}}}
	}
	appendAt := func(s *postgres.Store, pages []eventstore.Page, want uint32) {
		t.Helper()
		events, err := s.Append(ctx, x, pages)
		if err != nil || len(events) != 1 || events[0].Sequence != want {
			t.Fatalf("append: %v, %v; want it stored at %d", events, err, want)
		}
	}
	counts := func(what string, fast, stale int64) {
		t.Helper()
		if got, gotStale := postgres.FastBatches(a), postgres.StaleHeads(a); got != fast || gotStale != stale {
			t.Fatalf("%s: %d batches stored from kept heads, %d found one behind; want %d and %d", what, got, gotStale, fast, stale)
		}
	}
	appendAt(a, numbered(0), 0) // the head read, and kept
	appendAt(a, numbered(1), 1)
	counts("after two appends", 1, 0)

	appendAt(b, numbered(2), 2) // a's head of x is behind now
	appendAt(a, []eventstore.Page{{TypeURL: "t"}}, 3)
	counts("unnumbered behind the other store's", 1, 1)

	appendAt(b, numbered(4), 4)
	_, err := a.Append(ctx, x, numbered(4)) // fits a's head kept, not the cover's
	var conflict *eventstore.ConflictError
	if !errors.As(err, &conflict) || conflict.Expected != 4 || conflict.Actual != 5 {
		t.Fatalf("numbered at a head kept behind: %v; want a ConflictError (expected 4, actual 5)", err)
	}
	counts("a conflict behind the other store's", 1, 2)

	// Ahead of the head kept: never placed from it.
	if _, err := a.Append(ctx, x, numbered(7)); !errors.As(err, &conflict) || conflict.Expected != 7 || conflict.Actual != 5 {
		t.Fatalf("numbered past the head: %v; want a ConflictError (expected 7, actual 5)", err)
	}
	appendAt(a, numbered(5), 5)
	counts("after the conflicts", 2, 2)

	rows, err := admin(t, url).Query(ctx, `SELECT sequence, position FROM events WHERE aggregate_id = $1 ORDER BY sequence`, x.Root)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var seq, last, n int64 = 0, -1, 0
	for ; rows.Next(); n++ {
		var pos int64
		if err := rows.Scan(&seq, &pos); err != nil {
			t.Fatal(err)
		}
		if seq != n || pos <= last {
			t.Fatalf("event %d: sequence %d at position %d after %d; want sequences from 0 in increasing positions", n, seq, pos, last)
		}
		last = pos
	}
	if n != 6 {
		t.Fatalf("%d events stored; want 6", n)
	}
}

// Keyed appends are placed from the heads kept too, their keys checked as
// ever: a head behind stores neither the events nor the key, and the
// append is made again from the heads as read; a key repeated is answered
// with the first append's record.
func TestHeadsKeptWithKeys(t *testing.T) {
	url := freshSchema(t)
	a, b := open(t, url), open(t, url)
	ctx := t.Context()
	x := eventstore.Cover{Domain: "heads", Root: uuid.New()}
	key := func(id string) eventstore.Key {
		return eventstore.Key{ID: id, Fingerprint: sha256.Sum256([]byte(id)), TTL: time.Hour}
	}
	keyed := func(id string, want uint32) {
		t.Helper()
		events, prior, err := a.AppendKeyed(ctx, x, []eventstore.Page{{TypeURL: "t"}}, key(id))
		if err != nil || prior != nil || len(events) != 1 || events[0].Sequence != want {
			t.Fatalf("keyed append %s: %v, %v, %v; want it stored at %d", id, events, prior, err, want)
		}
	}
	if _, err := a.Append(ctx, x, []eventstore.Page{{TypeURL: "t"}}); err != nil { // the head read, and kept
		t.Fatal(err)
	}
	keyed("k1", 1)
	if got := postgres.FastBatches(a); got != 1 {
		t.Fatalf("%d batches stored from kept heads; want the keyed one", got)
	}
	if _, err := b.Append(ctx, x, []eventstore.Page{{TypeURL: "t"}}); err != nil { // at 2: a's head is behind
		t.Fatal(err)
	}
	keyed("k2", 3)
	if got := postgres.StaleHeads(a); got != 1 {
		t.Fatalf("%d batches found a head behind; want 1", got)
	}
	events, prior, err := a.AppendKeyed(ctx, x, []eventstore.Page{{TypeURL: "t"}}, key("k2"))
	if err != nil || len(events) != 0 || prior == nil || prior.From != 3 || prior.To != 4 {
		t.Fatalf("k2 repeated: %v, %+v, %v; want the first append's record, [3,4), and nothing stored", events, prior, err)
	}
	stored, err := a.Read(ctx, x, 0, 0)
	if err != nil || len(stored) != 4 {
		t.Fatalf("%d events stored (%v); want 4", len(stored), err)
	}
}

// Pages placed from the heads kept keep their time, cause and schema
// version as given.
func TestHeadsKeptCarryCauses(t *testing.T) {
	s := open(t, freshSchema(t))
	ctx := t.Context()
	x := eventstore.Cover{Domain: "heads", Root: uuid.New()}
	if _, err := s.Append(ctx, x, []eventstore.Page{{TypeURL: "t"}}); err != nil { // the head read, and kept
		t.Fatal(err)
	}
	given := time.Date(2026, 12, 4, 10, 21, 42, 123456000, time.UTC)
	cause := eventstore.Cause{CorrelationID: "corr", CommandID: "cmd", Depth: 2,
		CausedBy: eventstore.EventRef{Cover: eventstore.Cover{Domain: "by", Root: uuid.New()}, Sequence: 9}}
	in := []eventstore.Page{
		{TypeURL: "a", Payload: []byte("a"), CreatedAt: given, Cause: cause, SchemaVersion: 3},
		{TypeURL: "b", Payload: []byte("b")},
	}
	if _, err := s.Append(ctx, x, in); err != nil {
		t.Fatal(err)
	}
	if got := postgres.FastBatches(s); got != 1 {
		t.Fatalf("%d batches stored from kept heads; want 1", got)
	}
	read, err := s.Read(ctx, x, 1, 0)
	if err != nil || len(read) != 2 {
		t.Fatalf("read %d events (%v); want 2", len(read), err)
	}
	if e := read[0]; e.TypeURL != "a" || string(e.Payload) != "a" || !e.CreatedAt.Equal(given) || e.Cause != cause || e.SchemaVersion != 3 {
		t.Errorf("event 1: %+v; want it as given (%v, %+v, version 3)", e, given, cause)
	}
	if e := read[1]; e.TypeURL != "b" || string(e.Payload) != "b" || e.CreatedAt.IsZero() || !e.Cause.IsZero() || e.SchemaVersion != 0 {
		t.Errorf("event 2: %+v; want no cause, version 0, the commit's time", e)
	}
}
