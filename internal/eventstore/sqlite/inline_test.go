package sqlite

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// TestInlineOnlyWhenAlone: appends that come one at a time are written by
// their callers (no hand-off to the writer goroutine and back); once many
// come at once they go through the writer again, which groups them; and
// every append is stored once, in order, either way.
func TestInlineOnlyWhenAlone(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, filepath.Join(t.TempDir(), "events.db"))
	one := eventstore.Cover{Domain: "d", Root: uuid.New()}
	const alone = 3 * inlineAfter
	for seq := range uint32(alone) {
		if _, err := s.Append(ctx, one, []eventstore.Page{{HasNum: true, Num: seq, TypeURL: "t"}}); err != nil {
			t.Fatal(err)
		}
	}
	// The first inlineAfter go through the writer: it has not seen single
	// appends in a row yet.
	if got, want := s.inlined.Load(), int64(alone-inlineAfter); got != want {
		t.Errorf("%d of %d appends one at a time written by their callers; want %d", got, alone, want)
	}

	before := s.inlined.Load()
	const writers, appends = 16, 100
	covers := make([]eventstore.Cover, writers)
	// Counted while every writer runs: the last writers left alone at the
	// end write their own, rightly.
	var firstDone sync.Once
	var during int64
	var wg sync.WaitGroup
	for w := range writers {
		covers[w] = eventstore.Cover{Domain: "d", Root: uuid.New()}
		wg.Go(func() {
			for seq := range uint32(appends) {
				if _, err := s.Append(ctx, covers[w], []eventstore.Page{{HasNum: true, Num: seq, TypeURL: "t"}}); err != nil {
					t.Errorf("writer %d: append %d: %v", w, seq, err)
					return
				}
			}
			firstDone.Do(func() { during = s.inlined.Load() - before })
		})
	}
	wg.Wait()
	// Concurrent appends make batches of more than one, which stop the
	// callers writing their own (the first may, before the writer's first
	// batch); a lull may let a few through.
	if during > writers {
		t.Errorf("%d concurrent appends written by their callers, one transaction each; want them grouped by the writer", during)
	}
	for w, c := range append(covers, one) {
		events, err := s.Read(ctx, c, 0, 0)
		want := appends
		if c == one {
			want = alone
		}
		if err != nil || len(events) != want {
			t.Fatalf("cover %d: %d events stored (%v); want %d", w, len(events), err, want)
		}
		for i, e := range events {
			if e.Sequence != uint32(i) {
				t.Fatalf("cover %d: event %d has sequence %d", w, i, e.Sequence)
			}
		}
	}
}

// TestCloseDuringInlineAppends closes the store while a lone writer's
// appends are written by the writer itself (inline): each append is either
// acknowledged and stored, or fails with ErrClosed and is not stored.
func TestCloseDuringInlineAppends(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	for round := range 20 {
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		cover := eventstore.Cover{Domain: "d", Root: uuid.New()}
		var acked uint32
		done := make(chan struct{})
		go func() {
			defer close(done)
			for seq := uint32(0); ; seq++ {
				_, err := s.Append(ctx, cover, []eventstore.Page{{HasNum: true, Num: seq, TypeURL: "t"}})
				if errors.Is(err, eventstore.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("round %d: append %d: %v; want it stored or ErrClosed", round, seq, err)
					return
				}
				acked++
			}
		}()
		for s.inlined.Load() < 5 {
			time.Sleep(time.Millisecond)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		<-done
		s, err = Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		events, err := s.Read(ctx, cover, 0, 0)
		s.Close()
		if err != nil || uint32(len(events)) != acked {
			t.Fatalf("round %d: %d events stored (%v); %d acknowledged", round, len(events), err, acked)
		}
	}
}
