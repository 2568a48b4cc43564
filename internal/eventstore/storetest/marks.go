package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evented/evented/internal/eventstore"
	"github.com/google/uuid"
)

// Claim durations of the suite: markTTL is short enough to wait out,
// markLongTTL outlasts any subtest on a slow, race-instrumented run.
const (
	markTTL     = 100 * time.Millisecond
	markLongTTL = 30 * time.Second
)

// RunMarks runs the Marks conformance suite against stores returned by open,
// each over fresh, empty data.
//
// Every call goes through a recorder. After each subtest the suite checks,
// from what the store answered (its own clock):
//   - each mark's Next is the largest `to` of the SettleMark (with to above
//     the claim's From) and AdvanceMark calls the store accepted: a refused
//     settle wrote nothing, an accepted one was kept, Next never went down;
//   - a ClaimID was granted once per mark, and a larger one later;
//   - no two claimers held one mark at once: the spans [Until-ttl, Until)
//     of successful claims by different claimers do not overlap, unless the
//     earlier claim may have been settled first.
func RunMarks(t *testing.T, open func(t *testing.T) eventstore.Marks) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s *markRecorder)
	}{
		{"MissingIsZero", testMarkMissing},
		{"Invalid", testMarkInvalid},
		{"ClaimAtNext", testClaimAtNext},
		{"ClaimElsewhereRefused", testClaimElsewhere},
		{"LiveClaimRefused", testLiveClaimRefused},
		{"OwnClaimReplaced", testOwnClaimReplaced},
		{"TakeoverAfterExpiry", testClaimTakeover},
		{"SettleAdvancesAndClears", testSettle},
		{"SettleStaleLost", testSettleStale},
		{"SettleRetried", testSettleRetried},
		{"SettleLapsedUntaken", testSettleLapsedUntaken},
		{"SettleWithoutAdvance", testSettleWithoutAdvance},
		{"AdvanceNeverLowers", testAdvanceMark},
		{"ReadAfterExpiry", testReadAfterExpiry},
		{"ConcurrentClaim", testConcurrentClaim},
		{"Independent", testMarksIndependent},
		{"ClaimSettleRace", testClaimSettleRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			s := &markRecorder{Marks: open(t)}
			tc.fn(t, ctx, s)
			s.check(t, ctx)
		})
	}
}

// markKey addresses one mark.
type markKey struct {
	subscriber string
	cover      eventstore.Cover
}

func (k markKey) String() string { return k.subscriber + " " + k.cover.String() }

// claimGrant is a span during which the store said claimer held a mark.
type claimGrant struct {
	claimer    string
	id         uint64
	start, end time.Time
	done       int64 // when the call that got it returned, in the recorder's order
}

// markRecorder wraps the store under test and remembers what it granted
// and accepted.
type markRecorder struct {
	eventstore.Marks
	mu      sync.Mutex
	calls   atomic.Int64
	seen    map[markKey]bool
	grants  map[markKey][]claimGrant
	settled map[markKey]map[uint64]int64 // claim id → when its first accepted settle began
	reached map[markKey]uint32           // largest accepted settle or advance
}

func (r *markRecorder) touch(k markKey) {
	if r.seen == nil {
		r.seen = map[markKey]bool{}
		r.grants = map[markKey][]claimGrant{}
		r.settled = map[markKey]map[uint64]int64{}
		r.reached = map[markKey]uint32{}
	}
	r.seen[k] = true
}

func (r *markRecorder) ClaimMark(ctx context.Context, subscriber string, cover eventstore.Cover, from uint32, claimer string, ttl time.Duration) (eventstore.Mark, bool, error) {
	m, ok, err := r.Marks.ClaimMark(ctx, subscriber, cover, from, claimer, ttl)
	done := r.calls.Add(1)
	if err == nil && subscriber != "" && cover.Domain != "" {
		r.mu.Lock()
		defer r.mu.Unlock()
		k := markKey{subscriber, cover}
		r.touch(k)
		if ok {
			r.grants[k] = append(r.grants[k], claimGrant{claimer: m.Claimer, id: m.ClaimID, start: m.Until.Add(-ttl), end: m.Until, done: done})
		}
	}
	return m, ok, err
}

