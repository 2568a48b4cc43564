package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evented/evented/internal/eventstore"
)

// settled is the SQL bound below which positions are final: the positions
// of transactions older than the oldest one still running when the
// statement's snapshot was taken. See the package doc for why.
var settled = fmt.Sprintf(`(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << %d)`, ordinalBits)

// maxLogPage bounds the room ReadLog makes for its answer before reading
// it.
const maxLogPage = 4096

// ReadLog implements eventstore.Log: the events of finished transactions
// only, in position order. An index range scan on position, bounded above
// by the snapshot's xmin.
func (s *Store) ReadLog(ctx context.Context, after uint64, limit int) ([]eventstore.Logged, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	if limit <= 0 || after >= math.MaxInt64 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT position, domain, aggregate_id, sequence, created_at, type_url, payload, `+causeColumns+`
		FROM events WHERE position > $1 AND position < `+settled+` ORDER BY position LIMIT $2`, int64(after), limit)
	if err != nil {
		return nil, s.fail(err, "read log after %d", after)
	}
	// Room for a whole page at once: grown row by row, the slice was copied
	// (with its pointers, under the GC's write barrier) a dozen times per
	// page. One scan destination serves every row (as in Read): built per
	// row, it and the values it points to were five allocations of each.
	var (
		e     eventstore.Logged
		cause causeScan
	)
	dest := append([]any{&e.Position, &e.Cover.Domain, pgRoot(&e.Cover.Root), &e.Sequence, &e.CreatedAt, &e.TypeURL, &e.Payload}, cause.dest()...)
	out, err := pgx.AppendRows(make([]eventstore.Logged, 0, min(limit, maxLogPage)), rows, func(row pgx.CollectableRow) (eventstore.Logged, error) {
		e = eventstore.Logged{}
		err := row.Scan(dest...)
		e.CreatedAt, e.Cause, e.SchemaVersion = e.CreatedAt.UTC(), cause.cause(), cause.schemaVersion()
		return e, err
	})
	if err != nil {
		return nil, s.fail(err, "read log after %d", after)
	}
	return out, nil
}

// Head implements eventstore.Log: the highest position ReadLog can return
// now.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	var head int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(position), 0) FROM events WHERE position < `+settled).Scan(&head); err != nil {
		return 0, s.fail(err, "log head")
	}
	return uint64(head), nil
}

// Appended implements eventstore.Log: the channel closes at the next commit
// of this Store and, with notifications on, at the next NOTIFY of any
// process appending to the same schema.
func (s *Store) Appended() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notify
}

// signal wakes the readers waiting for a commit.
func (s *Store) signal() {
	s.notifyMu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.notifyMu.Unlock()
}

// listen holds a connection outside the pool that LISTENs to the schema's
// channel and signals each notification, reconnecting with backoff until
// ctx ends. While it is down, readers still poll.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig) {
	log := s.log.With("component", "postgres", "channel", s.channel)
	wait := 100 * time.Millisecond
	for reconnect := false; ; reconnect = true {
		listened, err := s.listenOnce(ctx, cfg, reconnect)
		if ctx.Err() != nil {
			return
		}
		if listened {
			wait = 100 * time.Millisecond
		}
		log.Warn("LISTEN connection lost; readers in this process poll until it is back", "retry_in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// listenOnce listens until the connection fails. After a reconnect it
// signals once: notifications sent while it was down are lost.
func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, reconnect bool) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return false, err
	}
	defer func() {
		closing, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(closing)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return false, err
	}
	if reconnect {
		s.signal()
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, err
		}
		s.signal()
	}
}

// committed tells the notifier that a commit awaits its NOTIFY.
func (s *Store) committed() {
	if s.channel == "" {
		return
	}
	select {
	case s.dirty <- struct{}{}:
	default: // one is pending already, and will be sent after this commit
	}
}

