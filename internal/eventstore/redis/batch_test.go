package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/redis"
	"github.com/evented/evented/internal/testenv"
)

// waitQueued waits until n appends are queued for s's writer (besides the
// one it may hold while it waits to write).
func waitQueued(t *testing.T, s *redis.Store, n int) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%d appends queued", n), func() bool { return redis.Queued(s) >= n })
}

func page(num uint32) []eventstore.Page {
	return []eventstore.Page{{HasNum: true, Num: num, TypeURL: "type.googleapis.com/test.Event", Payload: []byte{byte(num)}}}
}

// Appends queued while another is written go as one group, each checked
// on its own: the one that conflicts fails alone, the others are stored.
func TestQueuedAppendsGoAsOneGroup(t *testing.T) {
	s := open(t, freshPrefix(t))
	ctx := context.Background()
	ok1 := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	bad := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	ok2 := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	release := redis.HoldWriter(s)
	t.Cleanup(release) // before the store closes, should the test stop early
	type res struct {
		events []eventstore.Event
		err    error
	}
	results := make([]res, 3)
	var wg sync.WaitGroup
	for i, a := range []struct {
		cover eventstore.Cover
		num   uint32
	}{{ok1, 0}, {bad, 5}, {ok2, 0}} { // bad: sequence 5 of an empty cover
		wg.Go(func() {
			events, err := s.Append(ctx, a.cover, page(a.num))
			results[i] = res{events, err}
		})
	}
	// The writer holds one while it waits to write; the other two queue.
	waitQueued(t, s, 2)
	release()
	wg.Wait()
	if n := redis.Groups(s); n != 1 {
		t.Errorf("%d groups, want the three appends in one", n)
	}
	var conflict *eventstore.ConflictError
	if !errors.As(results[1].err, &conflict) {
		t.Errorf("the append at sequence 5 of an empty aggregate: %v, want a conflict", results[1].err)
	}
	for _, i := range []int{0, 2} {
		if results[i].err != nil || len(results[i].events) != 1 {
			t.Fatalf("append %d: %d events, %v; want it stored beside the conflict", i, len(results[i].events), results[i].err)
		}
	}
	for _, c := range []eventstore.Cover{ok1, ok2} {
		got, err := s.Read(ctx, c, 0, 0)
		if err != nil || len(got) != 1 {
			t.Errorf("%s: %d events stored (%v), want 1", c, len(got), err)
		}
	}
	if got, err := s.Read(ctx, bad, 0, 0); err != nil || len(got) != 0 {
		t.Errorf("%s: %d events stored (%v), want none", bad, len(got), err)
	}
	logged, err := s.ReadLog(ctx, 0, 10)
	if err != nil || len(logged) != 2 || logged[0].Position != 1 || logged[1].Position != 2 {
		t.Errorf("the log: %v (%v), want the two stored events at positions 1 and 2", logged, err)
	}
}

// A caller that gives up while its append is queued gets its ctx's error,
// and the append is never written.
func TestAbandonedQueuedAppendIsNotWritten(t *testing.T) {
	s := open(t, freshPrefix(t))
	cover := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	release := redis.HoldWriter(s)
	t.Cleanup(release) // before the store closes, should the test stop early
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, cover, page(0))
		done <- err
	}()
	// Received by the writer, which waits to write it.
	testenv.Eventually(t, "the writer received the append", func() bool { return redis.Begun(s) > 0 })
	cancel()
	var inDoubt *eventstore.InDoubtError
	if err := <-done; !errors.Is(err, context.Canceled) || errors.As(err, &inDoubt) {
		t.Fatalf("Append: %v, want context.Canceled, not in doubt", err)
	}
	release()
	// Another append after it is written by then: the one given up was not.
	if _, err := s.Append(context.Background(), eventstore.Cover{Domain: "orders", Root: uuid.New()}, page(0)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(context.Background(), cover, 0, 0); err != nil || len(got) != 0 {
		t.Errorf("%d events stored (%v) for the append given up, want none", len(got), err)
	}
}

