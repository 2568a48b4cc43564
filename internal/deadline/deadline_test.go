package deadline_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/deadline"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

// shop is business logic with a timeout: Open opens a transaction and
// schedules Expire for it after timeout; Close closes it and cancels
// that deadline; Expire always answers Expired (naively: only the
// idempotency key keeps a repeated firing from applying twice).
type shop struct{ timeout time.Duration }

func (s shop) Name() string { return "shop" }

func timeoutID(c eventstore.Cover) string { return "txn-timeout/" + c.Root.String() }

func (s shop) Handle(_ context.Context, req business.Request) (business.Decision, error) {
	cover := req.Command.Cover
	d := business.Decision{Cover: cover}
	switch req.Command.Pages[0].TypeURL {
	case "Open":
		d.Events = []business.Event{{TypeURL: "Opened"}}
		d.Deadlines = []business.Deadline{{ID: timeoutID(cover), Due: time.Now().Add(s.timeout),
			Command: business.CommandBook{Cover: cover, Pages: []business.Command{{TypeURL: "Expire"}}}}}
	case "Close":
		d.Events = []business.Event{{TypeURL: "Closed"}}
		d.Deadlines = []business.Deadline{{ID: timeoutID(cover), Cancel: true}}
	case "Expire":
		d.Events = []business.Event{{TypeURL: "Expired"}}
	}
	return d, nil
}

type router struct{ logic business.Logic }

func (r router) Route(string) (business.Logic, error) { return r.logic, nil }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	store *memory.Store
	coord *command.Coordinator
}

func newEnv(t testing.TB, timeout time.Duration) env {
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	return env{store: store, coord: command.New(store, store, router{shop{timeout}}, command.Options{MaxAttempts: 3}, quiet)}
}