func (r *markRecorder) SettleMark(ctx context.Context, subscriber string, cover eventstore.Cover, m eventstore.Mark, to uint32) error {
	began := r.calls.Add(1)
	err := r.Marks.SettleMark(ctx, subscriber, cover, m, to)
	if err == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		k := markKey{subscriber, cover}
		r.touch(k)
		if r.settled[k] == nil {
			r.settled[k] = map[uint64]int64{}
		}
		if _, again := r.settled[k][m.ClaimID]; !again {
			r.settled[k][m.ClaimID] = began
		}
		if to > m.From {
			r.reached[k] = max(r.reached[k], to)
		}
	}
	return err
}

func (r *markRecorder) AdvanceMark(ctx context.Context, subscriber string, cover eventstore.Cover, to uint32) error {
	err := r.Marks.AdvanceMark(ctx, subscriber, cover, to)
	if err == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		k := markKey{subscriber, cover}
		r.touch(k)
		r.reached[k] = max(r.reached[k], to)
	}
	return err
}

// check verifies the invariants of RunMarks over everything the subtest did.
func (r *markRecorder) check(t *testing.T, ctx context.Context) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.seen {
		m, err := r.Marks.ReadMark(ctx, k.subscriber, k.cover)
		if err != nil {
			t.Errorf("ReadMark(%v): %v", k, err)
			continue
		}
		if m.Next != r.reached[k] {
			t.Errorf("%v: Next %d; want %d, the largest accepted settle or advance", k, m.Next, r.reached[k])
		}
		// One claim at a time: each successful claim ends the one
		// before it, so it is enough to compare neighbours in id order.
		gs := slices.SortedFunc(slices.Values(r.grants[k]), func(a, b claimGrant) int { return cmp.Compare(a.id, b.id) })
		if n := len(gs); n > 0 && gs[n-1].id > m.ClaimID {
			t.Errorf("%v: claim id %d granted, but the mark's is %d", k, gs[n-1].id, m.ClaimID)
		}
		for i := 1; i < len(gs); i++ {
			a, b := gs[i-1], gs[i]
			switch {
			case a.id == b.id:
				t.Errorf("%v: claim id %d granted twice (%s, %s)", k, a.id, a.claimer, b.claimer)
			case b.start.Before(a.start):
				t.Errorf("%v: claim %d granted at %v, before claim %d at %v", k, b.id, b.start, a.id, a.start)
			case a.claimer == b.claimer || !b.start.Before(a.end):
			default:
				if began, ok := r.settled[k][a.id]; ok && began < b.done {
					continue
				}
				t.Errorf("%v: claimed by %s (id %d, %v to %v) and %s (id %d, %v to %v) at once",
					k, a.claimer, a.id, a.start.Format(time.StampMicro), a.end.Format(time.StampMicro),
					b.claimer, b.id, b.start.Format(time.StampMicro), b.end.Format(time.StampMicro))
			}
		}
	}
}

func markCover() eventstore.Cover { return newCover("order") }

func readMark(t *testing.T, ctx context.Context, s eventstore.Marks, sub string, c eventstore.Cover) eventstore.Mark {
	t.Helper()
	m, err := s.ReadMark(ctx, sub, c)
	if err != nil {
		t.Fatalf("ReadMark(%s, %v): %v", sub, c, err)
	}
	return m
}

func mustClaim(t *testing.T, ctx context.Context, s eventstore.Marks, sub string, c eventstore.Cover, from uint32, claimer string, ttl time.Duration) eventstore.Mark {
	t.Helper()
	m, ok, err := s.ClaimMark(ctx, sub, c, from, claimer, ttl)
	if err != nil || !ok {
		t.Fatalf("ClaimMark(%s, %v, %d, %s) = %+v, %v, %v; want ok", sub, c, from, claimer, m, ok, err)
	}
	if m.Claimer != claimer || m.From != from || m.Next != from || m.ClaimID < 1 || m.Until.IsZero() {
		t.Fatalf("ClaimMark(%s, %v, %d, %s) = %+v", sub, c, from, claimer, m)
	}
	return m
}

func refusedClaim(t *testing.T, ctx context.Context, s eventstore.Marks, sub string, c eventstore.Cover, from uint32, claimer string) eventstore.Mark {
	t.Helper()
	m, ok, err := s.ClaimMark(ctx, sub, c, from, claimer, markLongTTL)
	if err != nil || ok {
		t.Fatalf("ClaimMark(%s, %v, %d, %s) = %+v, %v, %v; want refused", sub, c, from, claimer, m, ok, err)
	}
	return m
}

