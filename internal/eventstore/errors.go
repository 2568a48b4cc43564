package eventstore

import (
	"context"
	"errors"
	"fmt"
)

var (
	// ErrFull wraps failures to write because the store is out of space:
	// the disk is full, or the database reached its size limit. Nothing
	// was written. Writes keep failing until space is freed; a store that
	// can tell when it is (Space) says so.
	ErrFull = errors.New("event store full")
	// ErrExhausted wraps failures of the store's server to carry out a
	// request for want of a resource other than space (memory,
	// connections, a configured limit). Nothing was written; trying again
	// later may succeed.
	ErrExhausted = errors.New("event store out of resources")
	// ErrDataLoss wraps findings that the store lost or damaged data it
	// had acknowledged (a key evicted, a counter reset): nothing more is
	// written until an operator repairs it, so that nothing is lost
	// silently.
	ErrDataLoss = errors.New("event store lost data")
)

// Full wraps err, a write refused for want of space, so that it matches
// ErrFull.
func Full(err error) error {
	if err == nil || errors.Is(err, ErrFull) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrFull, err)
}

// Space is the optional ability of a store to tell whether it has room for
// writes. Callers find it by type assertion (health checks).
//
// CheckSpace returns nil while writes have room, and an error matching
// ErrFull from a write that failed for want of space until space is back,
// which it finds out by itself (a small probe, run only while the store is
// full). It is safe for concurrent use and cheap while the store has room.
type Space interface {
	CheckSpace(ctx context.Context) error
}
