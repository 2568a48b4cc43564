package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

// leaseWatch polls the subscriber's leases and fails the test when a
// segment's checkpoint moves backwards or its token shrinks.
func leaseWatch(t *testing.T, store *memory.Store, subscriber string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := map[int]eventstore.Lease{}
		for ctx.Err() == nil {
			leases, err := store.Leases(ctx, subscriber)
			if err != nil {
				return
			}
			for _, l := range leases {
				if p, ok := last[l.Segment]; ok {
					if l.Position < p.Position {
						t.Errorf("segment %d: checkpoint moved back from %d to %d", l.Segment, p.Position, l.Position)
					}
					if l.Token < p.Token || (l.Owner != p.Owner && l.Token == p.Token) {
						t.Errorf("segment %d: owner %s token %d after owner %s token %d", l.Segment, l.Owner, l.Token, p.Owner, p.Token)
					}
				}
				last[l.Segment] = l
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return func() { cancel(); <-done }
}

// Two replicas of one subscription on one store share its segments and
// deliver every event exactly once; when one stops, the other takes its
// segments over and nothing is lost or repeated.
func TestTwoReplicasShareSegmentsExactlyOnce(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	watch := leaseWatch(t, store, "p")
	defer watch()
	a := delivery.New(r, store, nil, fast(delivery.Options{Owner: "a"}), quiet)
	b := delivery.New(r, store, nil, fast(delivery.Options{Owner: "b"}), quiet)
	stopA := runAsync(t, a)
	stopB := runAsync(t, b)
	eventually(t, "two segments each", func() bool { return locals(a) == 2 && locals(b) == 2 })
	covers := make([]eventstore.Cover, 12)
	for i := range covers {
		covers[i] = cover("a")
	}
	for i := range 120 {
		appendN(t, store, covers[i%len(covers)], 1)
	}
	eventually(t, "every event", func() bool { return r.total() == 120 })
	for _, c := range covers {
		wantSeqs(t, r, c, 10)
	}
	if da, db := a.Status().Delivered, b.Status().Delivered; da == 0 || db == 0 || da+db != 120 {
		t.Fatalf("delivered %d by a and %d by b; want both > 0, 120 in all", da, db)
	}
	stopA() // graceful: a's segments are released and b takes them
	eventually(t, "b owning every segment", func() bool { return locals(b) == 4 })
	for i := range 120 {
		appendN(t, store, covers[i%len(covers)], 1)
	}
	eventually(t, "every event", func() bool { return r.total() == 240 })
	for _, c := range covers {
		wantSeqs(t, r, c, 20)
	}
	stopB()
}

func locals(s *delivery.Subscription) int {
	n := 0
	for _, seg := range s.Status().Segments {
		if seg.Local {
			n++
		}
	}
	return n
}

// runAsync starts sub without waiting for it to own segments, and
// returns a stop function that waits for it.
func runAsync(t *testing.T, sub *delivery.Subscription) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("subscription did not stop within 10s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// A replica that dies (its leases are not released) has its segments
// taken over once the leases expire; every event still arrives, in order.
func TestDeadReplicasSegmentsAreTakenOver(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	watch := leaseWatch(t, store, "p")
	defer watch()
	// Replica "dead" took every segment, then its process stopped
	// renewing: its leases are taken here and never renewed.
	for i := range 4 {
		if _, ok, err := store.Acquire(t.Context(), "p", i, 4, "dead", 300*time.Millisecond, 0); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	c := cover("a")
	appendN(t, store, c, 5)
	alive := delivery.New(r, store, nil, fast(delivery.Options{Owner: "alive"}), quiet)
	runAsync(t, alive)
	eventually(t, "the dead replica's segments taken over", func() bool { return locals(alive) == 4 })
	eventually(t, "every event", func() bool { return r.total() == 5 })
	wantSeqs(t, r, c, 5)
	for _, seg := range alive.Status().Segments {
		if seg.Token < 2 {
			t.Errorf("segment %d taken over with token %d; want a new token", seg.Index, seg.Token)
		}
	}
}

// The checkpoint is the low watermark: while one aggregate's event is
// being delivered, the checkpoint stays below it however far the others
// get.
func TestCheckpointNeverPassesTheLowWatermark(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	slow := cover("a")
	release := make(chan struct{})
	var slowPos atomic.Uint64
	r.fail = func(b eventstore.Book) error {
		if b.Cover == slow {
			r.mu.Unlock()
			<-release
			r.mu.Lock()
		}
		return nil
	}
	// One segment, so that every aggregate shares one checkpoint.
	sub := delivery.New(r, store, nil, fast(delivery.Options{Segments: 1, Workers: 4}), quiet)
	run(t, sub)
	appendN(t, store, slow, 1)
	slowPos.Store(1)
	others := []eventstore.Cover{cover("a"), cover("a"), cover("a")}
	for i := range 30 {
		appendN(t, store, others[i%3], 1)
	}
	eventually(t, "the other aggregates delivered", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.got[others[0]])+len(r.got[others[1]])+len(r.got[others[2]]) == 30
	})
	time.Sleep(250 * time.Millisecond) // a few checkpoint saves
	if cp := sub.Status().Checkpoint; cp >= slowPos.Load() {
		t.Fatalf("checkpoint %d passed the event still being delivered at %d", cp, slowPos.Load())
	}
	if cp := savedCheckpoint(t, store, "p", 1); cp >= slowPos.Load() {
		t.Fatalf("saved checkpoint %d passed the event still being delivered at %d", cp, slowPos.Load())
	}
	close(release)
	eventually(t, "the checkpoint at the head", func() bool { return sub.Status().Checkpoint == 31 })
}

// One aggregate's events are never delivered by two workers at once.
func TestOneAggregateIsNeverDeliveredTwiceAtOnce(t *testing.T) {
	store := memory.New()
	var inFlight sync.Map // cover → *atomic.Int32
	var overlap atomic.Int32
	var total atomic.Int32
	c := consumerFunc(func(_ context.Context, b eventstore.Book, _ bool) (delivery.Outcome, error) {
		v, _ := inFlight.LoadOrStore(b.Cover, new(atomic.Int32))
		n := v.(*atomic.Int32)
		if n.Add(1) > 1 {
			overlap.Add(1)
		}
		time.Sleep(200 * time.Microsecond)
		n.Add(-1)
		total.Add(int32(len(b.Events)))
		return delivery.Outcome{}, nil
	})
	sub := delivery.New(c, store, nil, fast(delivery.Options{Workers: 16, BatchSize: 2}), quiet)
	run(t, sub)
	covers := []eventstore.Cover{cover("a"), cover("a"), cover("a")}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for range 50 {
				appendN(t, store, covers[w%3], 1)
			}
		})
	}
	wg.Wait()
	eventually(t, "every event", func() bool { return total.Load() == 300 })
	if n := overlap.Load(); n > 0 {
		t.Fatalf("%d deliveries overlapped another of the same aggregate", n)
	}
}

