package eventstore

import (
	"bytes"
	"context"
	"errors"
)

// Projection is the latest read model a projector built for a key: by
// default the aggregate whose events it reflects ("domain/root"), or a key
// the projector named.
type Projection struct {
	Projector string
	Key       string
	// Cover and Sequence are the aggregate and its newest event the
	// projection reflects; they order the Puts of one key (see Put).
	Cover    Cover
	Sequence uint32
	TypeURL  string
	Payload  []byte
	// Version is the store-wide change counter PutProjection gave it:
	// every stored change has a higher version than every earlier one, in
	// commit order.
	Version uint64
}

// ErrChangesTrimmed is returned by ProjectionChanges when changes after
// the version asked for are no longer kept (see ChangeRetention): the
// caller reads the current projections with GetProjection instead.
var ErrChangesTrimmed = errors.New("projection changes after that version are no longer kept")

// ChangeRetention is how many of the latest changes a store keeps for
// ProjectionChanges; older ones are trimmed as new ones are stored.
const ChangeRetention = 10000

// Projections keeps the latest projection per (projector, key) and a
// bounded log of the changes, numbered by a store-wide version, so that
// every replica sharing the store can follow what any of them stored.
//
// Implementations are safe for concurrent use by goroutines and, where the
// store is shared, by processes; each Put is one atomic step, and versions
// are handed out in commit order: once ProjectionChanges has returned a
// change at version V, no change at a version <= V can appear later.
type Projections interface {
	// PutProjection stores p as the latest projection of (p.Projector,
	// p.Key) and records the change with the next version, unless it
	// would move the projection back: when the stored one reflects the
	// same aggregate (Cover) at a higher Sequence, or is the same
	// projection (same Cover, Sequence, TypeURL and Payload), nothing
	// changes and stored is false. So a redelivery, or the replay of a
	// rebuild, never moves a projection back; a rebuild that reaches the
	// newest event again replaces it (equal Sequence, other payload).
	// Projections of another aggregate under the same key replace it
	// whatever their sequence (the last stored wins). version is the
	// stored change's, or the current projection's when nothing changed.
	PutProjection(ctx context.Context, p Projection) (version uint64, stored bool, err error)
	// GetProjection returns the latest projection of (projector, key); ok
	// is false when there is none.
	GetProjection(ctx context.Context, projector, key string) (p Projection, ok bool, err error)
	// ProjectionChanges returns up to limit changes with Version > after,
	// in version order, each as it was stored (a key changed twice is
	// there twice). It returns ErrChangesTrimmed when changes right after
	// `after` were trimmed.
	ProjectionChanges(ctx context.Context, after uint64, limit int) ([]Projection, error)
	// ProjectionVersion is the highest version stored so far (0: none).
	ProjectionVersion(ctx context.Context) (uint64, error)
}

// MaxProjectionKey bounds a projection key's length.
const MaxProjectionKey = 200

// CheckProjectionKey reports, as an *InvalidError, a key that is not
// 1..MaxProjectionKey printable ASCII characters.
func CheckProjectionKey(key string) error {
	if key == "" || len(key) > MaxProjectionKey {
		return Invalid("key", "must be 1..%d printable ASCII characters, got %d bytes", MaxProjectionKey, len(key))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return Invalid("key", "must be printable ASCII, got byte %#x at %d", key[i], i)
		}
	}
	return nil
}

// CheckProjection reports a projection no backend accepts: an empty
// projector, an invalid key or an empty domain.
func CheckProjection(p Projection) error {
	if p.Projector == "" {
		return Invalid("projector", "must not be empty")
	}
	if err := CheckProjectionKey(p.Key); err != nil {
		return err
	}
	if p.Cover.Domain == "" {
		return Invalid("domain", "must not be empty")
	}
	return nil
}

// Supersedes reports whether p, put over cur, changes the stored
// projection: the rule PutProjection follows, shared by the backends that
// decide in Go.
func Supersedes(cur, p Projection) bool {
	if cur.Cover != p.Cover {
		return true
	}
	if p.Sequence != cur.Sequence {
		return p.Sequence > cur.Sequence
	}
	return p.TypeURL != cur.TypeURL || !bytes.Equal(p.Payload, cur.Payload)
}