// Many writers at once: every append stored once, in order per aggregate,
// with gap-free positions, and in fewer groups than appends.
func TestConcurrentAppendsAreGrouped(t *testing.T) {
	s := open(t, freshPrefix(t))
	ctx := context.Background()
	const writers, each = 16, 50
	covers := make([]eventstore.Cover, writers)
	for w := range covers {
		covers[w] = eventstore.Cover{Domain: "orders", Root: uuid.New()}
	}
	var (
		wg        sync.WaitGroup
		firstDone sync.Once
		alone     int64 // appends written alone while every writer was at it
	)
	for w := range writers {
		wg.Go(func() {
			for i := range uint32(each) {
				if _, err := s.Append(ctx, covers[w], page(i)); err != nil {
					t.Errorf("writer %d, append %d: %v", w, i, err)
					return
				}
			}
			firstDone.Do(func() { alone = redis.Alone(s) })
		})
	}
	wg.Wait()
	if g := redis.Groups(s); g == 0 || g >= writers*each {
		t.Errorf("%d groups for %d appends from %d writers: want them grouped", g, writers*each, writers)
	}
	// Once appends come at once, hardly any is written alone while they
	// do (each one that is keeps the next group waiting a round trip): the
	// first, and one after a group that happened to hold one append.
	t.Logf("%d appends in %d groups; %d written alone before the first writer was done", writers*each, redis.Groups(s), alone)
	if alone > writers*each/50 {
		t.Errorf("%d of the appends were written alone before the first writer was done, want at most %d", alone, writers*each/50)
	}
	for _, c := range covers {
		got, err := s.Read(ctx, c, 0, 0)
		if err != nil || len(got) != each {
			t.Fatalf("%s: %d events (%v), want %d", c, len(got), err, each)
		}
		for i, e := range got {
			if e.Sequence != uint32(i) || e.Payload[0] != byte(i) {
				t.Fatalf("%s: event %d has sequence %d, payload %v", c, i, e.Sequence, e.Payload)
			}
		}
	}
	logged, err := s.ReadLog(ctx, 0, 2*writers*each)
	if err != nil || len(logged) != writers*each {
		t.Fatalf("the log: %d events (%v), want %d", len(logged), err, writers*each)
	}
	next := map[eventstore.Cover]uint32{}
	for i, l := range logged {
		if l.Position != uint64(i+1) || l.Sequence != next[l.Cover] {
			t.Fatalf("log entry %d: position %d, %s sequence %d; want position %d, sequence %d", i, l.Position, l.Cover, l.Sequence, i+1, next[l.Cover])
		}
		next[l.Cover]++
	}
}

// Keyed and scheduling appends queued together go as one group too, each
// as its own script would make it: a key stored by an earlier append of
// the group is found by a later one (no events, the prior record), a
// deadline planned with an append is scheduled with it.
func TestQueuedKeyedAndSchedulingAppendsGoAsOneGroup(t *testing.T) {
	s := open(t, freshPrefix(t))
	ctx := context.Background()
	first := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	other := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	key := eventstore.Key{ID: "order-42", Fingerprint: [32]byte{1}, TTL: time.Hour}
	due := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	plan := eventstore.DeadlinePlan{Schedule: []eventstore.Deadline{{ID: "remind-" + other.Root.String(), Due: due, Cover: other, Command: []byte("remind"), Key: "remind-key"}}}
	release := redis.HoldWriter(s)
	t.Cleanup(release) // before the store closes, should the test stop early
	type res struct {
		events []eventstore.Event
		prior  *eventstore.KeyRecord
		err    error
	}
	results := make([]res, 3)
	var wg sync.WaitGroup
	run := func(i int, fn func() ([]eventstore.Event, *eventstore.KeyRecord, error)) {
		wg.Go(func() {
			events, prior, err := fn()
			results[i] = res{events, prior, err}
		})
	}
	// The first is held by the writer; the others queue after it, in order.
	run(0, func() ([]eventstore.Event, *eventstore.KeyRecord, error) {
		return s.AppendKeyed(ctx, first, page(0), key)
	})
	testenv.Eventually(t, "the writer received the first append", func() bool { return redis.Begun(s) > 0 })
	run(1, func() ([]eventstore.Event, *eventstore.KeyRecord, error) {
		return s.AppendKeyed(ctx, first, page(1), key)
	})
	waitQueued(t, s, 1)
	run(2, func() ([]eventstore.Event, *eventstore.KeyRecord, error) {
		return s.AppendScheduling(ctx, other, page(0), nil, plan)
	})
	waitQueued(t, s, 2)
	release()
	wg.Wait()
	if n := redis.Groups(s); n != 1 {
		t.Errorf("%d groups, want the three appends in one", n)
	}
	if r := results[0]; r.err != nil || len(r.events) != 1 || r.prior != nil {
		t.Errorf("first keyed append: %d events, prior %v, %v; want its event stored", len(r.events), r.prior, r.err)
	}
	if r := results[1]; r.err != nil || len(r.events) != 0 || r.prior == nil || r.prior.From != 0 || r.prior.To != 1 {
		t.Errorf("the same key again: %d events, prior %+v, %v; want no events and the first append's record [0, 1)", len(r.events), r.prior, r.err)
	}
	if r := results[2]; r.err != nil || len(r.events) != 1 {
		t.Errorf("append with a plan: %d events, %v; want its event stored", len(r.events), r.err)
	}
	if got, err := s.Read(ctx, first, 0, 0); err != nil || len(got) != 1 {
		t.Errorf("%s: %d events (%v), want the first append's only", first, len(got), err)
	}
	pending, err := s.PendingDeadlines(ctx, "orders", 10)
	if err != nil || len(pending) != 1 || pending[0].ID != plan.Schedule[0].ID || !pending[0].Due.Equal(due) {
		t.Errorf("pending deadlines: %+v (%v), want the one planned", pending, err)
	}
}
