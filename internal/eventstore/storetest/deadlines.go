package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// DeadlineStore is what the deadlines suite needs.
type DeadlineStore interface {
	eventstore.Store
	eventstore.Deadlines
}

// RunDeadlines runs the conformance suite of eventstore.Deadlines against
// the stores open returns (fresh, empty data each). reopen, when set,
// returns a new store over the same data (persistent backends).
func RunDeadlines(t *testing.T, open func(t *testing.T) DeadlineStore, reopen func(t *testing.T, s DeadlineStore) DeadlineStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s DeadlineStore)
	}{
		{"ScheduleAndDue", testDeadlineDue},
		{"Reschedule", testDeadlineReschedule},
		{"Cancel", testDeadlineCancel},
		{"FiredKeepsRescheduled", testDeadlineFired},
		{"Segments", testDeadlineSegments},
		{"LimitAndOrder", testDeadlineLimit},
		{"Pending", testDeadlinePending},
		{"Invalid", testDeadlineInvalid},
		{"Concurrent", testDeadlineConcurrent},
		{"Idempotent", testDeadlineIdempotent},
		{"AppendSchedulingStoresAll", testAppendScheduling},
		{"AppendSchedulingConflictAppliesNone", testAppendSchedulingConflict},
		{"AppendSchedulingLiveKeyAppliesNone", testAppendSchedulingLiveKey},
		{"AppendSchedulingInvalidStoresNothing", testAppendSchedulingInvalid},
		{"AppendSchedulingVisibleTogether", testAppendSchedulingTogether},
		{"Count", testDeadlineCount},
		{"EarliestDue", testEarliestDue},
		{"AppendGroupStoresEach", testAppendGroup},
		{"AppendGroupSettlesEachAlone", testAppendGroupAlone},
		{"AppendGroupOneCoverInOrder", testAppendGroupOneCover},
		{"AppendGroupKeepsRescheduled", testAppendGroupRescheduled},
		{"AppendGroupLoadBooks", testLoadBooks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			tc.fn(t, ctx, open(t))
		})
	}
	if reopen != nil {
		t.Run("SurvivesReopen", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			s := open(t)
			d := deadline("survivor", time.Now().Add(-time.Second))
			must(t, s.Schedule(ctx, []eventstore.Deadline{d}))
			s = reopen(t, s)
			got := allDue(t, ctx, s, time.Now())
			if len(got) != 1 || got[0].ID != "survivor" {
				t.Fatalf("after reopen: due %v, want [survivor]", ids(got))
			}
		})
	}
}

var deadlineCover = eventstore.Cover{Domain: "customer", Root: uuid.MustParse("2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f")}

func deadline(id string, due time.Time) eventstore.Deadline {
	return eventstore.Deadline{ID: id, Due: due, Cover: deadlineCover, Command: []byte("cmd-" + id), Key: "deadline:" + id + ":k1"}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ids(ds []eventstore.Deadline) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// allDue is every due deadline of one segment of one.
func allDue(t *testing.T, ctx context.Context, s eventstore.Deadlines, before time.Time) []eventstore.Deadline {
	t.Helper()
	ds, err := s.DueDeadlines(ctx, 0, 1, before, 100000)
	must(t, err)
	return ds
}

func testDeadlineDue(t *testing.T, ctx context.Context, s DeadlineStore) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	past, future := deadline("past", now.Add(-time.Minute)), deadline("future", now.Add(time.Hour))
	must(t, s.Schedule(ctx, []eventstore.Deadline{future, past}))
	got := allDue(t, ctx, s, now)
	if len(got) != 1 || got[0].ID != "past" {
		t.Fatalf("due at now: %v, want [past]", ids(got))
	}
	g := got[0]
	if !g.Due.Equal(past.Due) || g.Cover != past.Cover || string(g.Command) != "cmd-past" || g.Key != past.Key {
		t.Fatalf("read back %+v, want %+v", g, past)
	}
	if g.CreatedAt.IsZero() {
		t.Fatal("CreatedAt not set")
	}
	if got := allDue(t, ctx, s, now.Add(2*time.Hour)); !slices.Equal(ids(got), []string{"past", "future"}) {
		t.Fatalf("due in two hours: %v, want [past future]", ids(got))
	}
	// Due exactly at before counts.
	if got := allDue(t, ctx, s, past.Due); len(got) != 1 {
		t.Fatalf("due at its own time: %v, want [past]", ids(got))
	}
}