type consumerFunc func(ctx context.Context, b eventstore.Book, inline bool) (delivery.Outcome, error)

func (consumerFunc) Name() string { return "f" }
func (f consumerFunc) Deliver(ctx context.Context, b eventstore.Book, inline bool) (delivery.Outcome, error) {
	return f(ctx, b, inline)
}

// An aggregate whose consumer keeps failing, with 10,000 events behind it,
// does not hold back the others.
func TestStuckAggregateDoesNotHoldBackOthers(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	stuck := cover("a")
	r.fail = func(b eventstore.Book) error {
		if b.Cover == stuck {
			return errors.New("cannot handle this yet")
		}
		return nil
	}
	sub := delivery.New(r, store, nil, fast(delivery.Options{Segments: 1, MaxAttempts: 1 << 30, BatchSize: 64}), quiet)
	run(t, sub)
	for range 100 {
		appendN(t, store, stuck, 100)
	}
	others := []eventstore.Cover{cover("a"), cover("a")}
	for i := range 200 {
		appendN(t, store, others[i%2], 1)
	}
	eventually(t, "the other aggregates' events", func() bool { return r.total() == 200 })
	wantSeqs(t, r, others[0], 100)
	wantSeqs(t, r, others[1], 100)
	if cp := sub.Status().Checkpoint; cp != 0 {
		t.Fatalf("checkpoint %d passed the stuck aggregate's first event", cp)
	}
	if st := sub.Status(); st.Pending < 10_000 {
		t.Fatalf("pending %d; want the stuck aggregate's 10,000 events", st.Pending)
	}
}

