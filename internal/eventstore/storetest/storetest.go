// Package storetest is the conformance suite of the eventstore port. Every
// backend runs it from its own tests, so the contract written in the
// eventstore doc comments is checked once, the same way, everywhere:
//
//	func TestStore(t *testing.T) {
//		storetest.RunStore(t, storetest.Backend{Open: func(t *testing.T) eventstore.Store {
//			s := memory.New()
//			t.Cleanup(func() { s.Close() })
//			return s
//		}})
//	}
//
// After every Store subtest the suite checks an invariant over every cover
// the subtest appended to: reading the whole stream returns sequences
// 0..n-1, contiguous, without duplicates, and Roots lists exactly the covers
// that have events, in order. A backend that loses, duplicates or reorders an
// event fails there even when the subtest itself looked elsewhere.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/evented/evented/internal/eventstore"
	"github.com/google/uuid"
)

// Backend declares how the suite opens a backend and what it can do.
type Backend struct {
	// Open returns a store over fresh, empty data. It registers its own
	// cleanup; the suite may close the store earlier (Close is idempotent).
	Open func(t *testing.T) eventstore.Store
	// Reopen is set by persistent backends: it returns a new store over the
	// same data as s, which the suite has closed.
	Reopen func(t *testing.T, s eventstore.Store) eventstore.Store
}

// timeout bounds every subtest, so a deadlocked backend fails instead of
// hanging the run.
const timeout = 30 * time.Second

// RunStore runs the Store conformance suite against b.
func RunStore(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s *tracked)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"NextNumbers", testNextNumbers},
		{"Conflict", testConflict},
		{"AllOrNothing", testAllOrNothing},
		{"EmptyAppend", testEmptyAppend},
		{"CancelledAppend", testCancelledAppend},
		{"PayloadNotAliased", testPayloadNotAliased},
		{"ReadRange", testReadRange},
		{"Roots", testRoots},
		{"RootsStops", testRootsStops},
		{"DomainIsolation", testDomainIsolation},
		{"ConcurrentSameCover", testConcurrentSameCover},
		{"ConcurrentDistinctCovers", testConcurrentDistinctCovers},
		{"ConcurrentMixed", testConcurrentMixed},
		{"Closed", testClosed},
		{"Reopen", testReopen},
		{"Cause", testCause},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			s := &tracked{Store: b.Open(t), t: t, reopen: b.Reopen, covers: map[eventstore.Cover]bool{}}
			tc.fn(t, ctx, s)
			if !s.closed {
				s.check()
			}
		})
	}
}

// tracked wraps the store under test and remembers every cover appended to,
// so that the invariant can be checked when the subtest ends, or just before
// the subtest closes the store.
type tracked struct {
	eventstore.Store
	t      *testing.T
	reopen func(t *testing.T, s eventstore.Store) eventstore.Store

	mu     sync.Mutex
	covers map[eventstore.Cover]bool
	closed bool
}

func (s *tracked) Append(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page) ([]eventstore.Event, error) {
	s.mu.Lock()
	s.covers[cover] = true
	s.mu.Unlock()
	return s.Store.Append(ctx, cover, pages)
}

func (s *tracked) Close() error {
	if !s.closed {
		s.check()
		s.closed = true
	}
	return s.Store.Close()
}

// reopenStore closes the store and opens the same data again.
func (s *tracked) reopenStore() {
	s.t.Helper()
	if err := s.Close(); err != nil {
		s.t.Fatalf("Close: %v", err)
	}
	s.Store = s.reopen(s.t, s.Store)
	s.closed = false
}

