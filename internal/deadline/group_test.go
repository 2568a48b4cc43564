package deadline_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// forBackends runs fn against a fresh store of each backend benchBackends
// opens: memory (groups appended one at a time, eventstore.AppendEach),
// SQLite and, with POSTGRES_TEST_URL, PostgreSQL (their own AppendGroup),
// and with REDIS_TEST_URL, Redis (one at a time too).
func forBackends(t *testing.T, fn func(t *testing.T, store benchStore)) {
	backends := benchBackends(t)
	for _, name := range []string{"memory", "sqlite", "postgres", "redis"} {
		open, ok := backends[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			store := open()
			t.Cleanup(func() { store.Close() })
			fn(t, store)
		})
	}
}

// firing is the firing of a deadline id for cover with a command of type typ.
func firing(t *testing.T, id string, cover eventstore.Cover, typ string, due time.Time) deadline.Firing {
	t.Helper()
	enc, err := deadline.Encode(business.CommandBook{Cover: cover, Pages: []business.Command{{TypeURL: typ}}})
	if err != nil {
		t.Fatal(err)
	}
	d := eventstore.Deadline{ID: id, Due: due, Cover: cover, Command: enc, Key: deadline.Key(id, "test")}
	cmd, err := deadline.Decode(d)
	if err != nil {
		t.Fatal(err)
	}
	return deadline.Firing{Deadline: d, Command: cmd}
}