func testDeadlineReschedule(t *testing.T, ctx context.Context, s DeadlineStore) {
	now := time.Now()
	must(t, s.Schedule(ctx, []eventstore.Deadline{deadline("r", now.Add(-time.Minute))}))
	later := deadline("r", now.Add(time.Hour))
	later.Key, later.Command = "deadline:r:k2", []byte("second")
	must(t, s.Schedule(ctx, []eventstore.Deadline{later}))
	if got := allDue(t, ctx, s, now); len(got) != 0 {
		t.Fatalf("rescheduled to later, still due now: %v", ids(got))
	}
	got := allDue(t, ctx, s, now.Add(2*time.Hour))
	if len(got) != 1 || got[0].Key != "deadline:r:k2" || string(got[0].Command) != "second" {
		t.Fatalf("after reschedule: %+v, want one with key deadline:r:k2", got)
	}
}

func testDeadlineCancel(t *testing.T, ctx context.Context, s DeadlineStore) {
	now := time.Now()
	must(t, s.Schedule(ctx, []eventstore.Deadline{deadline("a", now.Add(-time.Second)), deadline("b", now.Add(-time.Second))}))
	n, err := s.Cancel(ctx, []string{"a", "unknown"})
	must(t, err)
	if n != 1 {
		t.Fatalf("Cancel removed %d, want 1", n)
	}
	if got := allDue(t, ctx, s, now.Add(time.Hour)); !slices.Equal(ids(got), []string{"b"}) {
		t.Fatalf("after cancel: %v, want [b]", ids(got))
	}
	if n, err := s.Cancel(ctx, []string{"a"}); err != nil || n != 0 {
		t.Fatalf("cancel again: %d, %v; want 0, nil", n, err)
	}
	if pending, err := s.PendingDeadlines(ctx, "", 10); err != nil || !slices.Equal(ids(pending), []string{"b"}) {
		t.Fatalf("pending after cancel: %v, %v", ids(pending), err)
	}
}

func testDeadlineFired(t *testing.T, ctx context.Context, s DeadlineStore) {
	now := time.Now()
	must(t, s.Schedule(ctx, []eventstore.Deadline{deadline("f", now.Add(-time.Second)), deadline("g", now.Add(-time.Second))}))
	f := deadline("f", now)
	must(t, s.Fired(ctx, []eventstore.Deadline{f}))
	must(t, s.Fired(ctx, []eventstore.Deadline{f})) // twice: harmless
	// g is rescheduled between its read and its firing: the new one stays.
	g2 := deadline("g", now.Add(time.Hour))
	g2.Key = "deadline:g:k2"
	must(t, s.Schedule(ctx, []eventstore.Deadline{g2}))
	must(t, s.Fired(ctx, []eventstore.Deadline{deadline("g", now)}))
	got := allDue(t, ctx, s, now.Add(2*time.Hour))
	if len(got) != 1 || got[0].ID != "g" || got[0].Key != "deadline:g:k2" {
		t.Fatalf("after firing: %+v, want only the rescheduled g", got)
	}
	must(t, s.Fired(ctx, []eventstore.Deadline{deadline("unknown", now), deadline("other", now)}))
	must(t, s.Fired(ctx, nil))
}

func testDeadlineSegments(t *testing.T, ctx context.Context, s DeadlineStore) {
	now := time.Now()
	var ds []eventstore.Deadline
	for i := range 200 {
		ds = append(ds, deadline(fmt.Sprintf("seg-%d", i), now.Add(-time.Duration(i)*time.Millisecond)))
	}
	must(t, s.Schedule(ctx, ds))
	for _, of := range []int{1, 3, 8, eventstore.DeadlineSlots} {
		seen := map[string]int{}
		for seg := range of {
			got, err := s.DueDeadlines(ctx, seg, of, now, 1000)
			must(t, err)
			for _, d := range got {
				if want := eventstore.DeadlineSlot(d.ID) % of; want != seg {
					t.Fatalf("of %d: %s returned for segment %d, belongs to %d", of, d.ID, seg, want)
				}
				seen[d.ID]++
			}
		}
		if len(seen) != 200 {
			t.Fatalf("of %d: %d distinct deadlines over all segments, want 200", of, len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("of %d: %s in %d segments", of, id, n)
			}
		}
	}
}

func testDeadlineLimit(t *testing.T, ctx context.Context, s DeadlineStore) {
	now := time.Now().Truncate(time.Millisecond)
	var ds []eventstore.Deadline
	for i := range 50 {
		ds = append(ds, deadline(fmt.Sprintf("l-%02d", i), now.Add(-time.Duration(50-i)*time.Second)))
	}
	must(t, s.Schedule(ctx, ds))
	got, err := s.DueDeadlines(ctx, 0, 1, now, 10)
	must(t, err)
	want := []string{"l-00", "l-01", "l-02", "l-03", "l-04", "l-05", "l-06", "l-07", "l-08", "l-09"}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("first 10 due: %v, want the 10 earliest %v", ids(got), want)
	}
}

