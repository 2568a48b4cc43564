package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
)

const (
	benchDomain  = "bench"
	eventTypeURL = "type.googleapis.com/bench.SomethingHappened"
	payloadSize  = 128 // a small protobuf event
)

func payload() []byte { return make([]byte, payloadSize) }

var appendMetrics = []metricSpec{
	{name: "events/s", higher: true, format: "%.0f"},
	// CPU per event is less sensitive to other load on the machine than
	// the rate is; it tells apart a slower program from a busier machine.
	{name: "cpu us/event", higher: false, format: "%.1f"},
}

func (r *runner) appendCases(b *backend) []spec {
	var cases []spec
	for _, writers := range []int{1, 16} {
		for _, perAppend := range []int{1, 10} {
			floor := fmt.Sprintf("plain INSERTs, one goroutine, %d rows per transaction", writers*perAppend)
			switch b.name {
			case "postgres":
				floor = fmt.Sprintf("one INSERT of %d rows (unnest of arrays) per transaction, one connection, no sequence check", writers*perAppend)
			case "redis":
				floor = fmt.Sprintf("the writes of %d events (RPUSH, INCRBY, XADD, ZADD) in one MULTI/EXEC, one connection, no checks", writers*perAppend)
			}
			cases = append(cases, spec{
				name:    fmt.Sprintf("writers=%d/events=%d", writers, perAppend),
				floor:   floor,
				metrics: appendMetrics,
				evented: r.appendEvented(freshStore(b, "append"), writers, perAppend, noKeys),
				raw:     r.appendRaw(b, freshFile(b, "append-raw"), writers, perAppend),
			})
		}
	}
	for _, keys := range []keyKind{randomKeys, orderedKeys} {
		cases = append(cases, spec{
			name:    fmt.Sprintf("writers=16/events=1 with %s idempotency keys", keys),
			floor:   "the same appends without keys (evented, a fresh store of the same backend)",
			metrics: appendMetrics,
			evented: r.appendEvented(freshStore(b, "append-keyed"), 16, 1, keys),
			raw:     r.appendEvented(freshStore(b, "append"), 16, 1, noKeys),
			notes: []string{fmt.Sprintf("every append stores a new key (24 h retention) in the same transaction as its event: the cost of idempotency keys; %s",
				map[keyKind]string{randomKeys: "random keys (UUIDv4, as most clients make them)", orderedKeys: "time-ordered keys (UUIDv7)"}[keys])},
		})
	}
	return cases
}

// opener opens the store a measurement works on and returns the function
// that closes it (and removes it when it is the measurement's own).
type opener func(ctx context.Context) (server.Storage, func(), error)

func freshStore(b *backend, label string) opener {
	return func(ctx context.Context) (server.Storage, func(), error) {
		return b.openFresh(ctx, label)
	}
}

// filer gives the SQLite file a raw floor writes into, with the schema in
// place, and the function to call when done with it.
type filer func(ctx context.Context) (string, func(), error)

func freshFile(b *backend, label string) filer {
	return func(ctx context.Context) (string, func(), error) {
		path := b.storage(label).Path
		if err := schema(ctx, path); err != nil {
			removeDB(path)
			return "", nil, err
		}
		return path, func() { removeDB(path) }, nil
	}
}

// keyKind is whether and how appendEvented names its appends.
type keyKind string

const (
	noKeys      keyKind = ""
	randomKeys  keyKind = "random"
	orderedKeys keyKind = "time-ordered"
)

