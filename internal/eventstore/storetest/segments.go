package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// SegmentStore is what the Segments suite needs: leases, and parking to see
// what ParkFenced stored.
type SegmentStore interface {
	eventstore.Segments
	eventstore.Parking
}

// Lease durations of the suite: short enough to wait out, long enough that
// a lease taken at the start of a step is still held at its end on a slow,
// race-instrumented run.
const (
	shortTTL = 60 * time.Millisecond
	longTTL  = 30 * time.Second
)

// RunSegments runs the Segments conformance suite against stores returned
// by open, each over fresh, empty data.
//
// Every call goes through a recorder. After each subtest the suite checks,
// from what the store answered (its own clock, so no agreement between the
// store's clock and the test's is assumed):
//   - no two owners held one segment at once: the spans [Expires-ttl,
//     Expires) of successful Acquire and Renew calls of different owners do
//     not overlap, unless the earlier lease may have been released first;
//   - a token belongs to one owner, and a larger token is granted later;
//   - each segment's position is the largest of its start and the positions
//     of the Advance calls the store accepted: a refused Advance wrote
//     nothing, an accepted one was kept, and it never moved backwards.
func RunSegments(t *testing.T, open func(t *testing.T) SegmentStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s *segRecorder)
	}{
		{"AcquireFree", testAcquireFree},
		{"AcquireInvalid", testAcquireInvalid},
		{"HeldRefused", testHeldRefused},
		{"TakeoverAfterExpiry", testTakeoverAfterExpiry},
		{"ReacquireOwnKeepsToken", testReacquireOwnKeepsToken},
		{"ReacquireAfterExpiryGrowsToken", testReacquireAfterExpiry},
		{"Renew", testRenew},
		{"Release", testRelease},
		{"AdvanceFenced", testAdvanceFenced},
		{"ParkFenced", testParkFenced},
		{"Leases", testLeases},
		{"StartOnlyForNewRow", testStartOnlyForNewRow},
		{"Members", testMembers},
		{"ConcurrentAcquire", testConcurrentAcquire},
		{"NoTwoHolders", testNoTwoHolders},
		{"Reset", testReset},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			s := &segRecorder{SegmentStore: open(t)}
			tc.fn(t, ctx, s)
			s.check(t, ctx)
		})
	}
}

// segKey addresses one lease row.
type segKey struct {
	subscriber string
	of, seg    int
}

func (k segKey) String() string { return fmt.Sprintf("%s %d/%d", k.subscriber, k.seg, k.of) }

func keyOfLease(l eventstore.Lease) segKey { return segKey{l.Subscriber, l.Of, l.Segment} }

// grant is a span during which the store said owner held a segment.
type grant struct {
	owner      string
	token      uint64
	start, end time.Time
	done       int64 // when the call that got it returned, in the recorder's order
}

// segRecorder wraps the store under test and remembers what it granted.
type segRecorder struct {
	SegmentStore
	mu       sync.Mutex
	calls    atomic.Int64
	grants   map[segKey][]grant
	released map[segKey]map[uint64]int64 // token → when the first Release call of it began
	start    map[segKey]uint64           // the position of the row when first acquired
	advanced map[segKey]uint64           // largest accepted Advance
}

func (r *segRecorder) record(k segKey, g grant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.grants == nil {
		r.grants = map[segKey][]grant{}
		r.released = map[segKey]map[uint64]int64{}
		r.start = map[segKey]uint64{}
		r.advanced = map[segKey]uint64{}
	}
	r.grants[k] = append(r.grants[k], g)
}

func (r *segRecorder) Acquire(ctx context.Context, subscriber string, segment, of int, owner string, ttl time.Duration, start uint64) (eventstore.Lease, bool, error) {
	l, ok, err := r.SegmentStore.Acquire(ctx, subscriber, segment, of, owner, ttl, start)
	if err == nil && ok {
		k := keyOfLease(l)
		r.record(k, grant{owner: l.Owner, token: l.Token, start: l.Expires.Add(-ttl), end: l.Expires, done: r.calls.Add(1)})
		r.mu.Lock()
		if _, seen := r.start[k]; !seen {
			r.start[k] = l.Position
		}
		r.mu.Unlock()
	}
	return l, ok, err
}