// An event larger than a book may hold is parked at once with a reason
// that says so; the aggregate's later events wait behind it, others flow.
func TestOversizedEventIsParkedWithItsReason(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	sub := delivery.New(r, store, nil, fast(delivery.Options{MaxBookBytes: 1000, MaxAttempts: 5}), quiet)
	run(t, sub)
	big, other := cover("a"), cover("a")
	if _, err := store.Append(t.Context(), big, []eventstore.Page{{TypeURL: "E", Payload: make([]byte, 1001)}}); err != nil {
		t.Fatal(err)
	}
	appendN(t, store, big, 1)
	appendN(t, store, other, 3)
	eventually(t, "the other aggregate", func() bool { return len(r.sequences(other)) == 3 })
	eventually(t, "both events of the big aggregate parked", func() bool {
		p, _ := sub.Parked(t.Context())
		return len(p) == 2
	})
	p, _ := sub.Parked(t.Context())
	if !strings.Contains(p[0].Reason, "1001 bytes is larger than the 1000 bytes") || p[0].Attempts != 1 {
		t.Fatalf("parked %+v; want the size in the reason after 1 attempt", p[0])
	}
	if len(r.sequences(big)) != 0 {
		t.Fatal("the big aggregate was delivered")
	}
}

// Books are cut to MaxBookBytes.
func TestBooksAreBoundedInBytes(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	c := cover("a")
	pages := make([]eventstore.Page, 10)
	for i := range pages {
		pages[i] = eventstore.Page{TypeURL: "E", Payload: make([]byte, 300)}
	}
	if _, err := store.Append(t.Context(), c, pages); err != nil {
		t.Fatal(err)
	}
	run(t, delivery.New(r, store, nil, fast(delivery.Options{MaxBookBytes: 1000}), quiet))
	eventually(t, "every event", func() bool { return r.total() == 10 })
	wantSeqs(t, r, c, 10)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.hist {
		n := 0
		for _, e := range b.Events {
			n += len(e.Payload)
		}
		if n > 1000 {
			t.Fatalf("a book of %d bytes; want at most 1000", n)
		}
	}
}

// A subscription that starts at the head gets only events committed after
// it was prepared.
func TestStartAtHead(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	old, c := cover("a"), cover("a")
	appendN(t, store, old, 3)
	sub := delivery.New(r, store, nil, fast(delivery.Options{Start: delivery.StartHead}), quiet)
	if err := sub.Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	appendN(t, store, c, 2) // after Prepare, before Run: delivered
	run(t, sub)
	eventually(t, "the new events", func() bool { return len(r.sequences(c)) == 2 })
	time.Sleep(20 * time.Millisecond)
	if got := r.sequences(old); len(got) != 0 {
		t.Fatalf("events from before the start delivered: %v", got)
	}
}

// A saga whose second command fails is asked again; the retry carries the
// same idempotency keys, and the command that went through is not sent
// again in the same delivery.
func TestSagaRetryKeepsKeysAndSkipsSentCommands(t *testing.T) {
	store := memory.New()
	saga := newRecorder("loyalty")
	saga.cmds = func(b eventstore.Book) []business.CommandBook {
		return []business.CommandBook{{Cover: cover("x")}, {Cover: cover("y")}}
	}
	d := &keyedDispatcher{failOnce: map[int]bool{1: true}}
	run(t, delivery.New(saga, store, d, fast(delivery.Options{}), quiet))
	src := cover("t")
	appendN(t, store, src, 1)
	eventually(t, "both commands", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.ok) == 2 })
	d.mu.Lock()
	defer d.mu.Unlock()
	want0, want1 := delivery.SagaKey("loyalty", src, 0, 0), delivery.SagaKey("loyalty", src, 0, 1)
	if d.calls[want0] != 1 || d.calls[want1] != 2 {
		t.Fatalf("dispatch calls by key %v; want %s once and %s twice (failed, then ok)", d.calls, want0, want1)
	}
}

