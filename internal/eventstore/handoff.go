package eventstore

import (
	"context"
	"sync/atomic"
)

// Handoff is the answer of an append queued for a store's group-commit
// writer. Its state settles who answers a caller whose ctx ends first:
// the caller abandons the append (Await) and it is never written, or the
// writer takes it (Take) and writes it, and then answers it (Answer)
// whatever happens. Exactly one of the two wins.
type Handoff[R any] struct {
	// Done receives the writer's answer: made with room for one, so that
	// the writer never blocks on a caller.
	Done  chan R
	state atomic.Int32
}

const (
	handoffQueued int32 = iota
	handoffTaken
	handoffAbandoned
)

// Take moves h from queued to taken: false when its caller abandoned it.
func (h *Handoff[R]) Take() bool { return h.state.CompareAndSwap(handoffQueued, handoffTaken) }

// MarkTaken takes h that was never queued: its caller writes it itself.
func (h *Handoff[R]) MarkTaken() { h.state.Store(handoffTaken) }

// Settled reports whether h was taken or abandoned.
func (h *Handoff[R]) Settled() bool { return h.state.Load() != handoffQueued }

// Abandon moves h from queued to abandoned: false when the writer took it
// first. The writer abandons an append whose caller's ctx ended before it
// was taken, and answers it.
func (h *Handoff[R]) Abandon() bool {
	return h.state.CompareAndSwap(handoffQueued, handoffAbandoned)
}

// Expire is for a writer that finds h queued: when ctx (its caller's) has
// ended, h is abandoned and answered with ended(ctx.Err()), unless its
// caller abandoned it first, and Expire reports true: h is not to be
// written. It reports false while ctx lives.
func (h *Handoff[R]) Expire(ctx context.Context, ended func(error) R) bool {
	err := ctx.Err()
	if err == nil {
		return false
	}
	if h.Abandon() {
		h.Answer(ended(err))
	}
	return true
}

// Answer hands the writer's answer to the caller.
func (h *Handoff[R]) Answer(r R) { h.Done <- r }

// Await waits for h's answer until ctx ends or stopped (the writer has
// stopped) closes. When it gives up, err is ctx.Err() or ErrClosed, and
// abandoned reports whether it abandoned the append (never to be written)
// rather than found it taken: then the writer answers it, on Done.
func (h *Handoff[R]) Await(ctx context.Context, stopped <-chan struct{}) (r R, err error, abandoned bool) {
	select {
	case r = <-h.Done:
		return r, nil, false
	case <-ctx.Done():
		err = ctx.Err()
	case <-stopped:
		err = ErrClosed
	}
	return r, err, h.Abandon()
}

// Queue sends v to a writer's queue, unless ctx ends or closing closes
// first (then ErrClosed).
func Queue[T any](ctx context.Context, queue chan<- T, v T, closing <-chan struct{}) error {
	select {
	case queue <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closing:
		return ErrClosed
	}
}

// Drain appends to held what queue holds now, without waiting for more,
// until held has max entries.
func Drain[T any](held []T, queue <-chan T, max int) []T {
	for len(held) < max {
		select {
		case v := <-queue:
			held = append(held, v)
		default:
			return held
		}
	}
	return held
}
