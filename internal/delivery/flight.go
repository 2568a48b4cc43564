package delivery

import (
	"context"
	"sync"
)

// flight bounds the books in flight to an AsyncConsumer (Options.Workers
// across the segments). A worker that finds it full sleeps until an eighth
// of it is free again: at saturation, where every answer frees one room, a
// worker then wakes to hand over a run of books rather than one per answer.
type flight struct {
	mu       sync.Mutex
	cond     sync.Cond
	n        int // books in flight
	max, low int
	waiting  int // workers asleep in take
}

func newFlight(most int) *flight {
	f := &flight{max: most, low: most - max(1, most/8)}
	f.cond.L = &f.mu
	return f
}

// take waits for room for one more book; false: ctx ended (wake must be
// registered on it, see wakeOn).
func (f *flight) take(ctx context.Context) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.n >= f.max {
		if ctx.Err() != nil {
			return false
		}
		f.waiting++
		f.cond.Wait()
		f.waiting--
	}
	f.n++
	return true
}

// end gives back the room of a book that was answered.
func (f *flight) end() {
	f.mu.Lock()
	f.n--
	if f.waiting > 0 && f.n <= f.low {
		f.cond.Broadcast()
	}
	f.mu.Unlock()
}

// wakeOn wakes the workers asleep in take when ctx ends; stop undoes it.
func (f *flight) wakeOn(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
}