// check asserts the invariant: every touched cover reads back as sequences
// 0..n-1, and Roots lists exactly the covers with events, once each, ordered.
func (s *tracked) check() {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	s.mu.Lock()
	covers := make([]eventstore.Cover, 0, len(s.covers))
	for c := range s.covers {
		covers = append(covers, c)
	}
	s.mu.Unlock()

	var want []eventstore.Cover
	for _, c := range covers {
		events, err := s.Store.Read(ctx, c, 0, 0)
		if err != nil {
			t.Errorf("invariant: Read(%s): %v", c, err)
			continue
		}
		for i, e := range events {
			if e.Sequence != uint32(i) {
				t.Errorf("invariant: %s: event %d of %d has sequence %d; want 0..%d, contiguous, no duplicates",
					c, i, len(events), e.Sequence, len(events)-1)
				break
			}
		}
		if len(events) > 0 {
			want = append(want, c)
		}
	}
	slices.SortFunc(want, compareCovers)
	got, err := roots(ctx, s.Store)
	if err != nil {
		t.Errorf("invariant: Roots: %v", err)
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("invariant: Roots = %v; want the covers with events, ordered: %v", got, want)
	}
}

func compareCovers(a, b eventstore.Cover) int {
	if a.Domain != b.Domain {
		if a.Domain < b.Domain {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.Root[:], b.Root[:])
}

func roots(ctx context.Context, s eventstore.Store) ([]eventstore.Cover, error) {
	var got []eventstore.Cover
	err := s.Roots(ctx, func(c eventstore.Cover) error {
		got = append(got, c)
		return nil
	})
	return got, err
}

func newCover(domain string) eventstore.Cover {
	return eventstore.Cover{Domain: domain, Root: uuid.New()}
}

// pages returns n pages without numbers, typed and filled so that each one
// can be recognised: type "t<i>", payload "<prefix><i>".
func pages(prefix string, from, n int) []eventstore.Page {
	ps := make([]eventstore.Page, n)
	for i := range ps {
		ps[i] = eventstore.Page{
			TypeURL: fmt.Sprintf("type.googleapis.com/test.T%d", from+i),
			Payload: fmt.Appendf(nil, "%s%d", prefix, from+i),
		}
	}
	return ps
}

func numbered(ps []eventstore.Page, from uint32) []eventstore.Page {
	for i := range ps {
		ps[i].HasNum, ps[i].Num = true, from+uint32(i)
	}
	return ps
}

func mustAppend(t *testing.T, ctx context.Context, s eventstore.Store, c eventstore.Cover, ps []eventstore.Page) []eventstore.Event {
	t.Helper()
	events, err := s.Append(ctx, c, ps)
	if err != nil {
		t.Fatalf("Append(%s, %d pages): %v", c, len(ps), err)
	}
	return events
}

func mustRead(t *testing.T, ctx context.Context, s eventstore.Store, c eventstore.Cover, from, to uint32) []eventstore.Event {
	t.Helper()
	events, err := s.Read(ctx, c, from, to)
	if err != nil {
		t.Fatalf("Read(%s, %d, %d): %v", c, from, to, err)
	}
	return events
}

// wantEvents checks sequences from..from+n-1 carrying the pages made by
// pages(prefix, from, n).
func wantEvents(t *testing.T, what string, got []eventstore.Event, prefix string, from, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s: got %d events %v; want %d from sequence %d", what, len(got), sequences(got), n, from)
	}
	for i, e := range got {
		seq := from + i
		if e.Sequence != uint32(seq) {
			t.Fatalf("%s: sequences %v; want %d..%d", what, sequences(got), from, from+n-1)
		}
		if wantType := fmt.Sprintf("type.googleapis.com/test.T%d", seq); e.TypeURL != wantType {
			t.Errorf("%s: event %d TypeURL = %q; want %q", what, seq, e.TypeURL, wantType)
		}
		if want := fmt.Sprintf("%s%d", prefix, seq); string(e.Payload) != want {
			t.Errorf("%s: event %d Payload = %q; want %q", what, seq, e.Payload, want)
		}
	}
}

func sequences(events []eventstore.Event) []uint32 {
	seqs := make([]uint32, len(events))
	for i, e := range events {
		seqs[i] = e.Sequence
	}
	return seqs
}

// sameInstant allows backends that keep microseconds only.
func sameInstant(a, b time.Time) bool {
	return a.Sub(b).Abs() < time.Microsecond
}

