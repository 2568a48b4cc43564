package bench

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"time"
)

// Appends gives other Go code the append measurements of this package:
// evented's store (opened as the server opens it) and its raw floor, on
// SQLite or PostgreSQL, and the timed loop that measures them. bench/peers
// (a module of its own, so that evented does not depend on the libraries
// it is compared with) uses it to measure other event-sourcing libraries
// with the same loop, warm-up, window, payload and durability as evented's
// own append scenario, in the same process.
type Appends struct {
	r *runner
	b *backend
}

// NewAppends measures on the backend called name: "sqlite" (a fresh file per measurement in
// the directory at) or "postgres" (the database at the URL at). d is the
// measured window of one measurement; a warm-up of d/5 comes first.
func NewAppends(name, at string, d time.Duration) (*Appends, error) {
	if d <= 0 {
		return nil, fmt.Errorf("bench: duration %s is not positive", d)
	}
	b := &backend{name: name}
	switch name {
	case "sqlite":
		b.dir = at
	case "postgres":
		b.url = at
	default:
		return nil, fmt.Errorf("bench: appends on %q: only sqlite and postgres", name)
	}
	if at == "" {
		return nil, fmt.Errorf("bench: appends on %s: no directory or URL", name)
	}
	return &Appends{r: &runner{cfg: Config{Duration: d}.withDefaults()}, b: b}, nil
}

// AppendRate is what one append measurement found.
type AppendRate struct {
	EventsPerSec float64
	// CPUPerEvent is the CPU time of the whole process per event in the
	// measured window, in microseconds; 0 where unknown.
	CPUPerEvent float64
}

func appendRateOf(s sample, err error) (AppendRate, error) {
	if err != nil {
		return AppendRate{}, err
	}
	return AppendRate{EventsPerSec: s["events/s"], CPUPerEvent: s["cpu us/event"]}, nil
}

// Evented measures writers goroutines appending perAppend events each to
// their own aggregate through evented's store, with the optimistic check:
// the append case of `evented bench`.
func (a *Appends) Evented(ctx context.Context, writers, perAppend int) (AppendRate, error) {
	return appendRateOf(a.r.appendEvented(freshStore(a.b, "append"), writers, perAppend, noKeys)(ctx))
}

// Floor measures the raw floor of the same case: the rows the writers have
// pending, written by plain SQL on one connection in one transaction.
func (a *Appends) Floor(ctx context.Context, writers, perAppend int) (AppendRate, error) {
	return appendRateOf(a.r.appendRaw(a.b, freshFile(a.b, "append-raw"), writers, perAppend)(ctx))
}

// Measure runs op on workers goroutines with the loop, warm-up, window and
// bounds of Evented and Floor; op appends one batch for worker w and says
// how many events it wrote.
func (a *Appends) Measure(ctx context.Context, workers int, op func(ctx context.Context, w int) (events int, err error)) (AppendRate, error) {
	return appendRateOf(a.r.appendRate(ctx, workers, op))
}

// Payload is the body of every event the append measurements write.
func Payload() []byte { return payload() }

// SQLiteFile is a fresh path for a SQLite file in the measurements'
// directory (label names it) and the function that removes the file with
// its WAL; "" on PostgreSQL.
func (a *Appends) SQLiteFile(label string) (string, func()) {
	if a.b.name != "sqlite" {
		return "", func() {}
	}
	path := filepath.Join(a.b.dir, fmt.Sprintf("%s-%d.db", label, a.b.n.Add(1)))
	return path, func() { removeDB(path) }
}

// SQLiteDSN opens path (modernc.org/sqlite, driver "sqlite") with the
// durability of evented's store and its floor: WAL, synchronous=FULL, the
// same busy timeout.
func SQLiteDSN(path string) string {
	return sqliteDSN(path, url.Values{"_pragma": {"journal_mode(WAL)", "synchronous(FULL)"}})
}

// LoadAvg is the machine's load average over 1, 5 and 15 minutes, where
// the system tells it ("" elsewhere).
func LoadAvg() string { return loadavg() }

// Median is the median of v (0 for none), as this package reports its
// rounds.
func Median(v []float64) float64 { return median(v) }
