package command_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

// logicFunc adapts a function to business.Logic.
type logicFunc func(ctx context.Context, req business.Request) (business.Decision, error)

func (f logicFunc) Handle(ctx context.Context, req business.Request) (business.Decision, error) {
	return f(ctx, req)
}
func (logicFunc) Name() string { return "test logic" }

// oneDomain routes domain "orders" to its logic.
type oneDomain struct{ logic business.Logic }

func (r oneDomain) Route(domain string) (business.Logic, error) {
	if domain != "orders" {
		return nil, &command.UnknownDomainError{Domain: domain, Known: []string{"orders"}}
	}
	return r.logic, nil
}

// echo answers each command page with one event named after it, stamping
// sequence 0 on every event as the evented-rs examples do.
func echo(_ context.Context, req business.Request) (business.Decision, error) {
	d := business.Decision{Cover: req.Command.Cover}
	for _, c := range req.Command.Pages {
		d.Events = append(d.Events, business.Event{HasNum: true, Num: 0, TypeURL: c.TypeURL + "Done", Payload: c.Payload})
	}
	return d, nil
}

type fixture struct {
	store *memory.Store
	coord *command.Coordinator
}

func newFixture(t *testing.T, logic business.Logic, opts command.Options) fixture {
	t.Helper()
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = 3
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return fixture{store: store, coord: command.New(store, store, oneDomain{logic}, opts, log)}
}

func cmd(cover eventstore.Cover, types ...string) business.CommandBook {
	b := business.CommandBook{Cover: cover}
	for _, ty := range types {
		b.Pages = append(b.Pages, business.Command{TypeURL: ty, Payload: []byte(ty)})
	}
	return b
}

func orders() eventstore.Cover { return eventstore.Cover{Domain: "orders", Root: uuid.New()} }

