package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evented/evented/internal/eventstore"
)

const selectKey = `SELECT fingerprint, domain, aggregate_id, first_sequence, end_sequence, created_at, expires_at
	FROM idempotency_keys WHERE id = $1 AND expires_at > now()`

// AppendKeyed implements eventstore.Idempotent. A keyed append is stored
// with the concurrent appends (see batch.go), in one statement that
// inserts the key only when no key of its ID is stored and the events only
// when the key was inserted. A key found stored (a repeat, a concurrent
// append that took it first, an expired key to replace) sends the append
// to appendWith, which settles each case on its own.
//
// The key's primary key settles races between processes: an insert that
// meets a concurrent one waits for it, and when it committed, inserts
// nothing.
func (s *Store) AppendKeyed(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key eventstore.Key) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	if ok, err := s.appendable(ctx, pages); !ok {
		return nil, nil, err
	}
	b := s.grouped(ctx, cover, pages, &key)
	if b.alone {
		return s.appendWith(ctx, cover, pages, &key, eventstore.DeadlinePlan{})
	}
	return b.events, nil, b.err
}

// AppendScheduling implements eventstore.Deadlines: the plan is applied in
// the append's transaction, after its events (and key).
func (s *Store) AppendScheduling(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key *eventstore.Key, plan eventstore.DeadlinePlan) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	if err := plan.Check(); err != nil {
		return nil, nil, err
	}
	switch {
	case key == nil && plan.Empty():
		events, err := s.Append(ctx, cover, pages)
		return events, nil, err
	case plan.Empty():
		return s.AppendKeyed(ctx, cover, pages, *key)
	}
	return s.appendWith(ctx, cover, pages, key, plan)
}

// appendWith appends pages in a transaction with key (when not nil) and
// plan: AppendScheduling with a plan, and a keyed append whose key was
// found stored. The append statement goes first (so that, as for Append,
// its snapshot is taken before the transaction gets the id its positions
// are made of), then the key's insert; a key found stored rolls the try
// back, events and all, and the next try returns the key's record. The
// transaction also deletes up to eventstore.MaxPurge expired keys.
//
// Only the COMMIT can leave the outcome unknown (an
// *eventstore.InDoubtError); a failure before it stored nothing.
func (s *Store) appendWith(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key *eventstore.Key, plan eventstore.DeadlinePlan) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	if ok, err := s.appendable(ctx, pages); !ok {
		return nil, nil, err
	}
	args := appendArgs(cover, pages)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, s.fail(err, "append to %s", cover)
	}
	defer conn.Release()
	for attempt := 1; ; attempt++ {
		// The first try does not look the key up: callers have (the
		// coordinator, before business logic) or expect it new (a
		// deadline's firing), and a stored key fails the key's insert,
		// which rolls the try back; the next try reads it.
		if key != nil && attempt > 1 {
			rec, ok, err := readKey(ctx, conn, key.ID)
			if err != nil {
				return nil, nil, s.fail(err, "append to %s: look up key %q", cover, key.ID)
			}
			if ok {
				if rec.Fingerprint != key.Fingerprint {
					return nil, &rec, &eventstore.KeyMismatchError{Key: key.ID}
				}
				return nil, &rec, nil
			}
		}
		if attempt > maxContention {
			return nil, nil, fmt.Errorf("postgres: append to %s: still losing races after %d attempts", cover, attempt)
		}
		events, claimed, err := s.appendKeyedTx(ctx, conn, cover, pages, args, key, plan)
		switch {
		case err != nil:
			return nil, nil, err
		case !claimed:
			continue // lost a race, for the cover's sequence or for the key
		}
		s.signal()
		s.committed()
		return events, nil, nil
	}
}