func testDeadlinePending(t *testing.T, ctx context.Context, s DeadlineStore) {
	now := time.Now()
	other := deadline("order-1", now.Add(time.Minute))
	other.Cover = eventstore.Cover{Domain: "order", Root: uuid.New()}
	must(t, s.Schedule(ctx, []eventstore.Deadline{deadline("cust-2", now.Add(2*time.Minute)), other, deadline("cust-1", now.Add(-time.Minute))}))
	all, err := s.PendingDeadlines(ctx, "", 10)
	must(t, err)
	if !slices.Equal(ids(all), []string{"cust-1", "order-1", "cust-2"}) {
		t.Fatalf("pending: %v, want [cust-1 order-1 cust-2] (earliest first)", ids(all))
	}
	cust, err := s.PendingDeadlines(ctx, "customer", 10)
	must(t, err)
	if !slices.Equal(ids(cust), []string{"cust-1", "cust-2"}) {
		t.Fatalf("pending of customer: %v", ids(cust))
	}
	if one, err := s.PendingDeadlines(ctx, "", 1); err != nil || len(one) != 1 {
		t.Fatalf("limit 1: %v, %v", ids(one), err)
	}
}

func testDeadlineInvalid(t *testing.T, ctx context.Context, s DeadlineStore) {
	bad := []eventstore.Deadline{
		{Due: time.Now(), Cover: deadlineCover, Key: "k"},
		{ID: "x", Cover: deadlineCover, Key: "k"},
		{ID: "x\n", Due: time.Now(), Cover: deadlineCover, Key: "k"},
		{ID: "x", Due: time.Now(), Key: "k"},
	}
	for _, d := range bad {
		err := s.Schedule(ctx, []eventstore.Deadline{deadline("fine", time.Now()), d})
		if !errors.Is(err, eventstore.ErrInvalid) {
			t.Fatalf("Schedule(%+v) = %v, want ErrInvalid", d, err)
		}
	}
	if got := allDue(t, ctx, s, time.Now().Add(time.Hour)); len(got) != 0 {
		t.Fatalf("an invalid batch stored %v: all or nothing", ids(got))
	}
	for _, c := range [][3]int{{0, 0, 1}, {1, 1, 1}, {0, eventstore.DeadlineSlots + 1, 1}, {0, 1, 0}} {
		if _, err := s.DueDeadlines(ctx, c[0], c[1], time.Now(), c[2]); !errors.Is(err, eventstore.ErrInvalid) {
			t.Fatalf("DueDeadlines(segment %d, of %d, limit %d) = %v, want ErrInvalid", c[0], c[1], c[2], err)
		}
	}
}

