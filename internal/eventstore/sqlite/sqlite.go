// Package sqlite stores events and snapshots in one SQLite file, through the
// pure-Go driver modernc.org/sqlite (no cgo).
//
// The file is in WAL mode, so reads never wait for the writer. Writes go
// through a single connection that begins IMMEDIATE: the write lock is taken
// up front, and the head of a stream read in the transaction cannot change
// before the commit. Other processes may open the same file; busy_timeout
// makes them take turns.
//
// Durability costs one fsync per commit (synchronous=FULL by default), so
// appends are group-committed: concurrent Append calls queue up for one
// writer goroutine, which applies everything pending in one transaction and
// answers each caller once that transaction is on disk. Every append is still
// validated on its own, and a conflicting one fails alone.
//
// The schema is versioned (PRAGMA user_version) and migrated by Open; it is
// meant to be inspected with the sqlite3 shell:
//
//	SELECT domain, aggregate_id, sequence, type_url, created_at
//	FROM events ORDER BY created_at DESC LIMIT 10;
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evented/evented/internal/eventstore"
	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Options tune a Store. The zero value is the durable default.
type Options struct {
	// Sync is "full" (the default): every commit is fsynced, so an
	// acknowledged append survives a power cut. "normal" fsyncs only at WAL
	// checkpoints: an acknowledged append survives the process being killed,
	// but the last ones may be lost with the machine.
	Sync string
	// MaxPages caps the file at this many pages (PRAGMA max_page_count; a
	// page is 4 KiB by default): appends past it fail with
	// eventstore.ErrFull, as on a full disk. 0 means no cap.
	MaxPages int
}

// Store is an eventstore.Store and eventstore.Snapshots over one SQLite file.
// It is safe for concurrent use.
type Store struct {
	path    string
	version int
	w, r    *sql.DB // w: one connection, writes only; r: a pool of read-only connections

	head, putSnapshot *sql.Stmt // on w
	pruneSnapshots    *sql.Stmt // on w
	keyGet, keyPurge  *sql.Stmt // on w
	purgeAfter        time.Time // the writer purges expired keys from then on
	keyLookup         *sql.Stmt // on r

	// writing is held by whoever writes a batch of appends: the writer
	// goroutine, or a caller writing its own append (see inline). What
	// follows up to heads, and purgeAfter above, belong to its holder.
	writing sync.Mutex
	// lastBatch is how many appends the latest batch held; singles how many
	// batches in a row held one.
	lastBatch, singles atomic.Int32
	inlined            atomic.Int64 // appends written by their callers (tests)
	begun              atomic.Int64 // batches the writer goroutine began: received their first append (tests)
	staleHeads         atomic.Int64 // batches run again for a head kept behind (tests)
	// The next sequence of recently written covers: the head, or behind it
	// when another process appended since (see apply).
	heads                             map[eventstore.Cover]uint32
	read, roots, rootsAfter, snapshot *sql.Stmt  // on r
	snapshotHistory, readLog          *sql.Stmt  // on r
	sized                             sizedStmts // statements of many rows, by size class

	reqs      chan *request
	closing   chan struct{} // closed by Close
	stopped   chan struct{} // closed when the writer goroutine has returned
	closeOnce sync.Once
	closeErr  error

	full atomic.Bool // a write failed for want of space; CheckSpace probes until it has room

	watched  chan struct{} // closed when watch returns
	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced at each commit (Appended)
}

var (
	_ eventstore.Store             = (*Store)(nil)
	_ eventstore.Snapshots         = (*Store)(nil)
	_ eventstore.SnapshotRetention = (*Store)(nil)
	_ eventstore.Idempotent        = (*Store)(nil)
)

