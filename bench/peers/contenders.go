package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hallgren/eventsourcing/core"
	hallgren "github.com/hallgren/eventsourcing/eventstore/sql"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for hallgren's PostgreSQL store
	goes "github.com/modernice/goes/backend/postgres"
	"github.com/modernice/goes/codec"
	"github.com/modernice/goes/event"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", the one evented's store uses

	"github.com/evented/evented/internal/bench"
)

// The names and the aggregate type every library writes.
const (
	aggregateType = "bench"
	eventName     = "SomethingHappened"
	// Each library gets a database of its own on the PostgreSQL server
	// (both call their table "events", as evented does).
	hallgrenDB = "peers_hallgren"
	goesDB     = "peers_goes"
)

// eventedContenders are evented's store and its raw floor, measured by
// internal/bench's own code.
func eventedContenders() []contender {
	return []contender{
		{name: "evented", measure: func(ctx context.Context, a *bench.Appends, w, e int) (bench.AppendRate, error) {
			return a.Evented(ctx, w, e)
		}},
		{name: "floor (raw SQL)", measure: func(ctx context.Context, a *bench.Appends, w, e int) (bench.AppendRate, error) {
			return a.Floor(ctx, w, e)
		}},
	}
}

func sqliteContenders() []contender {
	return append(eventedContenders(), contender{
		name: "hallgren/eventsourcing",
		measure: func(ctx context.Context, a *bench.Appends, writers, perAppend int) (bench.AppendRate, error) {
			path, remove := a.SQLiteFile("hallgren")
			defer remove()
			db, err := sql.Open("sqlite", bench.SQLiteDSN(path))
			if err != nil {
				return bench.AppendRate{}, err
			}
			defer db.Close()
			// The constructor the library recommends for several writers
			// in one process: a mutex lets one Save at a time into SQLite.
			es, err := hallgren.NewSQLiteSingelWriter(db)
			if err != nil {
				return bench.AppendRate{}, err
			}
			return hallgrenAppends(ctx, a, es, writers, perAppend)
		},
	})
}

func postgresContenders(pgURL string) []contender {
	var db *sql.DB
	return append(eventedContenders(),
		contender{
			name: "hallgren/eventsourcing",
			setup: func(ctx context.Context) error {
				if err := createDatabase(ctx, pgURL, hallgrenDB); err != nil {
					return err
				}
				u, err := withDatabase(pgURL, hallgrenDB, nil)
				if err != nil {
					return err
				}
				db, err = sql.Open("pgx", u)
				return err
			},
			close: func() { db.Close() },
			measure: func(ctx context.Context, a *bench.Appends, writers, perAppend int) (bench.AppendRate, error) {
				es, err := hallgren.NewPostgres(db) // creates the table once, if missing
				if err != nil {
					return bench.AppendRate{}, err
				}
				return hallgrenAppends(ctx, a, es, writers, perAppend)
			},
		},
		contender{
			name: "modernice/goes",
			measure: func(ctx context.Context, a *bench.Appends, writers, perAppend int) (bench.AppendRate, error) {
				return goesAppends(ctx, a, pgURL, writers, perAppend)
			},
		},
	)
}

// hallgrenAppends measures writers goroutines each appending perAppend
// events per Save to its own aggregate through a hallgren/eventsourcing
// store: Save checks the aggregate's last version in its transaction, as
// evented's Append does. Then it reads the first writer's aggregate back.
func hallgrenAppends(ctx context.Context, a *bench.Appends, es core.EventStore, writers, perAppend int) (bench.AppendRate, error) {
	ids, next := make([]string, writers), make([]core.Version, writers)
	for w := range ids {
		ids[w], next[w] = uuid.NewString(), 1
	}
	body := bench.Payload()
	r, err := a.Measure(ctx, writers, func(ctx context.Context, w int) (int, error) {
		events := make([]core.Event, perAppend)
		now := time.Now()
		for i := range events {
			events[i] = core.Event{AggregateID: ids[w], Version: next[w] + core.Version(i), AggregateType: aggregateType,
				Timestamp: now, Reason: eventName, Data: body}
		}
		if err := es.Save(events); err != nil {
			return 0, err
		}
		next[w] += core.Version(perAppend)
		return perAppend, nil
	})
	if err != nil {
		return r, err
	}
	return r, hallgrenCheck(ctx, es, ids[0], uint64(next[0]-1), body)
}

