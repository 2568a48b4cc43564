package command_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

// countingStore counts the loads that reach the store.
type countingStore struct {
	*memory.Store
	reads, snapshots atomic.Int32
}

func (s *countingStore) Read(ctx context.Context, c eventstore.Cover, from, to uint32) ([]eventstore.Event, error) {
	s.reads.Add(1)
	return s.Store.Read(ctx, c, from, to)
}

func (s *countingStore) Snapshot(ctx context.Context, c eventstore.Cover) (eventstore.Snapshot, bool, error) {
	s.snapshots.Add(1)
	return s.Store.Snapshot(ctx, c)
}

// recordingLogic is echo that remembers the prior state of each call.
type recordingLogic struct {
	priors []eventstore.Book
}

func (l *recordingLogic) Handle(ctx context.Context, req business.Request) (business.Decision, error) {
	l.priors = append(l.priors, req.Prior)
	return echo(ctx, req)
}
func (*recordingLogic) Name() string { return "recording logic" }

func newCounting(t *testing.T, logic business.Logic, opts command.Options) (*countingStore, *command.Coordinator) {
	t.Helper()
	store := &countingStore{Store: memory.New()}
	t.Cleanup(func() { store.Close() })
	return store, command.New(store, store, oneDomain{logic}, opts, slog.New(slog.DiscardHandler))
}

func sequences(b eventstore.Book) []uint32 {
	var out []uint32
	for _, e := range b.Events {
		out = append(out, e.Sequence)
	}
	return out
}

func TestNextCommandOfAnAggregateSkipsTheLoad(t *testing.T) {
	logic := &recordingLogic{}
	store, coord := newCounting(t, logic, command.Options{MaxAttempts: 1})
	cover := orders()
	for range 3 {
		if _, err := coord.Handle(t.Context(), cmd(cover, "Add", "Add")); err != nil {
			t.Fatal(err)
		}
	}
	if r, s := store.reads.Load(), store.snapshots.Load(); r != 1 || s != 1 {
		t.Errorf("store read %d times and asked for a snapshot %d times, want 1 and 1", r, s)
	}
	if got := sequences(logic.priors[2]); len(got) != 4 || got[3] != 3 {
		t.Errorf("third command saw sequences %v, want 0..3", got)
	}
	requireContiguous(t, store, cover, 6)
}

func TestAnotherWriterBetweenCommandsCostsNoAttempt(t *testing.T) {
	logic := &recordingLogic{}
	store, coord := newCounting(t, logic, command.Options{MaxAttempts: 1})
	cover := orders()
	if _, err := coord.Handle(t.Context(), cmd(cover, "Create")); err != nil {
		t.Fatal(err)
	}
	// Another server on the same store appends: this coordinator's kept
	// aggregate is now stale.
	if _, err := store.Append(t.Context(), cover, []eventstore.Page{{TypeURL: "Elsewhere"}}); err != nil {
		t.Fatal(err)
	}
	res, err := coord.Handle(t.Context(), cmd(cover, "Add"))
	if err != nil {
		t.Fatalf("second command failed with one attempt: %v", err)
	}
	if got := res.Books[0].Events[0].Sequence; got != 2 {
		t.Errorf("second command's event got sequence %d, want 2", got)
	}
	if len(logic.priors) != 3 || len(logic.priors[2].Events) != 2 || logic.priors[2].Events[1].TypeURL != "Elsewhere" {
		t.Errorf("business logic called %d times; last prior %v; want 3 calls, the last seeing the other writer's event", len(logic.priors), sequences(logic.priors[len(logic.priors)-1]))
	}
	requireContiguous(t, store, cover, 3)
}

func TestRecordMakesTheNextCommandLoad(t *testing.T) {
	logic := &recordingLogic{}
	store, coord := newCounting(t, logic, command.Options{MaxAttempts: 1})
	cover := orders()
	if _, err := coord.Handle(t.Context(), cmd(cover, "Create")); err != nil {
		t.Fatal(err)
	}
	if _, err := coord.Record(t.Context(), cover, []eventstore.Page{{HasNum: true, Num: 1, TypeURL: "Recorded"}}, eventstore.Cause{}); err != nil {
		t.Fatal(err)
	}
	if _, err := coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
		t.Fatal(err)
	}
	if len(logic.priors) != 2 || len(logic.priors[1].Events) != 2 {
		t.Fatalf("business logic called %d times, last with %d events; want 2 calls, the second seeing the record", len(logic.priors), len(logic.priors[len(logic.priors)-1].Events))
	}
	if store.reads.Load() != 2 {
		t.Errorf("store read %d times, want 2 (first command, and after the record)", store.reads.Load())
	}
	requireContiguous(t, store, cover, 3)
}

