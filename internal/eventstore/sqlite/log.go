package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

var (
	_ eventstore.Log         = (*Store)(nil)
	_ eventstore.Checkpoints = (*Store)(nil)
	_ eventstore.Parking     = (*Store)(nil)
)

// ReadLog implements eventstore.Log. Positions are the events table's
// rowid: one writer commits at a time, so they are gap-free and final.
func (s *Store) ReadLog(ctx context.Context, after uint64, limit int) ([]eventstore.Logged, error) {
	if s.closed() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.readLog.QueryContext(ctx, int64(after), limit)
	if err != nil {
		return nil, s.fail(err, "read log after %d", after)
	}
	defer rows.Close()
	// Scanned as the driver gives them (int64, bytes) and converted here:
	// database/sql's conversions to uint and string cost more than the read.
	var (
		out                         = make([]eventstore.Logged, 0, min(limit, 1024))
		pos, seq                    any
		domain, id, at, typeURL, pl sql.RawBytes
		cause                       causeScan
		names                       = interner{}
	)
	dest := append([]any{&pos, &domain, &id, &seq, &at, &typeURL, &pl}, cause.dest()...)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, s.fail(err, "read log")
		}
		p, ok := pos.(int64)
		if !ok || p <= 0 {
			return nil, s.fail(fmt.Errorf("position %v is not positive", pos), "read log after %d", after)
		}
		e := eventstore.Logged{Position: uint64(p)}
		if e.Sequence, err = uint32Of(seq); err != nil {
			return nil, s.fail(fmt.Errorf("sequence: %w", err), "read log: position %d", p)
		}
		if e.Cover.Root, err = uuid.ParseBytes(id); err != nil {
			return nil, s.fail(err, "read log: position %d", p)
		}
		if e.CreatedAt, err = parseTime(at); err != nil {
			return nil, s.fail(err, "read log: position %d", p)
		}
		e.Cover.Domain, e.TypeURL = names.get(domain), names.get(typeURL)
		// A payload of its own: a delivery may hold some events of a
		// batch long after the rest are gone.
		e.Payload = append(make([]byte, 0, len(pl)), pl...)
		if e.Cause, err = cause.cause(names); err != nil {
			return nil, s.fail(err, "read log: position %d", p)
		}
		if e.SchemaVersion, err = cause.schemaVersion(); err != nil {
			return nil, s.fail(err, "read log: position %d", p)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "read log")
	}
	return out, nil
}

// Head implements eventstore.Log.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if s.closed() {
		return 0, eventstore.ErrClosed
	}
	var head uint64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(position), 0) FROM events`).Scan(&head); err != nil {
		return 0, s.fail(err, "log head")
	}
	return head, nil
}

// Appended implements eventstore.Log: the channel closes at the next group
// commit of this Store, and within watchEvery of a commit by another
// process writing the file while commits come, within watchIdle after a
// quiet spell (see watch).
func (s *Store) Appended() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notify
}

// How often watch looks for other processes' commits: every watchEvery
// while the file changes, backing off to watchIdle when it does not.
const (
	watchEvery = 5 * time.Millisecond
	watchIdle  = 50 * time.Millisecond
)

// watch wakes the readers waiting for a commit when another process (or
// another Store on the file) commits: PRAGMA data_version on a connection
// of its own changes then. It turns the delivery lag of replicas on one
// file from the readers' poll interval into a few milliseconds. A query
// costs tens of microseconds of CPU, so an idle file is looked at less
// often: at every watchEvery, an idle store spent about 4% of a core.
func (s *Store) watch() {
	defer close(s.watched)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
		case <-ctx.Done():
		}
		cancel()
	}()
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return // closing, or no reader: readers poll, as before
	}
	defer conn.Close()
	version, err := conn.PrepareContext(ctx, "PRAGMA data_version") // parsed once: a third of a query's cost
	if err != nil {
		return
	}
	defer version.Close()
	t := time.NewTimer(watchEvery)
	defer t.Stop()
	var seen int64 = -1
	every := watchEvery
	for {
		var v int64
		if err := version.QueryRowContext(ctx).Scan(&v); err != nil {
			if ctx.Err() != nil {
				return
			}
		} else if seen != v {
			if seen >= 0 {
				s.signal()
			}
			seen, every = v, watchEvery
		} else {
			every = min(2*every, watchIdle)
		}
		t.Reset(every)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// signal wakes the readers waiting for a commit.
func (s *Store) signal() {
	s.notifyMu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.notifyMu.Unlock()
}

// Checkpoint implements eventstore.Checkpoints.
func (s *Store) Checkpoint(ctx context.Context, subscriber string) (uint64, error) {
	if s.closed() {
		return 0, eventstore.ErrClosed
	}
	var pos uint64
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE((SELECT position FROM checkpoints WHERE subscriber = ?), 0)`, subscriber).Scan(&pos)
	if err != nil {
		return 0, s.fail(err, "checkpoint of %s", subscriber)
	}
	return pos, nil
}