func schedule(t *testing.T, store eventstore.Deadlines, fs []deadline.Firing) {
	t.Helper()
	ds := make([]eventstore.Deadline, len(fs))
	for i, f := range fs {
		ds[i] = f.Deadline
	}
	if err := store.Schedule(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
}

func readTypes(t *testing.T, store eventstore.Store, cover eventstore.Cover) []string {
	t.Helper()
	events, err := store.Read(t.Context(), cover, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, e := range events {
		if e.Sequence != uint32(i) {
			t.Fatalf("%s: event %d has sequence %d", cover, i, e.Sequence)
		}
		out = append(out, e.TypeURL)
	}
	return out
}

// picky refuses the command Refuse and fails Flaky with an error that may
// pass; the others it answers with their type, past tense.
type picky struct{ calls atomic.Int64 }

func (*picky) Name() string { return "picky" }

func (p *picky) Handle(_ context.Context, req business.Request) (business.Decision, error) {
	p.calls.Add(1)
	switch typ := req.Command.Pages[0].TypeURL; typ {
	case "Refuse":
		return business.Decision{}, errors.New("refused")
	case "Flaky":
		return business.Decision{}, eventstore.Unavailable(errors.New("down for a moment"))
	default:
		return business.Decision{Cover: req.Command.Cover, Events: []business.Event{{TypeURL: typ + "ed"}}}, nil
	}
}

// One refused and one failing command in a group neither hold up nor fail
// the others: each gets its own outcome, the others are applied and their
// deadlines removed with their events.
func TestFireGroupOneFailingDoesNotHoldOthers(t *testing.T) {
	forBackends(t, func(t *testing.T, store benchStore) {
		coord := command.New(store, store, router{&picky{}}, command.Options{MaxAttempts: 3}, quiet)
		now := time.Now()
		var fs []deadline.Firing
		for i := range 10 {
			typ := map[int]string{3: "Refuse", 6: "Flaky"}[i]
			if typ == "" {
				typ = "Expire"
			}
			fs = append(fs, firing(t, fmt.Sprintf("d%d", i), eventstore.Cover{Domain: "shop", Root: uuid.New()}, typ, now))
		}
		schedule(t, store, fs)
		outs := coord.FireGroup(t.Context(), fs)
		for i, o := range outs {
			switch i {
			case 3, 6:
				if o.Err == nil || o.Removed {
					t.Fatalf("firing %d: %+v; want its error, the deadline kept", i, o)
				}
				if got := readTypes(t, store, fs[i].Command.Cover); len(got) != 0 {
					t.Fatalf("firing %d stored %v", i, got)
				}
			default:
				if o.Err != nil || !o.Removed {
					t.Fatalf("firing %d: %+v; want it applied and removed", i, o)
				}
				if got := readTypes(t, store, fs[i].Command.Cover); !slices.Equal(got, []string{"Expireed"}) {
					t.Fatalf("firing %d: events %v", i, got)
				}
			}
		}
		pending, err := store.PendingDeadlines(t.Context(), "", 100)
		if err != nil || !slices.Equal(ids(pending), []string{"d3", "d6"}) {
			t.Fatalf("pending %v, %v; want the refused and the failed one (the Firer settles them)", ids(pending), err)
		}
	})
}

func ids(ds []eventstore.Deadline) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	slices.Sort(out)
	return out
}

// Deadlines of one aggregate in a group are applied in their order, each
// after the one before, with consecutive sequences.
func TestFireGroupSameAggregateInOrder(t *testing.T) {
	forBackends(t, func(t *testing.T, store benchStore) {
		coord := command.New(store, store, router{&picky{}}, command.Options{MaxAttempts: 3}, quiet)
		now := time.Now()
		one, other := eventstore.Cover{Domain: "shop", Root: uuid.New()}, eventstore.Cover{Domain: "shop", Root: uuid.New()}
		fs := []deadline.Firing{
			firing(t, "a", one, "Remind", now.Add(-3*time.Second)),
			firing(t, "b", other, "Expire", now.Add(-2*time.Second)),
			firing(t, "c", one, "Escalat", now.Add(-time.Second)),
			firing(t, "d", one, "Expire", now),
		}
		schedule(t, store, fs)
		for i, o := range coord.FireGroup(t.Context(), fs) {
			if o.Err != nil {
				t.Fatalf("firing %d: %v", i, o.Err)
			}
		}
		if got, want := readTypes(t, store, one), []string{"Reminded", "Escalated", "Expireed"}; !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v in due order", got, want)
		}
		// Through a Firer: the deadlines read due together are grouped
		// by aggregate, in due order.
		third := eventstore.Cover{Domain: "shop", Root: uuid.New()}
		var more []deadline.Firing
		for i := range 6 {
			more = append(more, firing(t, fmt.Sprintf("third-%d", i), third, fmt.Sprintf("Step%d", i), now.Add(time.Duration(i-10)*time.Millisecond)))
		}
		schedule(t, store, more)
		f, err := deadline.NewFirer(store, delivery.NewReplica(store, "r1", time.Second), coord.Fire,
			deadline.Options{Segments: 1, Poll: 10 * time.Millisecond, FireGroup: coord.FireGroup, Group: 4}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { f.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		if !waitFor(5*time.Second, func() bool { return f.FiredCount() >= 6 }) {
			t.Fatalf("fired %d of 6", f.FiredCount())
		}
		want := []string{"Step0ed", "Step1ed", "Step2ed", "Step3ed", "Step4ed", "Step5ed"}
		if got := readTypes(t, store, third); !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
	})
}

// racing is a store where another writer appends to the first aggregate
// of the first group just before the group's append: that append
// conflicts.
type racing struct {
	benchStore
	raced atomic.Int64
}

func (r *racing) AppendGroup(ctx context.Context, as []eventstore.GroupAppend) []eventstore.GroupResult {
	if r.raced.Add(1) == 1 {
		if _, err := r.benchStore.Append(ctx, as[0].Cover, []eventstore.Page{{TypeURL: "Concurrent"}}); err != nil {
			panic(err)
		}
	}
	if g, ok := r.benchStore.(eventstore.GroupAppender); ok {
		return g.AppendGroup(ctx, as)
	}
	return eventstore.AppendEach(ctx, r.benchStore, as)
}

// An append of a group that conflicts with another writer is decided
// again on the aggregate reloaded, and applied after the other's event;
// the rest of the group is applied at once; a group fired again (a crash
// before the removals) is answered by the keys, applied once.
func TestFireGroupConflictRetries(t *testing.T) {
	forBackends(t, func(t *testing.T, store benchStore) {
		r := &racing{benchStore: store}
		coord := command.New(r, r, router{&picky{}}, command.Options{MaxAttempts: 3}, quiet)
		now := time.Now()
		var fs []deadline.Firing
		for i := range 5 {
			fs = append(fs, firing(t, fmt.Sprintf("d%d", i), eventstore.Cover{Domain: "shop", Root: uuid.New()}, "Expire", now))
		}
		schedule(t, store, fs)
		for i, o := range coord.FireGroup(t.Context(), fs) {
			if o.Err != nil {
				t.Fatalf("firing %d: %v", i, o.Err)
			}
		}
		raced := 0
		for i, f := range fs {
			got := readTypes(t, store, f.Command.Cover)
			switch {
			case slices.Equal(got, []string{"Concurrent", "Expireed"}):
				raced++
			case !slices.Equal(got, []string{"Expireed"}):
				t.Fatalf("firing %d: events %v", i, got)
			}
		}
		if raced != 1 {
			t.Fatalf("%d aggregates have the concurrent event before the deadline's, want 1", raced)
		}
		// Fired again: applied once.
		schedule(t, store, fs)
		for i, o := range coord.FireGroup(t.Context(), fs) {
			if o.Err != nil || !o.Removed {
				t.Fatalf("firing %d again: %+v; want it answered by its key and removed", i, o)
			}
		}
		for i, f := range fs {
			if got := readTypes(t, store, f.Command.Cover); slices.Index(got, "Expireed") != len(got)-1 || len(got) > 2 {
				t.Fatalf("firing %d fired again: events %v, want it applied once", i, got)
			}
		}
		if pending, err := store.PendingDeadlines(t.Context(), "", 100); err != nil || len(pending) != 0 {
			t.Fatalf("pending %v, %v; want none", ids(pending), err)
		}
	})
}

// failingLoads is a store whose group loads fail.
type failingLoads struct{ benchStore }

func (failingLoads) LoadBooks(context.Context, []eventstore.Cover) ([]eventstore.Book, error) {
	return nil, eventstore.Unavailable(errors.New("loads fail"))
}

// When a group's load fails, the aggregates it loaded get the error, to
// retry, and those kept in memory, which it did not load, are still fired.
func TestFireGroupFailedLoadLeavesNoneUnfired(t *testing.T) {
	store := failingLoads{memory.New()}
	coord := command.New(store, store, router{&picky{}}, command.Options{MaxAttempts: 3}, quiet)
	kept, loaded := eventstore.Cover{Domain: "shop", Root: uuid.New()}, eventstore.Cover{Domain: "shop", Root: uuid.New()}
	if _, err := coord.Handle(t.Context(), business.CommandBook{Cover: kept, Pages: []business.Command{{TypeURL: "Open"}}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fs := []deadline.Firing{firing(t, "kept", kept, "Expire", now), firing(t, "loaded", loaded, "Expire", now)}
	schedule(t, store, fs)
	outs := coord.FireGroup(t.Context(), fs)
	if outs[0].Err != nil {
		t.Fatalf("kept aggregate's firing: %v", outs[0].Err)
	}
	if got := readTypes(t, store, kept); !slices.Equal(got, []string{"Opened", "Expireed"}) {
		t.Fatalf("kept aggregate's events %v: its deadline was reported fired without being applied", got)
	}
	if !errors.Is(outs[1].Err, eventstore.ErrUnavailable) {
		t.Fatalf("loaded aggregate's firing: %v, want the load's error", outs[1].Err)
	}
}

// More deadlines under way than a read's batch do not hide the others: a
// read asks for those under way on top of a batch, so the next ones start
// at once rather than at the next poll (a minute here).
func TestMoreUnderWayThanABatch(t *testing.T) {
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	release := make(chan struct{})
	var entered atomic.Int64
	hold := func(ctx context.Context, fs []deadline.Firing) []deadline.Outcome {
		entered.Add(int64(len(fs)))
		select {
		case <-release:
		case <-ctx.Done():
		}
		return make([]deadline.Outcome, len(fs))
	}
	f, err := deadline.NewFirer(store, delivery.NewReplica(store, "r1", time.Second), nil,
		deadline.Options{Segments: 4, Poll: time.Minute, Batch: 4, Group: 2, FireGroup: hold}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var fs []deadline.Firing
	for i := range 20 {
		fs = append(fs, firing(t, fmt.Sprintf("d%02d", i), eventstore.Cover{Domain: "shop", Root: uuid.New()}, "Expire", now))
	}
	schedule(t, store, fs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	t.Cleanup(func() { close(release); cancel(); <-done })
	if !waitFor(5*time.Second, func() bool { return entered.Load() == 20 }) {
		t.Fatalf("%d of 20 due deadlines under way after 5s (reads of 4, groups of 2, none done); want all 20", entered.Load())
	}
}
