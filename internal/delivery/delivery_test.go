package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

// recorder is a consumer that records what it receives and fails while
// fail says so.
type recorder struct {
	name string
	mu   sync.Mutex
	got  map[eventstore.Cover][]uint32 // sequences received, in order
	hist []eventstore.Book
	fail func(book eventstore.Book) error
	cmds func(book eventstore.Book) []business.CommandBook
	all  int
}

func newRecorder(name string) *recorder {
	return &recorder{name: name, got: map[eventstore.Cover][]uint32{}}
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Deliver(_ context.Context, book eventstore.Book, inline bool) (delivery.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(book); err != nil {
			return delivery.Outcome{}, err
		}
	}
	for _, e := range book.Events {
		r.got[book.Cover] = append(r.got[book.Cover], e.Sequence)
	}
	r.all += len(book.Events)
	r.hist = append(r.hist, book)
	out := delivery.Outcome{}
	if inline {
		out.Projection = &delivery.Projection{Cover: book.Cover, Projector: r.name, Sequence: book.Next()}
	}
	if r.cmds != nil {
		out.Commands = r.cmds(book)
	}
	return out, nil
}

func (r *recorder) sequences(c eventstore.Cover) []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[c])
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all
}

func fast(o delivery.Options) delivery.Options {
	o.BackoffMin, o.BackoffMax = time.Millisecond, 5*time.Millisecond
	o.PollInterval = 5 * time.Millisecond
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 300 * time.Millisecond
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	return o
}

// run starts sub, waits until it owns every segment and returns a stop
// function that waits for it.
func run(t *testing.T, sub *delivery.Subscription) func() {
	t.Helper()
	stop := runAsync(t, sub)
	eventually(t, "every segment owned", func() bool {
		for _, seg := range sub.Status().Segments {
			if !seg.Local {
				return false
			}
		}
		return true
	})
	return stop
}

