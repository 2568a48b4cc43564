package bench

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
)

const (
	// lagAggregates is how many aggregates the paced writer spreads its
	// events over; lagWriters how many appends may be in flight at once
	// (so that one slow fsync does not hold back the next events).
	lagAggregates = 100
	lagWriters    = 4
	// catchUpAggregates and catchUpRun shape the log the catch-up replays:
	// appends of catchUpRun events, round-robin over the aggregates.
	catchUpAggregates = 1000
	catchUpRun        = 10
	// readLogSQL reads the columns the store reads: an event carries its
	// cause and schema version (NULL here, as for events stored without
	// them).
	readLogSQL = `SELECT position, domain, aggregate_id, sequence, created_at, type_url, payload,
		correlation_id, command_id, cause_domain, cause_root, cause_sequence, depth, schema_version
		FROM events WHERE position > ? ORDER BY position LIMIT ?`
)

func (r *runner) deliveryCases(ctx context.Context, b *backend) (_ []spec, _ func(), err error) {
	lag := spec{
		name:  fmt.Sprintf("lag at %d events/s", r.cfg.Rate),
		floor: "the same paced rows inserted by plain SQL, read by a reader woken in-process after each commit",
		metrics: []metricSpec{
			{name: "lag p50 ms", higher: false, format: "%.3f"},
			{name: "lag p99 ms", higher: false, format: "%.3f"},
		},
		evented: r.lagEvented(b),
		notes: []string{fmt.Sprintf("%d writers share the pace over %d aggregates, one event per append; lag runs from the writer's acknowledged append to the projector's Deliver (0 when the projector was first)",
			lagWriters, lagAggregates)},
	}
	var opened closers
	defer opened.closeIf(&err)
	raw, err := openRawServer(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	if raw != nil {
		opened.add(raw.Close)
	}
	switch {
	case b.name == "sqlite":
		lag.raw = r.lagRaw(b)
	case raw != nil:
		lag.floor, lag.raw = raw.lagFloor(), raw.lagRaw(r, b)
	}
	store, path, closeStore, err := b.open(ctx, "catchup")
	if err != nil {
		return nil, nil, err
	}
	opened.add(closeStore)
	after, err := store.Head(ctx)
	if err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	if err = fillLog(ctx, store, r.cfg.CatchUpEvents); err != nil {
		return nil, nil, fmt.Errorf("fill the log: %w", err)
	}
	r.progress("delivery on %s: %d events over %d aggregates written in %s", b.name, r.cfg.CatchUpEvents, catchUpAggregates, time.Since(t0).Round(time.Millisecond))
	catchUp := spec{
		name:    fmt.Sprintf("catch-up of %d events", r.cfg.CatchUpEvents),
		floor:   "the same rows read by one sequential SELECT in log order, of the store's columns (cause and schema version included), scanned without building events",
		metrics: []metricSpec{{name: "events/s", higher: true, format: "%.0f"}},
		evented: r.catchUpEvented(store, after, r.cfg.CatchUpEvents),
		notes: []string{fmt.Sprintf("the log holds appends of %d events round-robin over %d aggregates; a new subscription replays it from its start with the server's default delivery options",
			catchUpRun, catchUpAggregates)},
	}
	if path != "" {
		reader, err := rawReader(path)
		if err != nil {
			return nil, nil, err
		}
		opened.add(func() { reader.Close() })
		catchUp.raw = r.catchUpRaw(reader, after, r.cfg.CatchUpEvents)
	}
	if raw != nil {
		catchUp.floor, catchUp.raw = raw.catchUpFloor(), raw.catchUpRaw(after, r.cfg.CatchUpEvents)
	}
	return []spec{lag, catchUp}, opened.close, nil
}

// closers closes what a scenario's set-up opened, the last opened first.
type closers []func()

func (c *closers) add(close func()) { *c = append(*c, close) }

func (c closers) close() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// closeIf closes all when the set-up failed (*err set): deferred by a
// set-up that returns its closers' close only when it succeeds.
func (c *closers) closeIf(err *error) {
	if *err != nil {
		c.close()
	}
}

// fillLog appends n events: runs of catchUpRun events round-robin over
// catchUpAggregates aggregates, from 16 writers.
func fillLog(ctx context.Context, store eventstore.Store, n int) error {
	covers := make([]eventstore.Cover, catchUpAggregates)
	for i := range covers {
		covers[i] = eventstore.Cover{Domain: benchDomain, Root: uuid.New()}
	}
	body := payload()
	pages := make([]eventstore.Page, catchUpRun)
	for i := range pages {
		pages[i] = eventstore.Page{TypeURL: eventTypeURL, Payload: body}
	}
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range 16 {
		g.Go(func() error {
			for {
				i := int(next.Add(catchUpRun)) - catchUpRun
				if i >= n {
					return nil
				}
				k := min(catchUpRun, n-i)
				if _, err := store.Append(ctx, covers[(i/catchUpRun)%len(covers)], pages[:k]); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// deliveryOptions are the server's defaults (config.Default).
func deliveryOptions() delivery.Options {
	d := config.Default().Delivery
	return delivery.Options{MaxAttempts: d.MaxAttempts, BackoffMin: d.BackoffMin, BackoffMax: d.BackoffMax, Workers: d.Workers}
}

// lagTrack records, per paced event (its index is in its payload), when
// its append was acknowledged and when the consumer got it.
type lagTrack struct {
	ack, recv []atomic.Int64 // unix nanoseconds; 0: not yet
	received  atomic.Int64
}

func newLagTrack(n int) *lagTrack {
	return &lagTrack{ack: make([]atomic.Int64, n), recv: make([]atomic.Int64, n)}
}

func (t *lagTrack) got(body []byte, at int64) {
	if len(body) < 8 {
		return
	}
	if i := binary.LittleEndian.Uint64(body); i < uint64(len(t.recv)) && t.recv[i].CompareAndSwap(0, at) {
		t.received.Add(1)
	}
}

// wait waits until every event is received, or 10 s.
func (t *lagTrack) wait(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for t.received.Load() < int64(len(t.recv)) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d events never reached the consumer", int64(len(t.recv))-t.received.Load(), len(t.recv))
		}
		if !sleepCtx(ctx, time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

// lags is the sample of the events from index from on.
func (t *lagTrack) lags(from int) sample {
	var d []time.Duration
	for i := from; i < len(t.recv); i++ {
		d = append(d, time.Duration(max(0, t.recv[i].Load()-t.ack[i].Load())))
	}
	return sample{"lag p50 ms": percentile(d, 50), "lag p99 ms": percentile(d, 99)}
}

// pace calls op(i) for i in [0, n) at rate per second, from workers
// goroutines, each call at its due time or as soon after as a worker is free.
func pace(ctx context.Context, rate, n, workers int, op func(ctx context.Context, i int) error) error {
	due := make(chan int, workers)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(due)
		start := time.Now()
		for i := range n {
			if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
				if !sleepCtx(ctx, wait) {
					return ctx.Err()
				}
			}
			select {
			case due <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range workers {
		g.Go(func() error {
			for i := range due {
				if err := op(ctx, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func indexed(i int) []byte {
	b := payload()
	binary.LittleEndian.PutUint64(b, uint64(i))
	return b
}

// lagConsumer is the in-process projector of the lag measurement.
type lagConsumer struct {
	name  string
	track *lagTrack
}

func (c *lagConsumer) Name() string { return c.name }

func (c *lagConsumer) Deliver(_ context.Context, book eventstore.Book, _ bool) (delivery.Outcome, error) {
	now := time.Now().UnixNano()
	for _, e := range book.Events {
		c.track.got(e.Payload, now)
	}
	return delivery.Outcome{}, nil
}

func (r *runner) lagEvented(b *backend) measure {
	return func(ctx context.Context) (sample, error) {
		store, _, closeStore, err := b.open(ctx, "lag")
		if err != nil {
			return nil, err
		}
		defer closeStore()
		return r.replicaLag([]server.Storage{store})(ctx)
	}
}

func (r *runner) lagRaw(b *backend) measure {
	return func(ctx context.Context) (sample, error) {
		path := b.storage("lag-raw").Path
		defer removeDB(path)
		if err := schema(ctx, path); err != nil {
			return nil, err
		}
		w, err := rawWriter(path)
		if err != nil {
			return nil, err
		}
		defer w.Close()
		rd, err := rawReader(path)
		if err != nil {
			return nil, err
		}
		defer rd.Close()
		query, err := rd.PrepareContext(ctx, readLogSQL)
		if err != nil {
			return nil, err
		}
		defer query.Close()
		ids := make([]string, lagAggregates)
		for i := range ids {
			ids[i] = uuid.NewString()
		}
		write := func(ctx context.Context, i, a, seq int) error {
			_, err := w.ExecContext(ctx, insertSQL, benchDomain, ids[a], seq, eventTypeURL, indexed(i), timeText(time.Now()))
			return err
		}
		var after int64
		page := func(ctx context.Context, seen func([]byte)) (int, error) {
			rows, err := query.QueryContext(ctx, after, readLogPage)
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				body, err := scanLogRow(rows, &after)
				if err != nil {
					return 0, err
				}
				seen(body)
				n++
			}
			return n, rows.Err()
		}
		return r.rawLag(ctx, write, page)
	}
}

// rawLag measures a lag floor: events paced as on evented's side, each
// written by write (the event's index i in its payload, its aggregate a
// of lagAggregates and its sequence seq) one at a time, as on one
// connection, while a reader woken in-process after each write reads the
// log in position order by page (which hands seen each event's payload
// and says how many it read; 0 at the head).
func (r *runner) rawLag(ctx context.Context, write func(ctx context.Context, i, a, seq int) error,
	page func(ctx context.Context, seen func([]byte)) (int, error)) (sample, error) {
	warm := int(r.warmup().Seconds() * float64(r.cfg.Rate))
	n := warm + max(1, int(r.cfg.Duration.Seconds()*float64(r.cfg.Rate)))
	track := newLagTrack(n)
	var mu sync.Mutex
	notify := make(chan struct{})
	appended := func() <-chan struct{} { mu.Lock(); defer mu.Unlock(); return notify }
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	readDone := make(chan error, 1)
	seen := func(body []byte) { track.got(body, time.Now().UnixNano()) }
	go func() {
		err := readLoop(readCtx, func(ctx context.Context) (int, error) { return page(ctx, seen) }, appended)
		if readCtx.Err() != nil {
			err = nil // stopped: whatever the last read said
		}
		readDone <- err
	}()
	var seqMu sync.Mutex // the writes take turns on the one connection anyway
	seqs := make([]int, lagAggregates)
	err := pace(ctx, r.cfg.Rate, n, lagWriters, func(ctx context.Context, i int) error {
		a := i % lagAggregates
		seqMu.Lock()
		defer seqMu.Unlock()
		if err := write(ctx, i, a, seqs[a]); err != nil {
			return err
		}
		seqs[a]++
		mu.Lock()
		close(notify)
		notify = make(chan struct{})
		mu.Unlock()
		track.ack[i].Store(time.Now().UnixNano())
		return nil
	})
	if err != nil {
		return nil, err
	}
	waitErr := track.wait(ctx)
	stopReading()
	if err := <-readDone; err != nil {
		return nil, fmt.Errorf("read the log: %w", err)
	}
	if waitErr != nil {
		return nil, waitErr
	}
	return track.lags(warm), nil
}

// readLoop reads the log by page as the subscription does, waiting for a
// wake-up when it is at the head.
func readLoop(ctx context.Context, page func(ctx context.Context) (int, error), appended func() <-chan struct{}) error {
	for {
		wake := appended()
		n, err := page(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		select {
		case <-wake:
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// countingConsumer counts events and says when it has seen want of them.
type countingConsumer struct {
	name string
	want int64
	n    atomic.Int64
	done chan struct{}
	once sync.Once
}

func (c *countingConsumer) Name() string { return c.name }

func (c *countingConsumer) Deliver(_ context.Context, book eventstore.Book, _ bool) (delivery.Outcome, error) {
	if c.n.Add(int64(len(book.Events))) >= c.want {
		c.once.Do(func() { close(c.done) })
	}
	return delivery.Outcome{}, nil
}

func (r *runner) catchUpEvented(store server.Storage, after uint64, n int) measure {
	return r.replicaCatchUp([]server.Storage{store}, after, n)
}

func (r *runner) catchUpRaw(db *sql.DB, after uint64, n int) measure {
	return func(ctx context.Context) (sample, error) {
		t0, c0 := time.Now(), cpuTime()
		rows, err := db.QueryContext(ctx, readLogSQL, int64(after), n)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		count := 0
		for rows.Next() {
			var pos int64
			if _, err := scanLogRow(rows, &pos); err != nil {
				return nil, err
			}
			count++
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if count != n {
			return nil, fmt.Errorf("read %d rows, want %d", count, n)
		}
		return sample{"events/s": float64(n) / time.Since(t0).Seconds(), cpuPerEvent: cpuPer(cpuTime()-c0, n)}, nil
	}
}

// scanLogRow scans a row of readLogSQL into plain values: its position
// into pos, and its payload, which it returns; the store's other columns
// are scanned, not interpreted.
func scanLogRow(rows *sql.Rows, pos *int64) ([]byte, error) {
	var seq int64
	var domain, id, at, typeURL string
	var body []byte
	var cause [7]any
	err := rows.Scan(pos, &domain, &id, &seq, &at, &typeURL, &body,
		&cause[0], &cause[1], &cause[2], &cause[3], &cause[4], &cause[5], &cause[6])
	return body, err
}

// cpuPerEvent is the metric of the CPU time the process spent per event
// (all its threads, user and system): on a busy machine it says more than
// a rate does.
const cpuPerEvent = "cpu µs/event"

// cpuPer is cpu per event in microseconds.
func cpuPer(cpu time.Duration, n int) float64 {
	return float64(cpu.Nanoseconds()) / 1e3 / float64(n)
}
