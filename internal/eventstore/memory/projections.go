package memory

import (
	"context"
	"slices"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Projections = (*Store)(nil)

// projections are the latest projection per (projector, key) and the
// retained changes, oldest first (versions increasing, no gaps).
type projections struct {
	latest  map[[2]string]eventstore.Projection
	changes []eventstore.Projection
	version uint64
}

func copyProjection(p eventstore.Projection) eventstore.Projection {
	p.Payload = slices.Clone(p.Payload)
	return p
}

// PutProjection implements eventstore.Projections.
func (s *Store) PutProjection(ctx context.Context, p eventstore.Projection) (uint64, bool, error) {
	if err := eventstore.CheckProjection(p); err != nil {
		return 0, false, err
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, false, err
	}
	defer unlock()
	pr := &s.proj
	if pr.latest == nil {
		pr.latest = map[[2]string]eventstore.Projection{}
	}
	k := [2]string{p.Projector, p.Key}
	if cur, ok := pr.latest[k]; ok && !eventstore.Supersedes(cur, p) {
		return cur.Version, false, nil
	}
	pr.version++
	p = copyProjection(p)
	p.Version = pr.version
	pr.latest[k] = p
	pr.changes = append(pr.changes, p)
	if n := len(pr.changes) - eventstore.ChangeRetention; n > 0 {
		pr.changes = slices.Delete(pr.changes, 0, n)
	}
	return p.Version, true, nil
}

// GetProjection implements eventstore.Projections.
func (s *Store) GetProjection(ctx context.Context, projector, key string) (eventstore.Projection, bool, error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return eventstore.Projection{}, false, err
	}
	defer unlock()
	p, ok := s.proj.latest[[2]string{projector, key}]
	return copyProjection(p), ok, nil
}

// ProjectionChanges implements eventstore.Projections.
func (s *Store) ProjectionChanges(ctx context.Context, after uint64, limit int) ([]eventstore.Projection, error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ch := s.proj.changes
	if len(ch) == 0 || after >= s.proj.version {
		return nil, nil
	}
	if after+1 < ch[0].Version {
		return nil, eventstore.ErrChangesTrimmed
	}
	i := int(after + 1 - ch[0].Version)
	var out []eventstore.Projection
	for ; i < len(ch) && len(out) < limit; i++ {
		out = append(out, copyProjection(ch[i]))
	}
	return out, nil
}

// ProjectionVersion implements eventstore.Projections.
func (s *Store) ProjectionVersion(ctx context.Context) (uint64, error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	return s.proj.version, nil
}
