package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Deadlines = (*Store)(nil)

// Deadlines on PostgreSQL: one row per pending deadline; due is Unix
// nanoseconds, so the index orders them. Schedule is one transaction of
// upserts; the others are single statements.

const deadlineColumns = `id, due, domain, aggregate_id, command, key, created_at`

// Schedule implements eventstore.Deadlines.
func (s *Store) Schedule(ctx context.Context, ds []eventstore.Deadline) error {
	for _, d := range ds {
		if err := eventstore.CheckDeadline(d); err != nil {
			return err
		}
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if len(ds) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return planTx(ctx, tx, eventstore.DeadlinePlan{Schedule: ds}) })
	if err != nil {
		return s.fail(err, "schedule %d deadlines", len(ds))
	}
	return nil
}

// planTx applies plan in tx, in one round trip: its cancellations, then
// its schedules (upserts).
func planTx(ctx context.Context, tx pgx.Tx, plan eventstore.DeadlinePlan) error {
	var b pgx.Batch
	queuePlan(&b, plan)
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, &b).Close()
}

// planStatements is how many statements queuePlan queues for plan.
func planStatements(plan eventstore.DeadlinePlan) int {
	n := len(plan.Schedule)
	if len(plan.Cancel) > 0 {
		n++
	}
	return n
}

// queuePlan queues plan's statements on b: its cancellations, then its
// schedules (upserts).
func queuePlan(b *pgx.Batch, plan eventstore.DeadlinePlan) {
	if len(plan.Cancel) > 0 {
		b.Queue(`DELETE FROM deadlines WHERE id = ANY($1)`, plan.Cancel)
	}
	for _, d := range plan.Schedule {
		cmd := d.Command
		if cmd == nil {
			cmd = []byte{}
		}
		b.Queue(`INSERT INTO deadlines (id, slot, due, domain, aggregate_id, command, key)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (id) DO UPDATE SET due = excluded.due, domain = excluded.domain,
				aggregate_id = excluded.aggregate_id, command = excluded.command, key = excluded.key,
				created_at = clock_timestamp()`,
			d.ID, eventstore.DeadlineSlot(d.ID), d.Due.UnixNano(), d.Cover.Domain, pgUUID(d.Cover.Root), cmd, d.Key)
	}
}

// Cancel implements eventstore.Deadlines.
func (s *Store) Cancel(ctx context.Context, ids []string) (int, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM deadlines WHERE id = ANY($1)`, ids)
	if err != nil {
		return 0, s.fail(err, "cancel %d deadlines", len(ids))
	}
	return int(tag.RowsAffected()), nil
}

// Fired implements eventstore.Deadlines.
func (s *Store) Fired(ctx context.Context, ds []eventstore.Deadline) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if len(ds) == 0 {
		return nil
	}
	ids, keys := make([]string, len(ds)), make([]string, len(ds))
	for i, d := range ds {
		ids[i], keys[i] = d.ID, d.Key
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM deadlines d WHERE d.ctid = ANY (`+firedRows("$1", "$2")+`)`, ids, keys); err != nil {
		return s.fail(err, "remove %d fired deadlines", len(ds))
	}
	return nil
}

// firedRows is the row ids of the deadlines named by the arrays ids and
// keys (each unless rescheduled since: another key), found one by one by
// the primary key. A join of the arrays with the table lets the planner
// scan the whole table instead, which it does while the table has no
// statistics (just filled with a wave of deadlines): 2-6 ms for 64
// deadlines among 10,000 rather than 0.4. A row updated (rescheduled) or
// deleted between the lookup and the delete is left alone.
func firedRows(ids, keys string) string {
	return `ARRAY(SELECT x.ctid FROM unnest(` + ids + `::text[], ` + keys + `::text[]) AS f(id, key)
		CROSS JOIN LATERAL (SELECT ctid FROM deadlines x WHERE x.id = f.id AND x.key = f.key OFFSET 0) x)`
}

// DueDeadlines implements eventstore.Deadlines.
func (s *Store) DueDeadlines(ctx context.Context, segment, of int, before time.Time, limit int) ([]eventstore.Deadline, error) {
	if err := eventstore.CheckDue(segment, of, limit); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	slots := eventstore.DeadlineSlotsOf(segment, of)
	ds, err := s.queryDeadlines(ctx, `SELECT `+deadlineColumns+` FROM deadlines
		WHERE due <= $1 AND slot = ANY($2) ORDER BY due, slot, id LIMIT $3`, before.UnixNano(), slots, limit)
	if err != nil {
		return nil, s.fail(err, "read due deadlines of segment %d/%d", segment, of)
	}
	return ds, nil
}

// PendingDeadlines implements eventstore.Deadlines.
func (s *Store) PendingDeadlines(ctx context.Context, domain string, limit int) ([]eventstore.Deadline, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	ds, err := s.queryDeadlines(ctx, `SELECT `+deadlineColumns+` FROM deadlines
		WHERE $1 = '' OR domain = $1 ORDER BY due, id LIMIT $2`, domain, lim)
	if err != nil {
		return nil, s.fail(err, "list deadlines")
	}
	return ds, nil
}

func (s *Store) queryDeadlines(ctx context.Context, query string, args ...any) ([]eventstore.Deadline, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []eventstore.Deadline
	for rows.Next() {
		var (
			d   eventstore.Deadline
			due int64
		)
		if err := rows.Scan(&d.ID, &due, &d.Cover.Domain, pgRoot(&d.Cover.Root), &d.Command, &d.Key, &d.CreatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		d.Due = time.Unix(0, due).UTC()
		d.CreatedAt = d.CreatedAt.UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

var (
	_ eventstore.DeadlineCounter = (*Store)(nil)
	_ eventstore.DeadlineHorizon = (*Store)(nil)
)

// EarliestDue implements eventstore.DeadlineHorizon: the first entry of
// the (due, slot, id) index.
func (s *Store) EarliestDue(ctx context.Context) (time.Time, bool, error) {
	if s.closed.Load() {
		return time.Time{}, false, eventstore.ErrClosed
	}
	var due *int64
	if err := s.pool.QueryRow(ctx, `SELECT min(due) FROM deadlines`).Scan(&due); err != nil {
		return time.Time{}, false, s.fail(err, "read the earliest deadline")
	}
	if due == nil {
		return time.Time{}, false, nil
	}
	return time.Unix(0, *due).UTC(), true, nil
}

// CountDeadlines implements eventstore.DeadlineCounter.
func (s *Store) CountDeadlines(ctx context.Context, before time.Time) (pending, due int, err error) {
	if s.closed.Load() {
		return 0, 0, eventstore.ErrClosed
	}
	err = s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE due <= $1) FROM deadlines`, before.UnixNano()).Scan(&pending, &due)
	if err != nil {
		return 0, 0, s.fail(err, "count deadlines")
	}
	return pending, due, nil
}
