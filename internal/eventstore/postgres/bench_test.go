package postgres_test

// Method. Every benchmark works in a fresh schema of the server at
// POSTGRES_TEST_URL (skipped without it), with the server's durability
// settings (the CI server: fsync on, synchronous_commit on, so one WAL
// flush per commit, shared by the commits that flush together). Same driver
// and pool (pgx v5, pgxpool, 32 connections) for the store and the floors.
// Events are 128-byte payloads with a type URL, as a small protobuf event
// would be.
//
// BenchmarkAppend measures Store.Append of one event per call: one writer
// appending in a loop, and 16 writers (goroutines, one aggregate each)
// sharing b.N appends. Every append carries the optimistic check (HasNum),
// as the coordinator's do. notify=on is the default (each append sends a
// NOTIFY); notify=off measures WithNotify(false).
//
// BenchmarkRawInsert is the floor for the same rows in the same table:
// one plain prepared INSERT per append, autocommitted, with the sequence
// known by the caller (no head lookup, no check, no NOTIFY), from 1 and 16
// goroutines the same way. BenchmarkRawInsertBatched inserts the rows of
// 16 appends in one statement per transaction from one goroutine: what a
// perfect group commit would reach.
//
// BenchmarkLoad measures Store.Read of one aggregate of 1,000 events;
// BenchmarkRawRead is the plain SELECT of the same rows, scanned into
// plain variables.
//
// Every benchmark reports events/s (rows/s for the raw ones). Run:
//
//	go test -run '^$' -bench . -benchtime=2s ./internal/eventstore/postgres/

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/postgres"
)

const benchTypeURL = "type.googleapis.com/bench.Event"

var benchPayload = make([]byte, 128)

func reportEvents(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "events/s")
}

// parallel runs b.N calls of fn shared by writers goroutines; fn gets the
// goroutine's number.
func parallel(b *testing.B, writers int, fn func(w int)) {
	var n atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range writers {
		wg.Go(func() {
			for n.Add(1) <= int64(b.N) {
				fn(w)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}

func BenchmarkAppend(b *testing.B) {
	for _, notify := range []bool{true, false} {
		for _, writers := range []int{1, 16} {
			b.Run(fmt.Sprintf("notify=%s/writers=%d", onOff(notify), writers), func(b *testing.B) {
				s := open(b, freshSchema(b), postgres.WithNotify(notify))
				ctx := context.Background()
				covers := make([]eventstore.Cover, writers)
				next := make([]uint32, writers)
				for w := range covers {
					covers[w] = eventstore.Cover{Domain: "bench", Root: uuid.New()}
				}
				parallel(b, writers, func(w int) {
					page := []eventstore.Page{{HasNum: true, Num: next[w], TypeURL: benchTypeURL, Payload: benchPayload}}
					if _, err := s.Append(ctx, covers[w], page); err != nil {
						b.Error(err)
						return
					}
					next[w]++
				})
				reportEvents(b, 1)
				if fast := postgres.FastBatches(s); fast > 0 {
					// Every batch after each cover's first is placed from
					// the heads kept: how well the writer groups.
					b.ReportMetric(float64(b.N)/float64(fast), "appends/batch")
				}
			})
		}
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// rawPool opens a pool on url's schema (after the store created its
// tables), sized as the store's.
func rawPool(b *testing.B, url string) *pgxpool.Pool {
	b.Helper()
	open(b, url) // creates the schema
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

func BenchmarkRawInsert(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			pool := rawPool(b, freshSchema(b))
			ctx := context.Background()
			ids := make([]uuid.UUID, writers)
			next := make([]int64, writers)
			for w := range ids {
				ids[w] = uuid.New()
			}
			parallel(b, writers, func(w int) {
				_, err := pool.Exec(ctx, `INSERT INTO events (ordinal, domain, aggregate_id, sequence, type_url, payload, created_at)
					VALUES (0, $1, $2, $3, $4, $5, $6)`, "bench", ids[w], next[w], benchTypeURL, benchPayload, time.Now())
				if err != nil {
					b.Error(err)
					return
				}
				next[w]++
			})
			reportEvents(b, 1)
		})
	}
}

func BenchmarkRawInsertBatched(b *testing.B) {
	const writers = 16
	b.Run(fmt.Sprintf("rows=%d", writers), func(b *testing.B) {
		pool := rawPool(b, freshSchema(b))
		ctx := context.Background()
		ids := make([][16]byte, writers) // as the store sends roots (pgRoot)
		for w := range ids {
			ids[w] = uuid.New()
		}
		payloads := make([][]byte, writers)
		typeURLs := make([]string, writers)
		for w := range payloads {
			payloads[w], typeURLs[w] = benchPayload, benchTypeURL
		}
		seq := int64(0)
		for b.Loop() {
			_, err := pool.Exec(ctx, `INSERT INTO events (ordinal, domain, aggregate_id, sequence, type_url, payload, created_at)
				SELECT o - 1, 'bench', id, $2, t, p, now() FROM unnest($1::uuid[], $3::text[], $4::bytea[]) WITH ORDINALITY AS u (id, t, p, o)`,
				ids, seq, typeURLs, payloads)
			if err != nil {
				b.Fatal(err)
			}
			seq++
		}
		reportEvents(b, writers)
	})
}

// filled returns a store holding one aggregate of n events.
func filled(b *testing.B, n int) (*postgres.Store, string, eventstore.Cover) {
	b.Helper()
	url := freshSchema(b)
	s := open(b, url)
	cover := eventstore.Cover{Domain: "bench", Root: uuid.New()}
	pages := make([]eventstore.Page, 1000)
	for i := range pages {
		pages[i] = eventstore.Page{TypeURL: benchTypeURL, Payload: benchPayload}
	}
	for i := 0; i < n; i += len(pages) {
		if _, err := s.Append(context.Background(), cover, pages[:min(len(pages), n-i)]); err != nil {
			b.Fatal(err)
		}
	}
	return s, url, cover
}

func BenchmarkLoad(b *testing.B) {
	const n = 1_000
	b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
		s, _, cover := filled(b, n)
		for b.Loop() {
			events, err := s.Read(context.Background(), cover, 0, 0)
			if err != nil || len(events) != n {
				b.Fatalf("read %d events, %v; want %d", len(events), err, n)
			}
		}
		reportEvents(b, n)
	})
}

func BenchmarkRawRead(b *testing.B) {
	const n = 1_000
	b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
		_, url, cover := filled(b, n)
		pool := rawPool(b, url)
		ctx := context.Background()
		for b.Loop() {
			rows, err := pool.Query(ctx, `SELECT sequence, created_at, type_url, payload FROM events
				WHERE domain = $1 AND aggregate_id = $2 AND sequence >= $3 AND sequence < $4 ORDER BY sequence`,
				cover.Domain, cover.Root, 0, int64(1)<<32)
			if err != nil {
				b.Fatal(err)
			}
			count := 0
			for rows.Next() {
				var seq int64
				var at time.Time
				var typeURL string
				var payload []byte
				if err := rows.Scan(&seq, &at, &typeURL, &payload); err != nil {
					b.Fatal(err)
				}
				count++
			}
			rows.Close()
			if rows.Err() != nil || count != n {
				b.Fatalf("read %d rows, %v; want %d", count, rows.Err(), n)
			}
		}
		reportEvents(b, n)
	})
}