func testDeadlineConcurrent(t *testing.T, ctx context.Context, s DeadlineStore) {
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				d := deadline(fmt.Sprintf("c-%d-%d", w, i), now.Add(-time.Second))
				if err := s.Schedule(ctx, []eventstore.Deadline{d}); err != nil {
					errs <- err
					return
				}
				if i%5 == 0 {
					if _, err := s.Cancel(ctx, []string{d.ID}); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := allDue(t, ctx, s, now); len(got) != 8*20 {
		t.Fatalf("%d due, want %d", len(got), 8*20)
	}
}

func testDeadlineIdempotent(t *testing.T, ctx context.Context, s DeadlineStore) {
	d := deadline("twice", time.Now().Add(-time.Second))
	must(t, s.Schedule(ctx, []eventstore.Deadline{d}))
	must(t, s.Schedule(ctx, []eventstore.Deadline{d}))
	if got := allDue(t, ctx, s, time.Now()); len(got) != 1 {
		t.Fatalf("scheduled twice: %d due, want 1", len(got))
	}
	if err := s.Schedule(ctx, nil); err != nil {
		t.Fatalf("Schedule(nil) = %v", err)
	}
	if n, err := s.Cancel(ctx, nil); err != nil || n != 0 {
		t.Fatalf("Cancel(nil) = %d, %v", n, err)
	}
}

func pendingIDs(t *testing.T, ctx context.Context, s eventstore.Deadlines) []string {
	t.Helper()
	ds, err := s.PendingDeadlines(ctx, "", 0)
	must(t, err)
	out := ids(ds)
	slices.Sort(out)
	return out
}

func keyOf(id string) *eventstore.Key {
	return &eventstore.Key{ID: id, Fingerprint: [32]byte{1, 2, 3}, TTL: time.Hour}
}

// AppendScheduling stores the events, the key and the plan: cancellations
// first, then schedules (one ID in both stays scheduled).
func testAppendScheduling(t *testing.T, ctx context.Context, s DeadlineStore) {
	must(t, s.Schedule(ctx, []eventstore.Deadline{deadline("old", time.Now()), deadline("again", time.Now())}))
	cover := newCover("customer")
	plan := eventstore.DeadlinePlan{
		Schedule: []eventstore.Deadline{deadline("new", time.Now().Add(time.Hour)), deadline("again", time.Now().Add(time.Hour))},
		Cancel:   []string{"old", "again", "never-scheduled"},
	}
	events, prior, err := s.AppendScheduling(ctx, cover, pages("p", 0, 2), keyOf("k-all"), plan)
	if err != nil || prior != nil || len(events) != 2 {
		t.Fatalf("AppendScheduling = %d events, prior %v, %v; want 2 events", len(events), prior, err)
	}
	if got, want := pendingIDs(t, ctx, s), []string{"again", "new"}; !slices.Equal(got, want) {
		t.Fatalf("pending %v, want %v", got, want)
	}
	if idem, ok := s.(eventstore.Idempotent); ok {
		rec, found, err := idem.Lookup(ctx, "k-all")
		if err != nil || !found || rec.Cover != cover || rec.From != 0 || rec.To != 2 {
			t.Fatalf("Lookup(k-all) = %+v, %v, %v; want the key of the 2 events", rec, found, err)
		}
	}
	// Unkeyed, and with an empty plan: a plain append.
	if events, _, err := s.AppendScheduling(ctx, cover, pages("p", 2, 1), nil, eventstore.DeadlinePlan{Cancel: []string{"new"}}); err != nil || len(events) != 1 || events[0].Sequence != 2 {
		t.Fatalf("unkeyed AppendScheduling = %+v, %v", events, err)
	}
	if events, _, err := s.AppendScheduling(ctx, cover, pages("p", 3, 1), nil, eventstore.DeadlinePlan{}); err != nil || len(events) != 1 {
		t.Fatalf("AppendScheduling with an empty plan = %+v, %v", events, err)
	}
	if got, want := pendingIDs(t, ctx, s), []string{"again"}; !slices.Equal(got, want) {
		t.Fatalf("pending %v, want %v", got, want)
	}
	// Empty pages store nothing, the plan included.
	if events, _, err := s.AppendScheduling(ctx, cover, nil, nil, eventstore.DeadlinePlan{Cancel: []string{"again"}}); err != nil || len(events) != 0 {
		t.Fatalf("AppendScheduling without pages = %+v, %v", events, err)
	}
	if got, want := pendingIDs(t, ctx, s), []string{"again"}; !slices.Equal(got, want) {
		t.Fatalf("without pages: pending %v, want %v", got, want)
	}
}

// An append that conflicts applies none of its plan.
func testAppendSchedulingConflict(t *testing.T, ctx context.Context, s DeadlineStore) {
	must(t, s.Schedule(ctx, []eventstore.Deadline{deadline("kept", time.Now())}))
	cover := newCover("customer")
	mustAppend(t, ctx, s, cover, pages("p", 0, 1))
	plan := eventstore.DeadlinePlan{Schedule: []eventstore.Deadline{deadline("lost", time.Now())}, Cancel: []string{"kept"}}
	for _, key := range []*eventstore.Key{nil, keyOf("k-conflict")} {
		_, _, err := s.AppendScheduling(ctx, cover, numbered(pages("q", 0, 1), 0), key, plan)
		if !errors.Is(err, eventstore.ErrConflict) {
			t.Fatalf("AppendScheduling at a taken sequence (key %v) = %v, want ErrConflict", key != nil, err)
		}
		if got, want := pendingIDs(t, ctx, s), []string{"kept"}; !slices.Equal(got, want) {
			t.Fatalf("after a conflict (key %v): pending %v, want %v", key != nil, got, want)
		}
	}
}

// An append that finds its key stored applies none of its plan.
func testAppendSchedulingLiveKey(t *testing.T, ctx context.Context, s DeadlineStore) {
	if _, ok := s.(eventstore.Idempotent); !ok {
		t.Skip("the store keeps no idempotency keys")
	}
	cover := newCover("customer")
	first := eventstore.DeadlinePlan{Schedule: []eventstore.Deadline{deadline("first", time.Now())}}
	if _, prior, err := s.AppendScheduling(ctx, cover, pages("p", 0, 1), keyOf("k-live"), first); err != nil || prior != nil {
		t.Fatalf("first AppendScheduling: prior %v, %v", prior, err)
	}
	must(t, s.Schedule(ctx, []eventstore.Deadline{deadline("kept", time.Now())}))
	again := eventstore.DeadlinePlan{Schedule: []eventstore.Deadline{deadline("second", time.Now())}, Cancel: []string{"kept"}}
	events, prior, err := s.AppendScheduling(ctx, cover, pages("p", 0, 1), keyOf("k-live"), again)
	if err != nil || prior == nil || len(events) != 0 {
		t.Fatalf("repeated key: %d events, prior %v, %v; want the prior key and nothing stored", len(events), prior, err)
	}
	if got, want := pendingIDs(t, ctx, s), []string{"first", "kept"}; !slices.Equal(got, want) {
		t.Fatalf("after a repeated key: pending %v, want %v", got, want)
	}
	if evs, err := s.Read(ctx, cover, 0, 0); err != nil || len(evs) != 1 {
		t.Fatalf("after a repeated key: %d events, %v; want 1", len(evs), err)
	}
}

// A plan with an invalid deadline stores no events.
func testAppendSchedulingInvalid(t *testing.T, ctx context.Context, s DeadlineStore) {
	cover := newCover("customer")
	bad := eventstore.DeadlinePlan{Schedule: []eventstore.Deadline{deadline("fine", time.Now()), {ID: "no-due", Cover: deadlineCover, Key: "k"}}}
	if _, _, err := s.AppendScheduling(ctx, cover, pages("p", 0, 1), nil, bad); !errors.Is(err, eventstore.ErrInvalid) {
		t.Fatalf("AppendScheduling with an invalid deadline = %v, want ErrInvalid", err)
	}
	if evs, err := s.Read(ctx, cover, 0, 0); err != nil || len(evs) != 0 {
		t.Fatalf("an invalid plan stored %d events (%v): all or nothing", len(evs), err)
	}
	if got := pendingIDs(t, ctx, s); len(got) != 0 {
		t.Fatalf("an invalid plan scheduled %v", got)
	}
}

// The events and the deadlines of one AppendScheduling become visible
// together: a reader that sees event i must find deadline i pending. A
// store that wrote them one after the other would show the events alone
// in between (and lose the deadlines in a crash there).
func testAppendSchedulingTogether(t *testing.T, ctx context.Context, s DeadlineStore) {
	cover := newCover("customer")
	const rounds = 300
	done, started := make(chan struct{}), make(chan struct{})
	failed := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		close(started)
		for reads := 0; reads < 100000; reads++ {
			select {
			case <-done:
				return
			default:
			}
			evs, err := s.Read(ctx, cover, 0, 0)
			if err != nil {
				failed <- err.Error()
				return
			}
			pending, err := s.PendingDeadlines(ctx, "", 0)
			if err != nil {
				failed <- err.Error()
				return
			}
			have := map[string]bool{}
			for _, d := range pending {
				have[d.ID] = true
			}
			for _, e := range evs {
				if id := fmt.Sprintf("together-%d", e.Sequence); !have[id] {
					failed <- fmt.Sprintf("event %d was visible before its deadline %s (read %d)", e.Sequence, id, reads)
					return
				}
			}
		}
	})
	<-started
	for i := range rounds {
		plan := eventstore.DeadlinePlan{Schedule: []eventstore.Deadline{deadline(fmt.Sprintf("together-%d", i), time.Now().Add(time.Hour))}}
		var key *eventstore.Key
		if i%2 == 1 {
			if _, ok := s.(eventstore.Idempotent); ok {
				key = keyOf(fmt.Sprintf("k-together-%d", i))
			}
		}
		if _, _, err := s.AppendScheduling(ctx, cover, pages("p", i, 1), key, plan); err != nil {
			close(done)
			wg.Wait()
			t.Fatalf("AppendScheduling %d: %v", i, err)
		}
	}
	close(done)
	wg.Wait()
	select {
	case msg := <-failed:
		t.Fatal(msg)
	default:
	}
	if got := pendingIDs(t, ctx, s); len(got) != rounds {
		t.Fatalf("%d deadlines pending, want %d", len(got), rounds)
	}
}