// checkTime checks that at is in UTC and either the given time or, when none
// was given, a commit time within [before, after] give or take a second
// (server backends use their own clock).
func checkTime(t *testing.T, what string, at, given, before, after time.Time) {
	t.Helper()
	if at.Location() != time.UTC {
		t.Errorf("%s: CreatedAt %v is in %v; want UTC", what, at, at.Location())
	}
	if !given.IsZero() {
		if !sameInstant(at, given) {
			t.Errorf("%s: CreatedAt = %v; want the given %v", what, at, given.UTC())
		}
		return
	}
	if at.Before(before.Add(-time.Second)) || at.After(after.Add(time.Second)) {
		t.Errorf("%s: CreatedAt = %v; want the commit time, between %v and %v", what, at, before.UTC(), after.UTC())
	}
}

func wantConflict(t *testing.T, what string, err error, cover eventstore.Cover, expected, actual uint32) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("%s: err = %v; want a conflict", what, err)
	}
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: err = %v (%T); want a *eventstore.ConflictError", what, err, err)
	}
	if ce.Cover != cover || ce.Expected != expected || ce.Actual != actual {
		t.Errorf("%s: conflict {%s expected %d actual %d}; want {%s expected %d actual %d}",
			what, ce.Cover, ce.Expected, ce.Actual, cover, expected, actual)
	}
}

func testAppendAndRead(t *testing.T, ctx context.Context, s *tracked) {
	cover := newCover("orders")
	// Nanoseconds and a zone other than UTC: the instant must survive, in UTC.
	given := time.Date(2026, 11, 26, 10, 21, 42, 123456789, time.FixedZone("CET", 3600))
	in := []eventstore.Page{
		{TypeURL: "type.googleapis.com/test.Created", Payload: []byte("created"), CreatedAt: given},
		{TypeURL: "type.googleapis.com/test.Renamed", Payload: []byte{0, 1, 2, 255}},
		{TypeURL: "type.googleapis.com/test.Empty"},
	}
	before := time.Now()
	appended := mustAppend(t, ctx, s, cover, in)
	after := time.Now()

	read := mustRead(t, ctx, s, cover, 0, 0)
	for what, got := range map[string][]eventstore.Event{"Append": appended, "Read": read} {
		if len(got) != len(in) {
			t.Fatalf("%s returned %d events; want %d", what, len(got), len(in))
		}
		for i, e := range got {
			what := fmt.Sprintf("%s: event %d", what, i)
			if e.Sequence != uint32(i) {
				t.Errorf("%s: Sequence = %d; want %d", what, e.Sequence, i)
			}
			if e.TypeURL != in[i].TypeURL || !bytes.Equal(e.Payload, in[i].Payload) {
				t.Errorf("%s: (%q, %q); want (%q, %q)", what, e.TypeURL, e.Payload, in[i].TypeURL, in[i].Payload)
			}
			checkTime(t, what, e.CreatedAt, in[i].CreatedAt, before, after)
		}
	}
	for i := range read {
		if !sameInstant(read[i].CreatedAt, appended[i].CreatedAt) {
			t.Errorf("event %d: read CreatedAt %v, Append returned %v", i, read[i].CreatedAt, appended[i].CreatedAt)
		}
	}
	// Both unset times of one append are its commit time.
	if !sameInstant(appended[1].CreatedAt, appended[2].CreatedAt) {
		t.Errorf("unset CreatedAt differ within one append: %v, %v", appended[1].CreatedAt, appended[2].CreatedAt)
	}
}

func testNextNumbers(t *testing.T, ctx context.Context, s *tracked) {
	cover := newCover("orders")
	wantEvents(t, "Append 0..1", mustAppend(t, ctx, s, cover, pages("e", 0, 2)), "e", 0, 2)
	// Numbered and unnumbered pages mix; the numbers are checked in place.
	mixed := pages("e", 2, 3)
	mixed[0].HasNum, mixed[0].Num = true, 2
	mixed[2].HasNum, mixed[2].Num = true, 4
	wantEvents(t, "Append 2..4", mustAppend(t, ctx, s, cover, mixed), "e", 2, 3)
	wantEvents(t, "Append 5", mustAppend(t, ctx, s, cover, pages("e", 5, 1)), "e", 5, 1)
	wantEvents(t, "Read", mustRead(t, ctx, s, cover, 0, 0), "e", 0, 6)
}

