package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.GroupAppender = (*Store)(nil)

// groupAppendSQL is appendSQL for one append of a group: the ordinals its
// events are stored with start at $14, after those of the appends before
// it in the transaction, so that their log positions are distinct and in
// order.
var groupAppendSQL = strings.Replace(appendSQL, "SELECT page.ordinal, $1, $2,", "SELECT page.ordinal + $14, $1, $2,", 1)

// groupKeyedSQL is groupAppendSQL that also stores the append's key ($15
// its ID, $16 its fingerprint, $17 the number of pages, $18 its TTL in
// microseconds) when the pages fit, unless a key of that ID is stored; its
// fourth column counts the keys it stored (0: the append goes alone). One
// statement instead of two per keyed append.
var groupKeyedSQL = strings.Replace(groupAppendSQL, "\n\tSELECT head.next, (SELECT count(*) FROM stored), now() FROM head", `, keyed AS (
		INSERT INTO idempotency_keys (id, fingerprint, domain, aggregate_id, first_sequence, end_sequence, created_at, expires_at)
		SELECT $15, $16, $1, $2, head.next, head.next + $17, now(), now() + $18 * interval '1 microsecond' FROM head, fits WHERE fits.ok
		ON CONFLICT (id) DO NOTHING RETURNING true
	)
	SELECT head.next, (SELECT count(*) FROM stored), now(), (SELECT count(*) FROM keyed) FROM head`, 1)

// errGroupFallback ends a group's transaction that met something one
// append must settle alone: a lost race, a key stored, a sequence
// conflict.
var errGroupFallback = errors.New("postgres: the group's appends go one at a time")

// AppendGroup implements eventstore.GroupAppender: every append of the
// group in one REPEATABLE READ transaction, its statements sent in one
// round trip, and one commit (one WAL flush) for all. REPEATABLE READ
// gives every statement the snapshot of the first, taken before the
// transaction got its id, so positions follow sequences in each cover as
// for a single append (see the package doc); a concurrent writer that
// touches what the group writes (a cover's next sequence, a key, a fired
// deadline) fails the transaction instead of waiting, and so does a key
// found stored or a sequence conflict: then nothing of the group was
// stored, and each append is made on its own (AppendScheduling, which
// settles each case), the fired deadlines removed after them in one
// statement.
func (s *Store) AppendGroup(ctx context.Context, as []eventstore.GroupAppend) []eventstore.GroupResult {
	out := make([]eventstore.GroupResult, len(as))
	var idx []int
	events := 0
	for i, a := range as {
		switch err := a.Plan.Check(); {
		case err != nil:
			out[i].Err = err
		case len(a.Pages) > MaxEventsPerAppend:
			out[i].Err = eventstore.Invalid("pages", "%d events in one append; PostgreSQL stores at most %d", len(a.Pages), MaxEventsPerAppend)
		case len(a.Pages) > 0:
			idx = append(idx, i)
			events += len(a.Pages)
		}
	}
	if len(idx) == 0 {
		return out
	}
	if s.closed.Load() {
		for _, i := range idx {
			out[i].Err = eventstore.ErrClosed
		}
		return out
	}
	if len(idx) == 1 || events > MaxEventsPerAppend {
		return s.appendEach(ctx, as, idx, out)
	}
	err := s.groupTx(ctx, as, idx, out)
	switch {
	case err == nil:
		s.signal()
		s.committed()
		return out
	case errors.Is(err, errGroupFallback):
		return s.appendEach(ctx, as, idx, out)
	default:
		for _, i := range idx {
			out[i] = eventstore.GroupResult{Err: err}
		}
		return out
	}
}

// appendEach makes the appends idx of as one at a time.
func (s *Store) appendEach(ctx context.Context, as []eventstore.GroupAppend, idx []int, out []eventstore.GroupResult) []eventstore.GroupResult {
	sub := make([]eventstore.GroupAppend, len(idx))
	for j, i := range idx {
		sub[j] = as[i]
	}
	for j, r := range eventstore.AppendEach(ctx, s, sub) {
		out[idx[j]] = r
	}
	return out
}

// groupTx tries the appends idx of as in one transaction, filling out when
// it commits; errGroupFallback means it stored nothing and one append needs
// settling alone.
func (s *Store) groupTx(ctx context.Context, as []eventstore.GroupAppend, idx []int, out []eventstore.GroupResult) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.fail(err, "append a group of %d", len(idx))
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return s.fail(err, "append a group of %d", len(idx))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var b pgx.Batch
	var ids, keys []string
	ordinal := 0
	for _, i := range idx {
		a := as[i]
		args := append(appendArgs(a.Cover, a.Pages), ordinal)
		ordinal += len(a.Pages)
		if a.Key != nil {
			// An expired key of the same ID is not replaced here: the
			// insert then finds it, and the append goes alone.
			b.Queue(groupKeyedSQL, append(args, a.Key.ID, a.Key.Fingerprint[:], len(a.Pages), a.Key.TTL.Microseconds())...)
		} else {
			b.Queue(groupAppendSQL, args...)
		}
		queuePlan(&b, a.Plan)
		if a.Fired != nil {
			ids, keys = append(ids, a.Fired.ID), append(keys, a.Fired.Key)
		}
	}
	if len(ids) > 0 {
		b.Queue(`DELETE FROM deadlines d USING unnest($1::text[], $2::text[]) AS f(id, key)
			WHERE d.id = f.id AND d.key = f.key`, ids, keys)
	}
	br := tx.SendBatch(ctx, &b)
	err = s.readGroup(br, as, idx, out)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, errGroupFallback) || lostRace(err) {
			return fmt.Errorf("%w: %w", errGroupFallback, err)
		}
		return s.fail(err, "append a group of %d", len(idx))
	}
	if err := tx.Commit(ctx); err != nil {
		return s.writeFailed(err, "append a group of %d: commit", len(idx))
	}
	// Expired keys are purged after the commit, not in the transaction:
	// under REPEATABLE READ a key another process purged meanwhile
	// would fail the group. A failure here only leaves them for later.
	_, _ = conn.Exec(ctx, purgeKeysSQL, eventstore.MaxPurge)
	return nil
}

const purgeKeysSQL = `DELETE FROM idempotency_keys WHERE id IN (
	SELECT id FROM idempotency_keys WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`

// readGroup reads the answers to groupTx's statements into out.
func (s *Store) readGroup(br pgx.BatchResults, as []eventstore.GroupAppend, idx []int, out []eventstore.GroupResult) error {
	for _, i := range idx {
		a := as[i]
		var next, stored, keyed int64
		var now time.Time
		dest := []any{&next, &stored, &now}
		if a.Key != nil {
			dest = append(dest, &keyed)
		}
		if err := br.QueryRow().Scan(dest...); err != nil {
			return err
		}
		events, err := s.stored(a.Cover, a.Pages, next, stored, now)
		if err != nil {
			return fmt.Errorf("%w: %w", errGroupFallback, err)
		}
		if a.Key != nil && keyed != 1 {
			return errGroupFallback // a key of that ID is stored
		}
		for range planStatements(a.Plan) {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		out[i] = eventstore.GroupResult{Events: events, Removed: a.Fired != nil}
	}
	return nil
}