const (
	busyTimeout = 10 * time.Second
	// maxBatch bounds the appends committed together, so that one
	// transaction (and the callers waiting on it) stays short. A burst of
	// fired deadlines queues many hundreds at once: each commit is an
	// fsync, and the WAL pages its appends share are written once.
	maxBatch = 1024
	// headsPerStatement bounds the covers of one statement of readHeads.
	headsPerStatement = 256
	// timeFormat is RFC 3339 with a fixed number of fractional digits, so
	// that created_at sorts as text.
	timeFormat = "2006-01-02T15:04:05.000000000Z07:00"
)

// Open opens the store in the file at path, creating the file and its
// directory if missing, and migrates the schema to the version this binary
// knows. A file with a newer schema is refused.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	mode, err := syncMode(opts.Sync)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s := &Store{
		path:    abs,
		reqs:    make(chan *request, maxBatch),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
		watched: make(chan struct{}),
		notify:  make(chan struct{}),
		heads:   map[eventstore.Cover]uint32{},
	}
	// Several processes opening a new file at once: one switches it to WAL
	// and migrates it; SQLite may answer another SQLITE_BUSY meanwhile
	// without waiting (a journal mode change, a WAL recovery). Try again.
	for deadline := time.Now().Add(busyTimeout); ; {
		err := s.open(ctx, mode, opts.MaxPages)
		if err == nil {
			break
		}
		_ = s.closeDBs() // the open's error is the one to report
		if primaryCode(err) != sqlite3.SQLITE_BUSY || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
		}
		time.Sleep(20*time.Millisecond + time.Duration(rand.IntN(30))*time.Millisecond)
	}
	go s.run()
	go s.watch()
	return s, nil
}

func syncMode(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", "full":
		return "FULL", nil
	case "normal":
		return "NORMAL", nil
	}
	return "", fmt.Errorf("sqlite: unknown sync mode %q (known: full, normal)", s)
}

