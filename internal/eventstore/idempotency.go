package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Key is an idempotency key as a keyed append stores it: the client's ID,
// the fingerprint of the command it names (a digest of its canonical form,
// so that a repeat is told from another command under the same ID) and how
// long it is kept.
type Key struct {
	ID          string
	Fingerprint [32]byte
	// TTL is how long the key is kept from the commit, by the store's own
	// clock where the backend has one (PostgreSQL, Redis), so replicas'
	// clocks need not agree.
	TTL time.Duration
}

// KeyRecord is a stored key: which command it named and the events that
// command's append stored, the sequences [From, To) of Cover. The events
// themselves are read back from the stream.
type KeyRecord struct {
	ID          string
	Fingerprint [32]byte
	Cover       Cover
	From, To    uint32
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Idempotent is the optional ability of a Store to keep idempotency keys
// with the events they produced, so that a command repeated under the same
// key is answered with what the first one stored instead of being decided
// and stored again. Callers find it by type assertion.
//
// Implementations are safe for concurrent use by goroutines and, where the
// store is shared, by processes: of concurrent keyed appends under one ID,
// whatever their covers, at most one stores anything.
type Idempotent interface {
	// AppendKeyed is Append that stores key with the events, in the same
	// transaction (script, …): both are stored or neither is. When a live
	// (unexpired) key with key.ID is already stored, nothing is stored and
	// prior is that key's record; err is nil when its fingerprint is
	// key.Fingerprint, else a *KeyMismatchError (errors.Is ErrKeyReused).
	// An append that conflicts (ErrConflict) stores no key. Empty pages
	// store nothing, key included. Expired keys count as absent; a keyed
	// append replaces an expired key of the same ID, and may purge a
	// bounded number of other expired keys.
	AppendKeyed(ctx context.Context, cover Cover, pages []Page, key Key) (events []Event, prior *KeyRecord, err error)

	// Lookup returns the live key with id; ok is false when there is none
	// (never stored, or expired).
	Lookup(ctx context.Context, id string) (rec KeyRecord, ok bool, err error)
}

var (
	// ErrKeyReused is matched by every *KeyMismatchError.
	ErrKeyReused = errors.New("idempotency key reused for a different command")
	// ErrOutcomeUnknown is matched by every *InDoubtError.
	ErrOutcomeUnknown = errors.New("the outcome is unknown; retry with the same idempotency-key")
	// ErrUnavailable wraps failures to reach the store where nothing was
	// written (the connection was refused, the request never sent): the
	// caller may try again later.
	ErrUnavailable = errors.New("event store unavailable")
)

// KeyMismatchError reports an idempotency key stored for another command
// (another cover, other pages) than the one it came with.
type KeyMismatchError struct {
	Key string
}

func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("idempotency-key %q was used for a different command", e.Key)
}

// Is makes errors.Is(err, ErrKeyReused) true.
func (e *KeyMismatchError) Is(target error) bool { return target == ErrKeyReused }

// InDoubtError reports a write whose outcome is unknown: the request
// reached the store, then the connection failed (or the commit reported an
// I/O error) before the answer came. It may or may not be stored, so it is
// never retried blindly; a client that sent an idempotency key learns the
// outcome by sending the command again with the same key.
type InDoubtError struct {
	Op  string // what was being written, e.g. "append to customer/…"
	Err error
}

func (e *InDoubtError) Error() string {
	return fmt.Sprintf("%s: %v: the outcome is unknown; retry with the same idempotency-key", e.Op, e.Err)
}

// Is makes errors.Is(err, ErrOutcomeUnknown) true.
func (e *InDoubtError) Is(target error) bool { return target == ErrOutcomeUnknown }

func (e *InDoubtError) Unwrap() error { return e.Err }

// Unavailable wraps err, a failure to reach the store before anything was
// sent, so that it matches ErrUnavailable.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// MaxPurge bounds how many expired keys one keyed append purges, so that a
// backlog of expired keys costs each write a little, never much.
const MaxPurge = 64
