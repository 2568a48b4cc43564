package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the driver the store uses, for the raw floors

	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

// backend is one storage backend under test. SQLite gets a fresh file per
// measurement; a server backend (PostgreSQL, Redis) is shared, and
// measurements keep apart by using fresh aggregates.
type backend struct {
	name string
	dir  string // sqlite: where the files go
	url  string // postgres, redis
	n    atomic.Int64
}

// storage is the configuration of a store for one measurement; label names
// the SQLite file.
func (b *backend) storage(label string) config.Storage {
	if b.name == "sqlite" {
		return config.Storage{Type: "sqlite", Sync: "full",
			Path: filepath.Join(b.dir, fmt.Sprintf("%s-%d.db", label, b.n.Add(1)))}
	}
	return config.Storage{Type: b.name, URL: b.url}
}

// open opens a store as the server does (server.OpenStorage), and returns
// it with the path of its file (SQLite) and a function that closes it and
// removes the file.
func (b *backend) open(ctx context.Context, label string) (server.Storage, string, func(), error) {
	cfg := b.storage(label)
	s, err := server.OpenStorage(ctx, cfg)
	if err != nil {
		return nil, "", nil, err
	}
	return s, cfg.Path, func() { s.Close(); removeDB(cfg.Path) }, nil
}

// openFresh is open, except that on PostgreSQL the store is made in a
// schema of its own, dropped when it is closed: the append measurements'
// stores start empty there as they do on SQLite (a file each), instead of
// writing into a table that every earlier measurement, and earlier runs,
// made larger (and that autovacuum works on meanwhile).
func (b *backend) openFresh(ctx context.Context, label string) (server.Storage, func(), error) {
	if b.name != "postgres" {
		s, _, closeStore, err := b.open(ctx, label)
		return s, closeStore, err
	}
	s, _, drop, err := b.openInFreshSchema(ctx)
	if err != nil {
		return nil, nil, err
	}
	return s, func() { s.Close(); drop() }, nil
}

// openInFreshSchema opens a PostgreSQL store in a schema of its own
// (freshSchema) and returns it with the schema's URL and the function that
// drops the schema.
func (b *backend) openInFreshSchema(ctx context.Context) (server.Storage, string, func(), error) {
	at, drop, err := b.freshSchema(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	s, err := server.OpenStorage(ctx, config.Storage{Type: "postgres", URL: at})
	if err != nil {
		drop()
		return nil, "", nil, err
	}
	return s, at, drop, nil
}

// freshSchema makes an empty schema on b's PostgreSQL server and returns
// the URL that works in it (its search_path) and the function that drops
// it with everything in it.
func (b *backend) freshSchema(ctx context.Context) (string, func(), error) {
	u, err := url.Parse(b.url)
	if err != nil {
		return "", nil, err
	}
	schema := fmt.Sprintf("evented_bench_%d_%d", os.Getpid(), b.n.Add(1))
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, b.url)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("postgres: create schema %s: %w", schema, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		// Left behind if this fails: named evented_bench_*, holding
		// nothing but benchmark rows.
		_ = exec(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE")
	}, nil
}

// probe checks that this build knows the backend and that it answers
// within timeout.
func (b *backend) probe(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := server.OpenStorage(ctx, b.storage("probe"))
	if err != nil {
		return err
	}
	return s.Close()
}

func removeDB(path string) {
	if path == "" {
		return
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

// The raw floors open the file the way the store does (same driver, WAL,
// synchronous=FULL, busy timeout; IMMEDIATE transactions on the writer).
const busyTimeoutMS = 10_000

func sqliteDSN(path string, params url.Values) string {
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	return (&url.URL{Scheme: "file", Path: path, RawQuery: params.Encode()}).String()
}

// rawWriter is one connection that writes as the store's writer does.
func rawWriter(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path, url.Values{
		"_txlock": {"immediate"},
		"_pragma": {"journal_mode(WAL)", "synchronous(FULL)"},
	}))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// rawReader is a pool of read-only connections, as the store's readers.
func rawReader(path string) (*sql.DB, error) {
	return sql.Open("sqlite", sqliteDSN(path, url.Values{"_pragma": {"query_only(1)"}}))
}

// schema makes an empty store file at path (the store's own migrations), so
// the floor writes into the same table with the same indexes.
func schema(ctx context.Context, path string) error {
	s, err := server.OpenStorage(ctx, config.Storage{Type: "sqlite", Path: path, Sync: "full"})
	if err != nil {
		return err
	}
	return s.Close()
}

const insertSQL = `INSERT INTO events (domain, aggregate_id, sequence, type_url, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`

// timeText is created_at as the store writes it.
func timeText(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") }