func testDeadlineCount(t *testing.T, ctx context.Context, s DeadlineStore) {
	c, ok := s.(eventstore.DeadlineCounter)
	if !ok {
		t.Fatalf("%T does not implement eventstore.DeadlineCounter: every backend counts its deadlines", s)
	}
	now := time.Now()
	must(t, s.Schedule(ctx, []eventstore.Deadline{deadline("past", now.Add(-time.Minute)), deadline("now", now), deadline("later", now.Add(time.Hour))}))
	pending, due, err := c.CountDeadlines(ctx, now)
	if err != nil || pending != 3 || due != 2 {
		t.Fatalf("CountDeadlines = %d pending, %d due, %v; want 3 and 2", pending, due, err)
	}
	if _, err := s.Cancel(ctx, []string{"past"}); err != nil {
		t.Fatal(err)
	}
	if pending, due, err = c.CountDeadlines(ctx, now); err != nil || pending != 2 || due != 1 {
		t.Fatalf("after a cancel: %d pending, %d due, %v; want 2 and 1", pending, due, err)
	}
}

// EarliestDue follows what is pending: none, the earliest of several,
// the next once it is cancelled or fired.
func testEarliestDue(t *testing.T, ctx context.Context, s DeadlineStore) {
	h, ok := s.(eventstore.DeadlineHorizon)
	if !ok {
		t.Skipf("%T reads every held segment at every poll", s)
	}
	earliest := func() (time.Time, bool) {
		t.Helper()
		first, ok, err := h.EarliestDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return first, ok
	}
	if first, ok := earliest(); ok {
		t.Fatalf("EarliestDue of no deadline = %v, true", first)
	}
	now := time.Now().Truncate(time.Microsecond)
	must(t, s.Schedule(ctx, []eventstore.Deadline{deadline("later", now.Add(time.Hour)), deadline("first", now.Add(-time.Minute)), deadline("soon", now.Add(time.Second))}))
	if first, ok := earliest(); !ok || !first.Equal(now.Add(-time.Minute)) {
		t.Fatalf("EarliestDue = %v, %v; want %v", first, ok, now.Add(-time.Minute))
	}
	if _, err := s.Cancel(ctx, []string{"first"}); err != nil {
		t.Fatal(err)
	}
	if first, ok := earliest(); !ok || !first.Equal(now.Add(time.Second)) {
		t.Fatalf("after a cancel: EarliestDue = %v, %v; want %v", first, ok, now.Add(time.Second))
	}
	due, err := s.DueDeadlines(ctx, 0, 1, now.Add(time.Minute), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("DueDeadlines = %v, %v; want soon", due, err)
	}
	must(t, s.Fired(ctx, due))
	if first, ok := earliest(); !ok || !first.Equal(now.Add(time.Hour)) {
		t.Fatalf("after a firing: EarliestDue = %v, %v; want %v", first, ok, now.Add(time.Hour))
	}
	if _, err := s.Cancel(ctx, []string{"later"}); err != nil {
		t.Fatal(err)
	}
	if first, ok := earliest(); ok {
		t.Fatalf("EarliestDue of none left = %v, true", first)
	}
}