func mustSettle(t *testing.T, ctx context.Context, s eventstore.Marks, sub string, c eventstore.Cover, m eventstore.Mark, to uint32) {
	t.Helper()
	if err := s.SettleMark(ctx, sub, c, m, to); err != nil {
		t.Fatalf("SettleMark(%s, %v, claim %d of %s, %d): %v", sub, c, m.ClaimID, m.Claimer, to, err)
	}
}

func mustAdvanceMark(t *testing.T, ctx context.Context, s eventstore.Marks, sub string, c eventstore.Cover, to uint32) {
	t.Helper()
	if err := s.AdvanceMark(ctx, sub, c, to); err != nil {
		t.Fatalf("AdvanceMark(%s, %v, %d): %v", sub, c, to, err)
	}
}

func wantClaimLost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrClaimLost) {
		t.Fatalf("%s: err = %v; want ErrClaimLost", what, err)
	}
}

// wantNoClaim checks m shows no live claim: no claimer, From and Until zero.
func wantNoClaim(t *testing.T, what string, m eventstore.Mark) {
	t.Helper()
	if m.Claimer != "" || m.From != 0 || !m.Until.IsZero() {
		t.Fatalf("%s: %+v; want no live claim", what, m)
	}
}

func testMarkMissing(t *testing.T, ctx context.Context, s *markRecorder) {
	m := readMark(t, ctx, s, "projector", markCover())
	if m != (eventstore.Mark{}) {
		t.Fatalf("missing mark = %+v; want the zero Mark", m)
	}
}

func testMarkInvalid(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	claim := eventstore.Mark{Claimer: "a", ClaimID: 1}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"claim without subscriber", func() error { _, _, err := s.ClaimMark(ctx, "", c, 0, "a", markTTL); return err }()},
		{"claim without domain", func() error {
			_, _, err := s.ClaimMark(ctx, "p", eventstore.Cover{Root: uuid.New()}, 0, "a", markTTL)
			return err
		}()},
		{"claim without claimer", func() error { _, _, err := s.ClaimMark(ctx, "p", c, 0, "", markTTL); return err }()},
		{"claim with zero ttl", func() error { _, _, err := s.ClaimMark(ctx, "p", c, 0, "a", 0); return err }()},
		{"settle without claimer", s.SettleMark(ctx, "p", c, eventstore.Mark{ClaimID: 1}, 1)},
		{"settle without claim id", s.SettleMark(ctx, "p", c, eventstore.Mark{Claimer: "a"}, 1)},
		{"settle without subscriber", s.SettleMark(ctx, "", c, claim, 1)},
		{"advance without subscriber", s.AdvanceMark(ctx, "", c, 1)},
		{"read without domain", func() error { _, err := s.ReadMark(ctx, "p", eventstore.Cover{}); return err }()},
	} {
		if !errors.Is(tc.err, eventstore.ErrInvalid) {
			t.Errorf("%s: err = %v; want ErrInvalid", tc.name, tc.err)
		}
	}
	if m := readMark(t, ctx, s, "p", c); m != (eventstore.Mark{}) {
		t.Fatalf("mark after refused calls = %+v; want untouched", m)
	}
}

func testClaimAtNext(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	m := mustClaim(t, ctx, s, "projector", c, 0, "a", markLongTTL)
	if got := readMark(t, ctx, s, "projector", c); got.Claimer != "a" || got.ClaimID != m.ClaimID || got.From != 0 || !got.Until.Equal(m.Until) {
		t.Fatalf("ReadMark after claim = %+v; want the claim %+v", got, m)
	}
	mustSettle(t, ctx, s, "projector", c, m, 3)
	n := mustClaim(t, ctx, s, "projector", c, 3, "b", markLongTTL)
	if n.ClaimID <= m.ClaimID {
		t.Fatalf("second claim id %d; want more than %d", n.ClaimID, m.ClaimID)
	}
}

func testClaimElsewhere(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	got := refusedClaim(t, ctx, s, "projector", c, 1, "a")
	if got.Next != 0 {
		t.Fatalf("refused claim of a missing mark returned %+v; want Next 0", got)
	}
	wantNoClaim(t, "refused claim of a missing mark", got)
	mustAdvanceMark(t, ctx, s, "projector", c, 5)
	for _, from := range []uint32{0, 4, 6} {
		got := refusedClaim(t, ctx, s, "projector", c, from, "a")
		if got.Next != 5 {
			t.Fatalf("claim at %d returned %+v; want Next 5", from, got)
		}
		wantNoClaim(t, fmt.Sprintf("refused claim at %d", from), got)
	}
	mustClaim(t, ctx, s, "projector", c, 5, "a", markLongTTL)
}

