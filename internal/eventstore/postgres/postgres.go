// Package postgres stores events, snapshots, checkpoints, parked events and
// segment leases in PostgreSQL (13 or later), through pgx and a connection
// pool.
//
// # Connecting
//
// Open takes a postgres:// URL as pgx understands it. Parameters that are not
// connection settings are sent as session settings, so search_path picks the
// schema the tables live in (it must exist; the first existing schema of the
// path is used), and pgx's pool_max_conns sizes the pool (default 32):
//
//	postgres://evented:secret@127.0.0.1:5432/app?sslmode=disable&search_path=evented
//
// Open retries the first connection with backoff (see WithConnectRetry), so
// evented may start before its database, then migrates the schema: every
// step runs in one transaction under an advisory lock, so any number of
// processes may start at once. `evented migrate` does the same and exits.
//
// # Appending
//
// An append is one SQL statement, hence one transaction: it reads the
// cover's next sequence, checks the numbered pages against it and inserts
// every page, or nothing. Two appends that claim the same sequence are told
// apart by the primary key (domain, aggregate_id, sequence): the database,
// not a read-then-write race, picks the winner; the loser's statement fails
// with a unique violation and is re-run against the new head, where its
// numbered pages now conflict (eventstore.ConflictError) and unnumbered
// ones simply take the next sequences.
//
// Concurrent appends share that statement: the appends queued while one
// is being stored go together in the next (group commit: one transaction,
// one WAL flush for all), each still checked against its own cover's head
// and its own idempotency key, so that one that conflicts fails alone. A
// lone append goes at once, waiting for no timer. The writer keeps the
// heads of the covers it stored to and places the next batch from them
// without reading them when it can; the primary key tells it when one is
// behind (see fastSQL). See batch.go.
//
// An acknowledged append is as durable as the server's settings make it:
// with synchronous_commit=on (the default) it has been flushed to the WAL.
// As with any networked database, an append that fails with a context or
// connection error may or may not have been committed.
//
// # The log: a gap-free global order without a global lock
//
// Subscriptions read the store as one stream (eventstore.Log) and remember
// the last position they handled, so a position, once read, must be final:
// nothing at or below it may appear later. A BIGSERIAL is not: numbers are
// taken when rows are inserted, but transactions commit in another order,
// and a reader that saw position 8 commit before position 7 skips 7 for
// good. Serialising the writers would fix that and cost all concurrency.
//
// Instead each event row records the id of the transaction that wrote it
// (pg_current_xact_id, the 64-bit epoch-extended xid) and its ordinal in
// that transaction, and its position is
//
//	position = txid << 20 | ordinal
//
// ReadLog returns only rows whose txid is below the xmin of the reading
// statement's own snapshot, pg_snapshot_xmin(pg_current_snapshot()): the
// oldest transaction id still running when the snapshot was taken. Every
// transaction below xmin has finished, so its rows are either all visible in
// that snapshot or rolled back forever; every transaction that commits
// later was still running then (txid >= xmin) or had no id yet, and ids are
// handed out in increasing order, so it gets txid >= xmax >= xmin. Hence a
// row that appears after a ReadLog has a position above everything that
// ReadLog could return: positions are final. They have gaps (between
// transactions, and for rolled-back ones), which the Log contract allows.
// Within a cover, positions follow sequences: an append reads the head of
// its cover and writes in one statement, so the transaction that stores
// sequence n+1 saw sequence n committed before it got its own id.
//
// The price: a transaction that holds an id for long anywhere in the
// cluster (any database, any table; read-only transactions have no id)
// holds the log back until it ends. Readers wait; they never skip.
//
// Bits and limits: the low 20 bits number the events of one transaction,
// so an append stores at most 1,048,576 events (MaxEventsPerAppend); the
// high bits hold the txid, which must stay below 2^43 (MaxTxid, about 8.8
// trillion transactions since initdb) so that positions fit a bigint.
//
// # Waking readers
//
// Appended is closed after every commit made through this Store and, by
// default, when another process appending to the same schema notifies
// (LISTEN/NOTIFY, on a channel named after the schema), so readers in other
// processes wake too. The NOTIFY is not part of the append's transaction:
// a notifying transaction holds a database-wide lock from its pre-commit to
// the end of its WAL flush, which would serialise every append's commit.
// Instead, after its commits, each Store sends NOTIFY from a transaction
// that writes nothing (so flushes nothing), one at a time and at most one
// per 5ms, each covering all the commits made before it. A commit that unblocks the log without being
// an append (an unrelated long transaction ending) sends nothing: readers
// also poll, as the Log contract says.
//
// # Schema
//
// Tables events, snapshots, checkpoints, parked and schema_migrations, in
// the schema named above, meant to be read with psql:
//
//	SELECT position, domain, aggregate_id, sequence, type_url, created_at
//	FROM events ORDER BY created_at DESC LIMIT 10;
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evented/evented/internal/eventstore"
)