func appendN(t *testing.T, s eventstore.Store, c eventstore.Cover, n int) {
	t.Helper()
	pages := make([]eventstore.Page, n)
	for i := range pages {
		pages[i] = eventstore.Page{TypeURL: "E", Payload: []byte{byte(i)}}
	}
	if _, err := s.Append(t.Context(), c, pages); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func wantSeqs(t *testing.T, r *recorder, c eventstore.Cover, n int) {
	t.Helper()
	got := r.sequences(c)
	if len(got) != n {
		t.Fatalf("%s: received %v, want 0..%d once each, in order", c, got, n-1)
	}
	for i, s := range got {
		if s != uint32(i) {
			t.Fatalf("%s: received %v, want 0..%d once each, in order", c, got, n-1)
		}
	}
}

// savedCheckpoint is the lowest checkpoint saved of subscriber's segments
// (0 while a segment has none).
func savedCheckpoint(t *testing.T, store *memory.Store, subscriber string, segments ...int) uint64 {
	t.Helper()
	leases, err := store.Leases(t.Context(), subscriber)
	if err != nil {
		t.Fatal(err)
	}
	n := 4
	if len(segments) > 0 {
		n = segments[0]
	}
	if len(leases) < n {
		return 0
	}
	low := leases[0].Position
	for _, l := range leases {
		low = min(low, l.Position)
	}
	return low
}

func cover(domain string) eventstore.Cover { return eventstore.Cover{Domain: domain, Root: uuid.New()} }

var quiet = slog.New(slog.DiscardHandler)

func TestDeliversEveryEventInAggregateOrder(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	sub := delivery.New(r, store, nil, fast(delivery.Options{Workers: 4, BatchSize: 7}), quiet)
	covers := []eventstore.Cover{cover("a"), cover("b"), cover("a")}
	appendN(t, store, covers[0], 5) // before the subscription starts
	run(t, sub)
	for i := range 30 {
		appendN(t, store, covers[i%3], 1+i%2)
	}
	counts := []int{5 + 15, 15, 15}
	eventually(t, "every event", func() bool { return r.total() == 50 })
	for i, c := range covers {
		wantSeqs(t, r, c, counts[i])
	}
	eventually(t, "the checkpoint at the head", func() bool {
		head, _ := store.Head(t.Context())
		return sub.Status().Checkpoint == head && savedCheckpoint(t, store, "p") == head
	})
}

func TestDomainFilter(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	sub := delivery.New(r, store, nil, fast(delivery.Options{Domains: []string{"b"}}), quiet)
	run(t, sub)
	a, b := cover("a"), cover("b")
	appendN(t, store, a, 3)
	appendN(t, store, b, 2)
	eventually(t, "b's events", func() bool { return len(r.sequences(b)) == 2 })
	if got := r.sequences(a); len(got) != 0 {
		t.Fatalf("filtered domain delivered: %v", got)
	}
	eventually(t, "the checkpoint past filtered events", func() bool {
		return savedCheckpoint(t, store, "p") == 5
	})
}

func TestConsumerDownThenBackGetsEverythingInOrder(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	var down sync.Mutex
	isDown := true
	r.fail = func(eventstore.Book) error {
		down.Lock()
		defer down.Unlock()
		if isDown {
			return errors.New("connection refused")
		}
		return nil
	}
	run(t, delivery.New(r, store, nil, fast(delivery.Options{MaxAttempts: 1 << 20}), quiet))
	c := cover("a")
	for range 20 {
		appendN(t, store, c, 1)
	}
	time.Sleep(30 * time.Millisecond)
	if r.total() != 0 {
		t.Fatal("delivered while down")
	}
	down.Lock()
	isDown = false
	down.Unlock()
	eventually(t, "every event after recovery", func() bool { return r.total() == 20 })
	wantSeqs(t, r, c, 20)
}

func TestPoisonEventIsParkedAndOthersKeepFlowing(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	poison := cover("a")
	var healed sync.Map
	r.fail = func(b eventstore.Book) error {
		if _, ok := healed.Load("yes"); !ok && b.Cover == poison {
			return errors.New("cannot project this")
		}
		return nil
	}
	sub := delivery.New(r, store, nil, fast(delivery.Options{MaxAttempts: 3}), quiet)
	run(t, sub)
	other := cover("a")
	appendN(t, store, poison, 2)
	for range 10 {
		appendN(t, store, other, 1)
	}
	eventually(t, "the other aggregate's events", func() bool { return len(r.sequences(other)) == 10 })
	wantSeqs(t, r, other, 10)
	eventually(t, "the poison events parked", func() bool {
		p, _ := sub.Parked(t.Context())
		return len(p) == 2
	})
	// Later events of the parked aggregate wait behind it, in the parking.
	appendN(t, store, poison, 1)
	eventually(t, "the later event parked too", func() bool {
		p, _ := sub.Parked(t.Context())
		return len(p) == 3
	})
	parked, _ := sub.Parked(t.Context())
	if parked[0].Reason != "cannot project this" || parked[0].Attempts != 3 || parked[0].Sequence != 0 {
		t.Errorf("first parked = %+v", parked[0])
	}
	// The three failed attempts are counted as retries, the last error kept.
	if st := sub.Status(); st.Retries != 3 || st.LastError != "cannot project this" {
		t.Errorf("status: %d retries, last error %q; want 3, cannot project this", st.Retries, st.LastError)
	}
	if len(r.sequences(poison)) != 0 {
		t.Fatal("poison aggregate delivered")
	}
	eventually(t, "the checkpoint past the parked events", func() bool {
		head, _ := store.Head(t.Context())
		return sub.Status().Checkpoint == head
	})

	// Still failing: the replay keeps them parked and says so.
	res, err := sub.Replay(t.Context())
	if err != nil || res.Replayed != 0 || len(res.Failed) != 1 || res.Failed[0].Cover != poison {
		t.Fatalf("replay while failing = %+v, %v", res, err)
	}
	healed.Store("yes", true)
	res, err = sub.Replay(t.Context())
	if err != nil || res.Replayed != 3 || len(res.Failed) != 0 {
		t.Fatalf("replay = %+v, %v", res, err)
	}
	wantSeqs(t, r, poison, 3)
	appendN(t, store, poison, 1)
	eventually(t, "the unparked aggregate flowing again", func() bool { return len(r.sequences(poison)) == 4 })
	wantSeqs(t, r, poison, 4)
	if p, _ := sub.Parked(t.Context()); len(p) != 0 {
		t.Fatalf("still parked: %v", p)
	}
}

func TestResumesFromCheckpointAfterRestart(t *testing.T) {
	store := memory.New()
	r := newRecorder("p")
	c := cover("a")
	stop := run(t, delivery.New(r, store, nil, fast(delivery.Options{}), quiet))
	appendN(t, store, c, 5)
	eventually(t, "first events", func() bool { return r.total() == 5 })
	stop()
	appendN(t, store, c, 5) // while the subscription is down
	run(t, delivery.New(r, store, nil, fast(delivery.Options{}), quiet))
	eventually(t, "the events appended while down", func() bool { return r.total() == 10 })
	wantSeqs(t, r, c, 10) // nothing again, nothing skipped
}

func TestHistoryCarriesTheWholeAggregate(t *testing.T) {
	store := memory.New()
	r := newRecorder("receipt")
	c := cover("transaction")
	appendN(t, store, c, 3)
	if err := store.PutSnapshot(t.Context(), c, eventstore.Snapshot{Sequence: 1, TypeURL: "S"}); err != nil {
		t.Fatal(err)
	}
	run(t, delivery.New(r, store, nil, fast(delivery.Options{History: true, BatchSize: 1}), quiet))
	eventually(t, "three books", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.hist) == 3 })
	r.mu.Lock()
	defer r.mu.Unlock()
	last := r.hist[2]
	if last.Snapshot == nil || last.Snapshot.Sequence != 1 || len(last.Events) != 2 || last.Events[1].Sequence != 2 {
		t.Fatalf("last book: snapshot %+v, %d events; want the snapshot at 1 and events 1..2", last.Snapshot, len(last.Events))
	}
	first := r.hist[0]
	if first.Snapshot != nil || len(first.Events) != 1 {
		t.Fatalf("first book: snapshot %+v, %d events; want no snapshot (it is newer) and event 0", first.Snapshot, len(first.Events))
	}
}