type keyedDispatcher struct {
	mu       sync.Mutex
	failOnce map[int]bool
	calls    map[string]int
	ok       []string
	n        int
}

func (d *keyedDispatcher) Dispatch(_ context.Context, cmd business.CommandBook) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.calls == nil {
		d.calls = map[string]int{}
	}
	d.calls[cmd.IdempotencyKey]++
	i := d.n
	d.n++
	if d.failOnce[i] {
		return fmt.Errorf("rejected")
	}
	d.ok = append(d.ok, cmd.IdempotencyKey)
	return nil
}

// A synchronous saga whose inline command fails leaves its claim unsettled
// as handled: the subscription delivers the book again, and the commands
// carry the same keys as inline, so the one that went through is not
// applied twice by a store that honours keys.
func TestFailedInlineSagaCommandsAreRetriedWithTheirKeys(t *testing.T) {
	store := memory.New()
	saga := newRecorder("loyalty")
	saga.cmds = func(b eventstore.Book) []business.CommandBook {
		return []business.CommandBook{{Cover: cover("x")}, {Cover: cover("y")}}
	}
	d := &keyedDispatcher{}
	sub := delivery.New(saga, store, d, fast(delivery.Options{Synchronous: true}), quiet)
	hub := delivery.NewHub(sub)
	run(t, sub)
	c := cover("t")
	in, err := hub.Begin(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	events, err := store.Append(t.Context(), c, []eventstore.Page{{TypeURL: "E"}})
	if err != nil {
		t.Fatal(err)
	}
	in.Deliver(t.Context(), eventstore.Book{Cover: c, Events: events})
	calls := 0
	failures := in.Finish(t.Context(), func(ctx context.Context, cmd business.CommandBook) error {
		calls++
		if calls == 2 {
			return errors.New("second command rejected")
		}
		return d.Dispatch(ctx, cmd)
	}, func(error) bool { return false })
	if len(failures) != 1 {
		t.Fatalf("failures %v; want the saga's", failures)
	}
	eventually(t, "the subscription's retry", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.ok) == 3 })
	d.mu.Lock()
	defer d.mu.Unlock()
	k0, k1 := delivery.SagaKey("loyalty", c, 0, 0), delivery.SagaKey("loyalty", c, 0, 1)
	if d.calls[k0] != 2 || d.calls[k1] != 1 {
		t.Fatalf("calls by key %v; want %s inline and again (same key), %s once on retry", d.calls, k0, k1)
	}
}

// An inline delivery never overtakes an earlier event another writer
// appended while the command was being decided.
func TestInlineDeliveryKeepsOrderWithAnotherWriter(t *testing.T) {
	for range 20 {
		store := memory.New()
		r := newRecorder("receipt")
		sub := delivery.New(r, store, nil, fast(delivery.Options{Synchronous: true}), quiet)
		hub := delivery.NewHub(sub)
		stop := run(t, sub)
		c := cover("a")
		appendN(t, store, c, 1)
		eventually(t, "event 0", func() bool { return len(r.sequences(c)) == 1 })
		in, err := hub.Begin(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, store, c, 1) // another writer, during the business call
		events, err := store.Append(t.Context(), c, []eventstore.Page{{TypeURL: "E"}})
		if err != nil {
			t.Fatal(err)
		}
		in.Deliver(t.Context(), eventstore.Book{Cover: c, Events: events})
		in.Finish(t.Context(), nil, nil)
		eventually(t, "three events", func() bool { return len(r.sequences(c)) == 3 })
		wantSeqs(t, r, c, 3)
		stop()
	}
}

