package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Deadlines = (*Store)(nil)

// Deadlines on SQLite: one row per pending deadline in the deadlines
// table, written on the writer connection (one transaction per call);
// due is Unix nanoseconds, so the index orders them.

// Schedule implements eventstore.Deadlines.
func (s *Store) Schedule(ctx context.Context, ds []eventstore.Deadline) error {
	for _, d := range ds {
		if err := eventstore.CheckDeadline(d); err != nil {
			return err
		}
	}
	if s.closed() {
		return eventstore.ErrClosed
	}
	if len(ds) == 0 {
		return nil
	}
	if err := s.schedule(ctx, ds); err != nil {
		return s.fail(err, "schedule %d deadlines", len(ds))
	}
	return nil
}

func (s *Store) schedule(ctx context.Context, ds []eventstore.Deadline) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := scheduleTx(ctx, tx, ds, time.Now()); err != nil {
		return err
	}
	return tx.Commit()
}

// scheduleTx upserts ds in tx, with one statement prepared for all of them
// (parsing it again for each of thousands costs more than running it).
func scheduleTx(ctx context.Context, tx *sql.Tx, ds []eventstore.Deadline, at time.Time) error {
	if len(ds) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO deadlines (id, slot, due, domain, aggregate_id, command, key, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET due = excluded.due, domain = excluded.domain,
			aggregate_id = excluded.aggregate_id, command = excluded.command, key = excluded.key,
			created_at = excluded.created_at`)
	if err != nil {
		return err
	}
	defer st.Close()
	now := formatTime(at)
	for _, d := range ds {
		if _, err := st.ExecContext(ctx, d.ID, eventstore.DeadlineSlot(d.ID), d.Due.UnixNano(), d.Cover.Domain,
			d.Cover.Root.String(), blob(d.Command), d.Key, now); err != nil {
			return err
		}
	}
	return nil
}

// AppendScheduling implements eventstore.Deadlines: the append joins the
// writer's group commit like any other, and the plan is applied right
// after its events, in the batch's one transaction.
func (s *Store) AppendScheduling(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key *eventstore.Key, plan eventstore.DeadlinePlan) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	if err := plan.Check(); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.closed() {
		return nil, nil, eventstore.ErrClosed
	}
	if len(pages) == 0 {
		return nil, nil, nil
	}
	r := newRequest(cover, pages)
	r.key = key
	if !plan.Empty() {
		r.plan = &plan
	}
	res := s.submit(ctx, r)
	if res.prior != nil {
		res.prior.ID = key.ID
	}
	return res.events, res.prior, res.err
}

// Cancel implements eventstore.Deadlines.
func (s *Store) Cancel(ctx context.Context, ids []string) (int, error) {
	if s.closed() {
		return 0, eventstore.ErrClosed
	}
	if len(ids) == 0 {
		return 0, nil
	}
	n, err := s.cancel(ctx, ids)
	if err != nil {
		return 0, s.fail(err, "cancel %d deadlines", len(ids))
	}
	return n, nil
}

func (s *Store) cancel(ctx context.Context, ids []string) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	n, err := cancelTx(ctx, tx, ids)
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// cancelTx deletes the deadlines with ids in tx and counts them.
func cancelTx(ctx context.Context, tx *sql.Tx, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	st, err := tx.PrepareContext(ctx, `DELETE FROM deadlines WHERE id = ?`)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	n := 0
	for _, id := range ids {
		res, err := st.ExecContext(ctx, id)
		if err != nil {
			return 0, err
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	return n, nil
}

// firedPerStatement bounds the deadlines one DELETE of Fired names (two
// variables each, well within SQLite's limit).
const firedPerStatement = 512

// firedSQL deletes the deadlines of rows (id, key) pairs.
func firedSQL(rows int) string {
	return `DELETE FROM deadlines WHERE (id, key) IN (VALUES ` + valuesList("(?, ?)", rows) + `)`
}

// Fired implements eventstore.Deadlines.
func (s *Store) Fired(ctx context.Context, ds []eventstore.Deadline) error {
	if s.closed() {
		return eventstore.ErrClosed
	}
	if len(ds) == 0 {
		return nil
	}
	if err := s.fired(ctx, ds); err != nil {
		return s.fail(err, "remove %d fired deadlines", len(ds))
	}
	return nil
}

func (s *Store) fired(ctx context.Context, ds []eventstore.Deadline) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.firedTx(ctx, tx, ds); err != nil {
		return err
	}
	return tx.Commit()
}

// firedTx deletes the deadlines ds in tx, each unless rescheduled (another
// key). Many pairs a statement (the primary key finds each), prepared once
// per size class: executing a statement, let alone parsing it, costs more
// than the row it deletes. The padding pairs name the ID "", which no
// deadline has.
func (s *Store) firedTx(ctx context.Context, tx *sql.Tx, ds []eventstore.Deadline) error {
	for len(ds) > 0 {
		n := min(len(ds), firedPerStatement)
		class := sizeClass(n)
		args := make([]any, 0, 2*class)
		for _, d := range ds[:n] {
			args = append(args, d.ID, d.Key)
		}
		for range class - n {
			args = append(args, "", "")
		}
		st, err := s.sized.get(ctx, s.w, firedSQL(class)) // prepared by open
		if err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
			return err
		}
		ds = ds[n:]
	}
	return nil
}

var _ eventstore.GroupAppender = (*Store)(nil)

// AppendGroup implements eventstore.GroupAppender: every append is queued
// for the writer at once, so that they share its group commits (up to
// maxBatch appends a transaction) rather than wait for one another, and
// the fired deadlines are removed in the same transactions, by one
// statement each.
func (s *Store) AppendGroup(ctx context.Context, as []eventstore.GroupAppend) []eventstore.GroupResult {
	out := make([]eventstore.GroupResult, len(as))
	reqs := make([]*request, len(as))
	for i, a := range as {
		if err := a.Plan.Check(); err != nil {
			out[i].Err = err
			continue
		}
		if len(a.Pages) == 0 {
			continue
		}
		r := newRequest(a.Cover, a.Pages)
		r.key, r.fired = a.Key, a.Fired
		if !a.Plan.Empty() {
			r.plan = &as[i].Plan
		}
		if err := s.send(ctx, r); err != nil {
			out[i].Err = err
			continue
		}
		reqs[i] = r
	}
	for i, r := range reqs {
		if r == nil {
			continue
		}
		res := s.await(ctx, r)
		if res.prior != nil {
			res.prior.ID = r.key.ID
		}
		out[i] = eventstore.GroupResult{Events: res.events, Prior: res.prior, Err: res.err, Removed: res.fired && res.err == nil}
	}
	return out
}

// DueDeadlines implements eventstore.Deadlines.
func (s *Store) DueDeadlines(ctx context.Context, segment, of int, before time.Time, limit int) ([]eventstore.Deadline, error) {
	if err := eventstore.CheckDue(segment, of, limit); err != nil {
		return nil, err
	}
	if s.closed() {
		return nil, eventstore.ErrClosed
	}
	slots := eventstore.DeadlineSlotsOf(segment, of)
	in := strings.Repeat(",?", len(slots))[1:]
	args := []any{before.UnixNano()}
	for _, sl := range slots {
		args = append(args, sl)
	}
	args = append(args, limit)
	ds, err := s.queryDeadlines(ctx, `SELECT id, due, domain, aggregate_id, command, key, created_at FROM deadlines
		WHERE due <= ? AND slot IN (`+in+`) ORDER BY due, slot, id LIMIT ?`, args...)
	if err != nil {
		return nil, s.fail(err, "read due deadlines of segment %d/%d", segment, of)
	}
	return ds, nil
}

// PendingDeadlines implements eventstore.Deadlines.
func (s *Store) PendingDeadlines(ctx context.Context, domain string, limit int) ([]eventstore.Deadline, error) {
	if s.closed() {
		return nil, eventstore.ErrClosed
	}
	if limit <= 0 {
		limit = -1
	}
	ds, err := s.queryDeadlines(ctx, `SELECT id, due, domain, aggregate_id, command, key, created_at FROM deadlines
		WHERE ? = '' OR domain = ? ORDER BY due, id LIMIT ?`, domain, domain, limit)
	if err != nil {
		return nil, s.fail(err, "list deadlines")
	}
	return ds, nil
}

// queryDeadlines runs query and scans the deadlines it returns. The
// statement is prepared once per text (DueDeadlines has one per number of
// slots in a segment): the firer reads every held segment at every poll,
// and parsing the statement cost more than running it.
func (s *Store) queryDeadlines(ctx context.Context, query string, args ...any) ([]eventstore.Deadline, error) {
	st, err := s.sized.get(ctx, s.r, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eventstore.Deadline
	for rows.Next() {
		var (
			d             eventstore.Deadline
			due           int64
			root, created string
		)
		if err := rows.Scan(&d.ID, &due, &d.Cover.Domain, &root, &d.Command, &d.Key, &created); err != nil {
			return nil, err
		}
		if d.Cover.Root, err = uuid.Parse(root); err != nil {
			return nil, err
		}
		if d.CreatedAt, err = parseTime([]byte(created)); err != nil {
			return nil, err
		}
		d.Due = time.Unix(0, due).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

var (
	_ eventstore.DeadlineCounter = (*Store)(nil)
	_ eventstore.DeadlineHorizon = (*Store)(nil)
)

// EarliestDue implements eventstore.DeadlineHorizon: the first entry of
// the (due, slot) index.
func (s *Store) EarliestDue(ctx context.Context) (time.Time, bool, error) {
	if s.closed() {
		return time.Time{}, false, eventstore.ErrClosed
	}
	st, err := s.sized.get(ctx, s.r, `SELECT min(due) FROM deadlines`)
	if err != nil {
		return time.Time{}, false, s.fail(err, "read the earliest deadline")
	}
	var due sql.NullInt64
	if err := st.QueryRowContext(ctx).Scan(&due); err != nil {
		return time.Time{}, false, s.fail(err, "read the earliest deadline")
	}
	if !due.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(0, due.Int64).UTC(), true, nil
}

// CountDeadlines implements eventstore.DeadlineCounter: one query, the due
// ones counted through the index on due.
func (s *Store) CountDeadlines(ctx context.Context, before time.Time) (pending, due int, err error) {
	if s.closed() {
		return 0, 0, eventstore.ErrClosed
	}
	err = s.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM deadlines), (SELECT count(*) FROM deadlines WHERE due <= ?)`,
		before.UnixNano()).Scan(&pending, &due)
	if err != nil {
		return 0, 0, s.fail(err, "count deadlines")
	}
	return pending, due, nil
}