// Store is an eventstore.Store, Snapshots, Log, Checkpoints, Parking and Segments in
// one PostgreSQL schema. It is safe for concurrent use, and any number of
// processes may share the schema.
type Store struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	schema  string
	version int
	channel string        // LISTEN/NOTIFY channel; "" when notifications are off
	dirty   chan struct{} // a commit awaits its NOTIFY (buffered, 1)

	closed    atomic.Bool
	full      atomic.Bool // a write failed with disk_full; CheckSpace probes until it has room
	closeOnce sync.Once
	stop      context.CancelFunc // stops the listener and the notifier
	running   sync.WaitGroup     // the listener and the notifier

	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced at each commit (Appended)

	appends    chan *pending // to the writer (see batch.go)
	stopped    chan struct{} // closed when the writer has stopped
	purgeAfter time.Time     // when the writer purges expired keys next
	// heads are the next sequences of covers the writer stored to (see
	// fastSQL); only the writer uses them.
	heads       map[eventstore.Cover]int64
	fastBatches atomic.Int64 // batches stored by fastSQL (tests)
	staleHeads  atomic.Int64 // fastSQL batches that found a head behind (tests)
}

var (
	_ eventstore.Store       = (*Store)(nil)
	_ eventstore.Snapshots   = (*Store)(nil)
	_ eventstore.Log         = (*Store)(nil)
	_ eventstore.Checkpoints = (*Store)(nil)
	_ eventstore.Parking     = (*Store)(nil)
	_ eventstore.Idempotent  = (*Store)(nil)
)

// Option tunes Open.
type Option func(*options)

type options struct {
	log          *slog.Logger
	connectRetry time.Duration
	notify       bool
}

// WithLogger sets the logger of connection retries and of the listener
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithConnectRetry bounds how long Open keeps retrying the first connection
// while the server is unreachable or starting up (default 30s; 0 tries
// once). The wait between attempts doubles from 100ms up to 5s. Errors the
// server answers with, such as a wrong password or an unknown database, are
// not retried.
func WithConnectRetry(d time.Duration) Option { return func(o *options) { o.connectRetry = d } }

// WithNotify turns LISTEN/NOTIFY on (the default) or off. With it, a
// Store holds one more connection, outside the pool, to listen, and sends
// a NOTIFY after its commits (one statement that writes nothing, sent
// while no other is on its way), so that readers in every process wake at
// once. Without it, readers in other processes see new events when they
// poll.
func WithNotify(on bool) Option { return func(o *options) { o.notify = on } }

const (
	defaultMaxConns     = 32
	defaultConnectRetry = 30 * time.Second
	// maxContention bounds how often one append is re-run after losing a
	// race for the same sequences; each loss means another append won.
	maxContention = 1000
	// rootsPage is how many covers Roots reads per query: fn runs between
	// queries, holding no connection, so it may call the store.
	rootsPage = 1000
	// notifyInterval spaces the NOTIFYs of a busy Store: readers in other
	// processes wake at most this much later than they could.
	notifyInterval = 5 * time.Millisecond
)

