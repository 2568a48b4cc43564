package eventstore

import (
	"context"
	"time"
)

// Checkpoints persists how far each subscriber of the Log has got, so that
// delivery resumes where it stopped after a restart.
//
// Implementations are safe for concurrent use.
type Checkpoints interface {
	// Checkpoint returns subscriber's saved position; 0 when it has none.
	Checkpoint(ctx context.Context, subscriber string) (uint64, error)
	// SaveCheckpoint stores position as subscriber's checkpoint: every event
	// at or below it has been handled.
	SaveCheckpoint(ctx context.Context, subscriber string, position uint64) error
}

// Parked is an event a subscriber gave up on after its attempts ran out
// (dead-lettered), with why and when.
type Parked struct {
	Logged
	Reason   string
	Attempts int
	ParkedAt time.Time
}

// Parking persists parked events per subscriber until they are replayed.
//
// Implementations are safe for concurrent use.
type Parking interface {
	// Park stores p for subscriber; parking the same position twice keeps
	// one entry (the latest reason).
	Park(ctx context.Context, subscriber string, p Parked) error
	// ParkedEvents returns subscriber's parked events in position order.
	ParkedEvents(ctx context.Context, subscriber string) ([]Parked, error)
	// Unpark removes the parked events at positions; unknown ones are ignored.
	Unpark(ctx context.Context, subscriber string, positions ...uint64) error
}