// firer starts a Firer for replica id, firing in groups as the server's
// does unless opts.Group is -1; stop ends it.
func (e env) firer(t testing.TB, id string, opts deadline.Options) (f *deadline.Firer, stop func()) {
	if opts.Poll == 0 {
		opts.Poll = 10 * time.Millisecond
	}
	if opts.Group == -1 {
		opts.Group = 0
	} else {
		opts.FireGroup = e.coord.FireGroup
	}
	f, err := deadline.NewFirer(e.store, delivery.NewReplica(e.store, id, time.Second), e.coord.Fire, opts, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return f, stop
}

func (e env) send(t testing.TB, cover eventstore.Cover, typ string) {
	t.Helper()
	if _, err := e.coord.Handle(context.Background(), business.CommandBook{Cover: cover, Pages: []business.Command{{TypeURL: typ}}}); err != nil {
		t.Fatal(err)
	}
}

func (e env) types(t testing.TB, cover eventstore.Cover) []string {
	t.Helper()
	events, err := e.store.Read(context.Background(), cover, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range events {
		out = append(out, ev.TypeURL)
	}
	return out
}

// waitFor polls cond for up to d (bounded: every 5ms).
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestFiresAndIsAppliedOnce(t *testing.T) {
	t.Run("groups", func(t *testing.T) { testFiresAndIsAppliedOnce(t, 0) })
	t.Run("one by one", func(t *testing.T) { testFiresAndIsAppliedOnce(t, -1) })
}

func testFiresAndIsAppliedOnce(t *testing.T, group int) {
	e := newEnv(t, 100*time.Millisecond)
	cover := eventstore.Cover{Domain: "shop", Root: uuid.New()}
	e.send(t, cover, "Open")
	pending, err := e.store.PendingDeadlines(t.Context(), "", 10)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending after Open: %v, %v; want one", pending, err)
	}
	first := pending[0]
	f, _ := e.firer(t, "r1", deadline.Options{Group: group})
	if !waitFor(3*time.Second, func() bool { return slices.Contains(e.types(t, cover), "Expired") }) {
		t.Fatalf("deadline never fired: events %v", e.types(t, cover))
	}
	if !waitFor(time.Second, func() bool { p, _ := e.store.PendingDeadlines(t.Context(), "", 10); return len(p) == 0 }) {
		t.Fatal("fired deadline still pending")
	}
	// The firing is repeated, as after a crash between the command and
	// the removal, or by a replica that took the segment over: the
	// command is applied once.
	if err := e.store.Schedule(t.Context(), []eventstore.Deadline{first}); err != nil {
		t.Fatal(err)
	}
	before := f.FiredCount()
	if !waitFor(3*time.Second, func() bool { return f.FiredCount() > before }) {
		t.Fatal("repeated deadline not fired again")
	}
	if got := e.types(t, cover); !slices.Equal(got, []string{"Opened", "Expired"}) {
		t.Fatalf("events after a repeated firing: %v, want [Opened Expired] (applied once)", got)
	}
}

func TestCancelledNeverFires(t *testing.T) {
	e := newEnv(t, 150*time.Millisecond)
	cover := eventstore.Cover{Domain: "shop", Root: uuid.New()}
	other := eventstore.Cover{Domain: "shop", Root: uuid.New()}
	e.firer(t, "r1", deadline.Options{})
	e.send(t, cover, "Open")
	e.send(t, other, "Open")
	e.send(t, cover, "Close")
	// The other transaction's deadline fires: the firer runs, and the
	// cancelled one was due before it.
	if !waitFor(3*time.Second, func() bool { return slices.Contains(e.types(t, other), "Expired") }) {
		t.Fatalf("uncancelled deadline never fired: %v", e.types(t, other))
	}
	time.Sleep(200 * time.Millisecond)
	if got := e.types(t, cover); !slices.Equal(got, []string{"Opened", "Closed"}) {
		t.Fatalf("cancelled deadline fired: events %v, want [Opened Closed]", got)
	}
}

func TestTakenOverWhenReplicaStops(t *testing.T) {
	e := newEnv(t, 300*time.Millisecond)
	opts := deadline.Options{Segments: 2, LeaseTTL: 300 * time.Millisecond}
	f1, stop1 := e.firer(t, "r1", opts)
	if !waitFor(2*time.Second, func() bool { return len(f1.Held()) == 2 }) {
		t.Fatalf("r1 holds %v, want both segments", f1.Held())
	}
	var covers []eventstore.Cover
	for range 20 {
		c := eventstore.Cover{Domain: "shop", Root: uuid.New()}
		covers = append(covers, c)
		e.send(t, c, "Open")
	}
	stop1()
	f2, _ := e.firer(t, "r2", opts)
	if !waitFor(5*time.Second, func() bool {
		for _, c := range covers {
			if !slices.Contains(e.types(t, c), "Expired") {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("r2 (holding %v) did not fire r1's deadlines", f2.Held())
	}
}

func TestInvalidDeadlineRefusesTheCommand(t *testing.T) {
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	bad := logicFunc(func(_ context.Context, req business.Request) (business.Decision, error) {
		return business.Decision{Cover: req.Command.Cover, Events: []business.Event{{TypeURL: "X"}},
			Deadlines: []business.Deadline{{ID: "", Due: time.Now(), Command: req.Command}}}, nil
	})
	coord := command.New(store, store, router{bad}, command.Options{}, quiet)
	cover := eventstore.Cover{Domain: "shop", Root: uuid.New()}
	_, err := coord.Handle(t.Context(), business.CommandBook{Cover: cover, Pages: []business.Command{{TypeURL: "Do"}}})
	if err == nil {
		t.Fatal("a reply with an invalid deadline was accepted")
	}
	if events, _ := store.Read(t.Context(), cover, 0, 0); len(events) != 0 {
		t.Fatalf("its events were stored: %v", events)
	}
}

type logicFunc func(ctx context.Context, req business.Request) (business.Decision, error)

func (f logicFunc) Handle(ctx context.Context, req business.Request) (business.Decision, error) {
	return f(ctx, req)
}
func (logicFunc) Name() string { return "test logic" }

// separateWrites is the memory store whose own Schedule and Cancel fail,
// as a crash between the events' commit and a separate deadline write
// would: the deadlines of a reply with events must not depend on them.
type separateWrites struct{ *memory.Store }

func (separateWrites) Schedule(context.Context, []eventstore.Deadline) error {
	return errors.New("crashed after the events' commit")
}

func (separateWrites) Cancel(context.Context, []string) (int, error) {
	return 0, errors.New("crashed after the events' commit")
}

func TestDeadlinesCommittedWithTheEvents(t *testing.T) {
	store := separateWrites{memory.New()}
	coord := command.New(store, store, router{shop{time.Hour}}, command.Options{MaxAttempts: 3}, quiet)
	cover := eventstore.Cover{Domain: "shop", Root: uuid.New()}
	for _, typ := range []string{"Open", "Close"} {
		if _, err := coord.Handle(t.Context(), business.CommandBook{Cover: cover, Pages: []business.Command{{TypeURL: typ}}}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		pending, err := store.PendingDeadlines(t.Context(), "", 10)
		if want := map[string]int{"Open": 1, "Close": 0}[typ]; err != nil || len(pending) != want {
			t.Fatalf("after %s: %d deadlines pending (%v); want %d, written with the events", typ, len(pending), err, want)
		}
	}
}

// TestFiresAtItsDueTimeBetweenPolls: a deadline scheduled more than a Poll
// before it is due is read again at its due time, not up to a Poll later,
// and never before it.
func TestFiresAtItsDueTimeBetweenPolls(t *testing.T) {
	e := newEnv(t, 3*time.Second)
	obs := &delays{}
	f, _ := e.firer(t, "r1", deadline.Options{Poll: 2 * time.Second, Observer: obs})
	if !waitFor(5*time.Second, func() bool { return len(f.Held()) == 4 }) {
		t.Fatalf("segments held: %v; want 4", f.Held())
	}
	e.send(t, eventstore.Cover{Domain: "shop", Root: uuid.New()}, "Open") // due in 3s: between the polls at 2s and 4s
	if !waitFor(6*time.Second, func() bool { return obs.count() == 1 }) {
		t.Fatal("deadline never fired")
	}
	if d := obs.d[0]; d < 0 || d > 500*time.Millisecond {
		t.Errorf("fired %v after its due time; want at it (the next poll was up to 2s later)", d)
	}
}

// slowReads is a store whose reads of the due deadlines return what was
// due when they began, readDelay later: a read begun before a firing's
// removal committed, returning after it.
type slowReads struct {
	*memory.Store
	readDelay time.Duration
}

func (s slowReads) DueDeadlines(ctx context.Context, segment, of int, before time.Time, limit int) ([]eventstore.Deadline, error) {
	ds, err := s.Store.DueDeadlines(ctx, segment, of, before, limit)
	if len(ds) > 0 {
		time.Sleep(s.readDelay)
	}
	return ds, err
}

// A read of the due deadlines that began before a firing's removal
// committed, and returns it after, does not fire the deadline again: one
// replica fires a deadline once (its key would answer a second firing,
// but the work and the metrics would count twice).
func TestAStaleReadDoesNotFireAgain(t *testing.T) {
	e := newEnv(t, 50*time.Millisecond)
	cover := eventstore.Cover{Domain: "shop", Root: uuid.New()}
	e.send(t, cover, "Open")
	var mu sync.Mutex
	fired := 0
	opts := deadline.Options{Poll: 10 * time.Millisecond, Group: 64}
	opts.FireGroup = func(ctx context.Context, fs []deadline.Firing) []deadline.Outcome {
		mu.Lock()
		fired += len(fs)
		mu.Unlock()
		time.Sleep(30 * time.Millisecond) // the next read begins before this commits
		return e.coord.FireGroup(ctx, fs)
	}
	store := slowReads{Store: e.store, readDelay: 50 * time.Millisecond}
	f, err := deadline.NewFirer(store, delivery.NewReplica(e.store, "r1", time.Second), e.coord.Fire, opts, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if !waitFor(3*time.Second, func() bool { return slices.Contains(e.types(t, cover), "Expired") }) {
		t.Fatalf("deadline never fired: events %v", e.types(t, cover))
	}
	time.Sleep(300 * time.Millisecond) // the stale reads return meanwhile
	mu.Lock()
	defer mu.Unlock()
	if fired != 1 {
		t.Fatalf("the deadline was handed to FireGroup %d times, want once", fired)
	}
}

// countedReads counts the reads of due deadlines.
type countedReads struct {
	*memory.Store
	reads atomic.Int64
}

func (s *countedReads) DueDeadlines(ctx context.Context, segment, of int, before time.Time, limit int) ([]eventstore.Deadline, error) {
	s.reads.Add(1)
	return s.Store.DueDeadlines(ctx, segment, of, before, limit)
}

// noHorizon is a store without EarliestDue.
type noHorizon struct{ deadline.Store }

// An idle firer over a store that tells its earliest due time reads no
// segment while nothing is due within a poll, and still fires what
// becomes due; without EarliestDue it reads every held segment at every
// poll.
func TestIdleFirerReadsNoSegment(t *testing.T) {
	for _, horizon := range []bool{true, false} {
		t.Run(map[bool]string{true: "EarliestDue", false: "without it"}[horizon], func(t *testing.T) {
			cs := &countedReads{Store: memory.New()}
			t.Cleanup(func() { cs.Close() })
			var store deadline.Store = cs
			if !horizon {
				store = noHorizon{cs}
			}
			var fired atomic.Int64
			dispatch := func(context.Context, business.CommandBook) error { fired.Add(1); return nil }
			f, err := deadline.NewFirer(store, delivery.NewReplica(cs.Store, "r1", time.Second), dispatch, deadline.Options{Poll: 5 * time.Millisecond}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { f.Run(ctx); close(done) }()
			t.Cleanup(func() { cancel(); <-done })
			if !waitFor(5*time.Second, func() bool { return len(f.Held()) == 4 }) {
				t.Fatalf("segments held: %v; want 4", f.Held())
			}
			ctx0 := context.Background()
			cmd, _ := deadline.Encode(business.CommandBook{Cover: eventstore.Cover{Domain: "shop", Root: uuid.New()}, Pages: []business.Command{{TypeURL: "Expire"}}})
			later := eventstore.Deadline{ID: "later", Due: time.Now().Add(time.Hour), Cover: eventstore.Cover{Domain: "shop", Root: uuid.New()}, Command: cmd, Key: deadline.Key("later", "c1")}
			if err := cs.Schedule(ctx0, []eventstore.Deadline{later}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // a poll under way ends
			before := cs.reads.Load()
			time.Sleep(200 * time.Millisecond) // about 40 polls
			idleReads := cs.reads.Load() - before
			if horizon && idleReads != 0 {
				t.Errorf("%d reads of due deadlines in 200 ms with nothing due for an hour; want none", idleReads)
			}
			if !horizon && idleReads < 8 {
				t.Errorf("%d reads of due deadlines in 200 ms of 5 ms polls over 4 segments; want every poll to read", idleReads)
			}
			soon := later
			soon.ID, soon.Key, soon.Due = "soon", deadline.Key("soon", "c1"), time.Now().Add(50*time.Millisecond)
			if err := cs.Schedule(ctx0, []eventstore.Deadline{soon}); err != nil {
				t.Fatal(err)
			}
			if !waitFor(5*time.Second, func() bool { return fired.Load() == 1 }) {
				t.Fatalf("%d fired; want the deadline due soon", fired.Load())
			}
		})
	}
}
