package sqlite_test

// Method. Every benchmark works on a fresh file in a temporary directory,
// with the durability the store uses by default: WAL, synchronous=FULL (one
// fsync per commit), same driver (modernc.org/sqlite). Events are 128-byte
// payloads with a type URL, as a small protobuf event would be.
//
// BenchmarkAppend measures Store.Append: one writer appending in a loop, and
// 16 writers (goroutines, one aggregate each) sharing b.N appends, with 1 and
// 10 events per append. Every append carries the optimistic check
// (HasNum), as the coordinator's do.
//
// BenchmarkRawInsert is the floor for the same rows: plain prepared INSERTs
// on one connection in BEGIN IMMEDIATE transactions, with no head lookup, no
// queue and no goroutine hand-off, from a single goroutine. Its sub-benchmark
// writers=W/events=E commits W*E rows per transaction, E consecutive ones for
// each of W aggregates: what W writers appending E events each have pending,
// committed at once by the best possible group commit.
//
// BenchmarkLoad measures Store.Read of a whole aggregate of 10, 1,000 and
// 100,000 events; BenchmarkRawRead is the plain SELECT of the same rows, scanned
// without building events or parsing times.
//
// Every benchmark reports events/s (rows/s for the raw ones). Run:
//
//	go test -run '^$' -bench . -benchtime=2s ./internal/eventstore/sqlite/

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/sqlite"
	"github.com/google/uuid"
)

const benchTypeURL = "type.googleapis.com/bench.Event"

var benchPayload = make([]byte, 128)

func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

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
	for _, writers := range []int{1, 16} {
		for _, perAppend := range []int{1, 10} {
			b.Run(fmt.Sprintf("writers=%d/events=%d", writers, perAppend), func(b *testing.B) {
				s := benchStore(b)
				ctx := context.Background()
				covers := make([]eventstore.Cover, writers)
				next := make([]uint32, writers)
				for w := range covers {
					covers[w] = eventstore.Cover{Domain: "bench", Root: uuid.New()}
				}
				parallel(b, writers, func(w int) {
					pages := make([]eventstore.Page, perAppend)
					for i := range pages {
						pages[i] = eventstore.Page{HasNum: true, Num: next[w] + uint32(i), TypeURL: benchTypeURL, Payload: benchPayload}
					}
					if _, err := s.Append(ctx, covers[w], pages); err != nil {
						b.Error(err)
						return
					}
					next[w] += uint32(perAppend)
				})
				reportEvents(b, perAppend)
			})
		}
	}
}

