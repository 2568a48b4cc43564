package sqlite

import (
	"database/sql"
	"path/filepath"
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

	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