// SaveCheckpoint implements eventstore.Checkpoints.
func (s *Store) SaveCheckpoint(ctx context.Context, subscriber string, position uint64) error {
	if s.closed() {
		return eventstore.ErrClosed
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO checkpoints (subscriber, position, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (subscriber) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
		subscriber, int64(position), formatTime(time.Now()))
	if err != nil {
		return s.fail(err, "save checkpoint of %s", subscriber)
	}
	return nil
}

// parkSQL stores a parked event (parkArgs), or a new reason for one parked
// already: Park's and ParkFenced's statement.
const parkSQL = `INSERT INTO parked (subscriber, position, domain, aggregate_id, sequence, type_url, payload, created_at, reason, attempts, parked_at, ` + causeColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (subscriber, position) DO UPDATE SET reason = excluded.reason, attempts = excluded.attempts, parked_at = excluded.parked_at`

func parkArgs(subscriber string, p eventstore.Parked) []any {
	return append([]any{subscriber, int64(p.Position), p.Cover.Domain, p.Cover.Root.String(), p.Sequence, p.TypeURL, blob(p.Payload),
		formatTime(p.CreatedAt), p.Reason, p.Attempts, formatTime(p.ParkedAt)}, causeArgs(p.Cause, p.SchemaVersion)...)
}

// Park implements eventstore.Parking.
func (s *Store) Park(ctx context.Context, subscriber string, p eventstore.Parked) error {
	if s.closed() {
		return eventstore.ErrClosed
	}
	if p.ParkedAt.IsZero() {
		p.ParkedAt = time.Now()
	}
	_, err := s.w.ExecContext(ctx, parkSQL, parkArgs(subscriber, p)...)
	if err != nil {
		return s.fail(err, "park %s/%d for %s", p.Cover, p.Sequence, subscriber)
	}
	return nil
}

// ParkedEvents implements eventstore.Parking.
func (s *Store) ParkedEvents(ctx context.Context, subscriber string) ([]eventstore.Parked, error) {
	if s.closed() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, `SELECT position, domain, aggregate_id, sequence, type_url, payload, created_at, reason, attempts, parked_at, `+causeColumns+`
		FROM parked WHERE subscriber = ? ORDER BY position`, subscriber)
	if err != nil {
		return nil, s.fail(err, "parked events of %s", subscriber)
	}
	defer rows.Close()
	var out []eventstore.Parked
	var cause causeScan
	types := interner{}
	for rows.Next() {
		var p eventstore.Parked
		var id, at, parkedAt string
		if err := rows.Scan(append([]any{&p.Position, &p.Cover.Domain, &id, &p.Sequence, &p.TypeURL, &p.Payload, &at, &p.Reason, &p.Attempts, &parkedAt}, cause.dest()...)...); err != nil {
			return nil, s.fail(err, "parked events of %s", subscriber)
		}
		if p.Cause, err = cause.cause(types); err != nil {
			return nil, s.fail(err, "parked events of %s", subscriber)
		}
		if p.SchemaVersion, err = cause.schemaVersion(); err != nil {
			return nil, s.fail(err, "parked events of %s", subscriber)
		}
		if p.Cover.Root, err = uuid.Parse(id); err != nil {
			return nil, s.fail(err, "parked events of %s", subscriber)
		}
		if p.CreatedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, s.fail(err, "parked events of %s", subscriber)
		}
		if p.ParkedAt, err = time.Parse(time.RFC3339Nano, parkedAt); err != nil {
			return nil, s.fail(err, "parked events of %s", subscriber)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "parked events of %s", subscriber)
	}
	return out, nil
}

// Unpark implements eventstore.Parking.
func (s *Store) Unpark(ctx context.Context, subscriber string, positions ...uint64) error {
	if s.closed() {
		return eventstore.ErrClosed
	}
	for _, pos := range positions {
		if _, err := s.w.ExecContext(ctx, `DELETE FROM parked WHERE subscriber = ? AND position = ?`, subscriber, int64(pos)); err != nil {
			return s.fail(err, "unpark %d for %s", pos, subscriber)
		}
	}
	return nil
}
