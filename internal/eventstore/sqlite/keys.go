package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// selectKey reads a live key: one whose expires_at is after the time given.
const selectKey = `SELECT fingerprint, domain, aggregate_id, first_sequence, end_sequence, created_at, expires_at
	FROM idempotency_keys WHERE id = ? AND expires_at > ?`

// AppendKeyed implements eventstore.Idempotent. The keyed append joins the
// writer's group commit like any other: the key is looked up, the events
// and the key stored, in the batch's one IMMEDIATE transaction, which holds
// the file's write lock, so processes sharing the file take turns too.
// Each batch that holds a keyed append first deletes up to
// eventstore.MaxPurge expired keys.
func (s *Store) AppendKeyed(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key eventstore.Key) ([]eventstore.Event, *eventstore.KeyRecord, error) {
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
	r.key = &key
	res := s.submit(ctx, r)
	if res.prior != nil {
		res.prior.ID = key.ID
	}
	return res.events, res.prior, res.err
}

// Lookup implements eventstore.Idempotent.
func (s *Store) Lookup(ctx context.Context, id string) (eventstore.KeyRecord, bool, error) {
	if s.closed() {
		return eventstore.KeyRecord{}, false, eventstore.ErrClosed
	}
	rec, ok, err := readKey(ctx, s.keyLookup, id, time.Now())
	if err != nil {
		return eventstore.KeyRecord{}, false, s.fail(err, "look up key %q", id)
	}
	return rec, ok, nil
}

func readKey(ctx context.Context, stmt *sql.Stmt, id string, now time.Time) (eventstore.KeyRecord, bool, error) {
	rec := eventstore.KeyRecord{ID: id}
	var fp []byte
	var root, created, expires string
	err := stmt.QueryRowContext(ctx, id, formatTime(now)).Scan(&fp, &rec.Cover.Domain, &root, &rec.From, &rec.To, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.KeyRecord{}, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("read key %q: %w", id, err)
	}
	var err1, err2, err3 error
	rec.Cover.Root, err1 = uuid.Parse(root)
	rec.CreatedAt, err2 = time.Parse(time.RFC3339Nano, created)
	rec.ExpiresAt, err3 = time.Parse(time.RFC3339Nano, expires)
	if err := errors.Join(err1, err2, err3); err != nil || len(fp) != len(rec.Fingerprint) {
		return rec, false, fmt.Errorf("read key %q: bad row (fingerprint of %d bytes): %w", id, len(fp), err)
	}
	copy(rec.Fingerprint[:], fp)
	rec.CreatedAt, rec.ExpiresAt = rec.CreatedAt.UTC(), rec.ExpiresAt.UTC()
	return rec, true, nil
}
