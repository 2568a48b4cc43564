package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Projections = (*Store)(nil)

// Projections on SQLite: PutProjection reads the stored one, decides and
// writes the row and its change in one IMMEDIATE transaction of the
// writer connection, so versions (max + 1) are handed out in commit order
// across the processes sharing the file.

const projectionColumns = `projector, key, domain, aggregate_id, sequence, type_url, payload, version`

type rowScanner interface{ Scan(dest ...any) error }

func scanProjection(r rowScanner) (eventstore.Projection, error) {
	var p eventstore.Projection
	var root string
	var seq, version int64
	if err := r.Scan(&p.Projector, &p.Key, &p.Cover.Domain, &root, &seq, &p.TypeURL, &p.Payload, &version); err != nil {
		return p, err
	}
	id, err := uuid.Parse(root)
	if err != nil {
		return p, err
	}
	p.Cover.Root, p.Sequence, p.Version = id, uint32(seq), uint64(version)
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
	if s.closed() {
		return 0, false, eventstore.ErrClosed
	}
	v, stored, err := s.putProjection(ctx, p)
	if err != nil {
		return 0, false, s.fail(err, "put projection %s of %s", p.Key, p.Projector)
	}
	return v, stored, nil
}

func (s *Store) putProjection(ctx context.Context, p eventstore.Projection) (uint64, bool, error) {
	tx, err := s.w.BeginTx(ctx, nil) // IMMEDIATE: the write lock from here to Commit
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback()
	cur, err := scanProjection(tx.QueryRowContext(ctx, `SELECT `+projectionColumns+` FROM projections WHERE projector = ? AND key = ?`, p.Projector, p.Key))
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return 0, false, err
	case !eventstore.Supersedes(cur, p):
		return cur.Version, false, nil
	}
	var version int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) + 1 FROM projection_changes`).Scan(&version); err != nil {
		return 0, false, err
	}
	payload := p.Payload
	if payload == nil {
		payload = []byte{}
	}
	args := []any{p.Projector, p.Key, p.Cover.Domain, p.Cover.Root.String(), int64(p.Sequence), p.TypeURL, payload, version}
	if _, err := tx.ExecContext(ctx, `INSERT INTO projections (`+projectionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (projector, key) DO UPDATE SET domain = excluded.domain, aggregate_id = excluded.aggregate_id,
			sequence = excluded.sequence, type_url = excluded.type_url, payload = excluded.payload, version = excluded.version`, args...); err != nil {
		return 0, false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO projection_changes (`+projectionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
		return 0, false, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM projection_changes WHERE version <= ?`, version-eventstore.ChangeRetention); err != nil {
		return 0, false, err
	}
	return uint64(version), true, tx.Commit()
}

// GetProjection implements eventstore.Projections.
func (s *Store) GetProjection(ctx context.Context, projector, key string) (eventstore.Projection, bool, error) {
	if s.closed() {
		return eventstore.Projection{}, false, eventstore.ErrClosed
	}
	p, err := scanProjection(s.r.QueryRowContext(ctx, `SELECT `+projectionColumns+` FROM projections WHERE projector = ? AND key = ?`, projector, key))
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.Projection{}, false, nil
	}
	if err != nil {
		return eventstore.Projection{}, false, s.fail(err, "get projection %s of %s", key, projector)
	}
	return p, true, nil
}

// ProjectionChanges implements eventstore.Projections.
func (s *Store) ProjectionChanges(ctx context.Context, after uint64, limit int) ([]eventstore.Projection, error) {
	if s.closed() {
		return nil, eventstore.ErrClosed
	}
	out, err := s.projectionChanges(ctx, after, limit)
	if err != nil && !errors.Is(err, eventstore.ErrChangesTrimmed) {
		return nil, s.fail(err, "projection changes after %d", after)
	}
	return out, err
}

func (s *Store) projectionChanges(ctx context.Context, after uint64, limit int) ([]eventstore.Projection, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+projectionColumns+` FROM projection_changes WHERE version > ? ORDER BY version LIMIT ?`, int64(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eventstore.Projection
	for rows.Next() {
		p, err := scanProjection(rows)
		if err != nil {
			return nil, err
		}
		if len(out) == 0 && p.Version > after+1 {
			return nil, eventstore.ErrChangesTrimmed
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ProjectionVersion implements eventstore.Projections.
func (s *Store) ProjectionVersion(ctx context.Context) (uint64, error) {
	if s.closed() {
		return 0, eventstore.ErrClosed
	}
	var v int64
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM projection_changes`).Scan(&v); err != nil {
		return 0, s.fail(err, "projection version")
	}
	return uint64(v), nil
}