func (r *segRecorder) Renew(ctx context.Context, l eventstore.Lease, ttl time.Duration) (eventstore.Lease, error) {
	n, err := r.SegmentStore.Renew(ctx, l, ttl)
	if err == nil {
		r.record(keyOfLease(n), grant{owner: n.Owner, token: n.Token, start: n.Expires.Add(-ttl), end: n.Expires, done: r.calls.Add(1)})
	}
	return n, err
}

func (r *segRecorder) Release(ctx context.Context, l eventstore.Lease) error {
	began := r.calls.Add(1)
	err := r.SegmentStore.Release(ctx, l)
	if err == nil {
		r.mu.Lock()
		k := keyOfLease(l)
		if r.released[k] == nil {
			r.released[k] = map[uint64]int64{}
		}
		if _, done := r.released[k][l.Token]; !done {
			r.released[k][l.Token] = began
		}
		r.mu.Unlock()
	}
	return err
}

func (r *segRecorder) Advance(ctx context.Context, l eventstore.Lease, position uint64) error {
	err := r.SegmentStore.Advance(ctx, l, position)
	if err == nil {
		r.mu.Lock()
		k := keyOfLease(l)
		r.advanced[k] = max(r.advanced[k], position)
		r.mu.Unlock()
	}
	return err
}

func (r *segRecorder) Reset(ctx context.Context, subscriber string, position uint64) (int, error) {
	n, err := r.SegmentStore.Reset(ctx, subscriber, position)
	if err == nil {
		// From here on, the position is the reset's and any Advance.
		r.mu.Lock()
		for k := range r.start {
			if k.subscriber == subscriber {
				r.start[k], r.advanced[k] = position, 0
			}
		}
		r.mu.Unlock()
	}
	return n, err
}

// check verifies the invariants of the package comment over everything the
// subtest did.
func (r *segRecorder) check(t *testing.T, ctx context.Context) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	subscribers := map[string]bool{}
	for k, gs := range r.grants {
		subscribers[k.subscriber] = true
		owners := map[uint64]string{}
		for _, g := range gs {
			if o, ok := owners[g.token]; ok && o != g.owner {
				t.Errorf("%v: token %d granted to %s and to %s", k, g.token, o, g.owner)
			}
			owners[g.token] = g.owner
		}
		for i, a := range gs {
			for _, b := range gs[i+1:] {
				if a.token > b.token {
					a, b = b, a
				}
				if a.token < b.token && b.start.Before(a.start) {
					t.Errorf("%v: token %d granted at %v, before token %d at %v", k, b.token, b.start, a.token, a.start)
				}
				if a.owner == b.owner || !a.start.Before(b.end) || !b.start.Before(a.end) {
					continue
				}
				// A Release that began before b's grant returned may
				// have ended a's lease in time.
				if rel, ok := r.released[k][a.token]; ok && rel < b.done {
					continue
				}
				t.Errorf("%v: held by %s (token %d, %v to %v) and %s (token %d, %v to %v) at once",
					k, a.owner, a.token, a.start.Format(time.StampMicro), a.end.Format(time.StampMicro),
					b.owner, b.token, b.start.Format(time.StampMicro), b.end.Format(time.StampMicro))
			}
		}
	}
	for sub := range subscribers {
		ls, err := r.SegmentStore.Leases(ctx, sub)
		if err != nil {
			t.Errorf("Leases(%q): %v", sub, err)
			continue
		}
		for _, l := range ls {
			k := keyOfLease(l)
			start, seen := r.start[k]
			if !seen {
				continue
			}
			if want := max(start, r.advanced[k]); l.Position != want {
				t.Errorf("%v: position %d; want %d (start %d, largest accepted Advance %d)", k, l.Position, want, start, r.advanced[k])
			}
		}
	}
}

func mustAcquire(t *testing.T, ctx context.Context, s eventstore.Segments, sub string, seg, of int, owner string, ttl time.Duration, start uint64) eventstore.Lease {
	t.Helper()
	l, ok, err := s.Acquire(ctx, sub, seg, of, owner, ttl, start)
	if err != nil || !ok {
		t.Fatalf("Acquire(%s, %d/%d, %s) = %+v, %v, %v; want ok", sub, seg, of, owner, l, ok, err)
	}
	if l.Owner != owner || l.Subscriber != sub || l.Segment != seg || l.Of != of || l.Token < 1 {
		t.Fatalf("Acquire(%s, %d/%d, %s) = %+v", sub, seg, of, owner, l)
	}
	return l
}