// appendGroup is the store's AppendGroup, or eventstore.AppendEach when it
// has none.
func appendGroup(ctx context.Context, s DeadlineStore, as []eventstore.GroupAppend) []eventstore.GroupResult {
	if g, ok := s.(eventstore.GroupAppender); ok {
		return g.AppendGroup(ctx, as)
	}
	return eventstore.AppendEach(ctx, s, as)
}

func fired(d eventstore.Deadline) *eventstore.Deadline { return &d }

// A group of appends, each with its key, its plan and the deadline it
// fires, stores them all: events numbered per cover, keys found, plans
// applied, the fired deadlines removed.
func testAppendGroup(t *testing.T, ctx context.Context, s DeadlineStore) {
	if _, ok := s.(eventstore.Idempotent); !ok {
		t.Skip("the store keeps no idempotency keys")
	}
	now := time.Now()
	var as []eventstore.GroupAppend
	var due []eventstore.Deadline
	for i := range 20 {
		d := deadline(fmt.Sprintf("g%02d", i), now.Add(-time.Second))
		due = append(due, d)
		a := eventstore.GroupAppend{Cover: newCover("customer"), Pages: numbered(pages("g", 0, 1+i%3), 0),
			Key: keyOf(fmt.Sprintf("k-group-%d", i)), Fired: fired(d)}
		if i == 7 {
			a.Plan = eventstore.DeadlinePlan{Schedule: []eventstore.Deadline{deadline("next", now.Add(time.Hour))}}
		}
		as = append(as, a)
	}
	must(t, s.Schedule(ctx, append(due, deadline("other", now.Add(-time.Second)))))
	res := appendGroup(ctx, s, as)
	if len(res) != len(as) {
		t.Fatalf("%d results for %d appends", len(res), len(as))
	}
	for i, r := range res {
		if r.Err != nil || r.Prior != nil || len(r.Events) != len(as[i].Pages) || !r.Removed {
			t.Fatalf("append %d: %d events, prior %v, removed %v, %v; want %d events stored and the deadline removed",
				i, len(r.Events), r.Prior, r.Removed, r.Err, len(as[i].Pages))
		}
		evs, err := s.Read(ctx, as[i].Cover, 0, 0)
		must(t, err)
		if len(evs) != len(as[i].Pages) || evs[0].Sequence != 0 || evs[len(evs)-1].Sequence != uint32(len(evs)-1) {
			t.Fatalf("append %d: read %d events, want %d from sequence 0", i, len(evs), len(as[i].Pages))
		}
		rec, ok, err := s.(eventstore.Idempotent).Lookup(ctx, as[i].Key.ID)
		if err != nil || !ok || rec.Cover != as[i].Cover || rec.From != 0 || rec.To != uint32(len(as[i].Pages)) {
			t.Fatalf("append %d: key %+v found %v, %v; want [0, %d) of its cover", i, rec, ok, err, len(as[i].Pages))
		}
	}
	if got, want := pendingIDs(t, ctx, s), []string{"next", "other"}; !slices.Equal(got, want) {
		t.Fatalf("after the group: pending %v, want %v (the fired ones removed, the plan's scheduled)", got, want)
	}
}