// appendEvented: writers goroutines appending perAppend events each to
// their own (new) aggregate, with the optimistic check, as the coordinator
// does; with keys, each append with a new idempotency key.
func (r *runner) appendEvented(open opener, writers, perAppend int, keys keyKind) measure {
	return func(ctx context.Context) (sample, error) {
		store, closeStore, err := open(ctx)
		if err != nil {
			return nil, err
		}
		defer closeStore()
		covers := make([]eventstore.Cover, writers)
		next := make([]uint32, writers)
		for w := range covers {
			covers[w] = eventstore.Cover{Domain: benchDomain, Root: uuid.New()}
		}
		body := payload()
		return r.appendRate(ctx, writers, func(ctx context.Context, w int) (int, error) {
			pages := make([]eventstore.Page, perAppend)
			for i := range pages {
				pages[i] = eventstore.Page{HasNum: true, Num: next[w] + uint32(i), TypeURL: eventTypeURL, Payload: body}
			}
			var err error
			if keys != noKeys {
				id := uuid.New()
				if keys == orderedKeys {
					id = uuid.Must(uuid.NewV7())
				}
				_, _, err = store.AppendKeyed(ctx, covers[w], pages, eventstore.Key{ID: id.String(), TTL: 24 * time.Hour})
			} else {
				_, err = store.Append(ctx, covers[w], pages)
			}
			if err != nil {
				return 0, err
			}
			next[w] += uint32(perAppend)
			return perAppend, nil
		})
	}
}

// appendRaw: the same rows by prepared INSERTs on one connection, every
// writer's pending append in one IMMEDIATE transaction: the best any group
// commit can do.
func (r *runner) appendRaw(b *backend, file filer, writers, perAppend int) measure {
	switch b.name {
	case "postgres":
		return r.appendRawPostgres(b, writers, perAppend)
	case "redis":
		return r.appendRawRedis(b, writers, perAppend)
	}
	if b.name != "sqlite" {
		return nil
	}
	return func(ctx context.Context) (sample, error) {
		path, done, err := file(ctx)
		if err != nil {
			return nil, err
		}
		defer done()
		db, err := rawWriter(path)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		insert, err := db.PrepareContext(ctx, insertSQL)
		if err != nil {
			return nil, err
		}
		defer insert.Close()
		ids := make([]string, writers)
		for w := range ids {
			ids[w] = uuid.NewString()
		}
		body := payload()
		seq := 0
		return r.appendRate(ctx, 1, func(ctx context.Context, _ int) (int, error) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return 0, err
			}
			defer tx.Rollback()
			st := tx.StmtContext(ctx, insert)
			at := timeText(time.Now())
			for _, id := range ids {
				for i := range perAppend {
					if _, err := st.ExecContext(ctx, benchDomain, id, seq+i, eventTypeURL, body, at); err != nil {
						return 0, err
					}
				}
			}
			if err := tx.Commit(); err != nil {
				return 0, err
			}
			seq += perAppend
			return writers * perAppend, nil
		})
	}
}

// appendRawPostgres is the PostgreSQL floor of the append case: the rows W
// writers with E events each have pending, inserted by one statement (an
// unnest of arrays, as the store's own append does) in one transaction on
// one connection, into the events table the store created, with no
// sequence check: the best any group commit can do on one connection.
func (r *runner) appendRawPostgres(b *backend, writers, perAppend int) measure {
	return func(ctx context.Context) (sample, error) {
		conn, closeConn, err := freshPostgresConn(ctx, b)
		if err != nil {
			return nil, err
		}
		defer closeConn()
		n := writers * perAppend
		// Roots as [16]byte, as the store sends them: pgx encodes those
		// directly, where a uuid.UUID (a driver.Valuer) costs an encoding
		// error per element before its fallback.
		ids, seqs := make([][16]byte, n), make([]int64, n)
		typeURLs, payloads := make([]string, n), make([][]byte, n)
		body := payload()
		for w := range writers {
			id := uuid.New()
			for i := range perAppend {
				ids[w*perAppend+i], seqs[w*perAppend+i] = id, int64(i)
			}
		}
		for i := range n {
			typeURLs[i], payloads[i] = eventTypeURL, body
		}
		return r.appendRate(ctx, 1, func(ctx context.Context, _ int) (int, error) {
			if _, err := conn.Exec(ctx, `INSERT INTO events (ordinal, domain, aggregate_id, sequence, type_url, payload, created_at)
				SELECT o - 1, $1, id, q, t, p, now()
				FROM unnest($2::uuid[], $3::bigint[], $4::text[], $5::bytea[]) WITH ORDINALITY AS u (id, q, t, p, o)`,
				benchDomain, ids, seqs, typeURLs, payloads); err != nil {
				return 0, err
			}
			for i := range seqs {
				seqs[i] += int64(perAppend)
			}
			return n, nil
		})
	}
}

