package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Marks = (*Store)(nil)

// Marks on PostgreSQL: every call is one statement timed by the server's
// clock_timestamp(), read once per statement, so replicas' clocks need not
// agree. A claim is an UPDATE (or, at sequence 0, where a missing mark
// counts, an INSERT … ON CONFLICT DO UPDATE) whose WHERE lets it through
// only at Next and when the claim is free, lapsed or the claimer's own: the
// row lock serialises racing claimers, and the losers' statements, which
// re-check the WHERE against the winner's row, change nothing. Settle is an
// UPDATE conditioned on the claim id and claimer.

// markColumns are what every mark query returns, with the clock reading
// the claim is judged by.
const markColumns = `next, claimer, claim_id, claim_from, claim_until`

func scanMark(row pgx.Row) (eventstore.Mark, error) {
	var next, id, from int64
	var claimer string
	var until *time.Time
	var now time.Time
	if err := row.Scan(&next, &claimer, &id, &from, &until, &now); err != nil {
		return eventstore.Mark{}, err
	}
	m := eventstore.Mark{Next: uint32(next), ClaimID: uint64(id)}
	if claimer != "" && until != nil && now.Before(*until) {
		m.Claimer, m.From, m.Until = claimer, uint32(from), until.UTC()
	}
	return m, nil
}

// ClaimMark implements eventstore.Marks.
func (s *Store) ClaimMark(ctx context.Context, subscriber string, cover eventstore.Cover, from uint32, claimer string, ttl time.Duration) (eventstore.Mark, bool, error) {
	if err := eventstore.CheckClaim(subscriber, cover, claimer, ttl); err != nil {
		return eventstore.Mark{}, false, err
	}
	if s.closed.Load() {
		return eventstore.Mark{}, false, eventstore.ErrClosed
	}
	m, ok, err := s.claimMark(ctx, subscriber, cover, from, claimer, ttl)
	if err != nil {
		return eventstore.Mark{}, false, s.fail(err, "claim mark of %s for %s", cover, subscriber)
	}
	return m, ok, nil
}

// claimFree is the WHERE that lets a claim of mark m by $5 through at the
// statement's clock reading: no claim (never claimed, or settled), the
// claimer's own, or lapsed.
const claimFree = `(m.claim_until IS NULL OR m.claimer = $5 OR m.claim_until <= (SELECT now FROM clock))`

func (s *Store) claimMark(ctx context.Context, subscriber string, cover eventstore.Cover, from uint32, claimer string, ttl time.Duration) (eventstore.Mark, bool, error) {
	// A missing mark is Next 0, so only a claim at 0 may create one; a
	// claim elsewhere needs the row.
	q := `WITH clock AS (SELECT clock_timestamp() AS now)
		UPDATE marks AS m SET claimer = $5, claim_id = m.claim_id + 1, claim_from = $4,
			claim_until = clock.now + $6 * interval '1 microsecond'
		FROM clock
		WHERE m.subscriber = $1 AND m.domain = $2 AND m.aggregate_id = $3 AND m.next = $4 AND ` + claimFree + `
		RETURNING ` + markColumns + `, clock.now`
	if from == 0 {
		q = `WITH clock AS (SELECT clock_timestamp() AS now)
		INSERT INTO marks AS m (subscriber, domain, aggregate_id, next, claimer, claim_id, claim_from, claim_until)
		SELECT $1, $2, $3, 0, $5, 1, $4, now + $6 * interval '1 microsecond' FROM clock
		ON CONFLICT (subscriber, domain, aggregate_id) DO UPDATE SET
			claimer = excluded.claimer, claim_id = m.claim_id + 1,
			claim_from = excluded.claim_from, claim_until = excluded.claim_until
		WHERE m.next = excluded.claim_from AND ` + claimFree + `
		RETURNING ` + markColumns + `, (SELECT now FROM clock)`
	}
	m, err := scanMark(s.pool.QueryRow(ctx, q, subscriber, cover.Domain, pgUUID(cover.Root), int64(from), claimer, micros(ttl)))
	if errors.Is(err, pgx.ErrNoRows) {
		// Refused: show the mark that refused us (or a later state).
		m, err = s.readMark(ctx, subscriber, cover)
		return m, false, err
	}
	if err != nil {
		return eventstore.Mark{}, false, err
	}
	return m, true, nil
}

// SettleMark implements eventstore.Marks.
func (s *Store) SettleMark(ctx context.Context, subscriber string, cover eventstore.Cover, m eventstore.Mark, to uint32) error {
	if err := eventstore.CheckSettle(subscriber, cover, m); err != nil {
		return err
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	next := int64(eventstore.SettledNext(m, to)) // GREATEST(next, 0) keeps next
	tag, err := s.pool.Exec(ctx, `UPDATE marks SET next = GREATEST(next, $4), claim_from = 0, claim_until = NULL
		WHERE subscriber = $1 AND domain = $2 AND aggregate_id = $3 AND claim_id = $5 AND claimer = $6`,
		subscriber, cover.Domain, pgUUID(cover.Root), next, int64(m.ClaimID), m.Claimer)
	if err != nil {
		return s.fail(err, "settle mark of %s for %s", cover, subscriber)
	}
	if tag.RowsAffected() == 0 {
		return eventstore.ErrClaimLost
	}
	return nil
}

// AdvanceMark implements eventstore.Marks.
func (s *Store) AdvanceMark(ctx context.Context, subscriber string, cover eventstore.Cover, to uint32) error {
	if err := eventstore.CheckMark(subscriber, cover); err != nil {
		return err
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO marks AS m (subscriber, domain, aggregate_id, next, claimer, claim_id, claim_from, claim_until)
		VALUES ($1, $2, $3, $4, '', 0, 0, NULL)
		ON CONFLICT (subscriber, domain, aggregate_id) DO UPDATE SET next = GREATEST(m.next, excluded.next)`,
		subscriber, cover.Domain, pgUUID(cover.Root), int64(to)); err != nil {
		return s.fail(err, "advance mark of %s for %s", cover, subscriber)
	}
	return nil
}

// ReadMark implements eventstore.Marks.
func (s *Store) ReadMark(ctx context.Context, subscriber string, cover eventstore.Cover) (eventstore.Mark, error) {
	if err := eventstore.CheckMark(subscriber, cover); err != nil {
		return eventstore.Mark{}, err
	}
	if s.closed.Load() {
		return eventstore.Mark{}, eventstore.ErrClosed
	}
	m, err := s.readMark(ctx, subscriber, cover)
	if err != nil {
		return eventstore.Mark{}, s.fail(err, "read mark of %s for %s", cover, subscriber)
	}
	return m, nil
}

func (s *Store) readMark(ctx context.Context, subscriber string, cover eventstore.Cover) (eventstore.Mark, error) {
	m, err := scanMark(s.pool.QueryRow(ctx, `SELECT `+markColumns+`, clock_timestamp() FROM marks
		WHERE subscriber = $1 AND domain = $2 AND aggregate_id = $3`, subscriber, cover.Domain, pgUUID(cover.Root)))
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Mark{}, nil
	}
	return m, err
}