// In a group, an append that conflicts, one whose key is stored, and an
// invalid one each get their own answer; the others are stored.
func testAppendGroupAlone(t *testing.T, ctx context.Context, s DeadlineStore) {
	if _, ok := s.(eventstore.Idempotent); !ok {
		t.Skip("the store keeps no idempotency keys")
	}
	now := time.Now()
	ok1, conflict, repeat, bad, ok2 := deadline("ok1", now), deadline("conflict", now), deadline("repeat", now), deadline("bad", now), deadline("ok2", now)
	must(t, s.Schedule(ctx, []eventstore.Deadline{ok1, conflict, repeat, bad, ok2}))
	taken := newCover("customer")
	if _, _, err := s.AppendScheduling(ctx, taken, pages("r", 0, 1), keyOf("k-repeat"), eventstore.DeadlinePlan{}); err != nil {
		t.Fatal(err)
	}
	busy := newCover("customer")
	_, err := s.Append(ctx, busy, pages("b", 0, 2))
	must(t, err)
	as := []eventstore.GroupAppend{
		{Cover: newCover("customer"), Pages: numbered(pages("a", 0, 1), 0), Key: keyOf("k-ok1"), Fired: fired(ok1)},
		{Cover: busy, Pages: numbered(pages("c", 0, 1), 0), Key: keyOf("k-conflict"), Fired: fired(conflict),
			Plan: eventstore.DeadlinePlan{Schedule: []eventstore.Deadline{deadline("from-conflict", now)}}},
		{Cover: taken, Pages: pages("r", 1, 1), Key: keyOf("k-repeat"), Fired: fired(repeat)},
		{Cover: newCover("customer"), Pages: pages("x", 0, 1), Fired: fired(bad),
			Plan: eventstore.DeadlinePlan{Schedule: []eventstore.Deadline{{ID: "no-due", Cover: deadlineCover, Key: "k"}}}},
		{Cover: newCover("customer"), Pages: numbered(pages("a", 0, 2), 0), Key: keyOf("k-ok2"), Fired: fired(ok2)},
	}
	res := appendGroup(ctx, s, as)
	for _, i := range []int{0, 4} {
		if r := res[i]; r.Err != nil || len(r.Events) != len(as[i].Pages) || !r.Removed {
			t.Fatalf("append %d: %d events, removed %v, %v; want it stored beside the others' failures", i, len(r.Events), r.Removed, r.Err)
		}
	}
	if r := res[1]; !errors.Is(r.Err, eventstore.ErrConflict) || len(r.Events) != 0 || r.Removed {
		t.Fatalf("conflicting append: %d events, removed %v, %v; want ErrConflict", len(r.Events), r.Removed, r.Err)
	}
	if _, ok, err := s.(eventstore.Idempotent).Lookup(ctx, "k-conflict"); err != nil || ok {
		t.Fatalf("the conflicting append's key: found %v, %v; want none", ok, err)
	}
	if r := res[2]; r.Err != nil || r.Prior == nil || len(r.Events) != 0 || !r.Removed {
		t.Fatalf("repeated key: %d events, prior %v, removed %v, %v; want the prior key, nothing stored, the deadline removed",
			len(r.Events), r.Prior, r.Removed, r.Err)
	}
	if r := res[3]; !errors.Is(r.Err, eventstore.ErrInvalid) || r.Removed {
		t.Fatalf("invalid plan: removed %v, %v; want ErrInvalid", r.Removed, r.Err)
	}
	if got, want := pendingIDs(t, ctx, s), []string{"bad", "conflict"}; !slices.Equal(got, want) {
		t.Fatalf("after the group: pending %v, want %v", got, want)
	}
	for cover, n := range map[eventstore.Cover]int{busy: 2, taken: 1, as[0].Cover: 1, as[3].Cover: 0, as[4].Cover: 2} {
		if evs, err := s.Read(ctx, cover, 0, 0); err != nil || len(evs) != n {
			t.Fatalf("%s: %d events, %v; want %d", cover, len(evs), err, n)
		}
	}
}