// notifier sends a NOTIFY on the schema's channel after commits of this
// Store, one at a time and at most one per notifyInterval: the commits made
// meanwhile are covered by the next. pg_notify in a transaction that writes
// nothing needs no WAL flush, so the database-wide lock it takes at commit
// is held for a moment only. A failed NOTIFY is not retried: readers poll.
func (s *Store) notifier(ctx context.Context) {
	failing := false
	for {
		select {
		case <-s.dirty:
		case <-ctx.Done():
			return
		}
		_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, '')`, s.channel)
		select {
		case <-time.After(notifyInterval):
		case <-ctx.Done():
			return
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			s.log.Warn("NOTIFY failed; readers in other processes poll until it works again", "component", "postgres", "channel", s.channel, "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("NOTIFY works again", "component", "postgres", "channel", s.channel)
			failing = false
		}
	}
}

// position converts a log position to the bigint it is stored as. Every
// position this store hands out fits; others are refused rather than
// wrapped.
func position(p uint64) (int64, error) {
	if p > math.MaxInt64 {
		return 0, fmt.Errorf("position %d is beyond what PostgreSQL positions reach (2^63-1)", p)
	}
	return int64(p), nil
}

// Checkpoint implements eventstore.Checkpoints.
func (s *Store) Checkpoint(ctx context.Context, subscriber string) (uint64, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	var pos int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE((SELECT position FROM checkpoints WHERE subscriber = $1), 0)`, subscriber).Scan(&pos); err != nil {
		return 0, s.fail(err, "checkpoint of %s", subscriber)
	}
	return uint64(pos), nil
}

// SaveCheckpoint implements eventstore.Checkpoints.
func (s *Store) SaveCheckpoint(ctx context.Context, subscriber string, pos uint64) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	p, err := position(pos)
	if err != nil {
		return fmt.Errorf("postgres: save checkpoint of %s: %w", subscriber, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO checkpoints (subscriber, position, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (subscriber) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`, subscriber, p)
	if err != nil {
		return s.fail(err, "save checkpoint of %s", subscriber)
	}
	return nil
}

// parkSQL stores a parked event (parkArgs), or a new reason for one parked
// already: Park's and ParkFenced's statement.
const parkSQL = `INSERT INTO parked (subscriber, position, domain, aggregate_id, sequence, type_url, payload, created_at, reason, attempts, parked_at, ` + causeColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, COALESCE($11, now()), $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (subscriber, position) DO UPDATE SET reason = excluded.reason, attempts = excluded.attempts, parked_at = excluded.parked_at`

func parkArgs(subscriber string, pos int64, p eventstore.Parked) []any {
	return append([]any{subscriber, pos, p.Cover.Domain, pgUUID(p.Cover.Root), int64(p.Sequence), p.TypeURL, bytea(p.Payload),
		p.CreatedAt, p.Reason, p.Attempts, timeOrNull(p.ParkedAt)}, causeArgs(p.Cause, p.SchemaVersion)...)
}

// Park implements eventstore.Parking.
func (s *Store) Park(ctx context.Context, subscriber string, p eventstore.Parked) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	pos, err := position(p.Position)
	if err != nil {
		return fmt.Errorf("postgres: park for %s: %w", subscriber, err)
	}
	_, err = s.pool.Exec(ctx, parkSQL, parkArgs(subscriber, pos, p)...)
	if err != nil {
		return s.fail(err, "park %s/%d for %s", p.Cover, p.Sequence, subscriber)
	}
	return nil
}

// ParkedEvents implements eventstore.Parking.
func (s *Store) ParkedEvents(ctx context.Context, subscriber string) ([]eventstore.Parked, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.pool.Query(ctx, `SELECT position, domain, aggregate_id, sequence, type_url, payload, created_at, reason, attempts, parked_at, `+causeColumns+`
		FROM parked WHERE subscriber = $1 ORDER BY position`, subscriber)
	if err != nil {
		return nil, s.fail(err, "parked events of %s", subscriber)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (eventstore.Parked, error) {
		var p eventstore.Parked
		var cause causeScan
		err := row.Scan(append([]any{&p.Position, &p.Cover.Domain, pgRoot(&p.Cover.Root), &p.Sequence, &p.TypeURL, &p.Payload, &p.CreatedAt, &p.Reason, &p.Attempts, &p.ParkedAt}, cause.dest()...)...)
		p.CreatedAt, p.ParkedAt, p.Cause, p.SchemaVersion = p.CreatedAt.UTC(), p.ParkedAt.UTC(), cause.cause(), cause.schemaVersion()
		return p, err
	})
	if err != nil {
		return nil, s.fail(err, "parked events of %s", subscriber)
	}
	return out, nil
}

// Unpark implements eventstore.Parking.
func (s *Store) Unpark(ctx context.Context, subscriber string, positions ...uint64) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	ps := make([]int64, 0, len(positions))
	for _, p := range positions {
		if p <= math.MaxInt64 { // others were never parked here
			ps = append(ps, int64(p))
		}
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM parked WHERE subscriber = $1 AND position = ANY($2)`, subscriber, ps); err != nil {
		return s.fail(err, "unpark %v for %s", positions, subscriber)
	}
	return nil
}