func testConflict(t *testing.T, ctx context.Context, s *tracked) {
	cover := newCover("orders")
	mustAppend(t, ctx, s, cover, pages("e", 0, 2))
	cases := []struct {
		name             string
		pages            []eventstore.Page
		expected, actual uint32
	}{
		{"ahead", numbered(pages("x", 5, 1), 5), 5, 2},
		{"stale", numbered(pages("x", 1, 1), 1), 1, 2},
		{"zero", numbered(pages("x", 0, 1), 0), 0, 2},
		{"second page", append(pages("x", 2, 1), numbered(pages("x", 2, 1), 2)...), 2, 3},
	}
	for _, c := range cases {
		events, err := s.Append(ctx, cover, c.pages)
		wantConflict(t, c.name, err, cover, c.expected, c.actual)
		if len(events) != 0 {
			t.Errorf("%s: conflicting Append returned events %v", c.name, sequences(events))
		}
	}
	wantEvents(t, "Read after conflicts", mustRead(t, ctx, s, cover, 0, 0), "e", 0, 2)
	wantEvents(t, "Append after conflicts", mustAppend(t, ctx, s, cover, numbered(pages("e", 2, 1), 2)), "e", 2, 1)
}

func testAllOrNothing(t *testing.T, ctx context.Context, s *tracked) {
	fresh := newCover("orders")
	batch := append(pages("x", 0, 2), numbered(pages("x", 7, 1), 7)...)
	_, err := s.Append(ctx, fresh, batch)
	wantConflict(t, "fresh cover", err, fresh, 7, 2)
	if got := mustRead(t, ctx, s, fresh, 0, 0); len(got) != 0 {
		t.Errorf("a failed batch stored %v on a fresh cover", sequences(got))
	}

	cover := newCover("orders")
	mustAppend(t, ctx, s, cover, pages("e", 0, 1))
	batch = append(pages("x", 1, 2), numbered(pages("x", 1, 1), 1)...)
	_, err = s.Append(ctx, cover, batch)
	wantConflict(t, "third page", err, cover, 1, 3)
	wantEvents(t, "Read after failed batch", mustRead(t, ctx, s, cover, 0, 0), "e", 0, 1)
	wantEvents(t, "Append after failed batch", mustAppend(t, ctx, s, cover, numbered(pages("e", 1, 3), 1)), "e", 1, 3)
}

func testEmptyAppend(t *testing.T, ctx context.Context, s *tracked) {
	fresh, cover := newCover("orders"), newCover("orders")
	mustAppend(t, ctx, s, cover, pages("e", 0, 2))
	for _, c := range []eventstore.Cover{fresh, cover} {
		for _, ps := range [][]eventstore.Page{nil, {}} {
			if events := mustAppend(t, ctx, s, c, ps); len(events) != 0 {
				t.Errorf("empty Append on %s returned %v", c, sequences(events))
			}
		}
	}
	if got := mustRead(t, ctx, s, fresh, 0, 0); len(got) != 0 {
		t.Errorf("empty Append stored %v", sequences(got))
	}
	wantEvents(t, "Read", mustRead(t, ctx, s, cover, 0, 0), "e", 0, 2)
}