// rawWriter opens the file the way the store's writer does.
func rawWriter(b *testing.B, path string) *sql.DB {
	b.Helper()
	q := url.Values{
		"_txlock": {"immediate"},
		"_pragma": {"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)"},
	}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String())
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkRawInsert(b *testing.B) {
	for _, writers := range []int{1, 16} {
		for _, perAppend := range []int{1, 10} {
			b.Run(fmt.Sprintf("writers=%d/events=%d", writers, perAppend), func(b *testing.B) {
				s := benchStore(b) // creates the schema
				db := rawWriter(b, s.Path())
				ctx := context.Background()
				insert, err := db.PrepareContext(ctx, `INSERT INTO events (domain, aggregate_id, sequence, type_url, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
				if err != nil {
					b.Fatal(err)
				}
				defer insert.Close()
				ids := make([]string, writers)
				for w := range ids {
					ids[w] = uuid.NewString()
				}
				seq := 0
				for b.Loop() {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						b.Fatal(err)
					}
					st := tx.StmtContext(ctx, insert)
					at := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
					for _, id := range ids {
						for i := range perAppend {
							if _, err := st.ExecContext(ctx, "bench", id, seq+i, benchTypeURL, benchPayload, at); err != nil {
								b.Fatal(err)
							}
						}
					}
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
					seq += perAppend
				}
				reportEvents(b, writers*perAppend)
			})
		}
	}
}

// filled returns a store holding one aggregate of n events.
func filled(b *testing.B, n int) (*sqlite.Store, eventstore.Cover) {
	b.Helper()
	s := benchStore(b)
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
	return s, cover
}

func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{10, 1_000, 100_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			s, cover := filled(b, n)
			for b.Loop() {
				events, err := s.Read(context.Background(), cover, 0, 0)
				if err != nil || len(events) != n {
					b.Fatalf("read %d events, %v; want %d", len(events), err, n)
				}
			}
			reportEvents(b, n)
		})
	}
}

func BenchmarkRawRead(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			s, cover := filled(b, n)
			db, err := sql.Open("sqlite", s.Path())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			query, err := db.PrepareContext(ctx, `SELECT sequence, created_at, type_url, payload FROM events
				WHERE domain = ? AND aggregate_id = ? AND sequence >= ? AND sequence < ? ORDER BY sequence`)
			if err != nil {
				b.Fatal(err)
			}
			defer query.Close()
			for b.Loop() {
				rows, err := query.QueryContext(ctx, cover.Domain, cover.Root.String(), 0, 1<<32)
				if err != nil {
					b.Fatal(err)
				}
				count := 0
				for rows.Next() {
					var seq uint32
					var at, typeURL string
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
}

// BenchmarkAppendKeyed is BenchmarkAppend's 16 writers of 1 event with a
// new idempotency key per append: compare with writers=16/events=1 there.
// Keys are random (UUIDv4, as most clients make them) or time-ordered
// (UUIDv7: each commit's keys land at the end of the key index).
func BenchmarkAppendKeyed(b *testing.B) {
	for _, kind := range []string{"random", "time-ordered"} {
		b.Run("keys="+kind, func(b *testing.B) { benchAppendKeyed(b, kind == "time-ordered") })
	}
}

func benchAppendKeyed(b *testing.B, ordered bool) {
	s := benchStore(b)
	ctx := context.Background()
	covers := make([]eventstore.Cover, 16)
	next := make([]uint32, 16)
	for w := range covers {
		covers[w] = eventstore.Cover{Domain: "bench", Root: uuid.New()}
	}
	parallel(b, 16, func(w int) {
		pages := []eventstore.Page{{HasNum: true, Num: next[w], TypeURL: benchTypeURL, Payload: benchPayload}}
		id := uuid.New()
		if ordered {
			id = uuid.Must(uuid.NewV7())
		}
		key := eventstore.Key{ID: id.String(), TTL: 24 * time.Hour}
		if _, _, err := s.AppendKeyed(ctx, covers[w], pages, key); err != nil {
			b.Error(err)
			return
		}
		next[w]++
	})
	reportEvents(b, 1)
}

// BenchmarkReadLog measures Store.ReadLog reading 100,000 events (of one
// aggregate) in batches of 1,024, as a subscription's reader does;
// BenchmarkRawReadLog is one sequential SELECT of the same rows and
// columns, scanned into plain Go values (what the bench command's rebuild
// floor does).
func BenchmarkReadLog(b *testing.B) {
	const n = 100_000
	s, _ := filled(b, n)
	for b.Loop() {
		after, count := uint64(0), 0
		for {
			batch, err := s.ReadLog(context.Background(), after, 1024)
			if err != nil {
				b.Fatal(err)
			}
			if len(batch) == 0 {
				break
			}
			count += len(batch)
			after = batch[len(batch)-1].Position
		}
		if count != n {
			b.Fatalf("read %d events, want %d", count, n)
		}
	}
	reportEvents(b, n)
}

func BenchmarkRawReadLog(b *testing.B) {
	const n = 100_000
	s, _ := filled(b, n)
	db, err := sql.Open("sqlite", s.Path())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for b.Loop() {
		rows, err := db.QueryContext(context.Background(), `SELECT position, domain, aggregate_id, sequence, created_at, type_url, payload
			FROM events WHERE position > ? ORDER BY position LIMIT ?`, 0, n)
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		for rows.Next() {
			var pos, seq int64
			var domain, id, at, typeURL string
			var payload []byte
			if err := rows.Scan(&pos, &domain, &id, &seq, &at, &typeURL, &payload); err != nil {
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
}