// expire waits until leases of ttl taken before the call have lapsed, with
// room for the store's clock to be a little behind the test's.
func expire(ttl time.Duration) { time.Sleep(ttl + 30*time.Millisecond) }

func wantLost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrLeaseLost) {
		t.Fatalf("%s: err = %v; want ErrLeaseLost", what, err)
	}
}

func leaseRows(t *testing.T, ctx context.Context, s eventstore.Segments, sub string) []eventstore.Lease {
	t.Helper()
	ls, err := s.Leases(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func leaseRow(t *testing.T, ctx context.Context, s eventstore.Segments, sub string, seg, of int) eventstore.Lease {
	t.Helper()
	for _, l := range leaseRows(t, ctx, s, sub) {
		if l.Segment == seg && l.Of == of {
			return l
		}
	}
	t.Fatalf("Leases(%s) has no row %d/%d", sub, seg, of)
	return eventstore.Lease{}
}

func testAcquireFree(t *testing.T, ctx context.Context, s *segRecorder) {
	before := time.Now()
	l := mustAcquire(t, ctx, s, "receipt", 2, 4, "a", longTTL, 7)
	if l.Position != 7 {
		t.Errorf("new segment's position = %d; want the start, 7", l.Position)
	}
	// Generous bounds: the store's clock is its own.
	if l.Expires.Before(before.Add(longTTL-time.Minute)) || l.Expires.After(before.Add(longTTL+time.Minute)) {
		t.Errorf("Expires = %v; want about %v from now", l.Expires, longTTL)
	}
	got := leaseRows(t, ctx, s, "receipt")
	if len(got) != 1 || got[0].Owner != "a" || got[0].Token != l.Token || got[0].Position != 7 || !got[0].Expires.Equal(l.Expires) {
		t.Fatalf("Leases = %+v; want just %+v", got, l)
	}
	if other := leaseRows(t, ctx, s, "loyalty"); len(other) != 0 {
		t.Fatalf("another subscriber's Leases = %+v", other)
	}
}

func testAcquireInvalid(t *testing.T, ctx context.Context, s *segRecorder) {
	for _, c := range []struct {
		sub     string
		seg, of int
		owner   string
		ttl     time.Duration
		what    string
	}{
		{"receipt", 4, 4, "a", longTTL, "segment = of"},
		{"receipt", -1, 4, "a", longTTL, "negative segment"},
		{"receipt", 0, 0, "a", longTTL, "of = 0"},
		{"receipt", 0, 1, "", longTTL, "no owner"},
		{"", 0, 1, "a", longTTL, "no subscriber"},
		{"receipt", 0, 1, "a", 0, "no ttl"},
	} {
		if _, ok, err := s.Acquire(ctx, c.sub, c.seg, c.of, c.owner, c.ttl, 0); ok || !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("Acquire with %s = %v, %v; want ErrInvalid", c.what, ok, err)
		}
	}
	if got := leaseRows(t, ctx, s, "receipt"); len(got) != 0 {
		t.Fatalf("refused Acquires left rows %+v", got)
	}
}

func testHeldRefused(t *testing.T, ctx context.Context, s *segRecorder) {
	a := mustAcquire(t, ctx, s, "receipt", 0, 1, "a", longTTL, 0)
	l, ok, err := s.Acquire(ctx, "receipt", 0, 1, "b", longTTL, 0)
	if err != nil || ok {
		t.Fatalf("b's Acquire of a's lease = %v, %v; want refused", ok, err)
	}
	if l.Owner != "a" || l.Token != a.Token || !l.Expires.Equal(a.Expires) {
		t.Fatalf("refused Acquire shows %+v; want the holder %+v", l, a)
	}
	if got := leaseRow(t, ctx, s, "receipt", 0, 1); got.Owner != "a" || got.Token != a.Token {
		t.Fatalf("after refusal the row is %+v; want a's lease unchanged", got)
	}
}

func testTakeoverAfterExpiry(t *testing.T, ctx context.Context, s *segRecorder) {
	a := mustAcquire(t, ctx, s, "receipt", 1, 2, "a", shortTTL, 0)
	expire(shortTTL)
	b := mustAcquire(t, ctx, s, "receipt", 1, 2, "b", longTTL, 0)
	if b.Token <= a.Token {
		t.Fatalf("takeover token %d; want more than %d", b.Token, a.Token)
	}
	if _, ok, err := s.Acquire(ctx, "receipt", 1, 2, "a", longTTL, 0); ok || err != nil {
		t.Fatalf("a's Acquire after takeover = %v, %v; want refused", ok, err)
	}
	wantLost(t, "a's Advance after takeover", s.Advance(ctx, a, 5))
}

func testReacquireOwnKeepsToken(t *testing.T, ctx context.Context, s *segRecorder) {
	a := mustAcquire(t, ctx, s, "receipt", 0, 1, "a", longTTL, 3)
	again := mustAcquire(t, ctx, s, "receipt", 0, 1, "a", longTTL, 99)
	if again.Token != a.Token {
		t.Fatalf("re-acquiring one's own lease changed the token %d → %d", a.Token, again.Token)
	}
	if again.Expires.Before(a.Expires) || again.Position != 3 {
		t.Fatalf("re-acquired lease %+v; want Expires ≥ %v, position 3", again, a.Expires)
	}
	if err := s.Advance(ctx, a, 4); err != nil {
		t.Fatalf("Advance with the kept token: %v", err)
	}
}

func testReacquireAfterExpiry(t *testing.T, ctx context.Context, s *segRecorder) {
	a := mustAcquire(t, ctx, s, "receipt", 0, 1, "a", shortTTL, 0)
	expire(shortTTL)
	again := mustAcquire(t, ctx, s, "receipt", 0, 1, "a", longTTL, 0)
	if again.Token <= a.Token {
		t.Fatalf("re-acquiring an expired lease kept token %d → %d; want it to grow", a.Token, again.Token)
	}
	wantLost(t, "Advance with the expired lease's token", s.Advance(ctx, a, 1))
}

func testRenew(t *testing.T, ctx context.Context, s *segRecorder) {
	a := mustAcquire(t, ctx, s, "receipt", 0, 1, "a", shortTTL, 0)
	r, err := s.Renew(ctx, a, longTTL)
	if err != nil {
		t.Fatal(err)
	}
	if r.Token != a.Token || r.Owner != "a" || !r.Expires.After(a.Expires) {
		t.Fatalf("renewed %+v from %+v; want the same token, later Expires", r, a)
	}
	expire(shortTTL)
	if _, ok, err := s.Acquire(ctx, "receipt", 0, 1, "b", longTTL, 0); ok || err != nil {
		t.Fatalf("b's Acquire of the renewed lease = %v, %v; want refused", ok, err)
	}

	// Expired but nobody took it: renewal still succeeds.
	c := mustAcquire(t, ctx, s, "receipt", 0, 2, "c", shortTTL, 0)
	expire(shortTTL)
	if _, err := s.Renew(ctx, c, longTTL); err != nil {
		t.Fatalf("Renew of an expired lease nobody took: %v", err)
	}

	// Expired and taken: the renewal is refused.
	d := mustAcquire(t, ctx, s, "receipt", 1, 2, "d", shortTTL, 0)
	expire(shortTTL)
	e := mustAcquire(t, ctx, s, "receipt", 1, 2, "e", longTTL, 0)
	_, err = s.Renew(ctx, d, longTTL)
	wantLost(t, "Renew with a stale token", err)
	if got := leaseRow(t, ctx, s, "receipt", 1, 2); got.Owner != "e" || got.Token != e.Token || !got.Expires.Equal(e.Expires) {
		t.Fatalf("after the refused renewal the row is %+v; want e's lease %+v", got, e)
	}
}

func testRelease(t *testing.T, ctx context.Context, s *segRecorder) {
	a := mustAcquire(t, ctx, s, "receipt", 0, 1, "a", longTTL, 0)
	if err := s.Advance(ctx, a, 12); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := mustAcquire(t, ctx, s, "receipt", 0, 1, "b", longTTL, 0)
	if b.Token <= a.Token || b.Position != 12 {
		t.Fatalf("after Release b got %+v; want a token above %d, position 12", b, a.Token)
	}
	if err := s.Release(ctx, a); err != nil {
		t.Fatalf("releasing a lost lease: %v", err)
	}
	if got := leaseRow(t, ctx, s, "receipt", 0, 1); got.Owner != "b" || got.Token != b.Token || !got.Expires.Equal(b.Expires) {
		t.Fatalf("releasing a lost lease changed the row to %+v; want b's %+v", got, b)
	}
	wantLost(t, "Advance after Release and takeover", s.Advance(ctx, a, 20))
	if _, ok, _ := s.Acquire(ctx, "receipt", 0, 1, "a", longTTL, 0); ok {
		t.Fatal("a acquired b's lease after releasing its own")
	}
}

func testAdvanceFenced(t *testing.T, ctx context.Context, s *segRecorder) {
	a := mustAcquire(t, ctx, s, "receipt", 0, 1, "a", shortTTL, 5)
	for _, c := range []struct{ to, want uint64 }{{10, 10}, {3, 10}, {10, 10}, {1 << 40, 1 << 40}} {
		if err := s.Advance(ctx, a, c.to); err != nil {
			t.Fatalf("Advance(%d): %v", c.to, err)
		}
		if got := leaseRow(t, ctx, s, "receipt", 0, 1).Position; got != c.want {
			t.Fatalf("after Advance(%d) position = %d; want %d", c.to, got, c.want)
		}
	}
	expire(shortTTL)
	b := mustAcquire(t, ctx, s, "receipt", 0, 1, "b", longTTL, 0)
	if b.Position != 1<<40 {
		t.Fatalf("taken-over position = %d; want %d", b.Position, uint64(1<<40))
	}
	wantLost(t, "Advance with a stale token", s.Advance(ctx, a, 1<<41))
	if got := leaseRow(t, ctx, s, "receipt", 0, 1).Position; got != 1<<40 {
		t.Fatalf("a refused Advance moved the position to %d", got)
	}
	never := eventstore.Lease{Subscriber: "receipt", Segment: 0, Of: 3, Owner: "a", Token: 1}
	wantLost(t, "Advance of a segment never acquired", s.Advance(ctx, never, 1))
}

func parkedAt(c eventstore.Cover, pos uint64, reason string) eventstore.Parked {
	return eventstore.Parked{
		Logged: eventstore.Logged{Position: pos, Cover: c, Event: eventstore.Event{
			Sequence: uint32(pos), CreatedAt: time.Now().UTC(), TypeURL: "t", Payload: []byte{byte(pos)},
		}},
		Reason: reason, Attempts: 2,
	}
}

func parkedPositions(t *testing.T, ctx context.Context, s eventstore.Parking, sub string) []uint64 {
	t.Helper()
	ps, err := s.ParkedEvents(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, p := range ps {
		out = append(out, p.Position)
	}
	return out
}

func testParkFenced(t *testing.T, ctx context.Context, s *segRecorder) {
	c, other := newCover("orders"), newCover("orders")
	a := mustAcquire(t, ctx, s, "receipt", 0, 1, "a", shortTTL, 0)
	park := func(l eventstore.Lease, p eventstore.Parked, behind, want bool) {
		t.Helper()
		stored, err := s.ParkFenced(ctx, l, p, behind)
		if err != nil || stored != want {
			t.Fatalf("ParkFenced(%d, behind=%v) = %v, %v; want %v", p.Position, behind, stored, err, want)
		}
	}
	park(a, parkedAt(c, 10, "held back"), true, false) // nothing of c parked
	if got := parkedPositions(t, ctx, s, "receipt"); len(got) != 0 {
		t.Fatalf("a refused ParkFenced stored %v", got)
	}
	// A reason longer than 127 bytes: its length takes two bytes in
	// encodings with varints, which a backend must skip right.
	park(a, parkedAt(c, 10, strings.Repeat("boom ", 40)), false, true)
	withCause := parkedAt(c, 12, "held back")
	withCause.Cause = eventstore.Cause{CorrelationID: "corr-1", CommandID: "cmd-1", Depth: 3,
		CausedBy: eventstore.EventRef{Cover: other, Sequence: 4}}
	withCause.SchemaVersion = 3
	park(a, withCause, true, true)                         // 10 is parked before it
	park(a, parkedAt(c, 8, "held back"), true, false)      // nothing of c parked below 8
	park(a, parkedAt(other, 15, "held back"), true, false) // another cover
	if err := s.Park(ctx, "loyalty", parkedAt(other, 1, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	park(a, parkedAt(other, 16, "held back"), true, false) // another subscriber's parked event does not count
	if got := parkedPositions(t, ctx, s, "receipt"); !slices.Equal(got, []uint64{10, 12}) {
		t.Fatalf("parked = %v; want [10 12]", got)
	}
	ps, _ := s.ParkedEvents(ctx, "receipt")
	if p := ps[1]; p.Reason != "held back" || p.Attempts != 2 || p.Cover != c || p.Sequence != 12 ||
		len(p.Payload) != 1 || p.Payload[0] != 12 || p.ParkedAt.IsZero() || p.Cause != withCause.Cause || p.SchemaVersion != 3 {
		t.Fatalf("parked event = %+v", p)
	}

	// Once the earlier event is replayed (unparked), a held-back one is not parked.
	if err := s.Unpark(ctx, "receipt", 10, 12); err != nil {
		t.Fatal(err)
	}
	park(a, parkedAt(c, 14, "held back"), true, false)

	expire(shortTTL)
	mustAcquire(t, ctx, s, "receipt", 0, 1, "b", longTTL, 0)
	for _, behind := range []bool{false, true} {
		if err := s.Park(ctx, "receipt", parkedAt(c, 20, "b parked it")); err != nil {
			t.Fatal(err)
		}
		stored, err := s.ParkFenced(ctx, a, parkedAt(c, 30, "stale"), behind)
		wantLost(t, fmt.Sprintf("ParkFenced(behind=%v) with a stale token", behind), err)
		if stored {
			t.Fatal("a refused ParkFenced reported stored")
		}
	}
	if got := parkedPositions(t, ctx, s, "receipt"); !slices.Equal(got, []uint64{20}) {
		t.Fatalf("parked after stale ParkFenced = %v; want [20]", got)
	}
}

func testLeases(t *testing.T, ctx context.Context, s *segRecorder) {
	for _, r := range []struct{ seg, of int }{{3, 4}, {0, 1}, {1, 2}, {0, 4}, {2, 4}} {
		mustAcquire(t, ctx, s, "receipt", r.seg, r.of, fmt.Sprintf("owner-%d-%d", r.seg, r.of), longTTL, uint64(10*r.of+r.seg))
	}
	mustAcquire(t, ctx, s, "loyalty", 1, 4, "x", longTTL, 0)
	var got []string
	for _, l := range leaseRows(t, ctx, s, "receipt") {
		if l.Subscriber != "receipt" || l.Owner != fmt.Sprintf("owner-%d-%d", l.Segment, l.Of) || l.Position != uint64(10*l.Of+l.Segment) {
			t.Errorf("row %+v", l)
		}
		got = append(got, fmt.Sprintf("%d/%d", l.Segment, l.Of))
	}
	if want := []string{"0/1", "1/2", "0/4", "2/4", "3/4"}; !slices.Equal(got, want) {
		t.Fatalf("Leases = %v; want %v (by Of, then Segment)", got, want)
	}
	if got := leaseRows(t, ctx, s, "nobody"); len(got) != 0 {
		t.Fatalf("unknown subscriber's Leases = %+v", got)
	}
}

func testStartOnlyForNewRow(t *testing.T, ctx context.Context, s *segRecorder) {
	a := mustAcquire(t, ctx, s, "receipt", 0, 1, "a", longTTL, 5)
	if err := s.Advance(ctx, a, 9); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	if b := mustAcquire(t, ctx, s, "receipt", 0, 1, "b", longTTL, 100); b.Position != 9 {
		t.Fatalf("existing row's position = %d; want 9, not the start", b.Position)
	}
	// The same segment number of another split is another row.
	if c := mustAcquire(t, ctx, s, "receipt", 0, 2, "c", longTTL, 100); c.Position != 100 {
		t.Fatalf("new row's position = %d; want the start, 100", c.Position)
	}
}

func testMembers(t *testing.T, ctx context.Context, s *segRecorder) {
	members := func() []string {
		t.Helper()
		ms, err := s.Members(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.ID)
			if m.Expires.IsZero() {
				t.Errorf("member %s has no expiry", m.ID)
			}
		}
		return ids
	}
	if got := members(); len(got) != 0 {
		t.Fatalf("fresh store's members = %v", got)
	}
	for _, m := range []struct {
		id  string
		ttl time.Duration
	}{{"c", longTTL}, {"a", longTTL}, {"b", shortTTL}, {"d", longTTL}} {
		if err := s.Join(ctx, m.id, m.ttl); err != nil {
			t.Fatal(err)
		}
	}
	if got := members(); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("members = %v; want [a b c d]", got)
	}
	if err := s.Leave(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.Leave(ctx, "never-joined"); err != nil {
		t.Fatalf("Leave of an unknown member: %v", err)
	}
	expire(shortTTL)
	if got := members(); !slices.Equal(got, []string{"a", "d"}) {
		t.Fatalf("members after b's expiry and c's leave = %v; want [a d]", got)
	}
	if err := s.Join(ctx, "b", longTTL); err != nil {
		t.Fatal(err)
	}
	if got := members(); !slices.Equal(got, []string{"a", "b", "d"}) {
		t.Fatalf("members after b joined again = %v; want [a b d]", got)
	}
}

func testConcurrentAcquire(t *testing.T, ctx context.Context, s *segRecorder) {
	old := mustAcquire(t, ctx, s, "receipt", 0, 1, "old", shortTTL, 0)
	expire(shortTTL)
	const n = 8
	type result struct {
		l   eventstore.Lease
		ok  bool
		err error
	}
	results := make([]result, n)
	var ready, wg sync.WaitGroup
	ready.Add(n)
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			ready.Done()
			<-gate
			l, ok, err := s.Acquire(ctx, "receipt", 0, 1, fmt.Sprintf("r%d", i), longTTL, 0)
			results[i] = result{l, ok, err}
		})
	}
	ready.Wait()
	close(gate)
	wg.Wait()
	var winners []eventstore.Lease
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("r%d: %v", i, r.err)
		}
		if r.ok {
			winners = append(winners, r.l)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d racing Acquires won; want exactly 1: %+v", len(winners), n, winners)
	}
	w := winners[0]
	if w.Token <= old.Token {
		t.Fatalf("winner's token %d; want more than %d", w.Token, old.Token)
	}
	for i, r := range results {
		if !r.ok && (r.l.Owner != w.Owner || r.l.Token != w.Token) {
			t.Errorf("loser r%d sees holder %s/%d; want the winner %s/%d", i, r.l.Owner, r.l.Token, w.Owner, w.Token)
		}
	}
}