// A parked aggregate's later events are parked behind it even when the
// consumer would take them: delivering them would break the order.
func TestLaterEventsOfAParkedAggregateAreHeld(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	poison := cover("a")
	r.fail = func(b eventstore.Book) error {
		if b.Cover == poison && b.Events[0].Sequence == 0 {
			return errors.New("cannot project event 0")
		}
		return nil
	}
	sub := delivery.New(r, store, nil, fast(delivery.Options{MaxAttempts: 2}), quiet)
	run(t, sub)
	appendN(t, store, poison, 1)
	eventually(t, "event 0 parked", func() bool { p, _ := sub.Parked(t.Context()); return len(p) == 1 })
	appendN(t, store, poison, 2)
	eventually(t, "events 1 and 2 parked behind it", func() bool { p, _ := sub.Parked(t.Context()); return len(p) == 3 })
	if got := r.sequences(poison); len(got) != 0 {
		t.Fatalf("delivered %v of an aggregate whose event 0 is parked", got)
	}
}

// replicaPair is two replicas, a and b, of one synchronous subscription
// with one segment on one store: a owns the segment, and b has been a
// member long enough to deliver inline through delivery marks.
type replicaPair struct {
	store *memory.Store
	r     *recorder
	a, b  *delivery.Subscription
	stopA func()
}

func twoReplicas(t *testing.T) replicaPair {
	t.Helper()
	p := replicaPair{store: memory.New(), r: newRecorder("receipt")}
	opts := fast(delivery.Options{Synchronous: true, Segments: 1})
	optsA, optsB := opts, opts
	optsA.Owner, optsB.Owner = "a", "b"
	p.a = delivery.New(p.r, p.store, nil, optsA, quiet)
	p.b = delivery.New(p.r, p.store, nil, optsB, quiet)
	p.stopA = runAsync(t, p.a)
	runAsync(t, p.b)
	eventually(t, "a owning the segment", func() bool { return locals(p.a) == 1 && locals(p.b) == 0 })
	time.Sleep(2 * opts.LeaseTTL) // b a member long enough; a has seen it
	return p
}

// A replica that does not own an aggregate's segment delivers the events
// of its commands inline all the same, through the aggregate's delivery
// mark in the store; the owner skips them. Commands alternate between the
// owner and the other replica: every event arrives once, in order, and
// every command got its projection in the reply.
func TestInlineDeliveryByAReplicaThatDoesNotOwnTheSegment(t *testing.T) {
	p := twoReplicas(t)
	store, r, hubA, hubB := p.store, p.r, delivery.NewHub(p.a), delivery.NewHub(p.b)
	c := cover("a")
	for i := range 20 {
		hub := hubA
		if i%2 == 1 {
			hub = hubB
		}
		res := inlineThenAppend(t, hub, store, c, 1)
		if len(res.Projections) != 1 || len(res.Failures) != 0 {
			t.Fatalf("command %d (replica %s): %+v; want the projection inline", i, map[bool]string{true: "b", false: "a"}[i%2 == 1], res)
		}
	}
	time.Sleep(100 * time.Millisecond) // a repeat by the owner would show now
	wantSeqs(t, r, c, 20)
	// Another writer's event (Record), then b's command: b waits for the
	// owner to deliver the earlier event first, then delivers its own.
	appendN(t, store, c, 1)
	res := inlineThenAppend(t, hubB, store, c, 1)
	eventually(t, "22 events", func() bool { return len(r.sequences(c)) == 22 })
	time.Sleep(50 * time.Millisecond)
	wantSeqs(t, r, c, 22)
	if len(res.Projections) != 1 {
		t.Logf("b's command after a Record was delivered by the owner (no projection): %+v", res)
	}
}

