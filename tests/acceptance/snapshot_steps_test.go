package acceptance

import (
	"context"
	"fmt"
	"time"

	"github.com/cucumber/godog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
)

// registerSnapshots binds the steps of automatic snapshots.
func (w *world) registerSnapshots(sc *godog.ScenarioContext) {
	sc.Given(`^the "([^"]*)" domain takes a snapshot every (\d+) events$`, w.snapshotEvery)
	sc.Given(`^the business logic (can|cannot) tell the state of a customer$`, w.canSnapshot)
	sc.When(`^(\d+) "([^"]*)" commands are handled for aggregate "([^"]*)"$`, w.commandsHandled)
	sc.Then(`^eventually aggregate "([^"]*)" loads from a snapshot at sequence (\d+) or later, with fewer than (\d+) events after it$`, w.loadsFromSnapshot)
	sc.Then(`^eventually the business logic was asked for the state of a customer once$`, w.askedForStateOnce)
	sc.Then(`^aggregate "([^"]*)" loads from no snapshot$`, w.loadsFromNoSnapshot)
}

func (w *world) snapshotEvery(domain string, n int) error {
	if err := w.configure("snapshot policy"); err != nil {
		return err
	}
	for i := range w.cfg.BusinessLogic {
		if w.cfg.BusinessLogic[i].Domain == domain {
			w.cfg.BusinessLogic[i].Snapshots.Every = n
			return nil
		}
	}
	return fmt.Errorf("no business logic for domain %q: add it first", domain)
}

func (w *world) canSnapshot(can string) error {
	w.logic.mu.Lock()
	defer w.logic.mu.Unlock()
	w.logic.snapshots = can == "can"
	return nil
}

func (w *world) commandsHandled(ctx context.Context, n int, command, name string) error {
	for i := range n {
		if err := w.commandWasHandled(ctx, command, name); err != nil {
			return fmt.Errorf("command %d of %d: %w", i+1, n, err)
		}
	}
	return nil
}

// loadOf is what a load of the aggregate reads: its snapshot (nil when
// none) and the number of events after it.
func (w *world) loadOf(ctx context.Context, name string) (*eventedpb.Snapshot, int, error) {
	if err := w.up(ctx); err != nil {
		return nil, 0, err
	}
	cover, err := w.cover(name)
	if err != nil {
		return nil, 0, err
	}
	books, err := w.getEvents(ctx, query(cover, 0, 0))
	if err != nil {
		return nil, 0, fmt.Errorf("read the events of %q: %w", name, err)
	}
	var snap *eventedpb.Snapshot
	n := 0
	for _, b := range books {
		if b.GetSnapshot() != nil {
			snap = b.GetSnapshot()
		}
		n += len(b.GetPages())
	}
	return snap, n, nil
}

func (w *world) loadsFromSnapshot(ctx context.Context, name string, seq uint32, fewer int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap, n, err := w.loadOf(ctx, name)
		if err != nil {
			return err
		}
		if snap.GetSequence() >= seq && n < fewer {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 10s, aggregate %q loads from snapshot %v and %d events", name, snap, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) askedForStateOnce(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for w.logic.snapshotCalls() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a second question would come now
	if n := w.logic.snapshotCalls(); n != 1 {
		return fmt.Errorf("the business logic was asked for the state %d times; want once", n)
	}
	return nil
}

func (w *world) loadsFromNoSnapshot(ctx context.Context, name string) error {
	snap, _, err := w.loadOf(ctx, name)
	if err != nil {
		return err
	}
	if snap != nil {
		return fmt.Errorf("aggregate %q loads from a snapshot at %d; want none", name, snap.GetSequence())
	}
	return nil
}

func (s *stubLogic) snapshotCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotAsked
}

// Snapshot implements evented.BusinessLogic's optional Snapshot: the state
// is how many events it folds, or UNIMPLEMENTED unless the scenario said
// the business logic can tell the state.
func (s *stubLogic) Snapshot(_ context.Context, in *eventedpb.EventBook) (*eventedpb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshotAsked++
	if !s.snapshots {
		return nil, status.Error(codes.Unimplemented, "method Snapshot not implemented")
	}
	return &eventedpb.Snapshot{State: &anypb.Any{
		TypeUrl: typeURL(snapshotType),
		Value:   fmt.Appendf(nil, "state of %d events", in.GetSnapshot().GetSequence()+uint32(len(in.GetPages()))),
	}}, nil
}
