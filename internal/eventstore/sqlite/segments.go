package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Segments = (*Store)(nil)

// Segments on SQLite: every write goes through the writer connection, whose
// transactions begin IMMEDIATE, so a read-decide-write such as Acquire holds
// the file's write lock throughout and is atomic across processes sharing
// the file. Fenced writes are single UPDATEs conditioned on the token.
// Times are this machine's clock: processes sharing a file share a machine.

// Acquire implements eventstore.Segments.
func (s *Store) Acquire(ctx context.Context, subscriber string, segment, of int, owner string, ttl time.Duration, start uint64) (eventstore.Lease, bool, error) {
	if err := eventstore.CheckAcquire(subscriber, segment, of, owner, ttl); err != nil {
		return eventstore.Lease{}, false, err
	}
	if s.closed() {
		return eventstore.Lease{}, false, eventstore.ErrClosed
	}
	l, ok, err := s.acquire(ctx, subscriber, segment, of, owner, ttl, start)
	if err != nil {
		return eventstore.Lease{}, false, s.fail(err, "acquire segment %d/%d of %s", segment, of, subscriber)
	}
	return l, ok, nil
}

func (s *Store) acquire(ctx context.Context, subscriber string, segment, of int, owner string, ttl time.Duration, start uint64) (eventstore.Lease, bool, error) {
	tx, err := s.w.BeginTx(ctx, nil) // IMMEDIATE: the write lock from here to Commit
	if err != nil {
		return eventstore.Lease{}, false, err
	}
	defer tx.Rollback()
	now := time.Now().UTC()
	l := eventstore.Lease{Subscriber: subscriber, Segment: segment, Of: of}
	var expires string
	err = tx.QueryRowContext(ctx, `SELECT owner, token, position, expires_at FROM segments
		WHERE subscriber = ? AND "of" = ? AND segment = ?`, subscriber, of, segment).
		Scan(&l.Owner, &l.Token, &l.Position, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		l.Token, l.Position = 1, start
	case err != nil:
		return eventstore.Lease{}, false, err
	default:
		if l.Expires, err = parseTime([]byte(expires)); err != nil {
			return eventstore.Lease{}, false, err
		}
		switch {
		case !now.Before(l.Expires):
			l.Token++
		case l.Owner != owner:
			return l, false, nil
		}
	}
	l.Owner, l.Expires = owner, now.Add(ttl)
	if _, err := tx.ExecContext(ctx, `INSERT INTO segments (subscriber, "of", segment, owner, token, position, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (subscriber, "of", segment) DO UPDATE SET
			owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at`,
		subscriber, of, segment, owner, int64(l.Token), int64(l.Position), formatTime(l.Expires)); err != nil {
		return eventstore.Lease{}, false, err
	}
	return l, true, tx.Commit()
}

// Renew implements eventstore.Segments.
func (s *Store) Renew(ctx context.Context, l eventstore.Lease, ttl time.Duration) (eventstore.Lease, error) {
	if ttl <= 0 {
		return eventstore.Lease{}, eventstore.Invalid("ttl", "must be positive, got %v", ttl)
	}
	if s.closed() {
		return eventstore.Lease{}, eventstore.ErrClosed
	}
	n := eventstore.Lease{Subscriber: l.Subscriber, Segment: l.Segment, Of: l.Of, Token: l.Token, Expires: time.Now().UTC().Add(ttl)}
	var position int64
	err := s.w.QueryRowContext(ctx, `UPDATE segments SET expires_at = ?
		WHERE subscriber = ? AND "of" = ? AND segment = ? AND token = ?
		RETURNING owner, position`,
		formatTime(n.Expires), l.Subscriber, l.Of, l.Segment, int64(l.Token)).Scan(&n.Owner, &position)
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.Lease{}, eventstore.ErrLeaseLost
	}
	if err != nil {
		return eventstore.Lease{}, s.fail(err, "renew segment %d/%d of %s", l.Segment, l.Of, l.Subscriber)
	}
	n.Position = uint64(position)
	return n, nil
}

// Release implements eventstore.Segments: the row expires now, keeping its
// owner, token and position for the next Acquire.
func (s *Store) Release(ctx context.Context, l eventstore.Lease) error {
	if s.closed() {
		return eventstore.ErrClosed
	}
	now := formatTime(time.Now())
	_, err := s.w.ExecContext(ctx, `UPDATE segments SET expires_at = ?
		WHERE subscriber = ? AND "of" = ? AND segment = ? AND token = ? AND expires_at > ?`,
		now, l.Subscriber, l.Of, l.Segment, int64(l.Token), now)
	if err != nil {
		return s.fail(err, "release segment %d/%d of %s", l.Segment, l.Of, l.Subscriber)
	}
	return nil
}

// Reset implements eventstore.Segments: one UPDATE, so every row moves
// together.
func (s *Store) Reset(ctx context.Context, subscriber string, position uint64) (int, error) {
	if s.closed() {
		return 0, eventstore.ErrClosed
	}
	res, err := s.w.ExecContext(ctx, `UPDATE segments SET token = token + 1, position = ? WHERE subscriber = ?`, int64(position), subscriber)
	if err != nil {
		return 0, s.fail(err, "reset segments of %s", subscriber)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(err, "reset segments of %s", subscriber)
	}
	return int(n), nil
}

