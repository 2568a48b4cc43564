package memory

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// ReadLog implements eventstore.Log.
func (s *Store) ReadLog(ctx context.Context, after uint64, limit int) ([]eventstore.Logged, error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if after >= uint64(len(s.log)) || limit <= 0 {
		return nil, nil
	}
	out := slices.Clone(s.log[after:min(uint64(len(s.log)), after+uint64(limit))])
	for i := range out {
		out[i].Payload = bytes.Clone(out[i].Payload)
	}
	return out, nil
}

// Head implements eventstore.Log.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, eventstore.ErrClosed
	}
	return uint64(len(s.log)), ctx.Err()
}

// Appended implements eventstore.Log.
func (s *Store) Appended() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.appended
}

// Checkpoint implements eventstore.Checkpoints.
func (s *Store) Checkpoint(ctx context.Context, subscriber string) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, eventstore.ErrClosed
	}
	return s.cps[subscriber], ctx.Err()
}

// SaveCheckpoint implements eventstore.Checkpoints.
func (s *Store) SaveCheckpoint(ctx context.Context, subscriber string, position uint64) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	s.cps[subscriber] = position
	return nil
}

// Park implements eventstore.Parking.
func (s *Store) Park(ctx context.Context, subscriber string, p eventstore.Parked) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if s.parked[subscriber] == nil {
		s.parked[subscriber] = map[uint64]eventstore.Parked{}
	}
	if p.ParkedAt.IsZero() {
		p.ParkedAt = time.Now()
	}
	p.ParkedAt = p.ParkedAt.UTC()
	p.Payload = bytes.Clone(p.Payload)
	s.parked[subscriber][p.Position] = p
	return nil
}

// ParkedEvents implements eventstore.Parking.
func (s *Store) ParkedEvents(ctx context.Context, subscriber string) ([]eventstore.Parked, error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m := s.parked[subscriber]
	out := make([]eventstore.Parked, 0, len(m))
	for _, pos := range slices.Sorted(maps.Keys(m)) {
		p := m[pos]
		p.Payload = bytes.Clone(p.Payload)
		out = append(out, p)
	}
	return out, nil
}

// Unpark implements eventstore.Parking.
func (s *Store) Unpark(ctx context.Context, subscriber string, positions ...uint64) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	for _, pos := range positions {
		delete(s.parked[subscriber], pos)
	}
	return nil
}
