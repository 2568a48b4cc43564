package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// LogStore is what the Log suite needs: a store read as one stream.
type LogStore interface {
	eventstore.Store
	eventstore.Log
}

// LogBackend declares how the Log suite opens a backend.
type LogBackend struct {
	Open func(t *testing.T) LogStore
	// Writers is how many concurrent appenders the tailing test runs
	// (default 16). A backend whose transactions can commit out of position
	// order (PostgreSQL) should also run the tail test with commit delays of
	// its own.
	Writers int
}

// RunLog runs the Log conformance suite against b. The core property: a
// reader that pages through ReadLog from a position, while writers append,
// sees every committed event exactly once, positions increasing, and each
// cover's events in sequence order.
func RunLog(t *testing.T, b LogBackend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s LogStore, b LogBackend)
	}{
		{"Empty", testLogEmpty},
		{"Order", testLogOrder},
		{"Paging", testLogPaging},
		{"ConflictsNotLogged", testLogConflictsNotLogged},
		{"AppendedSignals", testLogAppendedSignals},
		{"TailWhileWriting", testLogTailWhileWriting},
		{"Cause", testLogCause},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			tc.fn(t, ctx, b.Open(t), b)
		})
	}
}

// readAll reads the log after after, limit events at a time, until it has
// at least want events: a backend may show a commit to readers a little
// later (PostgreSQL's log waits for transactions begun earlier anywhere on
// the server, such as other tests'), so it looks again until ctx ends.
func readAll(t *testing.T, ctx context.Context, s eventstore.Log, after uint64, limit, want int) []eventstore.Logged {
	t.Helper()
	for {
		all := readOnce(t, ctx, s, after, limit)
		if len(all) >= want {
			return all
		}
		select {
		case <-ctx.Done():
			return all
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func readOnce(t *testing.T, ctx context.Context, s eventstore.Log, after uint64, limit int) []eventstore.Logged {
	t.Helper()
	var all []eventstore.Logged
	for {
		batch, err := s.ReadLog(ctx, after, limit)
		if err != nil {
			t.Fatalf("ReadLog(%d, %d): %v", after, limit, err)
		}
		if len(batch) > limit {
			t.Fatalf("ReadLog(%d, %d) returned %d events", after, limit, len(batch))
		}
		if len(batch) == 0 {
			return all
		}
		all = append(all, batch...)
		after = batch[len(batch)-1].Position
	}
}

func testLogEmpty(t *testing.T, ctx context.Context, s LogStore, _ LogBackend) {
	head, err := s.Head(ctx)
	if err != nil || head != 0 {
		t.Fatalf("Head of an empty store = %d, %v; want 0", head, err)
	}
	if got, err := s.ReadLog(ctx, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("ReadLog of an empty store = %v, %v", got, err)
	}
}

func testLogOrder(t *testing.T, ctx context.Context, s LogStore, _ LogBackend) {
	a, b := newCover("orders"), newCover("customers")
	mustAppend(t, ctx, s, a, pages("a", 0, 2))
	mustAppend(t, ctx, s, b, pages("b", 0, 1))
	mustAppend(t, ctx, s, a, pages("a", 2, 1))
	got := readAll(t, ctx, s, 0, 100, 4)
	want := []struct {
		cover   eventstore.Cover
		seq     uint32
		payload string
	}{{a, 0, "a0"}, {a, 1, "a1"}, {b, 0, "b0"}, {a, 2, "a2"}}
	if len(got) != len(want) {
		t.Fatalf("ReadLog returned %d events, want %d", len(got), len(want))
	}
	var last uint64
	for i, w := range want {
		g := got[i]
		if g.Position <= last {
			t.Errorf("event %d: position %d not above %d", i, g.Position, last)
		}
		last = g.Position
		if g.Cover != w.cover || g.Sequence != w.seq || string(g.Payload) != w.payload || g.TypeURL == "" || g.CreatedAt.IsZero() {
			t.Errorf("event %d = %s/%d %q; want %s/%d %q", i, g.Cover, g.Sequence, g.Payload, w.cover, w.seq, w.payload)
		}
	}
	head, err := s.Head(ctx)
	if err != nil || head != last {
		t.Errorf("Head = %d, %v; want the last position %d", head, err, last)
	}
	if rest, err := s.ReadLog(ctx, last, 10); err != nil || len(rest) != 0 {
		t.Errorf("ReadLog after the head = %v, %v; want nothing", rest, err)
	}
}

func testLogPaging(t *testing.T, ctx context.Context, s LogStore, _ LogBackend) {
	c := newCover("orders")
	for i := range 10 {
		mustAppend(t, ctx, s, c, pages("p", i*3, 3))
	}
	whole := readAll(t, ctx, s, 0, 1000, 30)
	paged := readAll(t, ctx, s, 0, 7, 30)
	if len(whole) != 30 || len(paged) != 30 {
		t.Fatalf("read %d events whole and %d paged; want 30", len(whole), len(paged))
	}
	for i := range whole {
		if whole[i].Position != paged[i].Position || paged[i].Sequence != uint32(i) {
			t.Fatalf("event %d: whole position %d, paged position %d, sequence %d", i, whole[i].Position, paged[i].Position, paged[i].Sequence)
		}
	}
	mid := whole[12].Position
	if from := readAll(t, ctx, s, mid, 5, 17); len(from) != 17 || from[0].Sequence != 13 {
		t.Fatalf("ReadLog after position %d gave %d events; want 17 starting at sequence 13", mid, len(from))
	}
}

func testLogConflictsNotLogged(t *testing.T, ctx context.Context, s LogStore, _ LogBackend) {
	c := newCover("orders")
	mustAppend(t, ctx, s, c, pages("x", 0, 1))
	if _, err := s.Append(ctx, c, numbered(pages("y", 0, 2), 0)); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("stale append: %v, want a conflict", err)
	}
	mustAppend(t, ctx, s, c, pages("x", 1, 1))
	got := readAll(t, ctx, s, 0, 100, 2)
	if len(got) != 2 || string(got[0].Payload) != "x0" || string(got[1].Payload) != "x1" {
		t.Fatalf("log = %v; want only the two stored events", got)
	}
}

func testLogAppendedSignals(t *testing.T, ctx context.Context, s LogStore, _ LogBackend) {
	ch := s.Appended()
	select {
	case <-ch:
		t.Fatal("Appended signalled before any append")
	case <-time.After(20 * time.Millisecond):
	}
	mustAppend(t, ctx, s, newCover("orders"), pages("x", 0, 1))
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Appended did not signal within 5s of a commit")
	}
}

// testLogTailWhileWriting runs writers on random covers while a tailer
// follows the log the way a subscription does. Every acknowledged event
// must reach the tailer exactly once, positions increasing, covers in order.
func testLogTailWhileWriting(t *testing.T, ctx context.Context, s LogStore, b LogBackend) {
	writers := b.Writers
	if writers == 0 {
		writers = 16
	}
	const appendsPerWriter = 40
	covers := make([]eventstore.Cover, 8)
	for i := range covers {
		covers[i] = newCover(fmt.Sprintf("d%d", i%3))
	}

	var acked sync.Map // "cover/seq" → true
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range appendsPerWriter {
				c := covers[r.IntN(len(covers))]
				events, err := s.Append(ctx, c, pages(fmt.Sprintf("w%d-%d-", w, i), 0, 1+r.IntN(3)))
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				for _, e := range events {
					acked.Store(fmt.Sprintf("%s/%d", c, e.Sequence), true)
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	seen := map[string]bool{}
	next := map[eventstore.Cover]uint32{}
	var after uint64
	writing := true
	for {
		wake := s.Appended()
		batch, err := s.ReadLog(ctx, after, 50)
		if err != nil {
			t.Fatalf("ReadLog: %v", err)
		}
		for _, e := range batch {
			if e.Position <= after {
				t.Fatalf("position %d after %d: the log went backwards", e.Position, after)
			}
			after = e.Position
			key := fmt.Sprintf("%s/%d", e.Cover, e.Sequence)
			if seen[key] {
				t.Fatalf("%s delivered twice", key)
			}
			seen[key] = true
			if e.Sequence != next[e.Cover] {
				t.Fatalf("%s: got sequence %d, want %d (skipped or out of order)", e.Cover, e.Sequence, next[e.Cover])
			}
			next[e.Cover]++
		}
		if len(batch) > 0 {
			continue
		}
		if !writing {
			break
		}
		select {
		case <-wake:
		case <-done:
			writing = false // one more read drains what committed last
		case <-time.After(50 * time.Millisecond): // commits by others may not signal
		case <-ctx.Done():
			t.Fatalf("tailing: %v", ctx.Err())
		}
	}
	total := 0
	acked.Range(func(k, _ any) bool {
		total++
		if !seen[k.(string)] {
			t.Errorf("acknowledged event %s never reached the tailer", k)
		}
		return true
	})
	if total == 0 || len(seen) != total {
		t.Errorf("tailer saw %d events, writers had %d acknowledged", len(seen), total)
	}
}

// testLogCause checks that the log carries each event's cause as stored.
func testLogCause(t *testing.T, ctx context.Context, s LogStore, _ LogBackend) {
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := newCover("cause")
	want := causes()
	ps := pages("e", 0, len(want))
	for i := range ps {
		ps[i].Cause, ps[i].SchemaVersion = want[i], schemaVersions[i]
	}
	if _, err := s.Append(ctx, c, ps); err != nil {
		t.Fatal(err)
	}
	var got []eventstore.Logged
	for _, e := range readAll(t, ctx, s, head, 100, len(want)) {
		if e.Cover == c {
			got = append(got, e)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("log holds %d events of %s, want %d", len(got), c, len(want))
	}
	for i, e := range got {
		if e.Cause != want[i] {
			t.Errorf("log event %d Cause = %+v; want %+v", i, e.Cause, want[i])
		}
		if e.SchemaVersion != schemaVersions[i] {
			t.Errorf("log event %d SchemaVersion = %d; want %d", i, e.SchemaVersion, schemaVersions[i])
		}
	}
}