type dispatcher struct {
	mu   sync.Mutex
	cmds []business.CommandBook
}

func (d *dispatcher) Dispatch(_ context.Context, cmd business.CommandBook) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cmds = append(d.cmds, cmd)
	return nil
}

func TestSagaCommandsAreDispatched(t *testing.T) {
	store := memory.New()
	saga := newRecorder("loyalty")
	target := cover("customer")
	saga.cmds = func(b eventstore.Book) []business.CommandBook {
		return []business.CommandBook{{Cover: target, Pages: []business.Command{{TypeURL: fmt.Sprint("Add", b.Next())}}}}
	}
	d := &dispatcher{}
	run(t, delivery.New(saga, store, d, fast(delivery.Options{BatchSize: 1}), quiet))
	txn := cover("transaction")
	cause := eventstore.Cause{CorrelationID: "corr", CommandID: "cmd", Depth: 3}
	if _, err := store.Append(t.Context(), txn, []eventstore.Page{{TypeURL: "E", Cause: cause}, {TypeURL: "E", Cause: cause}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two commands", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return len(d.cmds) == 2 })
	if d.cmds[0].Cover != target || d.cmds[1].Pages[0].TypeURL != "Add2" {
		t.Fatalf("dispatched %+v", d.cmds)
	}
	// Each command is caused by the event that triggered it: same
	// correlation, one hop deeper.
	for i, c := range d.cmds {
		want := eventstore.Cause{CorrelationID: "corr", CausedBy: eventstore.EventRef{Cover: txn, Sequence: uint32(i)}, Depth: 4}
		if c.Cause != want {
			t.Errorf("command %d cause = %+v; want %+v", i, c.Cause, want)
		}
	}
}

// inlineThenAppend does what the command coordinator does: claim, append,
// deliver inline, finish.
func inlineThenAppend(t *testing.T, hub *delivery.Hub, store eventstore.Store, c eventstore.Cover, n int) delivery.InlineResult {
	t.Helper()
	in, err := hub.Begin(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	pages := make([]eventstore.Page, n)
	for i := range pages {
		pages[i] = eventstore.Page{TypeURL: "E"}
	}
	stored, err := store.Read(t.Context(), c, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	in.Expect(t.Context(), uint32(len(stored)))
	events, err := store.Append(t.Context(), c, pages)
	if err != nil {
		in.Abort()
		t.Fatal(err)
	}
	res := in.Deliver(t.Context(), eventstore.Book{Cover: c, Events: events})
	res.Failures = append(res.Failures, in.Finish(t.Context(), func(context.Context, business.CommandBook) error { return nil }, nil)...)
	return res
}

func TestInlineDeliveryIsNotRepeatedBySubscription(t *testing.T) {
	store := memory.New()
	r := newRecorder("receipt")
	sub := delivery.New(r, store, nil, fast(delivery.Options{Synchronous: true}), quiet)
	hub := delivery.NewHub(sub)
	run(t, sub)
	c := cover("a")
	for i := range 10 {
		res := inlineThenAppend(t, hub, store, c, 1)
		if len(res.Projections) != 1 || res.Projections[0].Sequence != uint32(i+1) || len(res.Failures) != 0 {
			t.Fatalf("inline %d: %+v", i, res)
		}
	}
	eventually(t, "the checkpoint at the head", func() bool {
		head, _ := store.Head(t.Context())
		return sub.Status().Checkpoint == head
	})
	wantSeqs(t, r, c, 10) // once each: the subscription skipped them
}

func TestFailedInlineDeliveryIsRetriedBySubscription(t *testing.T) {
	store := memory.New()
	r := newRecorder("receipt")
	var calls sync.Map
	r.fail = func(b eventstore.Book) error {
		if _, again := calls.LoadOrStore(b.Events[0].Sequence, true); !again {
			return errors.New("first try fails")
		}
		return nil
	}
	sub := delivery.New(r, store, nil, fast(delivery.Options{Synchronous: true}), quiet)
	hub := delivery.NewHub(sub)
	run(t, sub)
	c := cover("a")
	res := inlineThenAppend(t, hub, store, c, 2)
	if len(res.Failures) != 1 || res.Failures[0].Consumer != "receipt" || len(res.Projections) != 0 {
		t.Fatalf("inline result %+v, want one failure of receipt", res)
	}
	eventually(t, "the subscription's retry", func() bool { return len(r.sequences(c)) == 2 })
	wantSeqs(t, r, c, 2)
}

type downErr struct{}

func (downErr) Error() string     { return "connection refused" }
func (downErr) Unavailable() bool { return true }

// A consumer that is down longer than the attempts allow is waited for,
// not parked: being down is not refusing the events.
func TestConsumerDownLongerThanAttemptsIsNotParked(t *testing.T) {
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
	sub := delivery.New(r, store, nil, fast(delivery.Options{MaxAttempts: 2}), quiet)
	run(t, sub)
	c := cover("a")
	appendN(t, store, c, 3)
	eventually(t, "many failed attempts", func() bool { return strings.Contains(sub.Status().LastError, "connection refused") })
	time.Sleep(50 * time.Millisecond) // dozens of 1–5ms backoffs: far more than 2 attempts
	if p, _ := sub.Parked(t.Context()); len(p) != 0 {
		t.Fatalf("parked %d events of a consumer that is only down", len(p))
	}
	down.Delete("yes")
	eventually(t, "every event once the consumer is back", func() bool { return r.total() == 3 })
	wantSeqs(t, r, c, 3)
}
