package bench_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/evented/evented/internal/bench"
)

// TestAppends: the append measurements bench/peers uses measure evented,
// the floor and a caller's op on SQLite, and leave no file behind.
func TestAppends(t *testing.T) {
	for _, bad := range [][2]string{{"redis", "redis://x"}, {"sqlite", ""}, {"mysql", "x"}} {
		if _, err := bench.NewAppends(bad[0], bad[1], time.Second); err == nil {
			t.Errorf("NewAppends(%q, %q) accepted", bad[0], bad[1])
		}
	}
	dir := t.TempDir()
	a, err := bench.NewAppends("sqlite", dir, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for name, m := range map[string]func(context.Context, int, int) (bench.AppendRate, error){"evented": a.Evented, "floor": a.Floor} {
		r, err := m(ctx, 2, 3)
		if err != nil || !(r.EventsPerSec > 0) {
			t.Errorf("%s: %+v, %v", name, r, err)
		}
	}
	path, remove := a.SQLiteFile("peer")
	db, err := sql.Open("sqlite", bench.SQLiteDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	var sync int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q, %v; want wal", mode, err)
	}
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Errorf("synchronous %d, %v; want 2 (FULL)", sync, err)
	}
	if _, err := db.Exec(`CREATE TABLE t (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	r, err := a.Measure(ctx, 2, func(ctx context.Context, w int) (int, error) {
		_, err := db.ExecContext(ctx, `INSERT INTO t VALUES (?)`, w)
		return 1, err
	})
	if err != nil || !(r.EventsPerSec > 0) {
		t.Errorf("measure: %+v, %v", r, err)
	}
	db.Close()
	remove()
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) > 0 {
		t.Errorf("files left behind: %v", left)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s: %v", path, err)
	}
}