// Open connects to the database at url, retrying as WithConnectRetry says,
// and migrates the schema to the version this binary knows. A schema with a
// newer version is refused.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{log: slog.Default(), connectRetry: defaultConnectRetry, notify: true}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, log: o.log, notify: make(chan struct{}), dirty: make(chan struct{}, 1),
		appends: make(chan *pending, queueLen), stopped: make(chan struct{}), heads: map[eventstore.Cover]int64{}}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	if err := connect(ctx, pool, o.connectRetry, o.log.With("component", "postgres", "server", where)); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", where, err)
	}
	if s.schema, s.version, err = migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	}
	if err := checkTxids(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: schema %q: %w", where, s.schema, err)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	s.running.Go(func() { s.writer(bg) })
	if o.notify {
		// Channel names are identifiers (at most 63 bytes): a digest of the
		// schema's name.
		s.channel = "evented_" + strings.ReplaceAll(uuid.NewSHA1(uuid.NameSpaceURL, []byte(s.schema)).String(), "-", "")
		s.running.Go(func() { s.listen(bg, cfg.ConnConfig) })
		s.running.Go(func() { s.notifier(bg) })
	}
	return s, nil
}

// connect pings the pool until it answers, the retry budget is spent, or a
// server error says retrying is pointless.
func connect(ctx context.Context, pool *pgxpool.Pool, budget time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(budget)
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := pool.Ping(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info("connected", "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if !retryable(err) {
			return err
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("gave up after %d attempts in %s: %w", attempt, budget, err)
		}
		log.Warn("database not reachable, retrying", "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, 5*time.Second) + time.Duration(rand.Int64N(int64(wait/5)))
	}
}

// retryable tells network failures and a server still starting up from
// errors the server answers the same way every time (authentication, an
// unknown database).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P03", // cannot_connect_now: starting up or shutting down
			"53300": // too_many_connections
			return true
		}
		return false
	}
	return true
}

// Schema is the PostgreSQL schema holding the tables.
func (s *Store) Schema() string { return s.schema }

// Version is the schema version, which Open brought up to the latest this
// binary knows.
func (s *Store) Version() int { return s.version }

// Ping checks that the database answers: for health checks.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if err := s.pool.Ping(ctx); err != nil {
		return s.fail(err, "ping")
	}
	return nil
}

// Close stops the writer (after the batch it is storing), the listener
// and the notifier and closes the pool, waiting for connections in use to
// be released. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		s.running.Wait()
		s.pool.Close()
	})
	return nil
}

// fail wraps err, or reports ErrClosed when the store was closed under the
// call. A failure to reach the server matches eventstore.ErrUnavailable.
// It is for calls that may be repeated safely; appends use inDoubt.
func (s *Store) fail(err error, format string, args ...any) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	var pgErr *pgconn.PgError
	switch {
	case unreachable(err):
		err = eventstore.Unavailable(err)
	case errors.As(err, &pgErr) && pgErr.Code == "53100": // disk_full
		s.full.Store(true)
		err = eventstore.Full(err)
	case errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "53"): // insufficient_resources: memory, connections, limits
		err = fmt.Errorf("%w: %w", eventstore.ErrExhausted, err)
	}
	return fmt.Errorf("postgres: "+format+": %w", append(args, err)...)
}

// unreachable tells a connection that failed or could not be made from
// an answer of the server and from the caller's context ending.
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if err == nil || errors.As(err, &pgErr) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// writeFailed classifies the error of a statement or COMMIT that would
// have stored an append on its own: an answer of the server (a PgError)
// means it did not; a request pgx never sent (SafeToRetry) did not either;
// anything else (the connection broke, the context ended while the answer
// was awaited) leaves its outcome unknown: an *eventstore.InDoubtError,
// which nobody retries blindly.
func (s *Store) writeFailed(err error, format string, args ...any) error {
	var pgErr *pgconn.PgError
	if s.closed.Load() || errors.As(err, &pgErr) || pgconn.SafeToRetry(err) {
		return s.fail(err, format, args...)
	}
	return &eventstore.InDoubtError{Op: fmt.Sprintf("postgres: "+format, args...), Err: err}
}

