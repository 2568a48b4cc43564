package eventstore

import (
	"context"
	"errors"
	"time"
)

// Lease is one replica's hold on one segment of a subscription, kept in the
// store so that replicas sharing the store share the work: each segment is
// delivered by exactly one replica at a time.
//
// A subscription split into Of segments gives every aggregate to segment
// SegmentOf(cover, Of). The lease row is also the segment's checkpoint
// (Position), so a checkpoint is only ever written by the lease's holder:
// every write carries the Token, and a write with a token that is no longer
// current (the lease expired and another replica took it) is refused.
type Lease struct {
	Subscriber string
	Segment    int // 0 ≤ Segment < Of
	Of         int // how many segments the subscription is split into
	Owner      string
	// Token is the fencing token: it grows every time the segment is
	// acquired by a new owner or after its lease expired.
	Token uint64
	// Position is the segment's checkpoint: every event of the segment at
	// or below it is handled.
	Position uint64
	// Expires is when the lease lapses unless renewed (the store's clock).
	Expires time.Time
}

// Member is a live replica, as registered with Join.
type Member struct {
	ID      string
	Expires time.Time
}

// ErrLeaseLost is returned by fenced writes whose lease token is no longer
// current: another replica holds the segment now.
var ErrLeaseLost = errors.New("segment lease lost: another replica holds it")

// Segments persists segment leases, their checkpoints and the replicas that
// take part, for subscriptions shared by several replicas. Times are the
// store's own clock where the backend has one (PostgreSQL, Redis), so
// replicas' clocks need not agree.
//
// Implementations are safe for concurrent use by goroutines and processes.
type Segments interface {
	// Acquire takes segment (subscriber, segment, of) for owner for ttl when
	// the segment is free, its lease has expired, or owner already holds it.
	// A segment never seen before starts at position start. ok is false
	// (and the returned lease shows the holder) when another owner holds an
	// unexpired lease. The token grows whenever the lease changes hands or
	// had expired; re-acquiring one's own unexpired lease keeps it.
	Acquire(ctx context.Context, subscriber string, segment, of int, owner string, ttl time.Duration, start uint64) (l Lease, ok bool, err error)
	// Renew extends l by ttl from now. It returns ErrLeaseLost when l's
	// token is no longer the segment's (even if l had expired, a renewal
	// succeeds while nobody else acquired the segment).
	Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// Release ends l at once so another replica may acquire the segment
	// without waiting for expiry. Releasing a lost lease is not an error.
	Release(ctx context.Context, l Lease) error
	// Advance saves position as the checkpoint of l's segment, fenced by
	// l's token: ErrLeaseLost when the token is no longer current. A
	// position below the stored one leaves it unchanged (a checkpoint never
	// moves backwards) and is not an error.
	Advance(ctx context.Context, l Lease, position uint64) error
	// ParkFenced parks p for l.Subscriber, fenced by l's token like
	// Advance. With behind set, p is an event held back because an earlier
	// event of its aggregate is parked: it is stored only if the subscriber
	// still has a parked event of p's cover (replay may have just released
	// them all), and stored reports whether it was. Without behind, p is
	// always stored.
	ParkFenced(ctx context.Context, l Lease, p Parked, behind bool) (stored bool, err error)
	// Leases lists every segment row of subscriber, whatever its Of,
	// ordered by Of then Segment.
	Leases(ctx context.Context, subscriber string) ([]Lease, error)
	// Reset moves every segment row of subscriber, whatever its Of, to
	// position (backwards too: a rebuild) and gives each a new token, so
	// that its holder's next renewal, Advance or ParkFenced fails with
	// ErrLeaseLost and it stops. Owners and expiries are kept: a holder
	// re-acquires its own row at once, with the new token and position;
	// another replica waits for the lease to lapse. It returns how many
	// rows were reset (0 when the subscriber has none yet). Running it
	// twice is harmless: the tokens only grow.
	Reset(ctx context.Context, subscriber string, position uint64) (int, error)

	// Join registers owner as a live replica for ttl (call it again to stay
	// live); Leave removes it; Members lists the live ones ordered by ID.
	Join(ctx context.Context, owner string, ttl time.Duration) error
	Leave(ctx context.Context, owner string) error
	Members(ctx context.Context) ([]Member, error)
}

// SegmentOf is the segment, of n, that cover's events belong to: a hash of
// the aggregate's root (FNV-1a over its 16 bytes), so one aggregate always
// lands in one segment and stays in order. n ≤ 1 means one segment.
func SegmentOf(cover Cover, n int) int {
	if n <= 1 {
		return 0
	}
	h := uint32(2166136261)
	for _, b := range cover.Root {
		h ^= uint32(b)
		h *= 16777619
	}
	return int(h % uint32(n))
}

// CheckAcquire reports, as an *InvalidError, arguments of Acquire that no
// backend accepts: an empty subscriber or owner, a segment outside [0, of),
// or a ttl that is not positive. Backends call it first.
func CheckAcquire(subscriber string, segment, of int, owner string, ttl time.Duration) error {
	switch {
	case subscriber == "":
		return Invalid("subscriber", "must not be empty")
	case owner == "":
		return Invalid("owner", "must not be empty")
	case of < 1:
		return Invalid("of", "must be at least 1, got %d", of)
	case segment < 0 || segment >= of:
		return Invalid("segment", "must be in [0, %d), got %d", of, segment)
	case ttl <= 0:
		return Invalid("ttl", "must be positive, got %v", ttl)
	}
	return nil
}

// CheckJoin reports, as an *InvalidError, an owner or ttl that no backend
// accepts for Join: an empty owner, a ttl that is not positive.
func CheckJoin(owner string, ttl time.Duration) error {
	if owner == "" {
		return Invalid("owner", "must not be empty")
	}
	if ttl <= 0 {
		return Invalid("ttl", "must be positive, got %v", ttl)
	}
	return nil
}
