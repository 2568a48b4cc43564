package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Segments = (*Store)(nil)

// Segments on PostgreSQL: times are the server's clock_timestamp(), so the
// replicas' clocks need not agree. Acquire is one INSERT … ON CONFLICT DO
// UPDATE whose WHERE lets only a free, expired or own lease change: the row
// lock taken by the upsert serialises racing replicas, and the loser's
// statement updates nothing. Advance and Renew are UPDATEs conditioned on
// the token; ParkFenced locks the lease row (FOR SHARE) for its
// transaction, so no Acquire can change the token before the parked event
// is committed.

// micros is d in whole microseconds, PostgreSQL's time resolution.
func micros(d time.Duration) int64 { return d.Microseconds() }

// Acquire implements eventstore.Segments.
func (s *Store) Acquire(ctx context.Context, subscriber string, segment, of int, owner string, ttl time.Duration, start uint64) (eventstore.Lease, bool, error) {
	if err := eventstore.CheckAcquire(subscriber, segment, of, owner, ttl); err != nil {
		return eventstore.Lease{}, false, err
	}
	pos, err := position(start)
	if err != nil {
		return eventstore.Lease{}, false, fmt.Errorf("postgres: acquire segment %d/%d of %s: %w", segment, of, subscriber, err)
	}
	if s.closed.Load() {
		return eventstore.Lease{}, false, eventstore.ErrClosed
	}
	l, ok, err := s.acquire(ctx, subscriber, segment, of, owner, ttl, pos)
	if err != nil {
		return eventstore.Lease{}, false, s.fail(err, "acquire segment %d/%d of %s", segment, of, subscriber)
	}
	return l, ok, nil
}

func (s *Store) acquire(ctx context.Context, subscriber string, segment, of int, owner string, ttl time.Duration, start int64) (eventstore.Lease, bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return eventstore.Lease{}, false, err
	}
	defer tx.Rollback(ctx)
	// One clock reading for the whole statement: expired means expires_at
	// at or before it, and the new lease runs from it.
	l, err := scanLease(subscriber, tx.QueryRow(ctx, `WITH clock AS (SELECT clock_timestamp() AS now)
		INSERT INTO segments AS s (subscriber, "of", segment, owner, token, position, expires_at)
		SELECT $1, $2, $3, $4, 1, $5, now + $6 * interval '1 microsecond' FROM clock
		ON CONFLICT (subscriber, "of", segment) DO UPDATE SET
			owner = excluded.owner,
			token = CASE WHEN s.expires_at <= (SELECT now FROM clock) THEN s.token + 1 ELSE s.token END,
			expires_at = excluded.expires_at
		WHERE s.expires_at <= (SELECT now FROM clock) OR s.owner = excluded.owner
		RETURNING "of", segment, owner, token, position, expires_at`,
		subscriber, of, segment, owner, start, micros(ttl)))
	ok := true
	if errors.Is(err, pgx.ErrNoRows) {
		// Held by another owner: the upsert locked the row all the same,
		// so this reads the holder that refused us.
		ok = false
		l, err = scanLease(subscriber, tx.QueryRow(ctx, `SELECT "of", segment, owner, token, position, expires_at
			FROM segments WHERE subscriber = $1 AND "of" = $2 AND segment = $3`, subscriber, of, segment))
	}
	if err != nil {
		return eventstore.Lease{}, false, err
	}
	return l, ok, tx.Commit(ctx)
}

func scanLease(subscriber string, row pgx.Row) (eventstore.Lease, error) {
	l := eventstore.Lease{Subscriber: subscriber}
	var token, position int64
	if err := row.Scan(&l.Of, &l.Segment, &l.Owner, &token, &position, &l.Expires); err != nil {
		return eventstore.Lease{}, err
	}
	l.Token, l.Position, l.Expires = uint64(token), uint64(position), l.Expires.UTC()
	return l, nil
}

// Renew implements eventstore.Segments.
func (s *Store) Renew(ctx context.Context, l eventstore.Lease, ttl time.Duration) (eventstore.Lease, error) {
	if ttl <= 0 {
		return eventstore.Lease{}, eventstore.Invalid("ttl", "must be positive, got %v", ttl)
	}
	if s.closed.Load() {
		return eventstore.Lease{}, eventstore.ErrClosed
	}
	n, err := scanLease(l.Subscriber, s.pool.QueryRow(ctx, `UPDATE segments
		SET expires_at = clock_timestamp() + $5 * interval '1 microsecond'
		WHERE subscriber = $1 AND "of" = $2 AND segment = $3 AND token = $4
		RETURNING "of", segment, owner, token, position, expires_at`,
		l.Subscriber, l.Of, l.Segment, int64(l.Token), micros(ttl)))
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Lease{}, eventstore.ErrLeaseLost
	}
	if err != nil {
		return eventstore.Lease{}, s.fail(err, "renew segment %d/%d of %s", l.Segment, l.Of, l.Subscriber)
	}
	return n, nil
}

// Release implements eventstore.Segments: the row expires now, keeping its
// owner, token and position for the next Acquire.
func (s *Store) Release(ctx context.Context, l eventstore.Lease) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	_, err := s.pool.Exec(ctx, `WITH clock AS (SELECT clock_timestamp() AS now)
		UPDATE segments SET expires_at = clock.now FROM clock
		WHERE subscriber = $1 AND "of" = $2 AND segment = $3 AND token = $4 AND expires_at > clock.now`,
		l.Subscriber, l.Of, l.Segment, int64(l.Token))
	if err != nil {
		return s.fail(err, "release segment %d/%d of %s", l.Segment, l.Of, l.Subscriber)
	}
	return nil
}

