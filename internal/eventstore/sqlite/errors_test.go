package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// A file another process keeps locked past the busy timeout is
// unavailable (try again later), not an unknown error.
func TestLockedFileIsUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the busy timeout (10s)")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	s := open(t, path)
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(t.Context(), "ROLLBACK")
	_, err = s.Append(t.Context(), eventstore.Cover{Domain: "orders", Root: uuid.New()}, []eventstore.Page{{TypeURL: "t"}})
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("append while another process holds the write lock: %v; want ErrUnavailable", err)
	}
	t.Log(err)
}
