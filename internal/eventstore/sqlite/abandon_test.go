package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/testenv"
)

// TestQueuedAppendGivenUpIsNotWritten: a caller whose ctx ends while its
// append waits in the queue gets the ctx's error, and the append is never
// written; the one the writer already took is.
func TestQueuedAppendGivenUpIsNotWritten(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "events.db"))
	page := []eventstore.Page{{HasNum: true, Num: 0, TypeURL: "t"}}
	taken := eventstore.Cover{Domain: "d", Root: uuid.New()}
	givenUp := eventstore.Cover{Domain: "d", Root: uuid.New()}
	s.writing.Lock() // the writer takes the first append, then waits to write it
	first := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), taken, page)
		first <- err
	}()
	testenv.Eventually(t, "the writer took the first append", func() bool { return s.begun.Load() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, givenUp, page)
		second <- err
	}()
	testenv.Eventually(t, "the second append queued", func() bool { return len(s.reqs) == 1 })
	cancel()
	select {
	case err := <-second:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the append given up while queued: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		s.writing.Unlock()
		<-first
		t.Fatal("the append given up while queued did not return within 10s of its ctx's end")
	}
	s.writing.Unlock()
	if err := <-first; err != nil {
		t.Fatalf("the append taken: %v", err)
	}
	if got, err := s.Read(context.Background(), taken, 0, 0); err != nil || len(got) != 1 {
		t.Errorf("the append taken: %d events stored (%v), want 1", len(got), err)
	}
	if got, err := s.Read(context.Background(), givenUp, 0, 0); err != nil || len(got) != 0 {
		t.Errorf("the append given up: %d events stored (%v), want none", len(got), err)
	}
}
