package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
)

// snapshotGap is how far behind the head the load scenario's snapshot is:
// a load with a recent snapshot reads it and this many events.
const snapshotGap = 10

const (
	// The columns the store reads: an event carries its cause and schema
	// version (NULL here, as for events stored without them).
	readEventsSQL = `SELECT sequence, created_at, type_url, payload,
		correlation_id, command_id, cause_domain, cause_root, cause_sequence, depth, schema_version FROM events
		WHERE domain = ? AND aggregate_id = ? AND sequence >= ? AND sequence < ? ORDER BY sequence`
	readSnapshotSQL = `SELECT sequence, type_url, state, created_at FROM snapshots WHERE domain = ? AND aggregate_id = ?`
)

// fill appends n events to cover, in appends of up to 1,000 events.
func fill(ctx context.Context, store eventstore.Store, cover eventstore.Cover, n int) error {
	pages := make([]eventstore.Page, 1000)
	body := payload()
	for i := range pages {
		pages[i] = eventstore.Page{TypeURL: eventTypeURL, Payload: body}
	}
	for i := 0; i < n; i += len(pages) {
		if _, err := store.Append(ctx, cover, pages[:min(len(pages), n-i)]); err != nil {
			return err
		}
	}
	return nil
}

// loadMetrics: the median time of a load, and the CPU time per load, less
// sensitive to other load on the machine.
var loadMetrics = []metricSpec{
	{name: "load ms", higher: false, format: "%.3f"},
	{name: "cpu load ms", higher: false, format: "%.3f"},
}

func (r *runner) loadCases(ctx context.Context, b *backend) (_ []spec, _ func(), err error) {
	n := r.cfg.LoadEvents
	var opened closers
	defer opened.closeIf(&err)
	store, path, closeStore, err := b.open(ctx, "load")
	if err != nil {
		return nil, nil, err
	}
	opened.add(closeStore)
	snapped := eventstore.Cover{Domain: benchDomain, Root: uuid.New()}
	plain := eventstore.Cover{Domain: benchDomain, Root: uuid.New()}
	t0 := time.Now()
	for _, c := range []eventstore.Cover{snapped, plain} {
		if err = fill(ctx, store, c, n); err != nil {
			return nil, nil, fmt.Errorf("fill %d events: %w", n, err)
		}
	}
	snap := eventstore.Snapshot{Sequence: uint32(n - snapshotGap), TypeURL: "type.googleapis.com/bench.State", State: make([]byte, 256)}
	if err = store.PutSnapshot(ctx, snapped, snap); err != nil {
		return nil, nil, err
	}
	r.progress("load on %s: 2 aggregates of %d events written in %s", b.name, n, time.Since(t0).Round(time.Millisecond))
	var reader *sql.DB
	if path != "" {
		if reader, err = rawReader(path); err != nil {
			return nil, nil, err
		}
		opened.add(func() { reader.Close() })
	}
	raw, err := openRawServer(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	if raw != nil {
		opened.add(raw.Close)
	}
	cases := []spec{
		{
			name:    fmt.Sprintf("events=%d/snapshot=%d", n, n-snapshotGap),
			floor:   fmt.Sprintf("the snapshot row and the %d event rows after it, read by plain SELECTs", snapshotGap),
			metrics: loadMetrics,
			evented: r.loadEvented(store, snapped, snapshotGap),
		},
		{
			name:    fmt.Sprintf("events=%d/no-snapshot", n),
			floor:   fmt.Sprintf("the %d event rows read by a plain SELECT of the store's columns (cause and schema version included), scanned without building events", n),
			metrics: loadMetrics,
			evented: r.loadEvented(store, plain, n),
		},
	}
	switch {
	case reader != nil:
		cases[0].raw = r.loadRaw(reader, snapped, true, snapshotGap)
		cases[1].raw = r.loadRaw(reader, plain, false, n)
	case raw != nil:
		cases[0].floor, cases[0].raw = raw.loadFloor(true, snapshotGap), raw.loadRaw(r, snapped, true, snapshotGap)
		cases[1].floor, cases[1].raw = raw.loadFloor(false, n), raw.loadRaw(r, plain, false, n)
	}
	return cases, opened.close, nil
}

// loadEvented rebuilds cover as the coordinator does before a command:
// the latest snapshot and the events from its sequence on.
func (r *runner) loadEvented(store server.Storage, cover eventstore.Cover, want int) measure {
	return func(ctx context.Context) (sample, error) {
		return r.loads(ctx, want, func(ctx context.Context) (int, error) {
			book, err := eventstore.Load(ctx, store, store, cover)
			return len(book.Events), err
		})
	}
}

// loads repeats load for the measured time, each time checking that it
// read want events, and samples how long one took.
func (r *runner) loads(ctx context.Context, want int, load func(ctx context.Context) (int, error)) (sample, error) {
	rep, err := repeat(ctx, r.cfg.Duration, func(ctx context.Context) error {
		n, err := load(ctx)
		if err == nil && n != want {
			err = fmt.Errorf("read %d events, want %d", n, want)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep.sample("load ms"), nil
}

// loadRaw reads the same rows with prepared statements, scanning each
// column into a plain value.
func (r *runner) loadRaw(db *sql.DB, cover eventstore.Cover, withSnapshot bool, want int) measure {
	return func(ctx context.Context) (sample, error) {
		events, err := db.PrepareContext(ctx, readEventsSQL)
		if err != nil {
			return nil, err
		}
		defer events.Close()
		snapshot, err := db.PrepareContext(ctx, readSnapshotSQL)
		if err != nil {
			return nil, err
		}
		defer snapshot.Close()
		id := cover.Root.String()
		return r.loads(ctx, want, func(ctx context.Context) (int, error) {
			var from int64
			if withSnapshot {
				var typeURL, at string
				var state []byte
				if err := snapshot.QueryRowContext(ctx, cover.Domain, id).Scan(&from, &typeURL, &state, &at); err != nil {
					return 0, err
				}
			}
			rows, err := events.QueryContext(ctx, cover.Domain, id, from, int64(math.MaxUint32)+1)
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			count := 0
			for rows.Next() {
				var seq uint32
				var at, typeURL string
				var body []byte
				var cause [7]any // scanned, not interpreted
				if err := rows.Scan(&seq, &at, &typeURL, &body, &cause[0], &cause[1], &cause[2], &cause[3], &cause[4], &cause[5], &cause[6]); err != nil {
					return 0, err
				}
				count++
			}
			return count, rows.Err()
		})
	}
}
