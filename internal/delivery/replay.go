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
//
// Any replica may replay: the segment's owner, wherever it runs, parks an
// aggregate's new events behind its parked ones only while some are still
// parked (a check made in the same store transaction as the park), so it
// delivers them itself once the replay has released the last one.
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

// replayBatch bounds the parked events delivered in one book of a replay;
// the book is cut further to MaxBookBytes.
const replayBatch = 256

// replayCover holds cover against this replica's workers (if it delivers
// the cover's segment), delivers its parked events until none are left,
// in books that fit the consumer, then releases it.
func (s *Subscription) replayCover(ctx context.Context, cover eventstore.Cover) (int, error) {
	seg := s.local(cover)
	if seg != nil {
		seg.mu.Lock()
		for seg.busy[cover] {
			seg.cond.Wait()
		}
		seg.busy[cover] = true
		seg.mu.Unlock()
	}

	replayed, err := 0, error(nil)
	for {
		var parked []eventstore.Parked
		if parked, err = s.store.ParkedEvents(ctx, s.Name()); err != nil {
			break
		}
		var batch []eventstore.Logged
		bytes := 0
		for _, p := range parked {
			if p.Cover != cover {
				continue
			}
			if len(batch) > 0 && (len(batch) >= replayBatch || bytes+len(p.Payload) > s.opts.MaxBookBytes || s.opts.EventPerBook) {
				break
			}
			batch = append(batch, p.Logged)
			bytes += len(p.Payload)
		}
		if len(batch) == 0 {
			break
		}
		if reason := s.tooLarge(batch); reason != "" {
			err = fmt.Errorf("%s", reason)
			break
		}
		if err = s.deliver(ctx, cover, batch, map[string]bool{}, false, false); err != nil {
			break
		}
		s.advanceMark(ctx, cover, batch[len(batch)-1].Sequence+1)
		positions := make([]uint64, len(batch))
		for i, e := range batch {
			positions[i] = e.Position
		}
		if err = s.store.Unpark(ctx, s.Name(), positions...); err != nil {
			break
		}
		replayed += len(batch)
	}

	if seg != nil {
		seg.mu.Lock()
		if err == nil {
			delete(seg.parked, cover)
		}
		delete(seg.busy, cover)
		if len(seg.queues[cover]) > 0 {
			seg.ready = append(seg.ready, cover)
		}
		seg.cond.Broadcast()
		seg.mu.Unlock()
	}
	if err == nil {
		s.log.Info("parked events replayed; aggregate flows again", "cover", cover, "events", replayed)
	}
	return replayed, err
}