func testLiveClaimRefused(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	m := mustClaim(t, ctx, s, "projector", c, 0, "a", markLongTTL)
	got := refusedClaim(t, ctx, s, "projector", c, 0, "b")
	if got.Claimer != "a" || got.ClaimID != m.ClaimID || got.From != 0 || !got.Until.Equal(m.Until) {
		t.Fatalf("refused claim returned %+v; want a's claim %+v", got, m)
	}
	if err := s.SettleMark(ctx, "projector", c, eventstore.Mark{Claimer: "b", ClaimID: m.ClaimID}, 2); !errors.Is(err, eventstore.ErrClaimLost) {
		t.Fatalf("settle of a's claim id by b: err = %v; want ErrClaimLost", err)
	}
	if got := readMark(t, ctx, s, "projector", c); got.Claimer != "a" || got.Next != 0 {
		t.Fatalf("mark after b's refused calls = %+v; want a's claim, Next 0", got)
	}
}

func testOwnClaimReplaced(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	m := mustClaim(t, ctx, s, "projector", c, 0, "a", markLongTTL)
	n := mustClaim(t, ctx, s, "projector", c, 0, "a", markLongTTL)
	if n.ClaimID <= m.ClaimID || n.Until.Before(m.Until) {
		t.Fatalf("re-claim = %+v; want a larger id than and an Until no earlier than %+v", n, m)
	}
	wantClaimLost(t, "settle of the replaced claim", s.SettleMark(ctx, "projector", c, m, 2))
	mustSettle(t, ctx, s, "projector", c, n, 2)
	if got := readMark(t, ctx, s, "projector", c); got.Next != 2 {
		t.Fatalf("Next = %d; want 2", got.Next)
	}
}

func testClaimTakeover(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	m := mustClaim(t, ctx, s, "projector", c, 0, "a", markTTL)
	expire(markTTL)
	n := mustClaim(t, ctx, s, "projector", c, 0, "b", markLongTTL)
	if n.ClaimID <= m.ClaimID {
		t.Fatalf("takeover claim id %d; want more than %d", n.ClaimID, m.ClaimID)
	}
	if !n.Until.After(m.Until) {
		t.Fatalf("takeover lasts until %v; want after the lapsed claim's %v", n.Until, m.Until)
	}
	refusedClaim(t, ctx, s, "projector", c, 0, "a")
}

func testSettle(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	m := mustClaim(t, ctx, s, "projector", c, 0, "a", markLongTTL)
	mustSettle(t, ctx, s, "projector", c, m, 4)
	got := readMark(t, ctx, s, "projector", c)
	if got.Next != 4 || got.ClaimID != m.ClaimID {
		t.Fatalf("after settle: %+v; want Next 4, claim id %d kept", got, m.ClaimID)
	}
	wantNoClaim(t, "after settle", got)
	// Settled, the mark is free to another claimer at once.
	mustClaim(t, ctx, s, "projector", c, 4, "b", markLongTTL)
}

func testSettleStale(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	m := mustClaim(t, ctx, s, "projector", c, 0, "a", markTTL)
	expire(markTTL)
	n := mustClaim(t, ctx, s, "projector", c, 0, "b", markLongTTL)
	wantClaimLost(t, "settle of a lapsed claim taken by b", s.SettleMark(ctx, "projector", c, m, 3))
	got := readMark(t, ctx, s, "projector", c)
	if got.Next != 0 || got.Claimer != "b" || got.ClaimID != n.ClaimID {
		t.Fatalf("after the lost settle: %+v; want Next 0 and b's claim %d untouched", got, n.ClaimID)
	}
	// The same holds when the lapsed claim was taken by its own claimer again.
	mustSettle(t, ctx, s, "projector", c, n, 2)
	o := mustClaim(t, ctx, s, "projector", c, 2, "a", markTTL)
	expire(markTTL)
	mustClaim(t, ctx, s, "projector", c, 2, "a", markLongTTL)
	wantClaimLost(t, "settle of a lapsed claim its claimer took again", s.SettleMark(ctx, "projector", c, o, 9))
	if got := readMark(t, ctx, s, "projector", c); got.Next != 2 {
		t.Fatalf("Next = %d after the lost settle; want 2", got.Next)
	}
}

