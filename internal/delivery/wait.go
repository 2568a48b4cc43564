package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// remotePoll is how often a wait reads the checkpoints of segments another
// replica delivers; their owners save checkpoints every 100 ms.
const remotePoll = 20 * time.Millisecond

// WaitError is a wait for a subscriber that ended before it reached the
// position: the events are committed all the same, and delivered later.
type WaitError struct {
	Subscriber string
	Position   uint64 // waited for
	Reached    uint64 // the subscriber's checkpoint when the wait ended
	Err        error  // why it ended: the context's error
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("%s has handled the log up to %d, not yet %d: %v", e.Subscriber, e.Reached, e.Position, e.Err)
}

func (e *WaitError) Unwrap() error { return e.Err }

// WaitFor returns once every event at or below position is handled by the
// subscription (delivered, skipped or parked), on whichever replica holds
// each segment: only cover's segment when cover is set (the command's own
// aggregate), else all of them. It returns the checkpoint reached, and a
// *WaitError when ctx ends first.
func (s *Subscription) WaitFor(ctx context.Context, position uint64, cover *eventstore.Cover) (uint64, error) {
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	for {
		progressed := s.progressed()
		reached, remote, err := s.reached(ctx, cover)
		if err == nil && reached >= position {
			return reached, nil
		}
		if err != nil && ctx.Err() == nil {
			s.noteError(fmt.Errorf("wait for %d: %w", position, err))
		}
		var poll <-chan time.Time
		if remote {
			poll = time.After(remotePoll)
		} else {
			poll = time.After(5 * remotePoll) // a segment may change hands meanwhile
		}
		select {
		case <-progressed:
		case <-poll:
		case <-ctx.Done():
			return reached, &WaitError{Subscriber: s.Name(), Position: position, Reached: reached, Err: ctx.Err()}
		}
	}
}

// reached is the lowest handled position of the segments a wait covers;
// remote reports whether some of them are another replica's (read from
// the store).
func (s *Subscription) reached(ctx context.Context, cover *eventstore.Cover) (low uint64, remote bool, err error) {
	n := s.opts.Segments
	want := make([]int, 0, n)
	if cover != nil {
		want = append(want, eventstore.SegmentOf(*cover, n))
	} else {
		for i := range n {
			want = append(want, i)
		}
	}
	running := s.runningSegments()
	var rows []eventstore.Lease
	first := true
	for _, idx := range want {
		var pos uint64
		if r, ok := running[idx]; ok && !r.seg.isLost() {
			r.seg.mu.Lock()
			pos = r.seg.handledUpTo()
			r.seg.mu.Unlock()
		} else {
			remote = true
			if rows == nil {
				if rows, err = s.store.Leases(ctx, s.Name()); err != nil {
					return 0, true, err
				}
			}
			s.mu.Lock()
			pos = s.start
			s.mu.Unlock()
			for _, l := range rows {
				if l.Of == n && l.Segment == idx {
					pos = l.Position
				}
			}
		}
		if first || pos < low {
			low, first = pos, false
		}
	}
	return low, remote, nil
}

// progressed returns a channel closed the next time a segment of this
// replica moves its checkpoint along.
func (s *Subscription) progressed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progress
}

// noteProgress wakes the waits, if any.
func (s *Subscription) noteProgress() {
	if s.waiters.Load() == 0 {
		return
	}
	s.mu.Lock()
	close(s.progress)
	s.progress = make(chan struct{})
	s.mu.Unlock()
}