// A command begun on a replica that did not own its aggregate's segment
// (so it claims the aggregate's delivery mark) and committed after the
// segment moved to that very replica is delivered once: inline, not again
// by the replica's own segment, which sees a claim in its own name.
func TestInlineDeliveryBegunBeforeTheSegmentMovedHere(t *testing.T) {
	p := twoReplicas(t)
	store, r, b, hubB := p.store, p.r, p.b, delivery.NewHub(p.b)
	c := cover("a")
	appendN(t, store, c, 1)
	eventually(t, "event 0", func() bool { return len(r.sequences(c)) == 1 })
	in, err := hubB.Begin(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	in.Expect(t.Context(), 1)
	p.stopA()
	eventually(t, "b owning the segment", func() bool { return locals(b) == 1 })
	events, err := store.Append(t.Context(), c, []eventstore.Page{{TypeURL: "E"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // b's segment reads event 1 meanwhile
	res := in.Deliver(t.Context(), eventstore.Book{Cover: c, Events: events})
	res.Failures = append(res.Failures, in.Finish(t.Context(), nil, nil)...)
	if len(res.Projections) != 1 || len(res.Failures) != 0 {
		t.Fatalf("inline delivery: %+v; want the projection inline", res)
	}
	time.Sleep(100 * time.Millisecond) // a repeat by the segment would show now
	wantSeqs(t, r, c, 2)
}

// A saga is handed one event per book, so each command's idempotency key
// names the event it came from, however the events were batched in the
// log or by another replica.
func TestSagaBooksHoldOneEventAndKeysNameIt(t *testing.T) {
	store := memory.New()
	saga := newRecorder("loyalty")
	saga.cmds = func(b eventstore.Book) []business.CommandBook {
		return []business.CommandBook{{Cover: cover("x")}}
	}
	d := &keyedDispatcher{}
	src := cover("t")
	appendN(t, store, src, 3) // one append of three events, before the start
	run(t, delivery.New(saga, store, d, fast(delivery.Options{EventPerBook: true}), quiet))
	eventually(t, "three commands", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.ok) == 3 })
	d.mu.Lock()
	defer d.mu.Unlock()
	for seq := range 3 {
		if k := delivery.SagaKey("loyalty", src, uint32(seq), 0); d.calls[k] != 1 {
			t.Errorf("key %s dispatched %d times; want once (keys: %v)", k, d.calls[k], d.calls)
		}
	}
}

// Segments never seen before start where the subscription starts, even
// when another segment of the same split already moved on (a replica that
// stopped after taking only some of them): their earlier events are not
// skipped.
func TestNewSegmentsStartAtTheSubscriptionsStart(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	covers := make([]eventstore.Cover, 16)
	for i := range covers {
		covers[i] = cover("a")
		appendN(t, store, covers[i], 1)
	}
	// Segment 0 alone exists, with everything up to the head handled.
	l, ok, err := store.Acquire(t.Context(), "p", 0, 4, "gone", time.Millisecond, 0)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := store.Advance(t.Context(), l, 16); err != nil {
		t.Fatal(err)
	}
	run(t, delivery.New(r, store, nil, fast(delivery.Options{}), quiet))
	want := 0
	for _, c := range covers {
		if eventstore.SegmentOf(c, 4) != 0 {
			want++
		}
	}
	eventually(t, "the events of the segments never taken", func() bool { return r.total() == want })
	time.Sleep(20 * time.Millisecond)
	if got := r.total(); got != want {
		t.Fatalf("delivered %d events; want %d (those of segments 1-3)", got, want)
	}
}

// A consumer that is down is logged (not only counted): an operator sees
// it without reading metrics.
func TestConsumerDownIsLogged(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	var down sync.Map
	down.Store("yes", true)
	r.fail = func(eventstore.Book) error {
		if _, ok := down.Load("yes"); ok {
			return fmt.Errorf("projector p: %w", downErr{})
		}
		return nil
	}
	var logged syncBuffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	run(t, delivery.New(r, store, nil, fast(delivery.Options{}), log))
	appendN(t, store, cover("a"), 1)
	eventually(t, "a warning that the consumer is down", func() bool {
		return strings.Contains(logged.String(), "level=WARN msg=\"consumer unreachable") && strings.Contains(logged.String(), "connection refused")
	})
	down.Delete("yes")
	eventually(t, "the event once the consumer is back", func() bool { return r.total() == 1 })
}

// An inline delivery that gives way to earlier events still being
// retried says why they are: the subscription's last error.
func TestInlineGivingWaySaysWhy(t *testing.T) {
	store := memory.New()
	r := newRecorder("receipt")
	r.fail = func(b eventstore.Book) error {
		if b.Events[0].Sequence == 0 {
			return errors.New("receipt printer jammed")
		}
		return nil
	}
	sub := delivery.New(r, store, nil, fast(delivery.Options{Synchronous: true, MaxAttempts: 1 << 20}), quiet)
	hub := delivery.NewHub(sub)
	run(t, sub)
	c := cover("a")
	inlineThenAppend(t, hub, store, c, 1) // fails inline; the subscription retries it
	eventually(t, "the retry's error", func() bool { return strings.Contains(sub.Status().LastError, "jammed") })
	res := inlineThenAppend(t, hub, store, c, 1)
	if len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Error(), "receipt printer jammed") {
		t.Fatalf("failures %v; want the earlier events' error named", res.Failures)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// joinCounter counts the Joins that reach the store.
type joinCounter struct {
	*memory.Store
	joins atomic.Int32
}

func (c *joinCounter) Join(ctx context.Context, owner string, ttl time.Duration) error {
	c.joins.Add(1)
	return c.Store.Join(ctx, owner, ttl)
}

// Subscriptions that share a Replica keep its membership with one Join
// per third of a lease between them, not one each.
func TestSubscriptionsShareOneMembership(t *testing.T) {
	store := &joinCounter{Store: memory.New()}
	opts := fast(delivery.Options{})
	replica := delivery.NewReplica(store, "r1", opts.LeaseTTL)
	opts.Replica = replica
	for i := range 5 {
		runAsync(t, delivery.New(newRecorder(fmt.Sprint("p", i)), store, nil, opts, quiet))
	}
	const window = time.Second
	time.Sleep(window)
	most := int32(window/(opts.LeaseTTL/3)) + 2
	if n := store.joins.Load(); n > most {
		t.Fatalf("%d Joins in %v by 5 subscriptions sharing a replica; want at most %d (one per third of a %v lease)", n, window, most, opts.LeaseTTL)
	}
	members, err := store.Members(t.Context())
	if err != nil || len(members) != 1 || members[0].ID != "r1" {
		t.Fatalf("members %v, %v; want r1 alone", members, err)
	}
}

// The reader reads ahead while the segments are busy; when a segment is
// taken over with a checkpoint behind that read-ahead, the reader goes
// back for it instead of handing it the batch it read ahead (which would
// skip the segment's early events).
func TestReaderGoesBackForASegmentTakenOverBehindIt(t *testing.T) {
	store := memory.New()
	inSegment := func(want bool) eventstore.Cover {
		for {
			if c := cover("a"); (eventstore.SegmentOf(c, 4) == 0) == want {
				return c
			}
		}
	}
	// The log's first events belong to segment 0, which a dead replica
	// holds; 3,000 events of the other segments follow (more than one
	// read of the log).
	early := inSegment(true)
	appendN(t, store, early, 20)
	others := make([]eventstore.Cover, 100)
	for i := range others {
		others[i] = inSegment(false)
	}
	for range 30 {
		for _, c := range others {
			appendN(t, store, c, 1)
		}
	}
	if _, ok, err := store.Acquire(t.Context(), "p", 0, 4, "dead", 300*time.Millisecond, 0); err != nil || !ok {
		t.Fatal(ok, err)
	}
	// A slow consumer and one event per book keep the segments full, so
	// the reader waits for room with a batch read ahead.
	r := newRecorder("p")
	r.fail = func(eventstore.Book) error { time.Sleep(time.Millisecond); return nil }
	sub := delivery.New(r, store, nil, fast(delivery.Options{Owner: "alive", BatchSize: 1}), quiet)
	runAsync(t, sub)
	eventually(t, "every event", func() bool { return r.total() >= 20+30*len(others) })
	wantSeqs(t, r, early, 20)
}

// gappyLog shows a memory store's log with a gap of 100 positions after
// position 1500: its batches are dense up to there, and the reader's
// guesses of where the batches after them begin go wrong once.
type gappyLog struct{ *memory.Store }

const gapAfter, gapSize = 1500, 100

func (g gappyLog) ReadLog(ctx context.Context, after uint64, limit int) ([]eventstore.Logged, error) {
	inner := after
	switch {
	case after > gapAfter+gapSize:
		inner = after - gapSize
	case after > gapAfter:
		inner = gapAfter
	}
	batch, err := g.Store.ReadLog(ctx, inner, limit)
	for i := range batch {
		if batch[i].Position > gapAfter {
			batch[i].Position += gapSize
		}
	}
	return batch, err
}

func (g gappyLog) Head(ctx context.Context) (uint64, error) {
	h, err := g.Store.Head(ctx)
	if h > gapAfter {
		h += gapSize
	}
	return h, err
}

// The reader reads batches ahead, in parallel, from where it guesses they
// begin when the log's positions are dense; it uses a read only from
// where it is, so a guess a gap proves wrong is never used and no read
// that began further on skips events: every event arrives once, in order
// (fails, events missing, when the reader takes the furthest read ahead).
func TestReadAheadAcrossAGapInTheLog(t *testing.T) {
	for _, gap := range []bool{false, true} {
		t.Run(fmt.Sprintf("gap=%v", gap), func(t *testing.T) {
			mem := memory.New()
			var store delivery.Storage = mem
			if gap {
				store = gappyLog{mem}
			}
			covers := make([]eventstore.Cover, 50)
			for i := range covers {
				covers[i] = cover("a")
			}
			for range 100 { // 5,000 events: several batches
				for _, c := range covers {
					appendN(t, mem, c, 1)
				}
			}
			r := newRecorder("p")
			sub := delivery.New(r, store, nil, fast(delivery.Options{Owner: "only"}), quiet)
			runAsync(t, sub)
			eventually(t, "every event", func() bool { return r.total() >= 100*len(covers) })
			time.Sleep(50 * time.Millisecond) // any duplicate arrives meanwhile
			for _, c := range covers {
				wantSeqs(t, r, c, 100)
			}
		})
	}
}

// payloadCheck records, per event, whether it arrived with the payload it
// was appended with (its sequence's low byte).
type payloadCheck struct {
	gate  chan struct{} // the first delivery waits for it
	once  sync.Once
	mu    sync.Mutex
	seqs  []uint32
	wrong []uint32
}

func (p *payloadCheck) Name() string { return "p" }

func (p *payloadCheck) Deliver(_ context.Context, book eventstore.Book, _ bool) (delivery.Outcome, error) {
	p.once.Do(func() { <-p.gate })
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range book.Events {
		p.seqs = append(p.seqs, e.Sequence)
		if len(e.Payload) != 1 || e.Payload[0] != byte(e.Sequence) {
			p.wrong = append(p.wrong, e.Sequence)
		}
	}
	return delivery.Outcome{}, nil
}

// An aggregate whose consumer is stuck has only BatchSize events queued
// with their payload; the later ones are queued without it and read again
// before delivery: each arrives with its own payload (fails when light
// events are delivered as queued).
func TestLightEventsAreDeliveredWithTheirPayload(t *testing.T) {
	store := memory.New()
	c := cover("a")
	p := &payloadCheck{gate: make(chan struct{})}
	sub := delivery.New(p, store, nil, fast(delivery.Options{Owner: "only", BatchSize: 2, Segments: 1}), quiet)
	runAsync(t, sub)
	const n = 40
	for i := range n {
		if _, err := store.Append(t.Context(), c, []eventstore.Page{{TypeURL: "E", Payload: []byte{byte(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // all read and queued behind the stuck first delivery
	close(p.gate)
	eventually(t, "every event", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.seqs) >= n })
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.seqs {
		if s != uint32(i) {
			t.Fatalf("sequences %v, want 0..%d in order", p.seqs, n-1)
		}
	}
	if len(p.wrong) > 0 {
		t.Fatalf("events %v arrived without their payload", p.wrong)
	}
}
