package postgres

import (
	"context"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Space = (*Store)(nil)

// probeBytes is how much room CheckSpace wants before it reports space
// back.
const probeBytes = 64 << 10

// CheckSpace implements eventstore.Space. After a write failed with
// disk_full (SQLSTATE 53100), it probes, each time it is called, until the
// probe succeeds: a transaction that inserts probeBytes of incompressible
// data (stored out of line, so the table's files must have room or grow)
// and rolls back. Until then it returns an error matching
// eventstore.ErrFull.
func (s *Store) CheckSpace(ctx context.Context) error {
	if !s.full.Load() {
		return nil
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.fail(err, "space probe")
	}
	defer tx.Rollback(ctx)
	// The empty domain is never a cover's, and the row never commits.
	_, err = tx.Exec(ctx, `INSERT INTO snapshots (domain, aggregate_id, sequence, type_url, state, created_at)
		SELECT '', gen_random_uuid(), 0, '', decode(string_agg(md5(random()::text), ''), 'hex'), now()
		FROM generate_series(1, $1)`, probeBytes/16)
	if err != nil {
		return s.fail(err, "space probe")
	}
	s.full.Store(false)
	return nil
}
