package command_test

import (
	"sync"
	"testing"
	"time"

	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/eventstore"
)

// loads records what Options.Loads is told.
type loads struct {
	mu  sync.Mutex
	got []int // events read, per load
}

func (l *loads) Loaded(_ eventstore.Cover, took time.Duration, events int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if took < 0 {
		events = -1
	}
	l.got = append(l.got, events)
}

// Every load from the store is reported with the events it read; a command
// on an aggregate kept in memory loads nothing and reports nothing.
func TestLoadsAreReported(t *testing.T) {
	l := &loads{}
	f := newFixture(t, logicFunc(echo), command.Options{Loads: l, CacheEvents: -1})
	cover := orders()
	for range 3 {
		if _, err := f.coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.got; len(got) != 3 || got[0] != 0 || got[1] != 1 || got[2] != 2 {
		t.Errorf("loads reported %v; want [0 1 2] (events read by each command's load)", got)
	}

	kept := &loads{}
	f = newFixture(t, logicFunc(echo), command.Options{Loads: kept})
	for range 3 {
		if _, err := f.coord.Handle(t.Context(), cmd(cover, "Add")); err != nil {
			t.Fatal(err)
		}
	}
	if len(kept.got) != 1 {
		t.Errorf("with the aggregate kept in memory, loads reported %v; want only the first", kept.got)
	}
}