func testCancelledAppend(t *testing.T, ctx context.Context, s *tracked) {
	cover := newCover("orders")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Append(cancelled, cover, pages("e", 0, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context: err = %v; want context.Canceled", err)
	}
	if got := mustRead(t, ctx, s, cover, 0, 0); len(got) != 0 {
		t.Errorf("Append with a cancelled context stored %v", sequences(got))
	}
}

func testPayloadNotAliased(t *testing.T, ctx context.Context, s *tracked) {
	cover := newCover("orders")
	payload := []byte("original")
	appended := mustAppend(t, ctx, s, cover, []eventstore.Page{{TypeURL: "t", Payload: payload}})
	payload[0] = 'X'
	appended[0].Payload[1] = 'Y'
	read := mustRead(t, ctx, s, cover, 0, 0)
	if string(read[0].Payload) != "original" {
		t.Fatalf("stored payload changed with the caller's slices: %q", read[0].Payload)
	}
	read[0].Payload[0] = 'Z'
	if got := mustRead(t, ctx, s, cover, 0, 0); string(got[0].Payload) != "original" {
		t.Errorf("stored payload changed with a read slice: %q", got[0].Payload)
	}
}

func testReadRange(t *testing.T, ctx context.Context, s *tracked) {
	cover := newCover("orders")
	mustAppend(t, ctx, s, cover, pages("e", 0, 10))
	cases := []struct {
		from, to uint32
		first, n int
	}{
		{0, 0, 0, 10},
		{3, 7, 3, 4},
		{3, 0, 3, 7},
		{8, 100, 8, 2},
		{9, 10, 9, 1},
		{5, 11, 5, 5},
		{0, 1, 0, 1},
		{5, 5, 0, 0},
		{7, 3, 0, 0},
		{10, 0, 0, 0},
		{20, 30, 0, 0},
	}
	for _, c := range cases {
		got := mustRead(t, ctx, s, cover, c.from, c.to)
		wantEvents(t, fmt.Sprintf("Read [%d, %d)", c.from, c.to), got, "e", c.first, c.n)
	}
	if got := mustRead(t, ctx, s, newCover("orders"), 0, 0); len(got) != 0 {
		t.Errorf("unknown cover has events %v", sequences(got))
	}
}

func testRoots(t *testing.T, ctx context.Context, s *tracked) {
	if got, err := roots(ctx, s); err != nil || len(got) != 0 {
		t.Fatalf("Roots of an empty store = %v, %v; want none", got, err)
	}
	low, high := uuid.New(), uuid.New()
	low[0], high[0] = 0x00, 0xff
	var want []eventstore.Cover
	// Byte order, not a collation: "B" < "a" < "a-b" < "ab".
	for _, domain := range []string{"ab", "a", "B", "a-b"} {
		for _, root := range []uuid.UUID{high, uuid.New(), low} {
			c := eventstore.Cover{Domain: domain, Root: root}
			mustAppend(t, ctx, s, c, pages("e", 0, 1))
			want = append(want, c)
		}
	}
	// A cover whose only append failed has no events and is not listed.
	empty := newCover("a")
	_, err := s.Append(ctx, empty, numbered(pages("x", 1, 1), 1))
	wantConflict(t, "append to fresh cover", err, empty, 1, 0)

	slices.SortFunc(want, compareCovers)
	got, err := roots(ctx, s)
	if err != nil {
		t.Fatalf("Roots: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Roots =\n%v\nwant, ordered by domain then root bytes:\n%v", got, want)
	}
}

func testRootsStops(t *testing.T, ctx context.Context, s *tracked) {
	for range 3 {
		mustAppend(t, ctx, s, newCover("orders"), pages("e", 0, 1))
	}
	stop := errors.New("stop")
	calls := 0
	err := s.Roots(ctx, func(eventstore.Cover) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("Roots err = %v; want fn's error", err)
	}
	if calls != 2 {
		t.Errorf("fn called %d times; want 2 (stop at its first error)", calls)
	}
}

func testDomainIsolation(t *testing.T, ctx context.Context, s *tracked) {
	root := uuid.New()
	a, b := eventstore.Cover{Domain: "alpha", Root: root}, eventstore.Cover{Domain: "beta", Root: root}
	mustAppend(t, ctx, s, a, numbered(pages("a", 0, 2), 0))
	mustAppend(t, ctx, s, b, numbered(pages("b", 0, 1), 0))
	wantEvents(t, "Read alpha", mustRead(t, ctx, s, a, 0, 0), "a", 0, 2)
	wantEvents(t, "Read beta", mustRead(t, ctx, s, b, 0, 0), "b", 0, 1)
}

// testConcurrentSameCover runs writers that each loop "read the head, append
// at the head": exactly one append wins each sequence.
func testConcurrentSameCover(t *testing.T, ctx context.Context, s *tracked) {
	const workers, target = 16, 96
	cover := newCover("orders")
	var mu sync.Mutex
	winner := map[uint32]string{} // sequence → payload of the winning page
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var next uint32
			// Every conflict means another append won since our read, so the
			// loop ends well before this bound unless the store misbehaves.
			for attempt := 0; next < target; attempt++ {
				if attempt == 10*target {
					t.Errorf("worker %d: no progress after %d attempts", w, attempt)
					return
				}
				head, err := s.Read(ctx, cover, next, 0)
				if err != nil {
					t.Errorf("worker %d: Read: %v", w, err)
					return
				}
				next += uint32(len(head))
				if next >= target {
					return
				}
				// Odd workers append two pages, to race batches too.
				ps := numbered(pages(fmt.Sprintf("w%d-", w), int(next), 1+w%2), next)
				events, err := s.Append(ctx, cover, ps)
				var ce *eventstore.ConflictError
				switch {
				case errors.As(err, &ce):
					if ce.Expected != next || ce.Actual <= next {
						t.Errorf("worker %d: conflict expected %d actual %d after reading head %d", w, ce.Expected, ce.Actual, next)
					}
					continue
				case err != nil:
					t.Errorf("worker %d: Append: %v", w, err)
					return
				}
				mu.Lock()
				for i, e := range events {
					if e.Sequence != next+uint32(i) {
						t.Errorf("worker %d: appended at %d, got sequence %d", w, next+uint32(i), e.Sequence)
					}
					if prev, dup := winner[e.Sequence]; dup {
						t.Errorf("sequence %d won twice: %q and %q", e.Sequence, prev, ps[i].Payload)
					}
					winner[e.Sequence] = string(ps[i].Payload)
				}
				mu.Unlock()
				next += uint32(len(events))
			}
		})
	}
	wg.Wait()
	events := mustRead(t, ctx, s, cover, 0, 0)
	if len(events) < target || len(events) != len(winner) {
		t.Fatalf("stored %d events, %d acknowledged; want at least %d, all acknowledged", len(events), len(winner), target)
	}
	for _, e := range events {
		if string(e.Payload) != winner[e.Sequence] {
			t.Errorf("sequence %d stores %q; the acknowledged append was %q", e.Sequence, e.Payload, winner[e.Sequence])
		}
	}
}

