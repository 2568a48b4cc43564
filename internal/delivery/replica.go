package delivery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// Replica is this process among the replicas sharing the store. It keeps
// its membership alive and lists the live replicas for all of its
// subscriptions at once: one Join and one listing per third of a lease,
// however many projectors and sagas are configured. It is safe for
// concurrent use.
type Replica struct {
	store eventstore.Segments
	id    string
	ttl   time.Duration

	mu      sync.Mutex
	listed  time.Time // of members
	members []eventstore.Member
	joined  time.Time // first successful Join
}

// NewReplica returns the replica id on store, whose membership lasts ttl
// unless renewed.
func NewReplica(store eventstore.Segments, id string, ttl time.Duration) *Replica {
	return &Replica{store: store, id: id, ttl: ttl}
}

// ID names the replica in leases and membership.
func (r *Replica) ID() string { return r.id }

// Members renews the replica's membership and lists the live replicas,
// unless that was done less than a third of a lease ago: then it returns
// that listing.
func (r *Replica) Members(ctx context.Context) ([]eventstore.Member, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.listed.IsZero() && time.Since(r.listed) < r.ttl/3 {
		return r.members, nil
	}
	if err := r.store.Join(ctx, r.id, r.ttl); err != nil {
		return nil, fmt.Errorf("join as replica %s: %w", r.id, err)
	}
	if r.joined.IsZero() {
		r.joined = time.Now()
	}
	members, err := r.store.Members(ctx)
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	r.members, r.listed = members, time.Now()
	return members, nil
}

// memberFor reports whether the replica has been a member for at least d.
func (r *Replica) memberFor(d time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.joined.IsZero() && time.Since(r.joined) >= d
}

// Leave ends the membership (on a graceful stop), so that the others take
// its share at once.
func (r *Replica) Leave(ctx context.Context) error {
	r.mu.Lock()
	r.listed = time.Time{}
	r.mu.Unlock()
	return r.store.Leave(ctx, r.id)
}
