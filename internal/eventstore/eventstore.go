// Package eventstore is the storage port of evented: the contract every event
// and snapshot backend implements, and the rules they share.
//
// An aggregate's events form a stream addressed by a Cover (domain, root).
// Sequences are 0, 1, 2, … per cover, consecutive, with no gaps. The next
// sequence of a cover is the number of its events. Backends live in child
// packages (memory, sqlite, …) and all pass the conformance suites in
// eventstore/storetest, so callers can rely on this doc comment alone.
//
// The package imports no driver, no gRPC and no YAML: it is part of the core.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Cover is the address of one aggregate's event stream.
type Cover struct {
	Domain string
	Root   uuid.UUID
}

func (c Cover) String() string { return c.Domain + "/" + c.Root.String() }

// Event is one stored event as read back.
type Event struct {
	// Sequence is the event's position in its cover's stream.
	Sequence uint32
	// CreatedAt is the time given on append, or the commit time.
	CreatedAt time.Time
	// TypeURL and Payload are the event's google.protobuf.Any, kept apart so
	// the type is readable in the database.
	TypeURL string
	Payload []byte
	// SchemaVersion is the version of the event type's shape the payload
	// has, as the writer declared it; 0 means 1 (every event stored before
	// versions existed). Upcasters (package upcast) read it; the store only
	// keeps it.
	SchemaVersion uint32
	// Cause is what led to the event; zero for events stored before
	// evented recorded it.
	Cause Cause
}

// Cause is an event's causation and correlation: the request that
// produced it and, for a saga's command, the event that triggered that
// command. Stored with the event, as given on append.
type Cause struct {
	// CorrelationID is shared by everything one client request led to:
	// its events, the commands sagas emitted because of them (synchronous
	// or not), their events, and so on.
	CorrelationID string
	// CommandID identifies the command (or Record call) that produced the
	// event; the events of one command share it.
	CommandID string
	// CausedBy is the event whose saga emitted the command; zero for a
	// client's command.
	CausedBy EventRef
	// Depth is how many saga hops the command is from the client's: 0 for
	// a client's command, the triggering event's Depth + 1 for a saga's.
	Depth uint32
}

// IsZero reports whether c records nothing.
func (c Cause) IsZero() bool { return c == Cause{} }

// EventRef is the address of one stored event.
type EventRef struct {
	Cover    Cover
	Sequence uint32
}

// IsZero reports whether r refers to no event.
func (r EventRef) IsZero() bool { return r == EventRef{} }

func (r EventRef) String() string { return fmt.Sprintf("%s/%d", r.Cover, r.Sequence) }

// Following is the cause of a command that a saga emitted on seeing event e
// of cover: same correlation, caused by e, one hop deeper. Its CommandID is
// left to whoever handles the command.
func Following(cover Cover, e Event) Cause {
	return Cause{
		CorrelationID: e.Cause.CorrelationID,
		CausedBy:      EventRef{Cover: cover, Sequence: e.Sequence},
		Depth:         e.Cause.Depth + 1,
	}
}

// Page is one event to append.
type Page struct {
	// When HasNum is set, the page must get exactly sequence Num (the optimistic
	// check); otherwise it takes the next sequence, whatever it is.
	HasNum bool
	Num    uint32
	// CreatedAt is stored as given; the zero time means the commit time.
	CreatedAt time.Time
	TypeURL   string
	Payload   []byte
	// SchemaVersion is stored with the event as it is (0 means 1).
	SchemaVersion uint32
	// Cause is stored with the event as it is.
	Cause Cause
}

// Snapshot is aggregate state with the number of events folded into it.
type Snapshot struct {
	// Sequence is the first sequence NOT folded into State.
	Sequence  uint32
	TypeURL   string
	State     []byte
	CreatedAt time.Time
}

