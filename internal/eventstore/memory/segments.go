package memory

import (
	"bytes"
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// segmentKey addresses one lease row.
type segmentKey struct {
	subscriber string
	of         int
	segment    int
}

func keyOf(l eventstore.Lease) segmentKey {
	return segmentKey{subscriber: l.Subscriber, of: l.Of, segment: l.Segment}
}

// current returns the stored row of l when l's token is still its token;
// the caller holds s.mu.
func (s *Store) current(l eventstore.Lease) (eventstore.Lease, bool) {
	row, ok := s.leases[keyOf(l)]
	return row, ok && row.Token == l.Token
}

// Acquire implements eventstore.Segments. The store's one mutex makes the
// check of the holder and the new token a single step.
func (s *Store) Acquire(ctx context.Context, subscriber string, segment, of int, owner string, ttl time.Duration, start uint64) (eventstore.Lease, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Lease{}, false, err
	}
	if err := eventstore.CheckAcquire(subscriber, segment, of, owner, ttl); err != nil {
		return eventstore.Lease{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.Lease{}, false, eventstore.ErrClosed
	}
	now := s.now()
	k := segmentKey{subscriber: subscriber, of: of, segment: segment}
	row, seen := s.leases[k]
	switch {
	case !seen:
		row = eventstore.Lease{Subscriber: subscriber, Segment: segment, Of: of, Token: 1, Position: start}
	case !now.Before(row.Expires):
		row.Token++
	case row.Owner != owner:
		return row, false, nil
	}
	row.Owner = owner
	row.Expires = now.Add(ttl)
	s.leases[k] = row
	return row, true, nil
}

// Renew implements eventstore.Segments.
func (s *Store) Renew(ctx context.Context, l eventstore.Lease, ttl time.Duration) (eventstore.Lease, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Lease{}, err
	}
	if ttl <= 0 {
		return eventstore.Lease{}, eventstore.Invalid("ttl", "must be positive, got %v", ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.Lease{}, eventstore.ErrClosed
	}
	row, ok := s.current(l)
	if !ok {
		return eventstore.Lease{}, eventstore.ErrLeaseLost
	}
	row.Expires = s.now().Add(ttl)
	s.leases[keyOf(l)] = row
	return row, nil
}

// Release implements eventstore.Segments: the row keeps its owner, token
// and position, and expires now, so the next Acquire takes it with a new
// token.
func (s *Store) Release(ctx context.Context, l eventstore.Lease) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	row, ok := s.current(l)
	if !ok {
		return nil
	}
	if now := s.now(); row.Expires.After(now) {
		row.Expires = now
	}
	s.leases[keyOf(l)] = row
	return nil
}

// Reset implements eventstore.Segments.
func (s *Store) Reset(ctx context.Context, subscriber string, position uint64) (int, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	n := 0
	for k, row := range s.leases {
		if k.subscriber == subscriber {
			row.Token++
			row.Position = position
			s.leases[k] = row
			n++
		}
	}
	return n, nil
}

// Advance implements eventstore.Segments.
func (s *Store) Advance(ctx context.Context, l eventstore.Lease, position uint64) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	row, ok := s.current(l)
	if !ok {
		return eventstore.ErrLeaseLost
	}
	row.Position = max(row.Position, position)
	s.leases[keyOf(l)] = row
	return nil
}

// ParkFenced implements eventstore.Segments. The token check, the look for
// an earlier parked event of the cover and the store happen under one lock.
func (s *Store) ParkFenced(ctx context.Context, l eventstore.Lease, p eventstore.Parked, behind bool) (bool, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	if _, ok := s.current(l); !ok {
		return false, eventstore.ErrLeaseLost
	}
	parked := s.parked[l.Subscriber]
	if behind && !hasEarlier(parked, p) {
		return false, nil
	}
	if parked == nil {
		parked = map[uint64]eventstore.Parked{}
		s.parked[l.Subscriber] = parked
	}
	if p.ParkedAt.IsZero() {
		p.ParkedAt = time.Now()
	}
	p.ParkedAt = p.ParkedAt.UTC()
	p.Payload = bytes.Clone(p.Payload)
	parked[p.Position] = p
	return true, nil
}

// hasEarlier reports whether parked holds an event of p's cover below p.
func hasEarlier(parked map[uint64]eventstore.Parked, p eventstore.Parked) bool {
	for pos, q := range parked {
		if q.Cover == p.Cover && pos < p.Position {
			return true
		}
	}
	return false
}

// Leases implements eventstore.Segments.
func (s *Store) Leases(ctx context.Context, subscriber string) ([]eventstore.Lease, error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []eventstore.Lease
	for k, row := range s.leases {
		if k.subscriber == subscriber {
			out = append(out, row)
		}
	}
	slices.SortFunc(out, func(a, b eventstore.Lease) int {
		return cmp.Or(cmp.Compare(a.Of, b.Of), cmp.Compare(a.Segment, b.Segment))
	})
	return out, nil
}

// Join implements eventstore.Segments.
func (s *Store) Join(ctx context.Context, owner string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := eventstore.CheckJoin(owner, ttl); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	s.members[owner] = s.now().Add(ttl)
	return nil
}

// Leave implements eventstore.Segments.
func (s *Store) Leave(ctx context.Context, owner string) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	delete(s.members, owner)
	return nil
}

// Members implements eventstore.Segments. Expired members are dropped as
// they are met.
func (s *Store) Members(ctx context.Context) ([]eventstore.Member, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	now := s.now()
	var out []eventstore.Member
	for _, id := range slices.Sorted(maps.Keys(s.members)) {
		exp := s.members[id]
		if !now.Before(exp) {
			delete(s.members, id)
			continue
		}
		out = append(out, eventstore.Member{ID: id, Expires: exp})
	}
	return out, nil
}