// Two appends to one cover in a group are applied in their order, the
// second after the first.
func testAppendGroupOneCover(t *testing.T, ctx context.Context, s DeadlineStore) {
	cover := newCover("customer")
	as := []eventstore.GroupAppend{
		{Cover: cover, Pages: numbered(pages("first", 0, 2), 0)},
		{Cover: newCover("customer"), Pages: pages("other", 0, 1)},
		{Cover: cover, Pages: numbered(pages("second", 2, 1), 2)},
	}
	res := appendGroup(ctx, s, as)
	for i, r := range res {
		if r.Err != nil || len(r.Events) != len(as[i].Pages) {
			t.Fatalf("append %d: %d events, %v", i, len(r.Events), r.Err)
		}
	}
	evs, err := s.Read(ctx, cover, 0, 0)
	must(t, err)
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%d:%s", e.Sequence, e.Payload))
	}
	if want := []string{"0:first0", "1:first1", "2:second2"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// An append whose plan schedules again the deadline it fires (a
// recurring deadline: same ID, a new key) keeps the new one pending; so
// does a later append of the group that reschedules an earlier one's
// deadline. Each fired deadline counts as removed, as Fired would.
func testAppendGroupRescheduled(t *testing.T, ctx context.Context, s DeadlineStore) {
	now := time.Now()
	self, other := deadline("self", now), deadline("other", now)
	must(t, s.Schedule(ctx, []eventstore.Deadline{self, other}))
	again := func(d eventstore.Deadline) eventstore.Deadline {
		d.Due, d.Key = now.Add(time.Hour), d.Key+":again"
		return d
	}
	as := []eventstore.GroupAppend{
		{Cover: newCover("customer"), Pages: numbered(pages("s", 0, 1), 0), Fired: fired(self),
			Plan: eventstore.DeadlinePlan{Schedule: []eventstore.Deadline{again(self)}}},
		{Cover: newCover("customer"), Pages: numbered(pages("o", 0, 1), 0), Fired: fired(other)},
		{Cover: newCover("customer"), Pages: numbered(pages("l", 0, 1), 0),
			Plan: eventstore.DeadlinePlan{Schedule: []eventstore.Deadline{again(other)}}},
	}
	for i, r := range appendGroup(ctx, s, as) {
		if r.Err != nil || len(r.Events) != 1 || (as[i].Fired != nil && !r.Removed) {
			t.Fatalf("append %d: %d events, removed %v, %v", i, len(r.Events), r.Removed, r.Err)
		}
	}
	ds, err := s.PendingDeadlines(ctx, "", 0)
	must(t, err)
	if len(ds) != 2 {
		t.Fatalf("pending %v, want self and other rescheduled", ids(ds))
	}
	for _, d := range ds {
		if !strings.HasSuffix(d.Key, ":again") || !d.Due.After(now) {
			t.Fatalf("pending %s with key %q due %v; want the rescheduled one", d.ID, d.Key, d.Due)
		}
	}
}

// LoadBooks returns what Load does for each cover: the latest snapshot and
// the events after it, a cover named twice twice, an unknown one empty.
func testLoadBooks(t *testing.T, ctx context.Context, s DeadlineStore) {
	snaps, ok := s.(eventstore.Snapshots)
	if !ok {
		t.Skip("the store keeps no snapshots")
	}
	plain, snapped, unknown := newCover("customer"), newCover("customer"), newCover("customer")
	_, err := s.Append(ctx, plain, pages("p", 0, 3))
	must(t, err)
	_, err = s.Append(ctx, snapped, pages("s", 0, 5))
	must(t, err)
	must(t, snaps.PutSnapshot(ctx, snapped, eventstore.Snapshot{Sequence: 2, TypeURL: "state", State: []byte("old")}))
	must(t, snaps.PutSnapshot(ctx, snapped, eventstore.Snapshot{Sequence: 3, TypeURL: "state", State: []byte("s3")}))
	covers := []eventstore.Cover{snapped, unknown, plain, snapped}
	books, err := eventstore.LoadBooks(ctx, s, snaps, covers)
	must(t, err)
	if len(books) != len(covers) {
		t.Fatalf("%d books for %d covers", len(books), len(covers))
	}
	for i, c := range covers {
		want, err := eventstore.Load(ctx, s, snaps, c)
		must(t, err)
		got := books[i]
		if got.Cover != c || (got.Snapshot == nil) != (want.Snapshot == nil) || len(got.Events) != len(want.Events) {
			t.Fatalf("book %d of %s: snapshot %v, %d events; Load gives snapshot %v, %d events", i, c, got.Snapshot, len(got.Events), want.Snapshot, len(want.Events))
		}
		if got.Snapshot != nil && (got.Snapshot.Sequence != want.Snapshot.Sequence || string(got.Snapshot.State) != string(want.Snapshot.State)) {
			t.Fatalf("book %d: snapshot at %d %q, want at %d %q", i, got.Snapshot.Sequence, got.Snapshot.State, want.Snapshot.Sequence, want.Snapshot.State)
		}
		for j := range got.Events {
			g, w := got.Events[j], want.Events[j]
			if g.Sequence != w.Sequence || string(g.Payload) != string(w.Payload) || g.TypeURL != w.TypeURL || !g.CreatedAt.Equal(w.CreatedAt) {
				t.Fatalf("book %d event %d: %d %q, want %d %q", i, j, g.Sequence, g.Payload, w.Sequence, w.Payload)
			}
		}
	}
}
