package delivery

import (
	"context"
	"fmt"
	"slices"

	"github.com/evented/evented/internal/eventstore"
)

// DiscardResult says what a discard dropped.
type DiscardResult struct {
	// Discarded is how many parked events were dropped.
	Discarded int
	// Covers are the aggregates they belonged to, in log order.
	Covers []eventstore.Cover
}

// DiscardObserver is told about discards; an Observer that implements it
// counts them (a discard is never silent).
type DiscardObserver interface {
	Discarded(subscriber string, events int)
}

// Discard drops the parked events of the aggregates in covers (all when
// covers is empty) without delivering them: each aggregate flows again
// from its next event. by names who asked; the discard is logged at WARN
// with it and with every dropped event's position and type, and counted.
func (s *Subscription) Discard(ctx context.Context, by string, covers ...eventstore.Cover) (DiscardResult, error) {
	parked, err := s.store.ParkedEvents(ctx, s.Name())
	if err != nil {
		return DiscardResult{}, fmt.Errorf("list parked events of %s: %w", s.Name(), err)
	}
	var res DiscardResult
	byCover := map[eventstore.Cover][]eventstore.Parked{}
	for _, p := range parked {
		if len(covers) > 0 && !slices.Contains(covers, p.Cover) {
			continue
		}
		if _, seen := byCover[p.Cover]; !seen {
			res.Covers = append(res.Covers, p.Cover)
		}
		byCover[p.Cover] = append(byCover[p.Cover], p)
	}
	for _, cover := range res.Covers {
		n, err := s.discardCover(ctx, by, cover, byCover[cover])
		res.Discarded += n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// discardCover holds cover against this replica's workers, as a replay
// does, unparks its events and releases it.
func (s *Subscription) discardCover(ctx context.Context, by string, cover eventstore.Cover, events []eventstore.Parked) (int, error) {
	seg := s.local(cover)
	if seg != nil {
		seg.mu.Lock()
		for seg.busy[cover] {
			seg.cond.Wait()
		}
		seg.busy[cover] = true
		seg.mu.Unlock()
	}
	positions := make([]uint64, len(events))
	dropped := make([]string, len(events))
	for i, p := range events {
		positions[i] = p.Position
		dropped[i] = fmt.Sprintf("%d:%d:%s", p.Position, p.Sequence, p.TypeURL)
	}
	err := s.store.Unpark(ctx, s.Name(), positions...)
	if err == nil {
		s.advanceMark(ctx, cover, events[len(events)-1].Sequence+1)
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
	if err != nil {
		return 0, fmt.Errorf("discard parked events of %s for %s: %w", cover, s.Name(), err)
	}
	s.log.Warn("parked events DISCARDED: never delivered to this subscriber", "subscriber", s.Name(), "by", by,
		"cover", cover, "events", len(events), "dropped", dropped)
	if o, ok := s.opts.Observer.(DiscardObserver); ok {
		o.Discarded(s.Name(), len(events))
	}
	return len(events), nil
}