func TestKeptAggregateStartsAtTheStoredSnapshot(t *testing.T) {
	var priors []eventstore.Book
	logic := logicFunc(func(ctx context.Context, req business.Request) (business.Decision, error) {
		priors = append(priors, req.Prior)
		d, _ := echo(ctx, req)
		d.Snapshot = &business.Snapshot{TypeURL: "State", State: []byte{byte(req.Prior.Next())}}
		return d, nil
	})
	store, coord := newCounting(t, logic, command.Options{MaxAttempts: 1, Snapshots: map[string]command.SnapshotPolicy{"orders": {MinEvents: 2}}})
	cover := orders()
	for range 3 {
		if _, err := coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
			t.Fatal(err)
		}
	}
	// As a load from the store would give: the snapshot at 2 (the one at 1
	// was too close to none, the one at 3 too close to 2) and event 2.
	p := priors[2]
	if p.Snapshot == nil || p.Snapshot.Sequence != 2 || p.Snapshot.State[0] != 1 || len(p.Events) != 0 {
		t.Errorf("third command saw snapshot %+v and events %v, want the snapshot at 2 and no event", p.Snapshot, sequences(p))
	}
	if _, err := coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
		t.Fatal(err)
	}
	if p := priors[3]; p.Snapshot == nil || p.Snapshot.Sequence != 2 || len(p.Events) != 1 || p.Events[0].Sequence != 2 {
		t.Errorf("fourth command saw snapshot %+v and events %v, want the snapshot at 2 and event 2", p.Snapshot, sequences(p))
	}
	if store.reads.Load() != 1 {
		t.Errorf("store read %d times, want 1", store.reads.Load())
	}
}

func TestNoCacheLoadsEveryCommand(t *testing.T) {
	store, coord := newCounting(t, logicFunc(echo), command.Options{CacheEvents: -1})
	cover := orders()
	for range 3 {
		if _, err := coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
			t.Fatal(err)
		}
	}
	if store.reads.Load() != 3 {
		t.Errorf("store read %d times, want 3", store.reads.Load())
	}
}

// A command refused on a kept book is decided again on a fresh load: the
// book may be stale (another server appended), and a refusal must stand on
// what is stored.
func TestRefusalOnKeptBookIsDecidedAgainOnAFreshLoad(t *testing.T) {
	store := memory.New()
	defer store.Close()
	var calls atomic.Int32
	refuseUnderTwo := logicFunc(func(ctx context.Context, req business.Request) (business.Decision, error) {
		calls.Add(1)
		if req.Command.Pages[0].TypeURL == "Redeem" && len(req.Prior.Events) < 2 {
			return business.Decision{}, errors.New("Insufficient points")
		}
		return echo(ctx, req)
	})
	coord := command.New(store, store, oneDomain{refuseUnderTwo}, command.Options{MaxAttempts: 3}, slog.New(slog.DiscardHandler))
	cover := orders()
	if _, err := coord.Handle(t.Context(), cmd(cover, "Add")); err != nil { // kept: one event
		t.Fatal(err)
	}
	// Another server on the same store adds an event this coordinator did not see.
	if _, err := store.Append(t.Context(), cover, []eventstore.Page{{TypeURL: "AddDone"}}); err != nil {
		t.Fatal(err)
	}
	calls.Store(0)
	if _, err := coord.Handle(t.Context(), cmd(cover, "Redeem")); err != nil {
		t.Fatalf("refused on the stale kept book: %v", err)
	}
	if calls.Load() != 2 {
		t.Errorf("business logic asked %d times, want 2 (stale kept book, then fresh load)", calls.Load())
	}
	requireContiguous(t, store, cover, 3)
}

// A refusal on a kept book that is current stands: business logic is not
// asked twice (a slow or unreachable service would cost its timeout twice).
func TestRefusalOnCurrentKeptBookIsNotDecidedAgain(t *testing.T) {
	var calls atomic.Int32
	logic := logicFunc(func(ctx context.Context, req business.Request) (business.Decision, error) {
		calls.Add(1)
		if req.Command.Pages[0].TypeURL == "Redeem" {
			return business.Decision{}, errors.New("Insufficient points")
		}
		return echo(ctx, req)
	})
	store, coord := newCounting(t, logic, command.Options{MaxAttempts: 3})
	cover := orders()
	if _, err := coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
		t.Fatal(err)
	}
	calls.Store(0)
	if _, err := coord.Handle(t.Context(), cmd(cover, "Redeem")); err == nil || err.Error() != "Insufficient points" {
		t.Fatalf("err = %v, want the refusal", err)
	}
	if calls.Load() != 1 {
		t.Errorf("business logic asked %d times, want 1", calls.Load())
	}
	requireContiguous(t, store, cover, 1)
}

// "Nothing to do" on a stale kept book is decided again on what is stored.
func TestEmptyDecisionOnStaleKeptBookIsDecidedAgain(t *testing.T) {
	var calls atomic.Int32
	addOnce := logicFunc(func(ctx context.Context, req business.Request) (business.Decision, error) {
		calls.Add(1)
		for _, e := range req.Prior.Events {
			if e.TypeURL == "Removed" { // removed elsewhere: add again
				return echo(ctx, req)
			}
		}
		if len(req.Prior.Events) > 0 {
			return business.Decision{}, nil // already added
		}
		return echo(ctx, req)
	})
	store, coord := newCounting(t, addOnce, command.Options{MaxAttempts: 1})
	cover := orders()
	if _, err := coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(t.Context(), cover, []eventstore.Page{{TypeURL: "Removed"}}); err != nil {
		t.Fatal(err)
	}
	calls.Store(0)
	res, err := coord.Handle(t.Context(), cmd(cover, "Add"))
	if err != nil || len(res.Books) != 1 {
		t.Fatalf("res = %+v, err = %v; want the event added on the fresh load", res, err)
	}
	if calls.Load() != 2 {
		t.Errorf("business logic asked %d times, want 2", calls.Load())
	}
	requireContiguous(t, store, cover, 3)
}
