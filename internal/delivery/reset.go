package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// Replay is a subscriber's last reset: the events at or below Until (the
// log's head when it was reset) are delivered again as a replay, marked so
// the consumer can hold its side effects; a saga's commands in answer to a
// replay are dispatched only with Commands.
type Replay struct {
	Until    uint64
	Commands bool
}

// covers reports whether the event at position is part of the replay.
func (r Replay) covers(position uint64) bool { return position <= r.Until }

type replayKey struct{}

// WithReplay marks, in ctx, a delivery as a replay of events the consumer
// was given before a reset.
func WithReplay(ctx context.Context) context.Context {
	return context.WithValue(ctx, replayKey{}, true)
}

// Replaying reports whether WithReplay marked ctx.
func Replaying(ctx context.Context) bool {
	r, _ := ctx.Value(replayKey{}).(bool)
	return r
}

// replayCheckpoint names the checkpoint that keeps a subscriber's Replay,
// as Until<<1 | Commands. Subscriber names hold no ':', so it names no
// subscriber's own checkpoint.
func replayCheckpoint(subscriber string) string { return "replay:" + subscriber }

// markReplay records r as the subscription's replay.
func (s *Subscription) markReplay(ctx context.Context, r Replay) error {
	v := r.Until << 1
	if r.Commands {
		v |= 1
	}
	return s.store.SaveCheckpoint(ctx, replayCheckpoint(s.Name()), v)
}

func (s *Subscription) replayOf(ctx context.Context) (Replay, error) {
	v, err := s.store.Checkpoint(ctx, replayCheckpoint(s.Name()))
	if err != nil {
		return Replay{}, fmt.Errorf("read the last reset: %w", err)
	}
	return Replay{Until: v >> 1, Commands: v&1 == 1}, nil
}

// ResetTo is where a reset moves a subscription: to the beginning (the
// zero value), after a log position, or to the first event at or after a
// time. SagaCommands dispatches again the commands a saga answers to the
// replayed events (by default they are dropped).
type ResetTo struct {
	Position     uint64
	Time         time.Time
	SagaCommands bool
}

// ResetResult is what a reset did.
type ResetResult struct {
	// Position is the checkpoint every segment starts from again: the
	// events after it are delivered.
	Position uint64
	// Until is the log's head at the reset: events up to it are replays.
	Until uint64
	// Segments is how many segment leases were reset (and taken from
	// their holders).
	Segments int
}

// ErrNotStarted is returned by Reset for a subscription that has never
// run: there is nothing to reset.
var ErrNotStarted = errors.New("the subscription has not started yet")

// Reset moves every segment of the subscription, on every replica, to to:
// each holder loses its lease (its next renewal or checkpoint fails) and
// starts again from there, delivering the events up to today's head as a
// replay. Parked events stay parked. A replica that holds segments notices
// within a third of the lease; this one at once.
func (s *Subscription) Reset(ctx context.Context, to ResetTo) (ResetResult, error) {
	head, err := s.store.Head(ctx)
	if err != nil {
		return ResetResult{}, fmt.Errorf("reset %s: %w", s.Name(), err)
	}
	res := ResetResult{Position: to.Position, Until: head}
	if !to.Time.IsZero() {
		if res.Position, err = s.positionAt(ctx, to.Time, head); err != nil {
			return ResetResult{}, fmt.Errorf("reset %s: %w", s.Name(), err)
		}
	}
	if res.Position > head {
		return ResetResult{}, eventstore.Invalid("position", "%d is beyond the log's head (%d)", res.Position, head)
	}
	// The replay first: a segment that starts after the reset reads it.
	if err := s.markReplay(ctx, Replay{Until: head, Commands: to.SagaCommands}); err != nil {
		return ResetResult{}, fmt.Errorf("reset %s: %w", s.Name(), err)
	}
	if res.Segments, err = s.store.Reset(ctx, s.Name(), res.Position); err != nil {
		return ResetResult{}, fmt.Errorf("reset %s: %w", s.Name(), err)
	}
	if res.Segments == 0 {
		return ResetResult{}, fmt.Errorf("reset %s: %w", s.Name(), ErrNotStarted)
	}
	s.mu.Lock()
	s.replay = Replay{Until: head, Commands: to.SagaCommands}
	s.mu.Unlock()
	s.log.Info("subscription reset: its events are delivered again", "position", res.Position, "replay_until", head,
		"segments", res.Segments, "saga_commands", to.SagaCommands)
	s.kick() // this replica's segments stop and start again now
	return res, nil
}

// positionAt is the checkpoint before the first event created at or after
// t: the log is read from the start (positions need not be dense), so it
// takes a while on a long log; head when no event is that recent.
func (s *Subscription) positionAt(ctx context.Context, t time.Time, head uint64) (uint64, error) {
	var before uint64
	for {
		batch, err := s.store.ReadLog(ctx, before, readBatch)
		if err != nil {
			return 0, err
		}
		for _, e := range batch {
			if !e.CreatedAt.Before(t) {
				return before, nil
			}
			before = e.Position
		}
		if len(batch) == 0 || before >= head {
			return head, nil
		}
	}
}
