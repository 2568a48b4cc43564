// Package business is the port to the services that decide what commands mean.
//
// Business logic is a pure decision: given an aggregate's prior state and a
// command, it returns new events (and optionally a snapshot) or rejects the
// command. The command coordinator calls a Logic for each domain; adapters
// live in child packages: remote (a gRPC evented.BusinessLogic service) and
// placeholder (the built-in stand-in used when nothing is configured).
package business

import (
	"context"
	"errors"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// Command is one command page: an opaque, typed payload.
type Command struct {
	Sequence    uint32
	Synchronous bool
	TypeURL     string
	Payload     []byte
}

// CommandBook is a cover and the commands addressed to it.
type CommandBook struct {
	Cover eventstore.Cover
	Pages []Command
	// IdempotencyKey, when set, names the command so that a repeat is
	// answered with the first one's events instead of being decided again
	// (see command.Coordinator.Handle). Clients send it as gRPC metadata;
	// it is not part of the wire CommandBook, and business logic does not
	// see it. Sagas' commands get deterministic keys (delivery.SagaKey).
	IdempotencyKey string
	// Cause is what led to the command, stored with the events it
	// produces. Not on the wire: the gRPC edge sets the correlation id of a
	// client's command, delivery sets a saga's (eventstore.Following its
	// triggering event), and the coordinator fills in the rest.
	Cause eventstore.Cause
}

// Request is what business logic is given.
type Request struct {
	// Prior is the latest snapshot and the events from its sequence on.
	Prior   eventstore.Book
	Command CommandBook
}

// Event is one event business logic decided on.
type Event struct {
	// HasNum/Num is the sequence business logic stamped, if any. The
	// coordinator does not trust it: it numbers events itself.
	HasNum    bool
	Num       uint32
	CreatedAt time.Time
	TypeURL   string
	Payload   []byte
	// SchemaVersion is the version of the event type's shape business
	// logic wrote (metadata.schema_version); 0 means 1.
	SchemaVersion uint32
}

// Decision is business logic's answer: the cover it speaks for, the new
// events (none is a valid "nothing happened") and an optional snapshot of
// the state after them.
type Decision struct {
	Cover    eventstore.Cover
	Events   []Event
	Snapshot *Snapshot
	// Deadlines are commands to dispatch later, or to cancel; stored once
	// the events are committed.
	Deadlines []Deadline
}

// Deadline is a command business logic (or a saga) schedules for later, or
// the cancellation of one by ID.
type Deadline struct {
	ID      string
	Due     time.Time
	Command CommandBook
	Cancel  bool
}

// Snapshot is aggregate state returned by business logic; its sequence is
// set by the coordinator.
type Snapshot struct {
	TypeURL string
	State   []byte
}

// Logic decides commands for one domain.
//
// Implementations are safe for concurrent use. Errors are passed to the
// client as they are: an adapter returns errors that carry the service's own
// status (a rejection, a validation failure, unavailability).
type Logic interface {
	Handle(ctx context.Context, req Request) (Decision, error)
	// Name identifies the service in logs and errors, e.g. its address.
	Name() string
}

// MisbehaviourError reports business logic that broke the contract (for
// example by answering for another cover). It names the service.
type MisbehaviourError struct {
	Service string
	Reason  string
}

func (e *MisbehaviourError) Error() string { return e.Service + " " + e.Reason }

// Snapshotter is the optional ability of business logic to give the state
// of an aggregate without a command, for automatic snapshots.
//
// Implementations are safe for concurrent use. Snapshot returns the state
// after every event of prior (its snapshot and events); ErrNoSnapshots when
// the service does not offer snapshots at all.
type Snapshotter interface {
	Snapshot(ctx context.Context, prior eventstore.Book) (Snapshot, error)
}

// ErrNoSnapshots is returned by a Snapshotter whose service does not
// implement snapshots (gRPC UNIMPLEMENTED): asking again is pointless.
var ErrNoSnapshots = errors.New("business logic does not implement Snapshot")