// Reset implements eventstore.Segments: one UPDATE, so every row moves
// together.
func (s *Store) Reset(ctx context.Context, subscriber string, pos uint64) (int, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	p, err := position(pos)
	if err != nil {
		return 0, fmt.Errorf("postgres: reset segments of %s: %w", subscriber, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE segments SET token = token + 1, position = $2 WHERE subscriber = $1`, subscriber, p)
	if err != nil {
		return 0, s.fail(err, "reset segments of %s", subscriber)
	}
	return int(tag.RowsAffected()), nil
}

// Advance implements eventstore.Segments.
func (s *Store) Advance(ctx context.Context, l eventstore.Lease, pos uint64) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	p, err := position(pos)
	if err != nil {
		return fmt.Errorf("postgres: advance segment %d/%d of %s: %w", l.Segment, l.Of, l.Subscriber, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE segments SET position = GREATEST(position, $5)
		WHERE subscriber = $1 AND "of" = $2 AND segment = $3 AND token = $4`,
		l.Subscriber, l.Of, l.Segment, int64(l.Token), p)
	if err != nil {
		return s.fail(err, "advance segment %d/%d of %s", l.Segment, l.Of, l.Subscriber)
	}
	if tag.RowsAffected() == 0 {
		return eventstore.ErrLeaseLost
	}
	return nil
}

// ParkFenced implements eventstore.Segments. One transaction locks the
// lease row if its token is l's (FOR SHARE: an Acquire waits for the
// commit), then, with behind, an earlier parked event of the cover (FOR
// SHARE: an Unpark of it waits too), and inserts.
func (s *Store) ParkFenced(ctx context.Context, l eventstore.Lease, p eventstore.Parked, behind bool) (bool, error) {
	if s.closed.Load() {
		return false, eventstore.ErrClosed
	}
	pos, err := position(p.Position)
	if err != nil {
		return false, fmt.Errorf("postgres: park for %s: %w", l.Subscriber, err)
	}
	stored, err := s.parkFenced(ctx, l, p, pos, behind)
	if err != nil && !errors.Is(err, eventstore.ErrLeaseLost) {
		return false, s.fail(err, "park %s/%d for %s", p.Cover, p.Sequence, l.Subscriber)
	}
	return stored, err
}

func (s *Store) parkFenced(ctx context.Context, l eventstore.Lease, p eventstore.Parked, pos int64, behind bool) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	var one int
	err = tx.QueryRow(ctx, `SELECT 1 FROM segments
		WHERE subscriber = $1 AND "of" = $2 AND segment = $3 AND token = $4 FOR SHARE`,
		l.Subscriber, l.Of, l.Segment, int64(l.Token)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, eventstore.ErrLeaseLost
	}
	if err != nil {
		return false, err
	}
	if behind {
		err := tx.QueryRow(ctx, `SELECT 1 FROM parked
			WHERE subscriber = $1 AND domain = $2 AND aggregate_id = $3 AND position < $4
			LIMIT 1 FOR SHARE`, l.Subscriber, p.Cover.Domain, pgUUID(p.Cover.Root), pos).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	if _, err := tx.Exec(ctx, parkSQL, parkArgs(l.Subscriber, pos, p)...); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}

// Leases implements eventstore.Segments.
func (s *Store) Leases(ctx context.Context, subscriber string) ([]eventstore.Lease, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.pool.Query(ctx, `SELECT "of", segment, owner, token, position, expires_at
		FROM segments WHERE subscriber = $1 ORDER BY "of", segment`, subscriber)
	if err != nil {
		return nil, s.fail(err, "leases of %s", subscriber)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (eventstore.Lease, error) {
		return scanLease(subscriber, row)
	})
	if err != nil {
		return nil, s.fail(err, "leases of %s", subscriber)
	}
	return out, nil
}

// Join implements eventstore.Segments. It also drops members whose time
// ran out, so replicas that died without Leave do not pile up.
func (s *Store) Join(ctx context.Context, owner string, ttl time.Duration) error {
	if err := eventstore.CheckJoin(owner, ttl); err != nil {
		return err
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	_, err := s.pool.Exec(ctx, `WITH clock AS (SELECT clock_timestamp() AS now),
		gone AS (DELETE FROM members WHERE expires_at <= (SELECT now FROM clock) AND id <> $1)
		INSERT INTO members (id, expires_at) SELECT $1, now + $2 * interval '1 microsecond' FROM clock
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`, owner, micros(ttl))
	if err != nil {
		return s.fail(err, "join %s", owner)
	}
	return nil
}

// Leave implements eventstore.Segments.
func (s *Store) Leave(ctx context.Context, owner string) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM members WHERE id = $1`, owner); err != nil {
		return s.fail(err, "leave %s", owner)
	}
	return nil
}

// Members implements eventstore.Segments.
func (s *Store) Members(ctx context.Context) ([]eventstore.Member, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.pool.Query(ctx, `SELECT id, expires_at FROM members WHERE expires_at > clock_timestamp() ORDER BY id`)
	if err != nil {
		return nil, s.fail(err, "members")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (eventstore.Member, error) {
		var m eventstore.Member
		err := row.Scan(&m.ID, &m.Expires)
		m.Expires = m.Expires.UTC()
		return m, err
	})
	if err != nil {
		return nil, s.fail(err, "members")
	}
	return out, nil
}
