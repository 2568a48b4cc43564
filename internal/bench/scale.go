package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
)

// The scale scenario shows how costs grow: with concurrency (append from
// 1 to 64 writers), with aggregate length (loads of LoadEvents/100 to
// LoadEvents events) and with the size of the store (appends to 16 new
// aggregates and loads of random existing ones in a store grown to
// ScaleEvents events, in aggregates of scaleAggregateLen events). It runs
// on SQLite only.
const (
	scaleAggregateLen = 10
	scaleSamples      = 10_000 // aggregates remembered for random loads
	scaleFillTx       = 10_000 // rows per transaction of the fill
)

func (r *runner) scaleCases(ctx context.Context, b *backend) ([]spec, func(), error) {
	if b.name != "sqlite" {
		r.report.Skipped = append(r.report.Skipped, "scale on "+b.name+": SQLite only in this build")
		return nil, nil, nil
	}
	var cases []spec
	for _, writers := range []int{1, 4, 16, 64} {
		cases = append(cases, spec{
			name:    fmt.Sprintf("concurrency: append writers=%d/events=1", writers),
			floor:   fmt.Sprintf("plain INSERTs, one goroutine, %d rows per transaction", writers),
			metrics: appendMetrics,
			evented: r.appendEvented(freshStore(b, "scale-append"), writers, 1, noKeys),
			raw:     r.appendRaw(b, freshFile(b, "scale-append-raw"), writers, 1),
		})
	}

	// Aggregate length: one file with an aggregate of each length.
	lengths, lpath, closeLengths, err := b.open(ctx, "scale-lengths")
	if err != nil {
		return nil, nil, err
	}
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	closers = append(closers, closeLengths)
	lreader, err := rawReader(lpath)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	closers = append(closers, func() { lreader.Close() })
	for _, n := range []int{r.cfg.LoadEvents / 100, r.cfg.LoadEvents / 10, r.cfg.LoadEvents} {
		if n < 1 {
			continue
		}
		cover := eventstore.Cover{Domain: benchDomain, Root: uuid.New()}
		if err := fill(ctx, lengths, cover, n); err != nil {
			cleanup()
			return nil, nil, err
		}
		cases = append(cases, spec{
			name:    fmt.Sprintf("length: load of %d events, no snapshot", n),
			floor:   "the same rows by a plain SELECT",
			metrics: loadMetrics,
			evented: r.loadEvented(lengths, cover, n),
			raw:     r.loadRaw(lreader, cover, false, n),
		})
	}

	// Store size: one file grown step by step.
	big := b.storage("scale-size")
	closers = append(closers, func() { removeDB(big.Path) })
	store, err := server.OpenStorage(ctx, config.Storage{Type: "sqlite", Path: big.Path, Sync: "full"})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	closers = append(closers, func() { store.Close() })
	breader, err := rawReader(big.Path)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	closers = append(closers, func() { breader.Close() })
	g := &grower{path: big.Path, progress: r.progress}
	same := func(context.Context) (server.Storage, func(), error) { return store, func() {}, nil }
	existing := func(context.Context) (string, func(), error) { return big.Path, func() {}, nil }
	for _, size := range scaleSizes(r.cfg.ScaleEvents) {
		grow := func(ctx context.Context) error { return g.grow(ctx, size) }
		cases = append(cases,
			spec{
				name:    fmt.Sprintf("store of %d events: append writers=16/events=1 (16 new aggregates)", size),
				floor:   "plain INSERTs into the same file, 16 rows per transaction",
				metrics: appendMetrics,
				evented: r.appendEvented(same, 16, 1, noKeys),
				raw:     r.appendRaw(b, existing, 16, 1),
				prepare: grow,
			},
			spec{
				name:    fmt.Sprintf("store of %d events: load of a random %d-event aggregate", size, scaleAggregateLen),
				floor:   "the same rows by a plain SELECT",
				metrics: loadMetrics,
				evented: r.loadRandomEvented(store, g),
				raw:     r.loadRandomRaw(breader, g),
			},
		)
	}
	return cases, cleanup, nil
}

