package sqlite

import (
	"database/sql"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// TestMigrateKeepsOldEvents builds a file as the last release without
// causes left it (schema version 2) and opens it: its events read back
// as they were, with no cause, and new events carry theirs.
func TestMigrateKeepsOldEvents(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	for _, q := range []string{migrations[0], migrations[1], "PRAGMA user_version = 2"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO events (domain, aggregate_id, sequence, type_url, payload, created_at)
		VALUES (?, ?, 0, 't/old', x'01', '2026-01-02T03:04:05.000000000Z')`, cover.Domain, cover.Root.String()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, path)
	if s.Version() != len(migrations) {
		t.Fatalf("Version() = %d; want %d", s.Version(), len(migrations))
	}
	cause := eventstore.Cause{CorrelationID: "c", CommandID: "k", CausedBy: eventstore.EventRef{Cover: cover, Sequence: 0}, Depth: 1}
	if _, err := s.Append(ctx, cover, []eventstore.Page{{TypeURL: "t/new", Cause: cause}}); err != nil {
		t.Fatal(err)
	}
	events, err := s.Read(ctx, cover, 0, 0)
	if err != nil || len(events) != 2 {
		t.Fatalf("Read = %+v, %v", events, err)
	}
	if events[0].TypeURL != "t/old" || !events[0].Cause.IsZero() {
		t.Errorf("old event = %+v; want t/old with no cause", events[0])
	}
	if events[1].Cause != cause {
		t.Errorf("new event's cause = %+v; want %+v", events[1].Cause, cause)
	}
}

// TestMigrateKeepsSnapshots builds a file at schema version 9 (one
// snapshot per aggregate) with a snapshot and opens it: the snapshot is
// still the latest, and the aggregate may now keep more.
func TestMigrateKeepsSnapshots(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(append([]string{}, migrations[:9]...), "PRAGMA user_version = 9") {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	if _, err := db.ExecContext(ctx, `INSERT INTO snapshots (domain, aggregate_id, sequence, type_url, state, created_at)
		VALUES (?, ?, 7, 't/state', x'07', '2026-01-02T03:04:05.000000000Z')`, cover.Domain, cover.Root.String()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, path)
	if snap, ok, err := s.Snapshot(ctx, cover); err != nil || !ok || snap.Sequence != 7 || string(snap.State) != "\x07" {
		t.Fatalf("Snapshot after migrating = %+v, %v, %v; want the one stored at version 9", snap, ok, err)
	}
	if err := s.PutSnapshotKeeping(ctx, cover, eventstore.Snapshot{Sequence: 9, TypeURL: "t/state", State: []byte{9}}, 2); err != nil {
		t.Fatal(err)
	}
	if h, err := s.SnapshotHistory(ctx, cover); err != nil || len(h) != 2 || h[0].Sequence != 9 || h[1].Sequence != 7 {
		t.Fatalf("SnapshotHistory = %+v, %v; want 9 then 7", h, err)
	}
}

// Replicas starting together on a new file: every one opens it (one
// migrates, the others wait for it and see its tables), in each of many
// rounds. Before, one could fail with SQLITE_BUSY (a journal mode change
// that did not wait) or prepare a statement against the tables it had
// seen before another process migrated them.
func TestOpenedAtOnceByManyOnANewFile(t *testing.T) {
	for round := range 15 {
		path := filepath.Join(t.TempDir(), "events.db")
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				s, err := Open(t.Context(), path, Options{})
				if err != nil {
					errs <- err
					return
				}
				errs <- s.Close()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}