// Read implements eventstore.Store.
func (s *Store) Read(ctx context.Context, cover eventstore.Cover, from, to uint32) ([]eventstore.Event, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	end := int64(to)
	if to == 0 {
		end = math.MaxUint32 + 1
	}
	rows, err := s.pool.Query(ctx, `SELECT sequence, created_at, type_url, payload, `+causeColumns+` FROM events
		WHERE domain = $1 AND aggregate_id = $2 AND sequence >= $3 AND sequence < $4 ORDER BY sequence`,
		cover.Domain, pgUUID(cover.Root), int64(from), end)
	if err != nil {
		return nil, s.fail(err, "read %s", cover)
	}
	defer rows.Close()
	var (
		e      eventstore.Event
		cause  causeScan
		events eventstore.Chunks[eventstore.Event]
	)
	dest := append([]any{&e.Sequence, &e.CreatedAt, &e.TypeURL, &e.Payload}, cause.dest()...)
	for rows.Next() {
		e = eventstore.Event{}
		if err := rows.Scan(dest...); err != nil {
			return nil, s.fail(err, "read %s", cover)
		}
		e.CreatedAt, e.Cause, e.SchemaVersion = e.CreatedAt.UTC(), cause.cause(), cause.schemaVersion()
		events.Add(e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "read %s", cover)
	}
	return events.All(), nil
}

// Roots implements eventstore.Store. It reads the covers a page at a time
// by a loose index scan of the primary key (one index probe per cover, not
// one per event), and calls fn between pages, holding no connection.
func (s *Store) Roots(ctx context.Context, fn func(eventstore.Cover) error) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	const next = `SELECT e.domain, e.aggregate_id FROM events e
		WHERE (e.domain, e.aggregate_id) > (r.domain, r.aggregate_id) ORDER BY e.domain, e.aggregate_id LIMIT 1`
	first := `WITH RECURSIVE r AS (
			(SELECT domain, aggregate_id FROM events ORDER BY domain, aggregate_id LIMIT 1)
			UNION ALL
			SELECT n.* FROM r, LATERAL (` + next + `) n
		) SELECT domain, aggregate_id FROM r LIMIT $1`
	after := `WITH RECURSIVE r AS (
			(SELECT domain, aggregate_id FROM events WHERE (domain, aggregate_id) > ($2, $3) ORDER BY domain, aggregate_id LIMIT 1)
			UNION ALL
			SELECT n.* FROM r, LATERAL (` + next + `) n
		) SELECT domain, aggregate_id FROM r LIMIT $1`
	var last *eventstore.Cover
	for {
		var rows pgx.Rows
		var err error
		if last == nil {
			rows, err = s.pool.Query(ctx, first, rootsPage)
		} else {
			rows, err = s.pool.Query(ctx, after, rootsPage, last.Domain, pgUUID(last.Root))
		}
		if err != nil {
			return s.fail(err, "roots")
		}
		page, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (eventstore.Cover, error) {
			var c eventstore.Cover
			err := row.Scan(&c.Domain, pgRoot(&c.Root))
			return c, err
		})
		if err != nil {
			return s.fail(err, "roots")
		}
		for _, c := range page {
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(page) < rootsPage {
			return nil
		}
		last = &page[len(page)-1]
	}
}