// rawPostgresConn opens a connection of its own to b's server, once the
// store has made sure the schema is in place (opened as label), and
// returns it with the function that closes it.
func rawPostgresConn(ctx context.Context, b *backend, label string) (*pgx.Conn, func(), error) {
	_, _, closeStore, err := b.open(ctx, label)
	if err != nil {
		return nil, nil, err
	}
	closeStore()
	conn, err := pgx.Connect(ctx, b.url)
	if err != nil {
		return nil, nil, err
	}
	return conn, func() { conn.Close(context.WithoutCancel(ctx)) }, nil
}

// freshPostgresConn is rawPostgresConn in a schema of its own (see
// openFresh), the store's tables made there first; closing the connection
// drops the schema.
func freshPostgresConn(ctx context.Context, b *backend) (*pgx.Conn, func(), error) {
	s, at, drop, err := b.openInFreshSchema(ctx)
	if err != nil {
		return nil, nil, err
	}
	var conn *pgx.Conn
	if err = s.Close(); err == nil {
		conn, err = pgx.Connect(ctx, at)
	}
	if err != nil {
		drop()
		return nil, nil, err
	}
	return conn, func() { conn.Close(context.WithoutCancel(ctx)); drop() }, nil
}

// appendRawRedis is the Redis floor of the append case: what the store's
// script writes for the events W writers with E events each have pending
// (each aggregate's list, the position counter, the log stream, the
// roots), sent in one MULTI/EXEC on one connection, with none of the
// script's checks, under keys of its own.
func (r *runner) appendRawRedis(b *backend, writers, perAppend int) measure {
	return func(ctx context.Context) (sample, error) {
		opts, err := goredis.ParseURL(b.url)
		if err != nil {
			return nil, err
		}
		opts.PoolSize = 1
		client := goredis.NewClient(opts)
		defer client.Close()
		run := uuid.NewString()
		counter, log, roots := "benchraw:"+run+":position", "benchraw:"+run+":log", "benchraw:"+run+":roots"
		lists, members := make([]string, writers), make([]string, writers)
		for w := range writers {
			members[w] = uuid.NewString()
			lists[w] = "benchraw:" + run + ":events:" + members[w]
		}
		defer func() {
			keys := append([]string{counter, log, roots}, lists...)
			client.Del(context.WithoutCancel(ctx), keys...)
		}()
		body := payload()
		seq := 0
		return r.appendRate(ctx, 1, func(ctx context.Context, _ int) (int, error) {
			_, err := client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				p.IncrBy(ctx, counter, int64(writers*perAppend))
				for w := range writers {
					for i := range perAppend {
						p.RPush(ctx, lists[w], body)
						p.XAdd(ctx, &goredis.XAddArgs{Stream: log, Values: []any{"d", benchDomain, "r", members[w], "s", seq + i}})
					}
					p.ZAdd(ctx, roots, goredis.Z{Member: members[w]})
				}
				return nil
			})
			if err != nil {
				return 0, err
			}
			seq += perAppend
			return writers * perAppend, nil
		})
	}
}

// appendRate runs op on workers goroutines for the measured window (each
// call writes a batch of rows and says how many) and returns the rate and
// the CPU per event.
func (r *runner) appendRate(ctx context.Context, workers int, op func(ctx context.Context, w int) (int, error)) (sample, error) {
	res, err := timed(ctx, workers, r.warmup(), r.cfg.Duration, op)
	if err != nil {
		return nil, err
	}
	return res.addCPU(sample{"events/s": res.rate()}, "cpu us/event"), nil
}