func (s *Store) open(ctx context.Context, synchronous string, maxPages int) error {
	// _pragma parameters run on every new connection of a pool, so a
	// reconnect cannot come back without them.
	var err error
	// temp_store: a statement of many rows (the fired deadlines'
	// removal, a run's events and keys) keeps its statement journal, the
	// pages to put back should it fail midway, in memory rather than in a
	// temporary file written page by page.
	pragmas := []string{"journal_mode(WAL)", "synchronous(" + synchronous + ")", "temp_store(MEMORY)"}
	if maxPages > 0 {
		pragmas = append(pragmas, fmt.Sprintf("max_page_count(%d)", maxPages))
	}
	s.w, err = sql.Open("sqlite", dsn(s.path, url.Values{
		"_txlock": {"immediate"},
		"_pragma": pragmas,
	}))
	if err != nil {
		return err
	}
	s.w.SetMaxOpenConns(1)
	if s.version, err = migrate(ctx, s.w); err != nil {
		return err
	}
	// Another process may have changed the schema since this connection
	// loaded it (it migrated the file while this one waited): a statement
	// run now reloads it, so that the statements prepared below are
	// checked against the tables as they are (a prepare is not retried).
	if _, err := s.w.ExecContext(ctx, "SELECT count(*) FROM sqlite_schema"); err != nil {
		return err
	}
	// Opened after the writer has switched the file to WAL (a persistent
	// setting), which query_only connections could not do.
	s.r, err = sql.Open("sqlite", dsn(s.path, url.Values{"_pragma": {"query_only(1)"}}))
	if err != nil {
		return err
	}
	// Concurrent commands each hold a read connection for their load: a
	// pool that keeps fewer idle than are busy at once closes connections
	// on release and opens (and prepares statements on) new ones the next
	// moment. Idle ones go after a minute without use.
	s.r.SetMaxIdleConns(max(16, 4*runtime.GOMAXPROCS(0)))
	s.r.SetConnMaxIdleTime(time.Minute)
	for _, p := range []struct {
		db   *sql.DB
		stmt **sql.Stmt
		sql  string
	}{
		{s.w, &s.head, `SELECT sequence FROM events WHERE domain = ? AND aggregate_id = ? ORDER BY sequence DESC LIMIT 1`},
		// Stored unless a newer one is (a late writer never moves the
		// latest back); then only the newest keep are kept.
		{s.w, &s.putSnapshot, `INSERT INTO snapshots (domain, aggregate_id, sequence, type_url, state, created_at)
			SELECT ?1, ?2, ?3, ?4, ?5, ?6
			WHERE NOT EXISTS (SELECT 1 FROM snapshots WHERE domain = ?1 AND aggregate_id = ?2 AND sequence > ?3)
			ON CONFLICT (domain, aggregate_id, sequence) DO UPDATE SET
				type_url = excluded.type_url, state = excluded.state, created_at = excluded.created_at`},
		{s.w, &s.pruneSnapshots, `DELETE FROM snapshots WHERE domain = ?1 AND aggregate_id = ?2 AND sequence < COALESCE(
			(SELECT sequence FROM snapshots WHERE domain = ?1 AND aggregate_id = ?2 ORDER BY sequence DESC LIMIT 1 OFFSET ?3 - 1), 0)`},
		{s.w, &s.keyGet, selectKey},
		{s.w, &s.keyPurge, `DELETE FROM idempotency_keys WHERE id IN
			(SELECT id FROM idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`},
		{s.r, &s.keyLookup, selectKey},
		{s.r, &s.read, `SELECT sequence, created_at, type_url, payload, ` + causeColumns + ` FROM events
			WHERE domain = ? AND aggregate_id = ? AND sequence >= ? AND sequence < ? ORDER BY sequence`},
		{s.r, &s.readLog, `SELECT position, domain, aggregate_id, sequence, created_at, type_url, payload, ` + causeColumns + `
			FROM events WHERE position > ? ORDER BY position LIMIT ?`},
		{s.r, &s.roots, `SELECT DISTINCT domain, aggregate_id FROM events ORDER BY domain, aggregate_id LIMIT ?`},
		{s.r, &s.rootsAfter, `SELECT DISTINCT domain, aggregate_id FROM events
			WHERE (domain, aggregate_id) > (?, ?) ORDER BY domain, aggregate_id LIMIT ?`},
		{s.r, &s.snapshot, `SELECT sequence, type_url, state, created_at FROM snapshots WHERE domain = ? AND aggregate_id = ?
			ORDER BY sequence DESC LIMIT 1`},
		{s.r, &s.snapshotHistory, `SELECT sequence, type_url, state, created_at FROM snapshots WHERE domain = ? AND aggregate_id = ?
			ORDER BY sequence DESC`},
	} {
		if *p.stmt, err = p.db.PrepareContext(ctx, p.sql); err != nil {
			return err
		}
	}
	// The writer's only connection is taken by its transaction when it
	// removes fired deadlines or reads heads: their statements are
	// prepared now.
	for class := sizeClass(1); class <= firedPerStatement; class *= 2 {
		if _, err := s.sized.get(ctx, s.w, firedSQL(class)); err != nil {
			return err
		}
	}
	for class := sizeClass(1); class <= headsPerStatement; class *= 2 {
		if _, err := s.sized.get(ctx, s.w, headsSQL(class)); err != nil {
			return err
		}
	}
	// The events and keys of a run of appends: one statement per power
	// of two of rows (rowCounts).
	for n := 1; n <= maxRun; n *= 2 {
		if _, err := s.sized.get(ctx, s.w, eventsSQL(n)); err != nil {
			return err
		}
		if _, err := s.sized.get(ctx, s.w, keysSQL(n)); err != nil {
			return err
		}
	}
	return nil
}

func dsn(path string, params url.Values) string {
	// busy_timeout first: the pragmas after it (journal_mode on a file
	// another process is migrating) wait for a lock instead of failing.
	params["_pragma"] = append([]string{fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds())}, params["_pragma"]...)
	return (&url.URL{Scheme: "file", Path: path, RawQuery: params.Encode()}).String()
}