// hallgrenCheck reads an aggregate back: versions 1..want, each with body.
func hallgrenCheck(ctx context.Context, es core.EventStore, id string, want uint64, body []byte) error {
	it, err := es.Get(ctx, id, aggregateType, 0)
	if err != nil {
		return err
	}
	defer it.Close()
	var n uint64
	for it.Next() {
		e, err := it.Value()
		if err != nil {
			return err
		}
		n++
		if uint64(e.Version) != n || !bytes.Equal(e.Data, body) {
			return fmt.Errorf("hallgren/eventsourcing: event %d of %s read back as version %d with %d bytes", n, id, e.Version, len(e.Data))
		}
	}
	if n != want {
		return fmt.Errorf("hallgren/eventsourcing: %s has %d events, %d were appended", id, n, want)
	}
	return nil
}

// jsonData is the event data given to goes: its store keeps data as JSONB,
// so the 128 bytes are a JSON string (the payload of the other
// contenders is 128 opaque bytes). Its Marshal is goes' codec's hook: it
// writes the bytes as they are.
type jsonData []byte

func (d jsonData) Marshal() ([]byte, error) { return d, nil }

func goesPayload() jsonData {
	return jsonData(`"` + strings.Repeat("x", len(bench.Payload())-2) + `"`)
}

// goesAppends measures writers goroutines each appending perAppend events
// per Insert to its own aggregate through goes' PostgreSQL store, with a
// pool of as many connections as writers (its default is 4 at most on this
// machine). goes' PostgreSQL store does not check the aggregate's version
// (its README says so); the unique index on (aggregate, version) refuses a
// duplicate. Then it counts the first writer's rows.
func goesAppends(ctx context.Context, a *bench.Appends, pgURL string, writers, perAppend int) (bench.AppendRate, error) {
	u, err := withDatabase(pgURL, "", url.Values{"pool_max_conns": {fmt.Sprint(max(writers, 4))}})
	if err != nil {
		return bench.AppendRate{}, err
	}
	store := goes.NewEventStore(codec.New(), goes.URL(u), goes.Database(goesDB))
	if err := store.Connect(ctx); err != nil { // creates the database and table once, if missing
		return bench.AppendRate{}, err
	}
	defer store.Pool().Close()
	ids, next := make([]uuid.UUID, writers), make([]int, writers)
	for w := range ids {
		ids[w], next[w] = uuid.New(), 1
	}
	data := goesPayload()
	r, err := a.Measure(ctx, writers, func(ctx context.Context, w int) (int, error) {
		events := make([]event.Event, perAppend)
		for i := range events {
			events[i] = event.New[any](eventName, data, event.Aggregate(ids[w], aggregateType, next[w]+i))
		}
		if err := store.Insert(ctx, events...); err != nil {
			return 0, err
		}
		next[w] += perAppend
		return perAppend, nil
	})
	if err != nil {
		return r, err
	}
	var n, last int
	if err := store.Pool().QueryRow(ctx, `SELECT count(*), coalesce(max(aggregate_version), 0) FROM events WHERE aggregate_id = $1 AND octet_length(data::text) = $2`,
		ids[0], len(data)).Scan(&n, &last); err != nil {
		return r, err
	}
	if want := next[0] - 1; n != want || last != want {
		return r, fmt.Errorf("modernice/goes: %s has %d events up to version %d, %d were appended", ids[0], n, last, want)
	}
	return r, nil
}

// createDatabase creates the database name on the server at pgURL unless
// it exists.
func createDatabase(ctx context.Context, pgURL, name string) error {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil || exists {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}

// withDatabase is pgURL with the database name (unless "") and the query
// parameters add.
func withDatabase(pgURL, name string, add url.Values) (string, error) {
	u, err := url.Parse(pgURL)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("postgres: want a postgres:// URL")
	}
	if name != "" {
		u.Path = "/" + name
	}
	q := u.Query()
	for k, v := range add {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
