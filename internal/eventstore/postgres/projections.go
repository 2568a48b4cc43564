package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Projections = (*Store)(nil)

// Projections on PostgreSQL: PutProjection locks the one row of
// projection_version first, so puts are serialised and their versions
// commit in order (a reader that saw version V never sees a lower one
// appear later); then it reads the stored projection, decides, and writes
// the row, the change and the trim in the same transaction. A put whose
// commit is in doubt is simply put again by its caller: the same
// projection changes nothing.

const projectionColumns = `projector, key, domain, aggregate_id, sequence, type_url, payload, version`

func scanProjection(row pgx.Row) (eventstore.Projection, error) {
	var p eventstore.Projection
	var seq, version int64
	if err := row.Scan(&p.Projector, &p.Key, &p.Cover.Domain, pgRoot(&p.Cover.Root), &seq, &p.TypeURL, &p.Payload, &version); err != nil {
		return p, err
	}
	p.Sequence, p.Version = uint32(seq), uint64(version)
	if p.Payload == nil {
		p.Payload = []byte{}
	}
	return p, nil
}

// PutProjection implements eventstore.Projections.
func (s *Store) PutProjection(ctx context.Context, p eventstore.Projection) (uint64, bool, error) {
	if err := eventstore.CheckProjection(p); err != nil {
		return 0, false, err
	}
	if s.closed.Load() {
		return 0, false, eventstore.ErrClosed
	}
	v, stored, err := s.putProjection(ctx, p)
	if err != nil {
		return 0, false, s.fail(err, "put projection %s of %s", p.Key, p.Projector)
	}
	return v, stored, nil
}

func (s *Store) putProjection(ctx context.Context, p eventstore.Projection) (uint64, bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback(ctx)
	var version int64
	if err := tx.QueryRow(ctx, `SELECT version FROM projection_version FOR UPDATE`).Scan(&version); err != nil {
		return 0, false, err
	}
	cur, err := scanProjection(tx.QueryRow(ctx, `SELECT `+projectionColumns+` FROM projections WHERE projector = $1 AND key = $2`, p.Projector, p.Key))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return 0, false, err
	case !eventstore.Supersedes(cur, p):
		return cur.Version, false, nil
	}
	version++
	payload := p.Payload
	if payload == nil {
		payload = []byte{}
	}
	args := []any{p.Projector, p.Key, p.Cover.Domain, pgUUID(p.Cover.Root), int64(p.Sequence), p.TypeURL, payload, version}
	batch := &pgx.Batch{}
	batch.Queue(`UPDATE projection_version SET version = $1`, version)
	batch.Queue(`INSERT INTO projections (`+projectionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (projector, key) DO UPDATE SET domain = excluded.domain, aggregate_id = excluded.aggregate_id,
			sequence = excluded.sequence, type_url = excluded.type_url, payload = excluded.payload, version = excluded.version`, args...)
	batch.Queue(`INSERT INTO projection_changes (`+projectionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, args...)
	batch.Queue(`DELETE FROM projection_changes WHERE version <= $1`, version-eventstore.ChangeRetention)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return 0, false, err
	}
	return uint64(version), true, tx.Commit(ctx)
}

// GetProjection implements eventstore.Projections.
func (s *Store) GetProjection(ctx context.Context, projector, key string) (eventstore.Projection, bool, error) {
	if s.closed.Load() {
		return eventstore.Projection{}, false, eventstore.ErrClosed
	}
	p, err := scanProjection(s.pool.QueryRow(ctx, `SELECT `+projectionColumns+` FROM projections WHERE projector = $1 AND key = $2`, projector, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Projection{}, false, nil
	}
	if err != nil {
		return eventstore.Projection{}, false, s.fail(err, "get projection %s of %s", key, projector)
	}
	return p, true, nil
}

// ProjectionChanges implements eventstore.Projections.
func (s *Store) ProjectionChanges(ctx context.Context, after uint64, limit int) ([]eventstore.Projection, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.pool.Query(ctx, `SELECT `+projectionColumns+` FROM projection_changes WHERE version > $1 ORDER BY version LIMIT $2`, int64(after), limit)
	if err != nil {
		return nil, s.fail(err, "projection changes after %d", after)
	}
	defer rows.Close()
	var out []eventstore.Projection
	for rows.Next() {
		p, err := scanProjection(rows)
		if err != nil {
			return nil, s.fail(err, "projection changes after %d", after)
		}
		if len(out) == 0 && p.Version > after+1 {
			return nil, eventstore.ErrChangesTrimmed
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "projection changes after %d", after)
	}
	return out, nil
}

// ProjectionVersion implements eventstore.Projections.
func (s *Store) ProjectionVersion(ctx context.Context) (uint64, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM projection_version`).Scan(&v); err != nil {
		return 0, s.fail(err, "projection version")
	}
	return uint64(v), nil
}