func testConcurrentDistinctCovers(t *testing.T, ctx context.Context, s *tracked) {
	const workers, appends = 32, 6
	covers := make([]eventstore.Cover, workers)
	var wg sync.WaitGroup
	for w := range covers {
		covers[w] = newCover(fmt.Sprintf("d%d", w%3))
		wg.Go(func() {
			for i := range appends {
				ps := pages("e", i, 1)
				if i%2 == 1 {
					ps = numbered(ps, uint32(i))
				}
				events, err := s.Append(ctx, covers[w], ps)
				if err != nil {
					t.Errorf("worker %d: Append %d: %v", w, i, err)
					return
				}
				if events[0].Sequence != uint32(i) {
					t.Errorf("worker %d: append %d got sequence %d", w, i, events[0].Sequence)
				}
			}
		})
	}
	wg.Wait()
	for _, c := range covers {
		wantEvents(t, "Read "+c.String(), mustRead(t, ctx, s, c, 0, 0), "e", 0, appends)
	}
}

// testConcurrentMixed races conflicting appends against valid ones: a
// backend that batches appends must fail the conflicting ones alone.
func testConcurrentMixed(t *testing.T, ctx context.Context, s *tracked) {
	const workers, rounds = 8, 4
	shared := newCover("orders")
	mustAppend(t, ctx, s, shared, pages("e", 0, 2))
	own := func() []eventstore.Cover {
		cs := make([]eventstore.Cover, workers)
		for i := range cs {
			cs[i] = newCover("orders")
		}
		return cs
	}
	valid, doomed := own(), own()

	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		// A stale number on the shared cover: always a conflict.
		wg.Go(func() {
			<-start
			for range rounds {
				_, err := s.Append(ctx, shared, numbered(pages("x", 1, 1), 1))
				var ce *eventstore.ConflictError
				if !errors.As(err, &ce) || ce.Expected != 1 || ce.Actual < 2 {
					t.Errorf("stale append on shared cover: err = %v; want a conflict expecting 1", err)
				}
			}
		})
		// A batch whose second page conflicts: its cover stays empty.
		wg.Go(func() {
			<-start
			for range rounds {
				_, err := s.Append(ctx, doomed[w], append(pages("x", 0, 1), numbered(pages("x", 0, 1), 0)...))
				var ce *eventstore.ConflictError
				if !errors.As(err, &ce) || ce.Expected != 0 || ce.Actual != 1 {
					t.Errorf("conflicting batch: err = %v; want a conflict expecting 0, actual 1", err)
				}
			}
		})
		// Unnumbered appends on the shared cover: always succeed.
		wg.Go(func() {
			<-start
			for r := range rounds {
				p := eventstore.Page{TypeURL: "t", Payload: fmt.Appendf(nil, "w%d-r%d", w, r)}
				if _, err := s.Append(ctx, shared, []eventstore.Page{p}); err != nil {
					t.Errorf("unnumbered append on shared cover: %v", err)
				}
			}
		})
		// Numbered batches on a cover of its own: always succeed.
		wg.Go(func() {
			<-start
			for r := range rounds {
				if _, err := s.Append(ctx, valid[w], numbered(pages("e", 2*r, 2), uint32(2*r))); err != nil {
					t.Errorf("valid batch on own cover: %v", err)
				}
			}
		})
	}
	close(start)
	wg.Wait()

	events := mustRead(t, ctx, s, shared, 0, 0)
	seen := map[string]bool{}
	for _, e := range events[min(2, len(events)):] {
		seen[string(e.Payload)] = true
	}
	if len(events) != 2+workers*rounds || len(seen) != workers*rounds {
		t.Errorf("shared cover has %d events, %d distinct new payloads; want %d and %d",
			len(events), len(seen), 2+workers*rounds, workers*rounds)
	}
	for w := range workers {
		wantEvents(t, "Read own cover", mustRead(t, ctx, s, valid[w], 0, 0), "e", 0, 2*rounds)
		if got := mustRead(t, ctx, s, doomed[w], 0, 0); len(got) != 0 {
			t.Errorf("conflicting batches stored %v", sequences(got))
		}
	}
}

