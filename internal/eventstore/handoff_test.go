package eventstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/evented/evented/internal/eventstore"
)

// A writer that finds an append queued by a caller whose ctx has ended
// does not write it: Expire settles it as abandoned and answers it with
// the ctx's error, once, and only when the caller has not given up first.
func TestHandoffExpire(t *testing.T) {
	ended := func(err error) error { return err }
	live := &eventstore.Handoff[error]{Done: make(chan error, 1)}
	if live.Expire(context.Background(), ended) {
		t.Fatal("Expire with a live ctx: true, want false (to be written)")
	}
	if !live.Take() {
		t.Fatal("an append Expire left alone could not be taken")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h := &eventstore.Handoff[error]{Done: make(chan error, 1)}
	if !h.Expire(ctx, ended) {
		t.Fatal("Expire with an ended ctx: false, want true (not to be written)")
	}
	if h.Take() {
		t.Error("an expired append could still be taken")
	}
	select {
	case err := <-h.Done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("expired append answered %v, want context.Canceled", err)
		}
	default:
		t.Error("an expired append was not answered")
	}

	gone := &eventstore.Handoff[error]{Done: make(chan error, 1)}
	if !gone.Abandon() {
		t.Fatal("Abandon of a queued append: false")
	}
	if !gone.Expire(ctx, ended) {
		t.Error("Expire of an append its caller abandoned: false, want true")
	}
	select {
	case err := <-gone.Done:
		t.Errorf("an append its caller abandoned was answered again: %v", err)
	default:
	}
}