// appendKeyedTx runs one try of appendWith. claimed is false, with no
// error, when the try lost a race (for the cover's next sequence, or the
// key to a concurrent transaction) and stored nothing.
func (s *Store) appendKeyedTx(ctx context.Context, conn *pgxpool.Conn, cover eventstore.Cover, pages []eventstore.Page, args []any, key *eventstore.Key, plan eventstore.DeadlinePlan) (events []eventstore.Event, claimed bool, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, false, s.fail(err, "append to %s", cover)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var next, stored int64
	var now time.Time
	err = tx.QueryRow(ctx, appendSQL, args...).Scan(&next, &stored, &now)
	if lostRace(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.fail(err, "append to %s", cover)
	}
	if events, err = s.stored(cover, pages, next, stored, now); err != nil {
		return nil, false, err
	}
	if key == nil {
		claimed = true
	} else if claimed, err = s.storeKeyTx(ctx, tx, cover, pages, next, *key); err != nil || !claimed {
		return nil, false, err
	}
	if err := planTx(ctx, tx, plan); err != nil {
		return nil, false, s.fail(err, "append to %s: deadlines", cover)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, s.writeFailed(err, "append to %s: commit", cover)
	}
	return events, true, nil
}

// storeKeyTx stores key in tx for the events of cover from next on, and
// purges some expired keys; claimed is false when a concurrent
// transaction holds the key.
//
// Its three statements go in one round trip: an expired key of the same ID
// deleted, the key inserted unless a live one has it, some expired keys
// purged (harmless when the insert found the key: the try rolls back).
func (s *Store) storeKeyTx(ctx context.Context, tx pgx.Tx, cover eventstore.Cover, pages []eventstore.Page, next int64, key eventstore.Key) (claimed bool, err error) {
	var b pgx.Batch
	b.Queue(`DELETE FROM idempotency_keys WHERE id = $1 AND expires_at <= now()`, key.ID)
	b.Queue(`INSERT INTO idempotency_keys
			(id, fingerprint, domain, aggregate_id, first_sequence, end_sequence, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, now(), now() + $7 * interval '1 microsecond')
		ON CONFLICT (id) DO NOTHING RETURNING true`,
		key.ID, key.Fingerprint[:], cover.Domain, pgUUID(cover.Root), next, next+int64(len(pages)), key.TTL.Microseconds())
	b.Queue(`DELETE FROM idempotency_keys WHERE id IN (
			SELECT id FROM idempotency_keys WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
		eventstore.MaxPurge)
	br := tx.SendBatch(ctx, &b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return false, s.fail(err, "append to %s: replace expired key", cover)
	}
	err = br.QueryRow().Scan(&claimed)
	taken := errors.Is(err, pgx.ErrNoRows)
	if err != nil && !taken {
		return false, s.fail(err, "append to %s: store key", cover)
	}
	if _, err := br.Exec(); err != nil {
		return false, s.fail(err, "append to %s: purge expired keys", cover)
	}
	if err := br.Close(); err != nil {
		return false, s.fail(err, "append to %s: store key", cover)
	}
	return claimed && !taken, nil
}

// Lookup implements eventstore.Idempotent.
func (s *Store) Lookup(ctx context.Context, id string) (eventstore.KeyRecord, bool, error) {
	if s.closed.Load() {
		return eventstore.KeyRecord{}, false, eventstore.ErrClosed
	}
	rec, ok, err := readKey(ctx, s.pool, id)
	if err != nil {
		return eventstore.KeyRecord{}, false, s.fail(err, "look up key %q", id)
	}
	return rec, ok, nil
}

func readKey(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string) (eventstore.KeyRecord, bool, error) {
	rec := eventstore.KeyRecord{ID: id}
	var fp []byte
	var from, to int64
	err := q.QueryRow(ctx, selectKey, id).Scan(&fp, &rec.Cover.Domain, &rec.Cover.Root, &from, &to, &rec.CreatedAt, &rec.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.KeyRecord{}, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	if len(fp) != len(rec.Fingerprint) {
		return rec, false, fmt.Errorf("key %q: fingerprint of %d bytes", id, len(fp))
	}
	copy(rec.Fingerprint[:], fp)
	rec.From, rec.To = uint32(from), uint32(to)
	rec.CreatedAt, rec.ExpiresAt = rec.CreatedAt.UTC(), rec.ExpiresAt.UTC()
	return rec, true, nil
}