// testNoTwoHolders has replicas compete for two segments with short leases
// for a while: acquiring, advancing, renewing, releasing and letting leases
// lapse. The recorder's check then finds any moment two of them held one
// segment, and any checkpoint write the fencing should have refused.
func testNoTwoHolders(t *testing.T, ctx context.Context, s *segRecorder) {
	const (
		replicas = 6
		ttl      = 40 * time.Millisecond
		runFor   = 500 * time.Millisecond
	)
	var pos atomic.Uint64
	var granted, refused atomic.Int64
	deadline := time.Now().Add(runFor)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			owner := fmt.Sprintf("r%d", i)
			rnd := rand.New(rand.NewPCG(uint64(i), 1))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				seg := rnd.IntN(2)
				l, ok, err := s.Acquire(ctx, "receipt", seg, 2, owner, ttl, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					refused.Add(1)
					time.Sleep(time.Duration(rnd.IntN(10)) * time.Millisecond)
					continue
				}
				granted.Add(1)
				for range rnd.IntN(4) {
					time.Sleep(time.Duration(rnd.IntN(25)) * time.Millisecond)
					if err := s.Advance(ctx, l, pos.Add(1)); errors.Is(err, eventstore.ErrLeaseLost) {
						break
					} else if err != nil {
						t.Error(err)
						return
					}
					if rnd.IntN(3) == 0 {
						n, err := s.Renew(ctx, l, ttl)
						if errors.Is(err, eventstore.ErrLeaseLost) {
							break
						} else if err != nil {
							t.Error(err)
							return
						}
						l = n
					}
				}
				if rnd.IntN(2) == 0 {
					if err := s.Release(ctx, l); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if granted.Load() < 4 || refused.Load() == 0 {
		t.Errorf("%d leases granted, %d refused: the replicas hardly competed", granted.Load(), refused.Load())
	}
}

// testReset: a reset moves every row of the subscriber (of any split) to
// the position, backwards too, and fences out every holder; a holder gets
// its own row back at once with the new token, others wait for the lease.
func testReset(t *testing.T, ctx context.Context, s *segRecorder) {
	a := mustAcquire(t, ctx, s, "rebuild", 0, 2, "a", longTTL, 0)
	b := mustAcquire(t, ctx, s, "rebuild", 1, 2, "b", longTTL, 0)
	old := mustAcquire(t, ctx, s, "rebuild", 0, 1, "a", longTTL, 50)
	other := mustAcquire(t, ctx, s, "untouched", 0, 1, "a", longTTL, 40)
	for _, l := range []eventstore.Lease{a, b} {
		if err := s.Advance(ctx, l, 100); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Reset(ctx, "rebuild", 7)
	if err != nil || n != 3 {
		t.Fatalf("Reset = %d, %v; want 3 rows", n, err)
	}
	for _, l := range leaseRows(t, ctx, s, "rebuild") {
		var was eventstore.Lease
		switch {
		case l.Of == 1:
			was = old
		case l.Segment == 0:
			was = a
		default:
			was = b
		}
		if l.Position != 7 || l.Token <= was.Token || l.Owner != was.Owner {
			t.Errorf("after Reset: %+v; want position 7, a token above %d, owner %s kept", l, was.Token, was.Owner)
		}
	}
	if got := leaseRow(t, ctx, s, "untouched", 0, 1); got.Position != 40 || got.Token != other.Token {
		t.Errorf("another subscriber's row moved: %+v", got)
	}
	wantLost(t, "Advance after Reset", s.Advance(ctx, a, 200))
	if _, err := s.Renew(ctx, b, longTTL); !errors.Is(err, eventstore.ErrLeaseLost) {
		t.Errorf("Renew after Reset: %v; want ErrLeaseLost", err)
	}
	c := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	if _, err := s.ParkFenced(ctx, a, parkedAt(c, 3, "x"), false); !errors.Is(err, eventstore.ErrLeaseLost) {
		t.Errorf("ParkFenced after Reset: %v; want ErrLeaseLost", err)
	}
	// The holder takes its row back at once, from the reset position.
	a2 := mustAcquire(t, ctx, s, "rebuild", 0, 2, "a", longTTL, 0)
	if a2.Position != 7 || a2.Token <= a.Token {
		t.Errorf("re-acquired after Reset: %+v; want position 7 and a new token", a2)
	}
	// Another replica waits for the lease.
	if l, ok, err := s.Acquire(ctx, "rebuild", 1, 2, "c", longTTL, 0); err != nil || ok {
		t.Errorf("Acquire of a reset row still leased to b: %+v, %v, %v; want refused", l, ok, err)
	}
	if err := s.Advance(ctx, a2, 8); err != nil {
		t.Errorf("Advance with the new token: %v", err)
	}
	if n, err := s.Reset(ctx, "never-ran", 0); err != nil || n != 0 {
		t.Errorf("Reset of a subscriber without rows = %d, %v; want 0, nil", n, err)
	}
	// Twice: tokens grow again, the position is the second's.
	if _, err := s.Reset(ctx, "rebuild", 0); err != nil {
		t.Fatal(err)
	}
	wantLost(t, "Advance after a second Reset", s.Advance(ctx, a2, 9))
	if got := leaseRow(t, ctx, s, "rebuild", 0, 2); got.Position != 0 {
		t.Errorf("after a second Reset to 0: position %d", got.Position)
	}
}