// Store persists event streams.
//
// Implementations are safe for concurrent use by multiple goroutines and, where
// the backend is shared (a database file or server), by multiple processes.
type Store interface {
	// Append adds pages to the end of cover's stream, all or nothing. Pages get
	// consecutive sequences from the cover's next sequence; a page with HasNum
	// must get exactly Num, else nothing is stored and the error is a
	// *ConflictError (errors.Is(err, ErrConflict)). Of concurrent appends that
	// claim the same sequence, exactly one succeeds. Append returns the stored
	// events with their sequences and creation times. An empty pages slice
	// stores nothing and returns no error.
	Append(ctx context.Context, cover Cover, pages []Page) ([]Event, error)

	// Read returns cover's events with from <= Sequence < to, in sequence
	// order; to == 0 means unbounded. An unknown cover has no events.
	Read(ctx context.Context, cover Cover, from, to uint32) ([]Event, error)

	// Roots calls fn for every cover that has at least one event, ordered by
	// domain, then root bytes. It stops at the first error fn returns.
	Roots(ctx context.Context, fn func(Cover) error) error

	// Close releases the store; it is idempotent. Calls after Close return
	// ErrClosed.
	Close() error
}

// Snapshots persists the latest snapshot of each cover.
//
// Implementations are safe for concurrent use.
type Snapshots interface {
	// Snapshot returns cover's latest snapshot; ok is false when it has none.
	Snapshot(ctx context.Context, cover Cover) (s Snapshot, ok bool, err error)

	// PutSnapshot stores s as cover's snapshot unless the stored one has a
	// higher Sequence (a late writer never moves a snapshot backwards).
	// A zero CreatedAt means now.
	PutSnapshot(ctx context.Context, cover Cover, s Snapshot) error
}

// SnapshotRetention is the ability of a Snapshots to keep the newest few
// snapshots of each cover rather than the latest alone (every backend has
// it; callers find it by type assertion). Snapshot still returns the
// newest; the older ones are there to read back (an operator comparing
// states, a state shape rolled back). PutSnapshot keeps one.
type SnapshotRetention interface {
	// PutSnapshotKeeping is PutSnapshot that then keeps the newest keep
	// snapshots of cover (by sequence; keep < 1 counts as 1) and deletes
	// the older ones, in one transaction. A snapshot older than the newest
	// stored is ignored, as by PutSnapshot; one at the newest's sequence
	// replaces it.
	PutSnapshotKeeping(ctx context.Context, cover Cover, s Snapshot, keep int) error
	// SnapshotHistory lists the snapshots of cover, newest first.
	SnapshotHistory(ctx context.Context, cover Cover) ([]Snapshot, error)
}

// MaxSnapshotsKept bounds the snapshots kept per aggregate.
const MaxSnapshotsKept = 100

// PutSnapshotKeeping stores s for cover keeping its newest keep snapshots
// when snaps can (SnapshotRetention), else as PutSnapshot does (one).
func PutSnapshotKeeping(ctx context.Context, snaps Snapshots, cover Cover, s Snapshot, keep int) error {
	if r, ok := snaps.(SnapshotRetention); ok && keep > 1 {
		return r.PutSnapshotKeeping(ctx, cover, s, keep)
	}
	return snaps.PutSnapshot(ctx, cover, s)
}

var (
	// ErrConflict is matched by every *ConflictError.
	ErrConflict = errors.New("sequence conflict")
	// ErrClosed is returned by calls on a closed store.
	ErrClosed = errors.New("event store closed")
)

// ConflictError reports a page whose sequence was not the cover's next one:
// another writer got there first, or the caller's view was stale.
type ConflictError struct {
	Cover Cover
	// Expected is the sequence the writer asked for; Actual is the sequence the
	// page would have got.
	Expected, Actual uint32
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("sequence conflict on %s: expected %d, got %d", e.Cover, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Assign numbers pages from next on, checking every page that carries a
// number. It is the sequence rule shared by all backends: it returns the
// events to store (CreatedAt filled with now where unset) or a *ConflictError
// naming the first page that does not fit.
func Assign(cover Cover, next uint32, pages []Page, now time.Time) ([]Event, error) {
	events := make([]Event, len(pages))
	for i, p := range pages {
		seq := next + uint32(i)
		if p.HasNum && p.Num != seq {
			return nil, &ConflictError{Cover: cover, Expected: p.Num, Actual: seq}
		}
		at := p.CreatedAt
		if at.IsZero() {
			at = now
		}
		events[i] = Event{Sequence: seq, CreatedAt: at.UTC(), TypeURL: p.TypeURL, Payload: p.Payload, SchemaVersion: p.SchemaVersion, Cause: p.Cause}
	}
	return events, nil
}
