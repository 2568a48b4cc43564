package delivery_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

// readModel is a projector that rebuilds: a replay of an aggregate's first
// event starts its model again. It also counts what it was given live and
// as a replay.
type readModel struct {
	name     string
	mu       sync.Mutex
	model    map[eventstore.Cover][]uint32
	replayed map[eventstore.Cover][]uint32
	live     int
}

func newReadModel(name string) *readModel {
	return &readModel{name: name, model: map[eventstore.Cover][]uint32{}, replayed: map[eventstore.Cover][]uint32{}}
}

func (m *readModel) Name() string { return m.name }

func (m *readModel) Deliver(ctx context.Context, book eventstore.Book, _ bool) (delivery.Outcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	replay := delivery.Replaying(ctx)
	for _, e := range book.Events {
		if replay {
			if e.Sequence == 0 {
				m.model[book.Cover] = nil
			}
			m.replayed[book.Cover] = append(m.replayed[book.Cover], e.Sequence)
		} else {
			m.live++
		}
		m.model[book.Cover] = append(m.model[book.Cover], e.Sequence)
	}
	return delivery.Outcome{}, nil
}

func (m *readModel) snapshot() (model, replayed map[eventstore.Cover][]uint32, live int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	model, replayed = map[eventstore.Cover][]uint32{}, map[eventstore.Cover][]uint32{}
	for c, s := range m.model {
		model[c] = slices.Clone(s)
	}
	for c, s := range m.replayed {
		replayed[c] = slices.Clone(s)
	}
	return model, replayed, m.live
}

// complete reports whether every cover's model is 0..want[c]-1, in order.
func complete(model map[eventstore.Cover][]uint32, want map[eventstore.Cover]int) bool {
	if len(model) != len(want) {
		return false
	}
	for c, n := range want {
		s := model[c]
		if len(s) != n {
			return false
		}
		for i, q := range s {
			if q != uint32(i) {
				return false
			}
		}
	}
	return true
}

