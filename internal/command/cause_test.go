package command_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/eventstore"
)

// TestEventsCarryTheirCommandsCause: a client's command gets a correlation
// id (its own, or a new one) and a command id, shared by its events; a
// saga's command keeps its triggering event's correlation, one hop deeper.
func TestEventsCarryTheirCommandsCause(t *testing.T) {
	f := newFixture(t, logicFunc(echo), command.Options{})
	ctx := t.Context()
	first := orders()
	c := cmd(first, "A", "B")
	c.Cause.CorrelationID = "client-request-1"
	res, err := f.coord.Handle(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	stored := requireContiguous(t, f.store, first, 2)
	for i, e := range stored {
		got := e.Cause
		if got.CorrelationID != "client-request-1" || got.CommandID == "" || got.CommandID != stored[0].Cause.CommandID ||
			!got.CausedBy.IsZero() || got.Depth != 0 {
			t.Errorf("client command's event %d cause = %+v", i, got)
		}
		if res.Books[0].Events[i].Cause != got {
			t.Errorf("reply's event %d cause = %+v, stored %+v", i, res.Books[0].Events[i].Cause, got)
		}
	}

	// Without a correlation id, each command gets its own.
	other := orders()
	for range 2 {
		if _, err := f.coord.Handle(ctx, cmd(other, "A")); err != nil {
			t.Fatal(err)
		}
	}
	two := requireContiguous(t, f.store, other, 2)
	if a, b := two[0].Cause, two[1].Cause; a.CorrelationID == "" || a.CorrelationID == b.CorrelationID || a.CommandID == b.CommandID {
		t.Errorf("two commands without correlation ids: causes %+v and %+v; want distinct ids", a, b)
	}

	// A saga's command, as delivery sends it.
	saga := orders()
	sc := cmd(saga, "C")
	sc.Cause = eventstore.Following(first, stored[1])
	if _, err := f.coord.Handle(ctx, sc); err != nil {
		t.Fatal(err)
	}
	got := requireContiguous(t, f.store, saga, 1)[0].Cause
	want := eventstore.Cause{
		CorrelationID: "client-request-1", CommandID: got.CommandID,
		CausedBy: eventstore.EventRef{Cover: first, Sequence: 1}, Depth: 1,
	}
	if got != want || got.CommandID == "" || got.CommandID == stored[0].Cause.CommandID {
		t.Errorf("saga command's event cause = %+v; want %+v with a new command id", got, want)
	}
}

// TestRecordStoresItsCause: a Record call is stored with the given
// correlation id and a command id of its own.
func TestRecordStoresItsCause(t *testing.T) {
	f := newFixture(t, logicFunc(echo), command.Options{})
	cover := orders()
	if _, err := f.coord.Record(t.Context(), cover, []eventstore.Page{{TypeURL: "A"}, {TypeURL: "B"}}, eventstore.Cause{CorrelationID: "import-7"}); err != nil {
		t.Fatal(err)
	}
	events := requireContiguous(t, f.store, cover, 2)
	for _, e := range events {
		if e.Cause.CorrelationID != "import-7" || e.Cause.CommandID == "" || e.Cause.CommandID != events[0].Cause.CommandID || e.Cause.Depth != 0 {
			t.Errorf("recorded event %d cause = %+v", e.Sequence, e.Cause)
		}
	}
}

// TestCascadeBoundsAChainOfSagaCommands runs a chain as asynchronous sagas
// make it, one command at a time, each caused by the previous command's
// event: commands at depths 0..MaxCascade-1 go through; the next is
// refused, permanently, with the chain read back through the store.
func TestCascadeBoundsAChainOfSagaCommands(t *testing.T) {
	f := newFixture(t, logicFunc(echo), command.Options{})
	ctx := t.Context()
	var chain []eventstore.Cover
	c := cmd(orders(), "Loop")
	c.Cause.CorrelationID = "loop-1"
	for depth := range command.MaxCascade {
		chain = append(chain, c.Cover)
		res, err := f.coord.Handle(ctx, c)
		if err != nil {
			t.Fatalf("command at depth %d: %v", depth, err)
		}
		e := res.Books[0].Events[0]
		if e.Cause.Depth != uint32(depth) || e.Cause.CorrelationID != "loop-1" {
			t.Fatalf("event of the command at depth %d: cause %+v", depth, e.Cause)
		}
		c = cmd(orders(), "Loop")
		c.Cause = eventstore.Following(res.Books[0].Cover, e)
	}
	chain = append(chain, c.Cover)

	_, err := f.coord.Handle(ctx, c)
	var cascade *command.CascadeError
	if !errors.As(err, &cascade) || !errors.Is(err, command.ErrCascade) {
		t.Fatalf("command at depth %d: err = %v; want a *CascadeError", command.MaxCascade, err)
	}
	if !slices.Equal(cascade.Chain, chain) || cascade.CorrelationID != "loop-1" {
		t.Errorf("chain = %v (correlation %q);\nwant %v (loop-1)", cascade.Chain, cascade.CorrelationID, chain)
	}
	var p interface{ Permanent() bool }
	if !errors.As(err, &p) || !p.Permanent() {
		t.Errorf("a cascade error does not report itself permanent")
	}
	if events, _ := f.store.Read(ctx, c.Cover, 0, 0); len(events) != 0 {
		t.Errorf("the refused command stored %d events", len(events))
	}
}
