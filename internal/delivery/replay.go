package delivery

import (
	"context"
	"fmt"
	"slices"

	"github.com/evented/evented/internal/eventstore"
)

// ReplayResult says what a replay did.
type ReplayResult struct {
	// Replayed is how many parked events were delivered and unparked.
	Replayed int
	// Failed lists the aggregates whose parked events failed again; they
	// stay parked, in order.
	Failed []ReplayFailure
}

// ReplayFailure is an aggregate whose replay failed.
type ReplayFailure struct {
	Cover eventstore.Cover
	Err   error
}

// Parked lists the subscription's parked events in position order.
func (s *Subscription) Parked(ctx context.Context) ([]eventstore.Parked, error) {
	return s.store.ParkedEvents(ctx, s.Name())
}

// Replay delivers the parked events again, each aggregate's in order, once
// each. An aggregate whose events are all delivered is unparked and flows
// again; one that fails stays parked and is reported. Only aggregates named
// in covers are replayed, or all when covers is empty.
func (s *Subscription) Replay(ctx context.Context, covers ...eventstore.Cover) (ReplayResult, error) {
	parked, err := s.store.ParkedEvents(ctx, s.Name())
	if err != nil {
		return ReplayResult{}, fmt.Errorf("list parked events of %s: %w", s.Name(), err)
	}
	var order []eventstore.Cover
	for _, p := range parked {
		if !slices.Contains(order, p.Cover) && (len(covers) == 0 || slices.Contains(covers, p.Cover)) {
			order = append(order, p.Cover)
		}
	}
	var res ReplayResult
	for _, cover := range order {
		n, err := s.replayCover(ctx, cover)
		res.Replayed += n
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			res.Failed = append(res.Failed, ReplayFailure{Cover: cover, Err: err})
		}
	}
	return res, nil
}

// replayCover holds cover against the workers, delivers its parked events
// until none are left, then releases it unparked.
func (s *Subscription) replayCover(ctx context.Context, cover eventstore.Cover) (int, error) {
	s.mu.Lock()
	for s.busy[cover] {
		s.cond.Wait()
	}
	s.busy[cover] = true
	s.mu.Unlock()

	replayed, err := 0, error(nil)
	for {
		var batch []eventstore.Logged
		var parked []eventstore.Parked
		if parked, err = s.store.ParkedEvents(ctx, s.Name()); err != nil {
			break
		}
		for _, p := range parked {
			if p.Cover == cover {
				batch = append(batch, p.Logged)
			}
		}
		if len(batch) == 0 {
			break
		}
		if err = s.deliver(ctx, cover, batch); err != nil {
			break
		}
		positions := make([]uint64, len(batch))
		for i, e := range batch {
			positions[i] = e.Position
		}
		if err = s.store.Unpark(ctx, s.Name(), positions...); err != nil {
			break
		}
		replayed += len(batch)
	}

	s.mu.Lock()
	if err == nil {
		delete(s.parked, cover)
		s.log.Info("parked events replayed; aggregate flows again", "cover", cover, "events", replayed)
	}
	delete(s.busy, cover)
	if len(s.queues[cover]) > 0 {
		s.ready = append(s.ready, cover)
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	return replayed, err
}
