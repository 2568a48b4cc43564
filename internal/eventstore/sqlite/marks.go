package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Marks = (*Store)(nil)

// Marks on SQLite, like segments: ClaimMark reads and decides in one
// IMMEDIATE transaction of the writer connection, so the check of Next and
// of the holder and the new claim are atomic across processes sharing the
// file; SettleMark and AdvanceMark are single statements on the writer.
// Times are this machine's clock: processes sharing a file share a machine.

// markRow scans a marks row; view is the mark as callers see it at now.
type markRow struct {
	next, claimID, from int64
	claimer, until      string
}

func (r markRow) view(now time.Time) (eventstore.Mark, error) {
	m := eventstore.Mark{Next: uint32(r.next), ClaimID: uint64(r.claimID)}
	if r.claimer == "" || r.until == "" {
		return m, nil
	}
	until, err := parseTime([]byte(r.until))
	if err != nil {
		return eventstore.Mark{}, err
	}
	if now.Before(until) {
		m.Claimer, m.From, m.Until = r.claimer, uint32(r.from), until
	}
	return m, nil
}

const selectMark = `SELECT next, claim_id, claim_from, claimer, claim_until FROM marks
	WHERE subscriber = ? AND domain = ? AND aggregate_id = ?`

func scanMark(row *sql.Row, r *markRow) error {
	err := row.Scan(&r.next, &r.claimID, &r.from, &r.claimer, &r.until)
	if errors.Is(err, sql.ErrNoRows) {
		*r = markRow{}
		return nil
	}
	return err
}

// ClaimMark implements eventstore.Marks.
func (s *Store) ClaimMark(ctx context.Context, subscriber string, cover eventstore.Cover, from uint32, claimer string, ttl time.Duration) (eventstore.Mark, bool, error) {
	if err := eventstore.CheckClaim(subscriber, cover, claimer, ttl); err != nil {
		return eventstore.Mark{}, false, err
	}
	if s.closed() {
		return eventstore.Mark{}, false, eventstore.ErrClosed
	}
	m, ok, err := s.claimMark(ctx, subscriber, cover, from, claimer, ttl)
	if err != nil {
		return eventstore.Mark{}, false, s.fail(err, "claim mark of %s for %s", cover, subscriber)
	}
	return m, ok, nil
}

func (s *Store) claimMark(ctx context.Context, subscriber string, cover eventstore.Cover, from uint32, claimer string, ttl time.Duration) (eventstore.Mark, bool, error) {
	tx, err := s.w.BeginTx(ctx, nil) // IMMEDIATE: the write lock from here to Commit
	if err != nil {
		return eventstore.Mark{}, false, err
	}
	defer tx.Rollback()
	now := time.Now().UTC()
	var row markRow
	if err := scanMark(tx.QueryRowContext(ctx, selectMark, subscriber, cover.Domain, cover.Root.String()), &row); err != nil {
		return eventstore.Mark{}, false, err
	}
	cur, err := row.view(now)
	if err != nil {
		return eventstore.Mark{}, false, err
	}
	if cur.Next != from || (cur.Live() && cur.Claimer != claimer) {
		return cur, false, nil
	}
	m := eventstore.Mark{Next: from, Claimer: claimer, ClaimID: cur.ClaimID + 1, From: from, Until: now.Add(ttl)}
	if _, err := tx.ExecContext(ctx, `INSERT INTO marks (subscriber, domain, aggregate_id, next, claimer, claim_id, claim_from, claim_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (subscriber, domain, aggregate_id) DO UPDATE SET
			claimer = excluded.claimer, claim_id = excluded.claim_id,
			claim_from = excluded.claim_from, claim_until = excluded.claim_until`,
		subscriber, cover.Domain, cover.Root.String(), int64(m.Next), claimer, int64(m.ClaimID), int64(from), formatTime(m.Until)); err != nil {
		return eventstore.Mark{}, false, err
	}
	return m, true, tx.Commit()
}

// SettleMark implements eventstore.Marks: one UPDATE conditioned on the
// claim id and claimer.
func (s *Store) SettleMark(ctx context.Context, subscriber string, cover eventstore.Cover, m eventstore.Mark, to uint32) error {
	if err := eventstore.CheckSettle(subscriber, cover, m); err != nil {
		return err
	}
	if s.closed() {
		return eventstore.ErrClosed
	}
	next := int64(eventstore.SettledNext(m, to)) // max(next, 0) keeps next
	res, err := s.w.ExecContext(ctx, `UPDATE marks SET next = max(next, ?), claim_from = 0, claim_until = ''
		WHERE subscriber = ? AND domain = ? AND aggregate_id = ? AND claim_id = ? AND claimer = ?`,
		next, subscriber, cover.Domain, cover.Root.String(), int64(m.ClaimID), m.Claimer)
	if err != nil {
		return s.fail(err, "settle mark of %s for %s", cover, subscriber)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.fail(err, "settle mark of %s for %s", cover, subscriber)
	} else if n == 0 {
		return eventstore.ErrClaimLost
	}
	return nil
}

// AdvanceMark implements eventstore.Marks.
func (s *Store) AdvanceMark(ctx context.Context, subscriber string, cover eventstore.Cover, to uint32) error {
	if err := eventstore.CheckMark(subscriber, cover); err != nil {
		return err
	}
	if s.closed() {
		return eventstore.ErrClosed
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO marks (subscriber, domain, aggregate_id, next, claimer, claim_id, claim_from, claim_until)
		VALUES (?, ?, ?, ?, '', 0, 0, '')
		ON CONFLICT (subscriber, domain, aggregate_id) DO UPDATE SET next = max(next, excluded.next)`,
		subscriber, cover.Domain, cover.Root.String(), int64(to)); err != nil {
		return s.fail(err, "advance mark of %s for %s", cover, subscriber)
	}
	return nil
}

// ReadMark implements eventstore.Marks.
func (s *Store) ReadMark(ctx context.Context, subscriber string, cover eventstore.Cover) (eventstore.Mark, error) {
	if err := eventstore.CheckMark(subscriber, cover); err != nil {
		return eventstore.Mark{}, err
	}
	if s.closed() {
		return eventstore.Mark{}, eventstore.ErrClosed
	}
	var row markRow
	if err := scanMark(s.r.QueryRowContext(ctx, selectMark, subscriber, cover.Domain, cover.Root.String()), &row); err != nil {
		return eventstore.Mark{}, s.fail(err, "read mark of %s for %s", cover, subscriber)
	}
	m, err := row.view(time.Now())
	if err != nil {
		return eventstore.Mark{}, s.fail(err, "read mark of %s for %s", cover, subscriber)
	}
	return m, nil
}