func testClosed(t *testing.T, ctx context.Context, s *tracked) {
	cover := newCover("orders")
	mustAppend(t, ctx, s, cover, pages("e", 0, 1))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v; want nil (idempotent)", err)
	}
	_, err := s.Append(ctx, cover, pages("e", 1, 1))
	wantClosed(t, "Append", err)
	_, err = s.Read(ctx, cover, 0, 0)
	wantClosed(t, "Read", err)
	wantClosed(t, "Roots", s.Roots(ctx, func(eventstore.Cover) error { return nil }))
	if snaps, ok := s.Store.(eventstore.Snapshots); ok {
		_, _, err := snaps.Snapshot(ctx, cover)
		wantClosed(t, "Snapshot", err)
		wantClosed(t, "PutSnapshot", snaps.PutSnapshot(ctx, cover, eventstore.Snapshot{Sequence: 1}))
	}
}

func wantClosed(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("%s after Close: err = %v; want ErrClosed", what, err)
	}
}

func testReopen(t *testing.T, ctx context.Context, s *tracked) {
	if s.reopen == nil {
		t.Skip("backend is not persistent (Backend.Reopen is nil)")
	}
	given := time.Date(2026, 11, 26, 10, 21, 42, 123456789, time.UTC)
	covers := []eventstore.Cover{newCover("a"), newCover("a"), newCover("b")}
	before := make(map[eventstore.Cover][]eventstore.Event)
	for i, c := range covers {
		ps := pages("e", 0, i+1)
		ps[0].CreatedAt = given
		before[c] = mustAppend(t, ctx, s, c, ps)
	}
	snap := eventstore.Snapshot{Sequence: 1, TypeURL: "type.googleapis.com/test.State", State: []byte("state"), CreatedAt: given}
	snaps, hasSnaps := s.Store.(eventstore.Snapshots)
	if hasSnaps {
		if err := snaps.PutSnapshot(ctx, covers[0], snap); err != nil {
			t.Fatalf("PutSnapshot: %v", err)
		}
	}

	s.reopenStore()

	for i, c := range covers {
		got := mustRead(t, ctx, s, c, 0, 0)
		wantEvents(t, "Read after reopen", got, "e", 0, i+1)
		for j, e := range got {
			if !sameInstant(e.CreatedAt, before[c][j].CreatedAt) {
				t.Errorf("%s event %d: CreatedAt %v after reopen, %v before", c, j, e.CreatedAt, before[c][j].CreatedAt)
			}
		}
	}
	if snaps, ok := s.Store.(eventstore.Snapshots); hasSnaps && ok {
		got, ok, err := snaps.Snapshot(ctx, covers[0])
		if err != nil || !ok {
			t.Fatalf("Snapshot after reopen = %v, %v", ok, err)
		}
		wantSnapshot(t, "Snapshot after reopen", got, snap, time.Time{}, time.Time{})
	}
	// Sequencing carries on where it stopped.
	_, err := s.Append(ctx, covers[2], numbered(pages("x", 0, 1), 0))
	wantConflict(t, "stale append after reopen", err, covers[2], 0, 3)
	wantEvents(t, "Append after reopen", mustAppend(t, ctx, s, covers[2], numbered(pages("e", 3, 1), 3)), "e", 3, 1)
}