// A reset on one replica rebuilds the projection on every replica: each
// aggregate's events are delivered again from the first, marked as a
// replay, while commands keep arriving; the rebuilt read model ends equal
// to one that never stopped, and events after the reset are live again.
func TestResetRebuildsOnEveryReplicaWhileEventsArrive(t *testing.T) {
	// The projector that never stops reads a second store given the same
	// events (replicas of one store share its membership).
	store, same := memory.New(), memory.New()
	rebuilt, steady := newReadModel("p"), newReadModel("steady")
	a := delivery.New(rebuilt, store, nil, fast(delivery.Options{Owner: "a"}), quiet)
	b := delivery.New(rebuilt, store, nil, fast(delivery.Options{Owner: "b"}), quiet)
	s := delivery.New(steady, same, nil, fast(delivery.Options{}), quiet)
	defer runAsync(t, a)()
	defer runAsync(t, b)()
	run(t, s)
	eventually(t, "two segments each", func() bool { return locals(a) == 2 && locals(b) == 2 })

	covers := make([]eventstore.Cover, 16)
	want := map[eventstore.Cover]int{}
	for i := range covers {
		covers[i] = cover("a")
	}
	add := func(n int) {
		for i := range n {
			c := covers[i%len(covers)]
			appendN(t, store, c, 1)
			appendN(t, same, c, 1)
			want[c]++
		}
	}
	add(160)
	eventually(t, "every event, before the reset", func() bool { m, _, _ := rebuilt.snapshot(); return complete(m, want) })

	// Commands keep arriving during the reset.
	var wg sync.WaitGroup
	var during atomic.Bool
	during.Store(true)
	extra := make(chan map[eventstore.Cover]int, 1)
	wg.Go(func() {
		added := map[eventstore.Cover]int{}
		for i := 0; during.Load() && i < 400; i++ {
			c := covers[i%len(covers)]
			appendN(t, store, c, 1)
			appendN(t, same, c, 1)
			added[c]++
			time.Sleep(time.Millisecond)
		}
		extra <- added
	})
	res, err := a.Reset(t.Context(), delivery.ResetTo{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Position != 0 || res.Segments != 4 || res.Until < 160 {
		t.Fatalf("Reset = %+v; want position 0, 4 segments, replay up to the head (at least 160)", res)
	}
	time.Sleep(50 * time.Millisecond)
	during.Store(false)
	wg.Wait()
	for c, n := range <-extra {
		want[c] += n
	}
	eventually(t, "the rebuilt model complete, every aggregate replayed", func() bool {
		m, r, _ := rebuilt.snapshot()
		for _, c := range covers {
			if len(r[c]) < 10 {
				return false
			}
		}
		return complete(m, want)
	})
	eventually(t, "the steady model complete", func() bool { m, _, _ := steady.snapshot(); return complete(m, want) })
	model, replayed, _ := rebuilt.snapshot()
	steadyModel, _, _ := steady.snapshot()
	for _, c := range covers {
		if !slices.Equal(model[c], steadyModel[c]) {
			t.Errorf("%s: rebuilt %v, never stopped %v", c, model[c], steadyModel[c])
		}
		// Every event up to the reset's head was replayed, from the first.
		if len(replayed[c]) < 10 || replayed[c][0] != 0 {
			t.Errorf("%s: replayed %v; want at least 0..9, from 0", c, replayed[c])
		}
	}
	if da, db := a.Status().Delivered, b.Status().Delivered; da == 0 || db == 0 {
		t.Errorf("delivered %d by a and %d by b: the reset reached only one replica", da, db)
	}
	// After the replay, new events are live, not replays.
	_, before, liveBefore := rebuilt.snapshot()
	add(16)
	eventually(t, "the new events", func() bool { _, _, live := rebuilt.snapshot(); return live >= liveBefore+16 })
	_, after, _ := rebuilt.snapshot()
	for _, c := range covers {
		if len(after[c]) != len(before[c]) {
			t.Errorf("%s: an event after the replay was marked as a replay", c)
		}
	}
}

// A saga's commands in answer to a replay are dropped, unless the reset
// asked for them.
func TestResetDropsSagaCommandsUnlessAsked(t *testing.T) {
	store := memory.New()
	saga := newRecorder("loyalty")
	saga.cmds = func(b eventstore.Book) []business.CommandBook {
		return []business.CommandBook{{Cover: cover("customer")}}
	}
	d := &dispatcher{}
	sub := delivery.New(saga, store, d, fast(delivery.Options{EventPerBook: true}), quiet)
	run(t, sub)
	src := cover("orders")
	appendN(t, store, src, 5)
	dispatched := func() int { d.mu.Lock(); defer d.mu.Unlock(); return len(d.cmds) }
	eventually(t, "5 commands", func() bool { return dispatched() == 5 })

	if _, err := sub.Reset(t.Context(), delivery.ResetTo{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replay", func() bool { return saga.total() == 10 })
	appendN(t, store, src, 1) // live again: its command goes out
	eventually(t, "the live event's command", func() bool { return dispatched() == 6 })
	if saga.total() != 11 {
		t.Fatalf("saga given %d events; want 5, 5 replayed, 1 live", saga.total())
	}

	if _, err := sub.Reset(t.Context(), delivery.ResetTo{SagaCommands: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replay's commands, asked for", func() bool { return dispatched() == 12 })
}

// A reset to a position replays only the events after it; to a time, only
// those created at or after it.
func TestResetToPositionAndTime(t *testing.T) {
	store := memory.New()
	m := newReadModel("p")
	sub := delivery.New(m, store, nil, fast(delivery.Options{}), quiet)
	run(t, sub)
	c := cover("a")
	appendN(t, store, c, 4)
	time.Sleep(20 * time.Millisecond)
	since := time.Now()
	time.Sleep(20 * time.Millisecond)
	appendN(t, store, c, 3)
	eventually(t, "7 events", func() bool { _, _, live := m.snapshot(); return live == 7 })

	logged, err := store.ReadLog(t.Context(), 0, 10)
	if err != nil || len(logged) != 7 {
		t.Fatalf("log: %d events, %v", len(logged), err)
	}
	res, err := sub.Reset(t.Context(), delivery.ResetTo{Position: logged[4].Position})
	if err != nil || res.Position != logged[4].Position {
		t.Fatalf("Reset to a position = %+v, %v", res, err)
	}
	eventually(t, "events 5 and 6 replayed", func() bool { _, r, _ := m.snapshot(); return slices.Equal(r[c], []uint32{5, 6}) })

	res, err = sub.Reset(t.Context(), delivery.ResetTo{Time: since})
	if err != nil || res.Position != logged[3].Position {
		t.Fatalf("Reset to a time = %+v, %v; want position %d (the last event before it)", res, err, logged[3].Position)
	}
	eventually(t, "events 4 to 6 replayed", func() bool {
		_, r, _ := m.snapshot()
		return slices.Equal(r[c], []uint32{5, 6, 4, 5, 6})
	})

	if _, err := sub.Reset(t.Context(), delivery.ResetTo{Position: logged[6].Position + 1000}); !errors.Is(err, eventstore.ErrInvalid) {
		t.Fatalf("Reset beyond the head: %v; want ErrInvalid", err)
	}
	idle := delivery.New(newReadModel("never-ran"), store, nil, fast(delivery.Options{}), quiet)
	if _, err := idle.Reset(t.Context(), delivery.ResetTo{}); !errors.Is(err, delivery.ErrNotStarted) {
		t.Fatalf("Reset of a subscription that never ran: %v; want ErrNotStarted", err)
	}
}

// A reset's replay starts at once on the replica that asked for it: the
// segments it stops are taken again as soon as they have stopped, not at
// the next renewal a third of a lease later (fails when nothing looks at
// the leases when a segment stops: the replay waits 10 s here).
func TestResetReplaysWithoutWaitingForTheNextRenewal(t *testing.T) {
	store := memory.New()
	m := newReadModel("p")
	sub := delivery.New(m, store, nil, fast(delivery.Options{LeaseTTL: 30 * time.Second}), quiet)
	run(t, sub)
	c := cover("a")
	appendN(t, store, c, 5)
	eventually(t, "the events", func() bool { _, _, live := m.snapshot(); return live == 5 })
	if _, err := sub.Reset(t.Context(), delivery.ResetTo{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, replayed, _ := m.snapshot(); len(replayed[c]) == 5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the replay had not begun 5 s after the reset (the next renewal is 10 s after it)")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
