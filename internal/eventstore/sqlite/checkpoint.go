package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Checkpoints of the WAL off the writer. SQLite copies the WAL's pages
// back into the database file (a checkpoint) in the connection whose
// commit took the WAL past wal_autocheckpoint pages: the writer's, so
// that every thousand pages or so one commit also wrote those pages and
// fsynced the file, and the appends queued behind it waited. The
// checkpointer does it instead, on a connection of its own: a PASSIVE
// checkpoint runs beside the writer's transactions (SQLite's checkpoint
// and write locks are distinct) and never waits for a reader or a writer.
// The writer nudges it every ckAppends appends; it also runs every
// ckEvery while anything was committed, for the writes that do not go
// through the writer goroutine (subscriptions' checkpoints, marks,
// snapshots). The writer's own wal_autocheckpoint stays on as the
// backstop, at writerCheckpointPages: one commit of a burst of appends
// (a thousand fired deadlines) writes more than SQLite's default of 1,000
// pages, and would checkpoint in the writer at once; should the
// checkpointer fall behind, the WAL is checkpointed by the writer as before
// past 40 MiB.
const (
	// writerCheckpointPages is the writer connection's wal_autocheckpoint.
	writerCheckpointPages = 10000
	// ckAppends is how many appends the writer commits between nudges.
	ckAppends = 256
	// ckEvery is how often the checkpointer looks when not nudged.
	ckEvery = time.Second
	// ckGap is the least time from one checkpoint to the next: during a
	// burst of appends (fired deadlines, a bulk import) a checkpoint every
	// 256 appends would write the pages they share again and again, and
	// fsync the file each time beside the writer's own fsyncs.
	ckGap = 200 * time.Millisecond
)

// nudgeCheckpoint tells the checkpointer, from the writer goroutine, that
// n more appends were committed.
func (s *Store) nudgeCheckpoint(n int) {
	s.ckDirty.Store(true)
	s.ckPending += n
	if s.ckPending < ckAppends {
		return
	}
	s.ckPending = 0
	select {
	case s.ckNudge <- struct{}{}:
	default: // one is pending already
	}
}

// checkpointer checkpoints the WAL when nudged, and every ckEvery while
// anything was committed, until the store closes.
func (s *Store) checkpointer() {
	defer close(s.ckStopped)
	t := time.NewTicker(ckEvery)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-s.ckNudge:
		case <-t.C:
			if !s.ckDirty.Load() {
				continue
			}
		}
		s.ckDirty.Store(false)
		// A failure (the file busy, full or gone) leaves the WAL to the
		// next try and to the writer's autocheckpoint.
		_ = checkpoint(s.ck)
		select {
		case <-s.closing:
			return
		case <-time.After(ckGap):
		}
	}
}

// checkpoint runs a PASSIVE checkpoint on db.
func checkpoint(db *sql.DB) error {
	var busy, log, done int
	return db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
}
