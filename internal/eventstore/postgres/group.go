package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.GroupAppender = (*Store)(nil)

// groupSQL is every append of a group in one statement: appendSQL for
// many covers (one head read each, $1-$6 an array entry per append), their
// pages in one list ($7-$19, each page's append and place in it), their
// events stored only when every numbered page of every append is at its
// place, each key stored unless one of its ID is, and the fired deadlines
// ($20, $21: IDs and keys) removed, each unless rescheduled. It returns the
// heads found (in the appends' order), how many events and keys it stored
// and the transaction's time: anything short of all of them means an
// append must go alone, and the transaction is rolled back. One statement
// for a group instead of one per append: each costs the server more than
// the rows it writes.
var groupSQL = `WITH a AS (
		SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bytea[], $5::bigint[], $6::bigint[])
			WITH ORDINALITY AS a (domain, root, key_id, key_fp, pages, ttl, ai)
	), head AS (
		SELECT a.ai, (SELECT COALESCE(MAX(e.sequence) + 1, 0) FROM events e WHERE e.domain = a.domain AND e.aggregate_id = a.root) AS next
		FROM a
	), page AS (
		SELECT p.ordinal - 1 AS ordinal, p.ai, p.k, p.num, p.type_url, p.payload, p.created_at,
			p.correlation_id, p.command_id, p.cause_domain, p.cause_root, p.cause_sequence, p.depth, p.schema_version
		FROM unnest($7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::bytea[], $12::timestamptz[],
				$13::text[], $14::text[], $15::text[], $16::uuid[], $17::bigint[], $18::bigint[], $19::bigint[])
			WITH ORDINALITY AS p (ai, k, num, type_url, payload, created_at,
				correlation_id, command_id, cause_domain, cause_root, cause_sequence, depth, schema_version, ordinal)
	), fits AS (
		SELECT NOT EXISTS (SELECT FROM page JOIN head USING (ai) WHERE page.num <> head.next + page.k) AS ok
	), stored AS (
		INSERT INTO events (ordinal, domain, aggregate_id, sequence, type_url, payload, created_at, ` + causeColumns + `)
		SELECT page.ordinal, a.domain, a.root, head.next + page.k, page.type_url, page.payload, COALESCE(page.created_at, now()),
			page.correlation_id, page.command_id, page.cause_domain, page.cause_root, page.cause_sequence, page.depth, page.schema_version
		FROM page JOIN a USING (ai) JOIN head USING (ai), fits WHERE fits.ok
		RETURNING 1
	), keyed AS (
		INSERT INTO idempotency_keys (id, fingerprint, domain, aggregate_id, first_sequence, end_sequence, created_at, expires_at)
		SELECT a.key_id, a.key_fp, a.domain, a.root, head.next, head.next + a.pages, now(), now() + a.ttl * interval '1 microsecond'
		FROM a JOIN head USING (ai), fits WHERE fits.ok AND a.key_id IS NOT NULL
		ON CONFLICT (id) DO NOTHING RETURNING 1
	), removed AS (
		DELETE FROM deadlines d WHERE d.ctid = ANY (` + firedRows("$20", "$21") + `)
	)
	SELECT (SELECT array_agg(next ORDER BY ai) FROM head), (SELECT count(*) FROM stored), (SELECT count(*) FROM keyed), now()`

// errGroupFallback ends a group's transaction that met something one
// append must settle alone: a lost race, a key stored, a sequence
// conflict.
var errGroupFallback = errors.New("postgres: the group's appends go one at a time")

// AppendGroup implements eventstore.GroupAppender: every append of the
// group in one REPEATABLE READ transaction, in one statement (groupSQL)
// and those of their deadline plans, sent in one round trip, and one
// commit (one WAL flush) for all. A group with two appends to one cover
// (or with one key) goes one append at a time: in one statement they
// would not see each other. REPEATABLE READ
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
	if len(idx) == 1 || events > MaxEventsPerAppend || !distinct(as, idx) {
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

// distinct reports whether the appends idx of as are to distinct covers
// with distinct keys.
func distinct(as []eventstore.GroupAppend, idx []int) bool {
	covers := make(map[eventstore.Cover]bool, len(idx))
	keys := make(map[string]bool, len(idx))
	for _, i := range idx {
		a := as[i]
		if covers[a.Cover] || a.Key != nil && keys[a.Key.ID] {
			return false
		}
		covers[a.Cover] = true
		if a.Key != nil {
			keys[a.Key.ID] = true
		}
	}
	return true
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
	b.Queue(groupSQL, groupArgs(as, idx)...)
	for _, i := range idx {
		queuePlan(&b, as[i].Plan)
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

// groupArgs are groupSQL's parameters for the appends idx of as.
func groupArgs(as []eventstore.GroupAppend, idx []int) []any {
	n := len(idx)
	domains, roots := make([]string, n), make([]pgtype.UUID, n)
	keyIDs, keyFPs := make([]*string, n), make([][]byte, n)
	counts, ttls := make([]int64, n), make([]*int64, n)
	var pages []eventstore.Page
	var ai, k []int64
	var ids, keys []string
	for j, i := range idx {
		a := as[i]
		domains[j], roots[j], counts[j] = a.Cover.Domain, pgUUID(a.Cover.Root), int64(len(a.Pages))
		if a.Key != nil {
			id, ttl := a.Key.ID, a.Key.TTL.Microseconds()
			keyIDs[j], keyFPs[j], ttls[j] = &id, a.Key.Fingerprint[:], &ttl
		}
		for p := range a.Pages {
			ai, k = append(ai, int64(j+1)), append(k, int64(p))
		}
		pages = append(pages, a.Pages...)
		if a.Fired != nil {
			ids, keys = append(ids, a.Fired.ID), append(keys, a.Fired.Key)
		}
	}
	// appendArgs's arrays of the pages, the cover's two first left out.
	pageArgs := appendArgs(eventstore.Cover{}, pages)[2:]
	args := append([]any{domains, roots, keyIDs, keyFPs, counts, ttls, ai, k}, pageArgs...)
	return append(args, ids, keys)
}

// pgUUID is u as pgx encodes it directly: a uuid.UUID goes through its
// driver.Valuer (a string), which pgx fails to encode as binary, builds an
// error for, and then parses back, for every value of every array.
func pgUUID(u uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: u, Valid: true} }

// pgRoot is where a uuid column is scanned into u: as its 16 bytes
// (pgx's binary uuid), not through uuid.UUID's Scan, which has pgx format
// the value as text for uuid.Parse to read back (a tenth of a catch-up's
// CPU).
func pgRoot(u *uuid.UUID) *[16]byte { return (*[16]byte)(u) }

// readGroup reads the answers to groupTx's statements into out.
func (s *Store) readGroup(br pgx.BatchResults, as []eventstore.GroupAppend, idx []int, out []eventstore.GroupResult) error {
	var heads []int64
	var stored, keyed int64
	var now time.Time
	if err := br.QueryRow().Scan(&heads, &stored, &keyed, &now); err != nil {
		return err
	}
	pages, keys := 0, 0
	for _, i := range idx {
		pages += len(as[i].Pages)
		if as[i].Key != nil {
			keys++
		}
	}
	if len(heads) != len(idx) || stored != int64(pages) || keyed != int64(keys) {
		return errGroupFallback // a sequence conflict, or a key of that ID stored
	}
	for j, i := range idx {
		a := as[i]
		events, err := s.stored(a.Cover, a.Pages, heads[j], int64(len(a.Pages)), now)
		if err != nil {
			return fmt.Errorf("%w: %w", errGroupFallback, err)
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