// causes are the causes testCause stores: every field set, a client's
// command (no triggering event), long and odd strings, and none at all.
func causes() []eventstore.Cause {
	return []eventstore.Cause{
		{
			CorrelationID: "corr-1", CommandID: "0b5e0f5c-8d1c-4f3e-9a51-6f1d3b2a9c10",
			CausedBy: eventstore.EventRef{Cover: newCover("caused:by"), Sequence: 4294967295}, Depth: 7,
		},
		{CorrelationID: "corr-2", CommandID: "cmd-2"},
		{CorrelationID: string(bytes.Repeat([]byte("~"), 128)), CausedBy: eventstore.EventRef{Cover: newCover("d"), Sequence: 0}, Depth: 1},
		{},
	}
}

// schemaVersions are the versions testCause and testLogCause store with
// causes(): none (0), small, one that takes three varint bytes, the most.
var schemaVersions = []uint32{2, 0, 70000, 4294967295}

// testCause checks that an event's cause and schema version are stored
// with it and read back as given, by Append, Read and (on a persistent
// backend) after a reopen, and that an event appended without one reads
// back without one.
func testCause(t *testing.T, ctx context.Context, s *tracked) {
	c := newCover("cause")
	want := causes()
	ps := pages("e", 0, len(want))
	for i := range ps {
		ps[i].Cause, ps[i].SchemaVersion = want[i], schemaVersions[i]
	}
	check := func(what string, got []eventstore.Event) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
		}
		for i, e := range got {
			if e.Cause != want[i] {
				t.Errorf("%s: event %d Cause = %+v; want %+v", what, i, e.Cause, want[i])
			}
			if e.SchemaVersion != schemaVersions[i] {
				t.Errorf("%s: event %d SchemaVersion = %d; want %d", what, i, e.SchemaVersion, schemaVersions[i])
			}
		}
	}
	check("Append", mustAppend(t, ctx, s, c, ps))
	check("Read", mustRead(t, ctx, s, c, 0, 0))
	plain := newCover("cause")
	for _, e := range mustAppend(t, ctx, s, plain, pages("p", 0, 2)) {
		if !e.Cause.IsZero() {
			t.Errorf("Append without a cause: event %d Cause = %+v; want none", e.Sequence, e.Cause)
		}
	}
	if s.reopen == nil {
		return
	}
	s.reopenStore()
	check("Read after reopen", mustRead(t, ctx, s, c, 0, 0))
	for _, e := range mustRead(t, ctx, s, plain, 0, 0) {
		if !e.Cause.IsZero() {
			t.Errorf("Read without a cause after reopen: event %d Cause = %+v; want none", e.Sequence, e.Cause)
		}
	}
}
