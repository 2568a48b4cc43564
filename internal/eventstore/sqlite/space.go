package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Space = (*Store)(nil)

// isFull tells SQLITE_FULL: the disk is full, or the file reached
// max_page_count (Options.MaxPages).
func isFull(err error) bool { return primaryCode(err) == sqlite3.SQLITE_FULL }

// staleHead tells the failure of an insert at a sequence already stored:
// a head kept was behind (see apply).
func staleHead(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE &&
		strings.Contains(e.Error(), "events.sequence")
}

// primaryCode is the SQLite result code of err without its extended bits;
// 0 when err is not SQLite's.
func primaryCode(err error) int {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return 0
	}
	return e.Code() & 0xff
}

// classify makes SQLite's result codes match the store's sentinel errors,
// so that the edge tells the client what happened: the file stayed locked
// by another process for busyTimeout, or cannot be read or written (I/O
// error, permissions) → eventstore.ErrUnavailable; damaged →
// eventstore.ErrDataLoss; out of memory → eventstore.ErrExhausted. Full is
// handled by fail, which also marks the store full.
func classify(err error) error {
	switch primaryCode(err) {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH:
		return eventstore.Unavailable(err)
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("%w: %w", eventstore.ErrDataLoss, err)
	case sqlite3.SQLITE_NOMEM:
		return fmt.Errorf("%w: %w", eventstore.ErrExhausted, err)
	}
	return err
}

// probeBytes is how much room CheckSpace wants before it reports space
// back: a few pages of the database and a file of this size beside it.
const probeBytes = 64 << 10

// CheckSpace implements eventstore.Space. After a write failed with
// SQLITE_FULL, it probes, each time it is called, until the probe
// succeeds: a file of probeBytes written and synced beside the database
// (the disk has room), and a transaction inserting as much into the
// database and rolled back (the file may grow, past max_page_count too).
// Until then it returns an error matching eventstore.ErrFull.
func (s *Store) CheckSpace(ctx context.Context) error {
	if !s.full.Load() {
		return nil
	}
	if s.closed() {
		return eventstore.ErrClosed
	}
	if err := probeDisk(filepath.Dir(s.path)); err != nil {
		return eventstore.Full(fmt.Errorf("sqlite: %s: %w", filepath.Dir(s.path), err))
	}
	if err := s.probeFile(ctx); err != nil {
		return s.fail(err, "space probe")
	}
	s.full.Store(false)
	return nil
}

// probeDisk writes and syncs probeBytes to a temporary file in dir.
func probeDisk(dir string) error {
	f, err := os.CreateTemp(dir, ".evented-space-probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, probeBytes))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// probeFile inserts probeBytes into the database in a transaction that it
// rolls back: it needs free pages, or room for the file to grow.
func (s *Store) probeFile(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The empty domain is never a cover's, and the row never commits.
	_, err = tx.ExecContext(ctx, `INSERT INTO snapshots (domain, aggregate_id, sequence, type_url, state, created_at)
		VALUES ('', '', 0, '', randomblob(?), '')`, probeBytes)
	return err
}

// SetMaxPages changes the file's size limit on the running store (PRAGMA
// max_page_count on the writer; 0 lifts it). SQLite never sets it below
// the file's current size.
func (s *Store) SetMaxPages(ctx context.Context, pages int) error {
	if pages <= 0 {
		pages = maxPagesUnlimited
	}
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		return s.fail(err, "set max_page_count")
	}
	return nil
}

// maxPagesUnlimited is SQLite's own default max_page_count.
const maxPagesUnlimited = 0xfffffffe