// requireContiguous checks the invariant: sequences 0..n-1, nothing else.
func requireContiguous(t *testing.T, s eventstore.Store, cover eventstore.Cover, n int) []eventstore.Event {
	t.Helper()
	events, err := s.Read(t.Context(), cover, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != n {
		t.Fatalf("%s has %d events, want %d", cover, len(events), n)
	}
	for i, e := range events {
		if e.Sequence != uint32(i) {
			t.Fatalf("event %d has sequence %d", i, e.Sequence)
		}
	}
	return events
}

func TestHandleNumbersEventsItselfAndRepliesAsStored(t *testing.T) {
	f := newFixture(t, logicFunc(echo), command.Options{})
	cover := orders()
	for i := range 3 {
		res, err := f.coord.Handle(t.Context(), cmd(cover, "Create", "Add"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Books) != 1 || len(res.Books[0].Events) != 2 {
			t.Fatalf("reply = %+v, want one book of two events", res)
		}
		for j, e := range res.Books[0].Events {
			if want := uint32(2*i + j); e.Sequence != want {
				t.Errorf("reply event has sequence %d, want %d", e.Sequence, want)
			}
			if e.CreatedAt.IsZero() {
				t.Error("reply event has no created_at")
			}
		}
	}
	events := requireContiguous(t, f.store, cover, 6)
	if events[1].TypeURL != "AddDone" || string(events[1].Payload) != "Add" {
		t.Errorf("stored %q %q, want AddDone Add", events[1].TypeURL, events[1].Payload)
	}
}

func TestBusinessLogicSeesPriorEvents(t *testing.T) {
	var seen atomic.Int32
	f := newFixture(t, logicFunc(func(ctx context.Context, req business.Request) (business.Decision, error) {
		seen.Store(int32(len(req.Prior.Events)))
		return echo(ctx, req)
	}), command.Options{})
	cover := orders()
	if _, err := f.store.Append(t.Context(), cover, []eventstore.Page{{TypeURL: "OrderCreated"}, {TypeURL: "ItemAdded"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.coord.Handle(t.Context(), cmd(cover, "AddItem")); err != nil {
		t.Fatal(err)
	}
	if seen.Load() != 2 {
		t.Errorf("business logic saw %d prior events, want 2", seen.Load())
	}
	requireContiguous(t, f.store, cover, 3)
}

// 16 clients sending 10 commands each to one aggregate at once all succeed.
func TestConcurrentCommandsOnOneAggregateAllSucceed(t *testing.T) {
	f := newFixture(t, logicFunc(echo), command.Options{MaxAttempts: 1})
	cover := orders()
	var wg sync.WaitGroup
	errs := make(chan error, 160)
	for c := range 16 {
		wg.Go(func() {
			for i := range 10 {
				if _, err := f.coord.Handle(t.Context(), cmd(cover, fmt.Sprintf("C%d-%d", c, i))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	requireContiguous(t, f.store, cover, 160)
}

// interferer is business logic that, while deciding, lets another writer
// append to the same aggregate — the first `times` calls.
func interferer(store eventstore.Store, times int32, calls *atomic.Int32) logicFunc {
	return func(ctx context.Context, req business.Request) (business.Decision, error) {
		if calls.Add(1) <= times {
			if _, err := store.Append(ctx, req.Command.Cover, []eventstore.Page{{TypeURL: "Intruder"}}); err != nil {
				return business.Decision{}, err
			}
		}
		return echo(ctx, req)
	}
}

func TestStaleCommandIsRetriedAndSucceeds(t *testing.T) {
	var calls atomic.Int32
	store := memory.New()
	defer store.Close()
	coord := command.New(store, store, oneDomain{interferer(store, 1, &calls)}, command.Options{MaxAttempts: 3}, slog.New(slog.DiscardHandler))
	cover := orders()
	res, err := coord.Handle(t.Context(), cmd(cover, "Create"))
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Errorf("business logic called %d times, want 2 (one stale, one retry)", calls.Load())
	}
	if got := res.Books[0].Events[0].Sequence; got != 1 {
		t.Errorf("command's event got sequence %d, want 1 (after the intruder's 0)", got)
	}
	requireContiguous(t, store, cover, 2)
}

func TestConflictThatNeverResolvesAborts(t *testing.T) {
	var calls atomic.Int32
	store := memory.New()
	defer store.Close()
	coord := command.New(store, store, oneDomain{interferer(store, 1000, &calls)}, command.Options{MaxAttempts: 4}, slog.New(slog.DiscardHandler))
	cover := orders()
	_, err := coord.Handle(t.Context(), cmd(cover, "Create"))
	var aborted *command.AbortedError
	if !errors.As(err, &aborted) || !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("err = %v, want *AbortedError matching ErrConflict", err)
	}
	if aborted.Attempts != 4 || calls.Load() != 4 {
		t.Errorf("attempts %d, calls %d; want 4 and 4", aborted.Attempts, calls.Load())
	}
	if want := "sequence conflict: expected 3, got 4"; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("message %q does not start with %q", err, want)
	}
	requireContiguous(t, store, cover, 4) // only the intruder's events
}

func TestSnapshotIsStoredAndLoadedWithTail(t *testing.T) {
	var prior atomic.Pointer[eventstore.Book]
	f := newFixture(t, logicFunc(func(ctx context.Context, req business.Request) (business.Decision, error) {
		prior.Store(&req.Prior)
		d, _ := echo(ctx, req)
		d.Snapshot = &business.Snapshot{TypeURL: "State", State: fmt.Appendf(nil, "after %d", req.Prior.Next()+1)}
		return d, nil
	}), command.Options{Snapshots: map[string]command.SnapshotPolicy{"orders": {MinEvents: 2}}})
	cover := orders()
	for range 3 {
		if _, err := f.coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
			t.Fatal(err)
		}
	}
	// Snapshots were returned after events 1, 2 and 3; MinEvents 2 keeps the
	// one at sequence 2 and drops the one at 3 (only one event newer).
	s, ok, err := f.store.Snapshot(t.Context(), cover)
	if err != nil || !ok {
		t.Fatalf("snapshot: ok=%v err=%v", ok, err)
	}
	if s.Sequence != 2 || string(s.State) != "after 2" {
		t.Fatalf("snapshot = %d %q, want 2 %q", s.Sequence, s.State, "after 2")
	}
	if _, err := f.coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
		t.Fatal(err)
	}
	p := prior.Load()
	if p.Snapshot == nil || p.Snapshot.Sequence != 2 || len(p.Events) != 1 || p.Events[0].Sequence != 2 {
		t.Fatalf("business logic got snapshot %+v and %d events, want snapshot at 2 and the event 2", p.Snapshot, len(p.Events))
	}
	requireContiguous(t, f.store, cover, 4)
}

// SnapshotPolicy.Keep keeps the newest few snapshots returned with commands.
func TestSnapshotPolicyKeep(t *testing.T) {
	f := newFixture(t, logicFunc(func(ctx context.Context, req business.Request) (business.Decision, error) {
		d, _ := echo(ctx, req)
		d.Snapshot = &business.Snapshot{TypeURL: "State", State: fmt.Appendf(nil, "after %d", req.Prior.Next()+1)}
		return d, nil
	}), command.Options{Snapshots: map[string]command.SnapshotPolicy{"orders": {Keep: 2}}})
	cover := orders()
	for range 4 {
		if _, err := f.coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
			t.Fatal(err)
		}
	}
	h, err := f.store.SnapshotHistory(t.Context(), cover)
	if err != nil || len(h) != 2 || h[0].Sequence != 4 || h[1].Sequence != 3 {
		t.Fatalf("snapshots kept: %+v, %v; want those at 4 and 3", h, err)
	}
}

func TestSnapshotPolicyDisabled(t *testing.T) {
	f := newFixture(t, logicFunc(func(ctx context.Context, req business.Request) (business.Decision, error) {
		d, _ := echo(ctx, req)
		d.Snapshot = &business.Snapshot{TypeURL: "State"}
		return d, nil
	}), command.Options{Snapshots: map[string]command.SnapshotPolicy{"orders": {Disabled: true}}})
	cover := orders()
	if _, err := f.coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.store.Snapshot(t.Context(), cover); ok {
		t.Error("snapshot stored though the policy disables it")
	}
}

func TestBusinessErrorsPassThroughAndStoreNothing(t *testing.T) {
	rejection := errors.New("Insufficient points: have 5, need 10")
	f := newFixture(t, logicFunc(func(context.Context, business.Request) (business.Decision, error) {
		return business.Decision{}, rejection
	}), command.Options{})
	cover := orders()
	if _, err := f.coord.Handle(t.Context(), cmd(cover, "Redeem")); !errors.Is(err, rejection) {
		t.Fatalf("err = %v, want the business error", err)
	}
	requireContiguous(t, f.store, cover, 0)
}

func TestWrongCoverIsMisbehaviour(t *testing.T) {
	f := newFixture(t, logicFunc(func(ctx context.Context, req business.Request) (business.Decision, error) {
		d, _ := echo(ctx, req)
		d.Cover = orders()
		return d, nil
	}), command.Options{})
	_, err := f.coord.Handle(t.Context(), cmd(orders(), "Create"))
	var mis *business.MisbehaviourError
	if !errors.As(err, &mis) || mis.Service != "test logic" {
		t.Fatalf("err = %v, want a MisbehaviourError naming the service", err)
	}
}

func TestEmptyDecisionStoresNothing(t *testing.T) {
	f := newFixture(t, logicFunc(func(context.Context, business.Request) (business.Decision, error) {
		return business.Decision{}, nil
	}), command.Options{})
	res, err := f.coord.Handle(t.Context(), cmd(orders(), "Nothing"))
	if err != nil || len(res.Books) != 0 {
		t.Fatalf("res=%+v err=%v, want an empty result", res, err)
	}
}

func TestBusinessLogicDeadline(t *testing.T) {
	f := newFixture(t, logicFunc(func(ctx context.Context, _ business.Request) (business.Decision, error) {
		<-ctx.Done()
		return business.Decision{}, ctx.Err()
	}), command.Options{Timeout: 20 * time.Millisecond})
	if _, err := f.coord.Handle(t.Context(), cmd(orders(), "Slow")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

func TestValidationAndRouting(t *testing.T) {
	f := newFixture(t, logicFunc(echo), command.Options{})
	for name, tc := range map[string]struct {
		book business.CommandBook
		want error
	}{
		"no domain":      {cmd(eventstore.Cover{Root: uuid.New()}, "X"), eventstore.ErrInvalid},
		"no pages":       {cmd(orders()), eventstore.ErrInvalid},
		"unknown domain": {cmd(eventstore.Cover{Domain: "nope", Root: uuid.New()}, "X"), command.ErrUnknownDomain},
	} {
		if _, err := f.coord.Handle(t.Context(), tc.book); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func TestRecordChecksCallersSequence(t *testing.T) {
	f := newFixture(t, logicFunc(echo), command.Options{})
	cover := orders()
	if _, err := f.coord.Record(t.Context(), cover, []eventstore.Page{{HasNum: true, Num: 0, TypeURL: "A"}, {TypeURL: "B"}}, eventstore.Cause{}); err != nil {
		t.Fatal(err)
	}
	_, err := f.coord.Record(t.Context(), cover, []eventstore.Page{{HasNum: true, Num: 1, TypeURL: "C"}}, eventstore.Cause{})
	var conflict *eventstore.ConflictError
	if !errors.As(err, &conflict) || conflict.Expected != 1 || conflict.Actual != 2 {
		t.Fatalf("err = %v, want conflict expected 1 got 2", err)
	}
	if _, err := f.coord.Record(t.Context(), cover, nil, eventstore.Cause{}); !errors.Is(err, eventstore.ErrInvalid) {
		t.Fatalf("empty record: err = %v, want invalid", err)
	}
	requireContiguous(t, f.store, cover, 2)
}