// scaleSizes are the store sizes measured: decades up to max.
func scaleSizes(max int) []int {
	var sizes []int
	for s := 100_000; s < max; s *= 10 {
		sizes = append(sizes, s)
	}
	return append(sizes, max)
}

// grower fills a store file with aggregates of scaleAggregateLen events by
// plain INSERTs (set-up, not measured), remembering a random sample of them.
type grower struct {
	path     string
	progress func(string, ...any)
	rows     int
	seen     int // aggregates written
	samples  []eventstore.Cover
}

func (g *grower) grow(ctx context.Context, size int) error {
	if g.rows >= size {
		return nil
	}
	// Set-up only: a large page cache and no fsync per commit make the
	// fill fast; the measurements use the store's own settings.
	db, err := sql.Open("sqlite", sqliteDSN(g.path, url.Values{
		"_txlock": {"immediate"},
		"_pragma": {"journal_mode(WAL)", "synchronous(NORMAL)", "cache_size(-262144)"},
	}))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	t0, from := time.Now(), g.rows
	body := payload()
	for g.rows < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, insertSQL)
		if err != nil {
			tx.Rollback()
			return err
		}
		at := timeText(time.Now())
		for i := 0; i < scaleFillTx/scaleAggregateLen && g.rows < size; i++ {
			root := uuid.New()
			id := root.String()
			for seq := range scaleAggregateLen {
				if _, err := st.ExecContext(ctx, benchDomain, id, seq, eventTypeURL, body, at); err != nil {
					tx.Rollback()
					return err
				}
			}
			g.rows += scaleAggregateLen
			g.sample(eventstore.Cover{Domain: benchDomain, Root: root})
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		if g.rows%1_000_000 == 0 {
			g.progress("scale: store grown to %d events (%.0f rows/s)", g.rows, float64(g.rows-from)/time.Since(t0).Seconds())
		}
	}
	g.progress("scale: store grown to %d events in %s", g.rows, time.Since(t0).Round(time.Second))
	return nil
}

// sample keeps a uniform random sample of the aggregates (reservoir).
func (g *grower) sample(c eventstore.Cover) {
	g.seen++
	if len(g.samples) < scaleSamples {
		g.samples = append(g.samples, c)
	} else if k := rand.IntN(g.seen); k < scaleSamples {
		g.samples[k] = c
	}
}

func (g *grower) random() eventstore.Cover { return g.samples[rand.IntN(len(g.samples))] }

func (r *runner) loadRandomEvented(store server.Storage, g *grower) measure {
	return func(ctx context.Context) (sample, error) {
		rep, err := repeat(ctx, r.cfg.Duration, func(ctx context.Context) error {
			book, err := eventstore.Load(ctx, store, store, g.random())
			if err == nil && len(book.Events) != scaleAggregateLen {
				err = fmt.Errorf("loaded %d events, want %d", len(book.Events), scaleAggregateLen)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		return rep.sample("load ms"), nil
	}
}

func (r *runner) loadRandomRaw(db *sql.DB, g *grower) measure {
	return func(ctx context.Context) (sample, error) {
		query, err := db.PrepareContext(ctx, readEventsSQL)
		if err != nil {
			return nil, err
		}
		defer query.Close()
		rep, err := repeat(ctx, r.cfg.Duration, func(ctx context.Context) error {
			c := g.random()
			rows, err := query.QueryContext(ctx, c.Domain, c.Root.String(), 0, int64(1)<<32)
			if err != nil {
				return err
			}
			defer rows.Close()
			count := 0
			for rows.Next() {
				var seq uint32
				var at, typeURL string
				var body []byte
				var cause [7]any // the store's other columns: scanned, not interpreted
				if err := rows.Scan(&seq, &at, &typeURL, &body, &cause[0], &cause[1], &cause[2], &cause[3], &cause[4], &cause[5], &cause[6]); err != nil {
					return err
				}
				count++
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if count != scaleAggregateLen {
				return fmt.Errorf("read %d rows, want %d", count, scaleAggregateLen)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return rep.sample("load ms"), nil
	}
}