// Path is the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Version is the schema version of the file, which Open brought up to the
// latest this binary knows.
func (s *Store) Version() int { return s.version }

// Close answers queued appends with eventstore.ErrClosed, waits for the
// transaction in flight, and closes the file. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.stopped
		s.writing.Lock() // an inline append under way ends first; later ones see closing
		defer s.writing.Unlock()
		<-s.watched
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

func (s *Store) closeDBs() error {
	var errs []error
	for _, db := range []*sql.DB{s.w, s.r} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

func (s *Store) closed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// fail wraps err, or reports ErrClosed when the store was closed under the
// call (database/sql then fails with an unexported error). SQLITE_FULL
// matches eventstore.ErrFull, and marks the store full until CheckSpace
// finds room; other result codes are classified (see classify).
func (s *Store) fail(err error, format string, args ...any) error {
	if s.closed() {
		return eventstore.ErrClosed
	}
	if isFull(err) {
		s.full.Store(true)
		err = eventstore.Full(err)
	} else {
		err = classify(err)
	}
	return fmt.Errorf("sqlite: "+format+": %w", append(args, err)...)
}

// Read implements eventstore.Store.
func (s *Store) Read(ctx context.Context, cover eventstore.Cover, from, to uint32) ([]eventstore.Event, error) {
	if s.closed() {
		return nil, eventstore.ErrClosed
	}
	end := int64(to)
	if to == 0 {
		end = math.MaxUint32 + 1
	}
	rows, err := s.read.QueryContext(ctx, cover.Domain, cover.Root.String(), from, end)
	if err != nil {
		return nil, s.fail(err, "read %s", cover)
	}
	defer rows.Close()
	var (
		events      eventstore.Chunks[eventstore.Event]
		seq         any // the driver's int64 as it is: database/sql converts to uint32 through a string
		at, typeURL sql.RawBytes
		payload     sql.RawBytes
		cause       causeScan
		mem         arena
		types       = interner{}
	)
	dest := append([]any{&seq, &at, &typeURL, &payload}, cause.dest()...)
	for rows.Next() {
		var e eventstore.Event
		if err := rows.Scan(dest...); err != nil {
			return nil, s.fail(err, "read %s", cover)
		}
		n, ok := seq.(int64)
		if !ok || n < 0 || n > math.MaxUint32 {
			return nil, s.fail(fmt.Errorf("sequence %v is not a uint32", seq), "read %s", cover)
		}
		e.Sequence = uint32(n)
		if e.CreatedAt, err = parseTime(at); err != nil {
			return nil, s.fail(err, "read %s: event %d", cover, e.Sequence)
		}
		e.TypeURL, e.Payload = types.get(typeURL), mem.copy(payload)
		if e.Cause, err = cause.cause(types); err != nil {
			return nil, s.fail(err, "read %s: event %d", cover, e.Sequence)
		}
		if e.SchemaVersion, err = cause.schemaVersion(); err != nil {
			return nil, s.fail(err, "read %s: event %d", cover, e.Sequence)
		}
		events.Add(e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "read %s", cover)
	}
	return events.All(), nil
}

// rootsPage is how many covers Roots reads per query.
const rootsPage = 1000

// Roots implements eventstore.Store. It reads the covers a page at a time,
// each page in a read transaction of its own that ends before fn is called:
// a caller that is slow to take the covers (a client that does not read
// its stream) holds no transaction open, so checkpoints of the WAL go on.
// A cover whose first event is appended while Roots runs is listed if it
// sorts after the page being read.
func (s *Store) Roots(ctx context.Context, fn func(eventstore.Cover) error) error {
	if s.closed() {
		return eventstore.ErrClosed
	}
	var last *eventstore.Cover
	for {
		page, err := s.rootsPage(ctx, last)
		if err != nil {
			return err
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

// rootsPage reads the covers after last (from the first when nil).
func (s *Store) rootsPage(ctx context.Context, last *eventstore.Cover) ([]eventstore.Cover, error) {
	var rows *sql.Rows
	var err error
	if last == nil {
		rows, err = s.roots.QueryContext(ctx, rootsPage)
	} else {
		rows, err = s.rootsAfter.QueryContext(ctx, last.Domain, last.Root.String(), rootsPage)
	}
	if err != nil {
		return nil, s.fail(err, "roots")
	}
	defer rows.Close()
	page := make([]eventstore.Cover, 0, rootsPage)
	for rows.Next() {
		var c eventstore.Cover
		var id string
		if err := rows.Scan(&c.Domain, &id); err != nil {
			return nil, s.fail(err, "roots")
		}
		if c.Root, err = uuid.Parse(id); err != nil {
			return nil, s.fail(err, "roots: domain %q", c.Domain)
		}
		page = append(page, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "roots")
	}
	return page, nil
}

// Snapshot implements eventstore.Snapshots.
func (s *Store) Snapshot(ctx context.Context, cover eventstore.Cover) (eventstore.Snapshot, bool, error) {
	if s.closed() {
		return eventstore.Snapshot{}, false, eventstore.ErrClosed
	}
	var snap eventstore.Snapshot
	var at string
	err := s.snapshot.QueryRowContext(ctx, cover.Domain, cover.Root.String()).Scan(&snap.Sequence, &snap.TypeURL, &snap.State, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.Snapshot{}, false, nil
	}
	if err != nil {
		return eventstore.Snapshot{}, false, s.fail(err, "snapshot of %s", cover)
	}
	if snap.CreatedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return eventstore.Snapshot{}, false, s.fail(err, "snapshot of %s", cover)
	}
	return snap, true, nil
}

// PutSnapshot implements eventstore.Snapshots: it keeps one snapshot.
func (s *Store) PutSnapshot(ctx context.Context, cover eventstore.Cover, snap eventstore.Snapshot) error {
	return s.PutSnapshotKeeping(ctx, cover, snap, 1)
}

// PutSnapshotKeeping implements eventstore.SnapshotRetention. It is one
// transaction on the writer connection, so it waits for a group commit in
// flight rather than competing for the file lock.
func (s *Store) PutSnapshotKeeping(ctx context.Context, cover eventstore.Cover, snap eventstore.Snapshot, keep int) error {
	if s.closed() {
		return eventstore.ErrClosed
	}
	at := snap.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	err := func() error {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		root := cover.Root.String()
		if _, err := tx.StmtContext(ctx, s.putSnapshot).ExecContext(ctx, cover.Domain, root, snap.Sequence,
			snap.TypeURL, blob(snap.State), formatTime(at)); err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, s.pruneSnapshots).ExecContext(ctx, cover.Domain, root, max(keep, 1)); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		return s.fail(err, "put snapshot of %s", cover)
	}
	return nil
}

// SnapshotHistory implements eventstore.SnapshotRetention.
func (s *Store) SnapshotHistory(ctx context.Context, cover eventstore.Cover) ([]eventstore.Snapshot, error) {
	if s.closed() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.snapshotHistory.QueryContext(ctx, cover.Domain, cover.Root.String())
	if err != nil {
		return nil, s.fail(err, "snapshots of %s", cover)
	}
	defer rows.Close()
	var out []eventstore.Snapshot
	for rows.Next() {
		var snap eventstore.Snapshot
		var at string
		if err := rows.Scan(&snap.Sequence, &snap.TypeURL, &snap.State, &at); err != nil {
			return nil, s.fail(err, "snapshots of %s", cover)
		}
		if snap.CreatedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, s.fail(err, "snapshots of %s", cover)
		}
		out = append(out, snap)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "snapshots of %s", cover)
	}
	return out, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// blob keeps an empty byte slice from being bound as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