// Snapshot implements eventstore.Snapshots.
func (s *Store) Snapshot(ctx context.Context, cover eventstore.Cover) (eventstore.Snapshot, bool, error) {
	if s.closed.Load() {
		return eventstore.Snapshot{}, false, eventstore.ErrClosed
	}
	var snap eventstore.Snapshot
	err := s.pool.QueryRow(ctx, `SELECT sequence, type_url, state, created_at FROM snapshots WHERE domain = $1 AND aggregate_id = $2
		ORDER BY sequence DESC LIMIT 1`,
		cover.Domain, pgUUID(cover.Root)).Scan(&snap.Sequence, &snap.TypeURL, &snap.State, &snap.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Snapshot{}, false, nil
	}
	if err != nil {
		return eventstore.Snapshot{}, false, s.fail(err, "snapshot of %s", cover)
	}
	snap.CreatedAt = snap.CreatedAt.UTC()
	return snap, true, nil
}

// PutSnapshot implements eventstore.Snapshots: it keeps one snapshot.
func (s *Store) PutSnapshot(ctx context.Context, cover eventstore.Cover, snap eventstore.Snapshot) error {
	return s.PutSnapshotKeeping(ctx, cover, snap, 1)
}

// PutSnapshotKeeping implements eventstore.SnapshotRetention: one
// transaction, one round trip, under an advisory lock of the cover (the
// writers of one aggregate's snapshots take turns, so the check that none
// is newer holds until the commit). A zero CreatedAt is the transaction's
// time, now().
func (s *Store) PutSnapshotKeeping(ctx context.Context, cover eventstore.Cover, snap eventstore.Snapshot, keep int) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	var b pgx.Batch
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended('evented.snapshot.' || $1 || '/' || $2::text, 0))`, cover.Domain, cover.Root)
	b.Queue(`INSERT INTO snapshots (domain, aggregate_id, sequence, type_url, state, created_at)
		SELECT $1, $2, $3, $4, $5, COALESCE($6, now())
		WHERE NOT EXISTS (SELECT FROM snapshots WHERE domain = $1 AND aggregate_id = $2 AND sequence > $3)
		ON CONFLICT (domain, aggregate_id, sequence) DO UPDATE SET
			type_url = excluded.type_url, state = excluded.state, created_at = excluded.created_at`,
		cover.Domain, pgUUID(cover.Root), int64(snap.Sequence), snap.TypeURL, bytea(snap.State), timeOrNull(snap.CreatedAt))
	b.Queue(`DELETE FROM snapshots WHERE domain = $1 AND aggregate_id = $2 AND sequence < COALESCE(
		(SELECT sequence FROM snapshots WHERE domain = $1 AND aggregate_id = $2 ORDER BY sequence DESC OFFSET $3 - 1 LIMIT 1), 0)`,
		cover.Domain, pgUUID(cover.Root), max(keep, 1))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, &b).Close() })
	if err != nil {
		return s.fail(err, "put snapshot of %s", cover)
	}
	return nil
}

// SnapshotHistory implements eventstore.SnapshotRetention.
func (s *Store) SnapshotHistory(ctx context.Context, cover eventstore.Cover) ([]eventstore.Snapshot, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.pool.Query(ctx, `SELECT sequence, type_url, state, created_at FROM snapshots
		WHERE domain = $1 AND aggregate_id = $2 ORDER BY sequence DESC`, cover.Domain, pgUUID(cover.Root))
	if err != nil {
		return nil, s.fail(err, "snapshots of %s", cover)
	}
	var out []eventstore.Snapshot
	for rows.Next() {
		var snap eventstore.Snapshot
		if err := rows.Scan(&snap.Sequence, &snap.TypeURL, &snap.State, &snap.CreatedAt); err != nil {
			rows.Close()
			return nil, s.fail(err, "snapshots of %s", cover)
		}
		snap.CreatedAt = snap.CreatedAt.UTC()
		out = append(out, snap)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "snapshots of %s", cover)
	}
	return out, nil
}

var _ eventstore.SnapshotRetention = (*Store)(nil)

// bytea keeps an empty byte slice from being sent as NULL.
func bytea(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// timeOrNull sends the zero time as NULL, for COALESCE(…, now()).
func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