func testSettleRetried(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	m := mustClaim(t, ctx, s, "projector", c, 0, "a", markLongTTL)
	mustSettle(t, ctx, s, "projector", c, m, 2)
	// A retry, as after a lost reply, settles again; it claims nothing.
	mustSettle(t, ctx, s, "projector", c, m, 2)
	got := readMark(t, ctx, s, "projector", c)
	if got.Next != 2 || got.ClaimID != m.ClaimID {
		t.Fatalf("after a retried settle: %+v; want Next 2, claim id %d", got, m.ClaimID)
	}
	wantNoClaim(t, "after a retried settle", got)
	// Once another claim took the mark, the old claim is lost for good.
	n := mustClaim(t, ctx, s, "projector", c, 2, "a", markLongTTL)
	wantClaimLost(t, "settle of a claim after a new claim", s.SettleMark(ctx, "projector", c, m, 5))
	if got := readMark(t, ctx, s, "projector", c); got.Next != 2 || got.ClaimID != n.ClaimID || got.Claimer != "a" {
		t.Fatalf("after the lost settle: %+v; want Next 2 and the new claim %d", got, n.ClaimID)
	}
	wantClaimLost(t, "settle of a mark never claimed", s.SettleMark(ctx, "projector", markCover(), eventstore.Mark{Claimer: "a", ClaimID: 1}, 1))
}

func testSettleLapsedUntaken(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	m := mustClaim(t, ctx, s, "projector", c, 0, "a", markTTL)
	expire(markTTL)
	mustSettle(t, ctx, s, "projector", c, m, 3)
	if got := readMark(t, ctx, s, "projector", c); got.Next != 3 || got.Claimer != "" {
		t.Fatalf("after settling a lapsed claim nobody took: %+v; want Next 3, no claim", got)
	}
}

func testSettleWithoutAdvance(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	mustAdvanceMark(t, ctx, s, "projector", c, 2)
	m := mustClaim(t, ctx, s, "projector", c, 2, "a", markLongTTL)
	mustSettle(t, ctx, s, "projector", c, m, 2) // the append failed: nothing delivered
	got := readMark(t, ctx, s, "projector", c)
	if got.Next != 2 {
		t.Fatalf("Next = %d after a settle with to = From; want 2", got.Next)
	}
	wantNoClaim(t, "after a settle with to = From", got)
	m = mustClaim(t, ctx, s, "projector", c, 2, "b", markLongTTL)
	mustSettle(t, ctx, s, "projector", c, m, 1)
	if got := readMark(t, ctx, s, "projector", c); got.Next != 2 || got.Claimer != "" {
		t.Fatalf("after a settle with to < From: %+v; want Next 2, no claim", got)
	}
}

func testAdvanceMark(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	for _, tc := range []struct{ to, want uint32 }{{0, 0}, {3, 3}, {2, 3}, {7, 7}, {0, 7}, {7, 7}} {
		mustAdvanceMark(t, ctx, s, "projector", c, tc.to)
		if got := readMark(t, ctx, s, "projector", c); got.Next != tc.want {
			t.Fatalf("AdvanceMark(%d): Next %d; want %d", tc.to, got.Next, tc.want)
		}
	}
	// Advance ignores a live claim and leaves it in place; the claimer,
	// now behind, settles without lowering Next.
	m := mustClaim(t, ctx, s, "projector", c, 7, "a", markLongTTL)
	mustAdvanceMark(t, ctx, s, "projector", c, 9)
	got := readMark(t, ctx, s, "projector", c)
	if got.Next != 9 || got.Claimer != "a" || got.ClaimID != m.ClaimID {
		t.Fatalf("advance under a claim: %+v; want Next 9, a's claim kept", got)
	}
	mustSettle(t, ctx, s, "projector", c, m, 8)
	if got := readMark(t, ctx, s, "projector", c); got.Next != 9 || got.Claimer != "" {
		t.Fatalf("settle below Next: %+v; want Next 9, no claim", got)
	}
	// The largest sequence a mark holds.
	mustAdvanceMark(t, ctx, s, "projector", c, ^uint32(0))
	if got := readMark(t, ctx, s, "projector", c); got.Next != ^uint32(0) {
		t.Fatalf("Next = %d; want %d", got.Next, ^uint32(0))
	}
}

func testReadAfterExpiry(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	m := mustClaim(t, ctx, s, "projector", c, 0, "a", markTTL)
	expire(markTTL)
	got := readMark(t, ctx, s, "projector", c)
	if got.Next != 0 || got.ClaimID != m.ClaimID {
		t.Fatalf("after the claim lapsed: %+v; want Next 0, claim id %d", got, m.ClaimID)
	}
	wantNoClaim(t, "after the claim lapsed", got)
	// A refused claim shows the lapsed claim as none, too.
	wantNoClaim(t, "refused claim after the claim lapsed", refusedClaim(t, ctx, s, "projector", c, 1, "b"))
}

