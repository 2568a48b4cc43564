package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/evented/evented/internal/eventstore"
)

// appendSQL is one append, one statement, hence one transaction. It reads
// the cover's next sequence, and inserts every page only when each numbered
// page is at its place from there; it returns that next sequence, how many
// rows it inserted (all or none) and the transaction's time.
//
// Everything shares the statement's snapshot, taken before the insert
// gives the transaction its id: what makes positions follow sequences
// (see the package doc). Two statements that read the same head both try
// to insert its sequence; the primary key lets one through and fails the
// other with a unique violation, once the first has committed.
//
// It sends no NOTIFY: a notifying transaction holds a database-wide lock
// from its pre-commit through its WAL flush, which would serialise the
// commits of all appends. The notifier sends NOTIFY after the commit,
// outside the append's transaction (see notifier).
const appendSQL = `WITH head AS (
		SELECT COALESCE(MAX(sequence) + 1, 0) AS next FROM events WHERE domain = $1 AND aggregate_id = $2
	), page AS (
		SELECT p.ordinal - 1 AS ordinal, p.num, p.type_url, p.payload, p.created_at,
			p.correlation_id, p.command_id, p.cause_domain, p.cause_root, p.cause_sequence, p.depth, p.schema_version
		FROM unnest($3::bigint[], $4::text[], $5::bytea[], $6::timestamptz[],
				$7::text[], $8::text[], $9::text[], $10::uuid[], $11::bigint[], $12::bigint[], $13::bigint[])
			WITH ORDINALITY AS p (num, type_url, payload, created_at,
				correlation_id, command_id, cause_domain, cause_root, cause_sequence, depth, schema_version, ordinal)
	), fits AS (
		SELECT NOT EXISTS (SELECT FROM page, head WHERE page.num <> head.next + page.ordinal) AS ok
	), stored AS (
		INSERT INTO events (ordinal, domain, aggregate_id, sequence, type_url, payload, created_at, ` + causeColumns + `)
		SELECT page.ordinal, $1, $2, head.next + page.ordinal, page.type_url, page.payload, COALESCE(page.created_at, now()),
			page.correlation_id, page.command_id, page.cause_domain, page.cause_root, page.cause_sequence, page.depth, page.schema_version
		FROM page, head, fits WHERE fits.ok
		RETURNING 1
	)
	SELECT head.next, (SELECT count(*) FROM stored), now() FROM head`

// appendable makes the checks every append makes first: ok is false when
// there is nothing to store (no pages, err nil) or the append is refused
// (err: ctx ended, the store closed, too many pages).
func (s *Store) appendable(ctx context.Context, pages []eventstore.Page) (ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if s.closed.Load() {
		return false, eventstore.ErrClosed
	}
	if len(pages) > MaxEventsPerAppend {
		return false, eventstore.Invalid("pages", "%d events in one append; PostgreSQL stores at most %d", len(pages), MaxEventsPerAppend)
	}
	return len(pages) > 0, nil
}

// Append implements eventstore.Store. It returns a *eventstore.InvalidError
// for more than MaxEventsPerAppend pages. Concurrent appends are stored
// together (see batch.go).
func (s *Store) Append(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page) ([]eventstore.Event, error) {
	if ok, err := s.appendable(ctx, pages); !ok {
		return nil, err
	}
	b := s.grouped(ctx, cover, pages, nil)
	if b.alone {
		return s.appendAlone(ctx, cover, pages)
	}
	return b.events, b.err
}

// appendAlone is Append by a statement of its own (appendSQL), for an
// append that a failed batch hands back.
func (s *Store) appendAlone(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page) ([]eventstore.Event, error) {
	args := appendArgs(cover, pages)
	// The connection is taken first: a failure to get one stored nothing.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, s.fail(err, "append to %s", cover)
	}
	defer conn.Release()
	for attempt := 1; ; attempt++ {
		var next, stored int64
		var now time.Time
		err := conn.QueryRow(ctx, appendSQL, args...).Scan(&next, &stored, &now)
		if lostRace(err) {
			// Another append took these sequences between our read and
			// our insert; read the new head and decide again.
			if attempt == maxContention {
				return nil, fmt.Errorf("postgres: append to %s: still losing the race for its next sequence after %d attempts: %w", cover, attempt, err)
			}
			continue
		}
		if err != nil {
			// One statement, autocommitted: a connection lost after
			// sending it may have lost the answer to a commit.
			return nil, s.writeFailed(err, "append to %s", cover)
		}
		events, err := s.stored(cover, pages, next, stored, now)
		if err != nil {
			return nil, err
		}
		s.signal()
		s.committed()
		return events, nil
	}
}

// appendArgs are appendSQL's parameters for pages of cover.
func appendArgs(cover eventstore.Cover, pages []eventstore.Page) []any {
	nums := make([]*int64, len(pages))
	typeURLs := make([]string, len(pages))
	payloads := make([][]byte, len(pages))
	times := make([]*time.Time, len(pages))
	for i, p := range pages {
		if p.HasNum {
			n := int64(p.Num)
			nums[i] = &n
		}
		typeURLs[i], payloads[i], times[i] = p.TypeURL, bytea(p.Payload), timeOrNull(p.CreatedAt)
	}
	return append([]any{cover.Domain, pgUUID(cover.Root), nums, typeURLs, payloads, times}, newCauseArrays(pages).args()...)
}

// stored checks appendSQL's answer (the head it found, how many rows it
// inserted, the transaction's time) and returns the stored events, or the
// conflict that kept them out.
func (s *Store) stored(cover eventstore.Cover, pages []eventstore.Page, next, stored int64, now time.Time) ([]eventstore.Event, error) {
	// The rule itself is eventstore.Assign's; the statement only
	// checked that it holds, so that nothing is inserted otherwise.
	events, err := eventstore.Assign(cover, uint32(next), pages, now)
	if err != nil && stored == 0 {
		return nil, err
	}
	if err != nil || stored != int64(len(pages)) {
		return nil, fmt.Errorf("postgres: append to %s: stored %d of %d events at sequence %d", cover, stored, len(pages), next)
	}
	for i := range events {
		// As stored: timestamptz keeps microseconds, and pgx truncates.
		events[i].CreatedAt = events[i].CreatedAt.Truncate(time.Microsecond)
	}
	return events, nil
}

// lostRace tells the errors of an append that another append to the same
// cover beat: the primary key's unique violation, and under a stricter
// default_transaction_isolation than read committed, a serialization
// failure. Re-running the statement decides again against the new head.
func lostRace(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "23505": // unique_violation
		return pgErr.ConstraintName == "events_pkey"
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	}
	return false
}