// Advance implements eventstore.Segments.
func (s *Store) Advance(ctx context.Context, l eventstore.Lease, position uint64) error {
	if s.closed() {
		return eventstore.ErrClosed
	}
	if err := s.fenced(ctx, l, `UPDATE segments SET position = max(position, ?)`, int64(position)); err != nil {
		return s.failLease(err, "advance", l)
	}
	return nil
}

// fenced runs update (an UPDATE segments SET … with its args) on l's row if
// l's token is still the row's, and ErrLeaseLost if not.
func (s *Store) fenced(ctx context.Context, l eventstore.Lease, update string, args ...any) error {
	res, err := s.w.ExecContext(ctx, update+` WHERE subscriber = ? AND "of" = ? AND segment = ? AND token = ?`,
		append(args, l.Subscriber, l.Of, l.Segment, int64(l.Token))...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return eventstore.ErrLeaseLost
	}
	return nil
}

func (s *Store) failLease(err error, what string, l eventstore.Lease) error {
	if errors.Is(err, eventstore.ErrLeaseLost) {
		return err
	}
	return s.fail(err, "%s segment %d/%d of %s", what, l.Segment, l.Of, l.Subscriber)
}

// ParkFenced implements eventstore.Segments: the token check, the look for
// an earlier parked event of the cover and the insert are one IMMEDIATE
// transaction.
func (s *Store) ParkFenced(ctx context.Context, l eventstore.Lease, p eventstore.Parked, behind bool) (bool, error) {
	if s.closed() {
		return false, eventstore.ErrClosed
	}
	stored, err := s.parkFenced(ctx, l, p, behind)
	if err != nil {
		return false, s.failLease(err, "park "+p.Cover.String()+" for", l)
	}
	return stored, nil
}

func (s *Store) parkFenced(ctx context.Context, l eventstore.Lease, p eventstore.Parked, behind bool) (bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var current bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM segments
		WHERE subscriber = ? AND "of" = ? AND segment = ? AND token = ?)`,
		l.Subscriber, l.Of, l.Segment, int64(l.Token)).Scan(&current); err != nil {
		return false, err
	}
	if !current {
		return false, eventstore.ErrLeaseLost
	}
	if behind {
		var earlier bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM parked
			WHERE subscriber = ? AND domain = ? AND aggregate_id = ? AND position < ?)`,
			l.Subscriber, p.Cover.Domain, p.Cover.Root.String(), int64(p.Position)).Scan(&earlier); err != nil {
			return false, err
		}
		if !earlier {
			return false, nil
		}
	}
	if p.ParkedAt.IsZero() {
		p.ParkedAt = time.Now()
	}
	if _, err := tx.ExecContext(ctx, parkSQL, parkArgs(l.Subscriber, p)...); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// Leases implements eventstore.Segments.
func (s *Store) Leases(ctx context.Context, subscriber string) ([]eventstore.Lease, error) {
	if s.closed() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, `SELECT "of", segment, owner, token, position, expires_at FROM segments
		WHERE subscriber = ? ORDER BY "of", segment`, subscriber)
	if err != nil {
		return nil, s.fail(err, "leases of %s", subscriber)
	}
	defer rows.Close()
	var out []eventstore.Lease
	for rows.Next() {
		l := eventstore.Lease{Subscriber: subscriber}
		if err := scanLease(rows, &l); err != nil {
			return nil, s.fail(err, "leases of %s", subscriber)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "leases of %s", subscriber)
	}
	return out, nil
}

func scanLease(row interface{ Scan(...any) error }, l *eventstore.Lease) error {
	var expires string
	var token, position int64
	if err := row.Scan(&l.Of, &l.Segment, &l.Owner, &token, &position, &expires); err != nil {
		return err
	}
	l.Token, l.Position = uint64(token), uint64(position)
	var err error
	l.Expires, err = parseTime([]byte(expires))
	return err
}

// Join implements eventstore.Segments. It also drops members whose time
// ran out, so replicas that died without Leave do not pile up.
func (s *Store) Join(ctx context.Context, owner string, ttl time.Duration) error {
	if err := eventstore.CheckJoin(owner, ttl); err != nil {
		return err
	}
	if s.closed() {
		return eventstore.ErrClosed
	}
	now := time.Now()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(err, "join %s", owner)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM members WHERE expires_at <= ?`, formatTime(now)); err != nil {
		return s.fail(err, "join %s", owner)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO members (id, expires_at) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`, owner, formatTime(now.Add(ttl))); err != nil {
		return s.fail(err, "join %s", owner)
	}
	if err := tx.Commit(); err != nil {
		return s.fail(err, "join %s", owner)
	}
	return nil
}

// Leave implements eventstore.Segments.
func (s *Store) Leave(ctx context.Context, owner string) error {
	if s.closed() {
		return eventstore.ErrClosed
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM members WHERE id = ?`, owner); err != nil {
		return s.fail(err, "leave %s", owner)
	}
	return nil
}

// Members implements eventstore.Segments.
func (s *Store) Members(ctx context.Context) ([]eventstore.Member, error) {
	if s.closed() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, expires_at FROM members WHERE expires_at > ? ORDER BY id`, formatTime(time.Now()))
	if err != nil {
		return nil, s.fail(err, "members")
	}
	defer rows.Close()
	var out []eventstore.Member
	for rows.Next() {
		var m eventstore.Member
		var expires string
		if err := rows.Scan(&m.ID, &expires); err != nil {
			return nil, s.fail(err, "members")
		}
		if m.Expires, err = parseTime([]byte(expires)); err != nil {
			return nil, s.fail(err, "members")
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "members")
	}
	return out, nil
}