func testConcurrentClaim(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	mustAdvanceMark(t, ctx, s, "projector", c, 4)
	const n = 16
	type result struct {
		m   eventstore.Mark
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
			m, ok, err := s.ClaimMark(ctx, "projector", c, 4, fmt.Sprintf("r%d", i), markLongTTL)
			results[i] = result{m, ok, err}
		})
	}
	ready.Wait()
	close(gate)
	wg.Wait()
	var winners []eventstore.Mark
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("r%d: %v", i, r.err)
		}
		if r.ok {
			winners = append(winners, r.m)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d racing claims won; want exactly 1: %+v", len(winners), n, winners)
	}
	w := winners[0]
	for i, r := range results {
		if !r.ok && (r.m.Claimer != w.Claimer || r.m.ClaimID != w.ClaimID) {
			t.Errorf("loser r%d sees claim %s/%d; want the winner's %s/%d", i, r.m.Claimer, r.m.ClaimID, w.Claimer, w.ClaimID)
		}
	}
}

func testMarksIndependent(t *testing.T, ctx context.Context, s *markRecorder) {
	c := markCover()
	sameRoot := eventstore.Cover{Domain: "invoice", Root: c.Root}
	other := markCover()
	mustClaim(t, ctx, s, "projector", c, 0, "a", markLongTTL)
	mustAdvanceMark(t, ctx, s, "projector", c, 6)
	// The same cover for another subscriber, the same root in another
	// domain, and another root: each its own mark.
	for _, tc := range []struct {
		sub   string
		cover eventstore.Cover
	}{{"saga", c}, {"projector", sameRoot}, {"projector", other}} {
		if got := readMark(t, ctx, s, tc.sub, tc.cover); got != (eventstore.Mark{}) {
			t.Fatalf("mark of %s %v = %+v; want missing", tc.sub, tc.cover, got)
		}
		m := mustClaim(t, ctx, s, tc.sub, tc.cover, 0, "b", markLongTTL)
		mustSettle(t, ctx, s, tc.sub, tc.cover, m, 1)
	}
	got := readMark(t, ctx, s, "projector", c)
	if got.Next != 6 || got.Claimer != "a" {
		t.Fatalf("first mark = %+v; want Next 6 and a's claim, untouched by the others", got)
	}
	for _, tc := range []struct {
		sub   string
		cover eventstore.Cover
	}{{"saga", c}, {"projector", sameRoot}, {"projector", other}} {
		if got := readMark(t, ctx, s, tc.sub, tc.cover); got.Next != 1 || got.Claimer != "" {
			t.Fatalf("mark of %s %v = %+v; want Next 1, no claim", tc.sub, tc.cover, got)
		}
	}
}

// testClaimSettleRace has replicas and an owner work one mark for a while
// the way delivery does: replicas claim at the Next they read, settle a few
// sequences on, and sometimes let the claim lapse; the owner advances while
// no other claim is live. The recorder's check then finds two live claims
// at once, a reused claim id, or a Next the accepted calls do not explain.
func testClaimSettleRace(t *testing.T, ctx context.Context, s *markRecorder) {
	const (
		replicas = 6
		ttl      = 50 * time.Millisecond
		runFor   = 500 * time.Millisecond
	)
	c := markCover()
	stop := time.Now().Add(runFor)
	var wg sync.WaitGroup
	for i := range replicas {
		name := fmt.Sprintf("r%d", i)
		wg.Go(func() {
			for j := 0; time.Now().Before(stop); j++ {
				cur, err := s.ReadMark(ctx, "projector", c)
				if err != nil {
					t.Error(err)
					return
				}
				if cur.Live() && cur.Claimer != name {
					time.Sleep(time.Millisecond)
					continue
				}
				if i == 0 { // the owner
					if err := s.AdvanceMark(ctx, "projector", c, cur.Next+1); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				m, ok, err := s.ClaimMark(ctx, "projector", c, cur.Next, name, ttl)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					continue
				}
				if j%7 == 0 {
					time.Sleep(ttl + 10*time.Millisecond) // lapse
				}
				err = s.SettleMark(ctx, "projector", c, m, m.From+uint32(1+j%3))
				if err != nil && !errors.Is(err, eventstore.ErrClaimLost) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
