// Command peers measures evented's event store beside other Go
// event-sourcing libraries appending the same events, in one process:
// hallgren/eventsourcing (its SQLite and PostgreSQL stores) and
// modernice/goes (its PostgreSQL store), with evented's store and the raw
// floors of `evented bench` on the same backends.
//
// It is a module of its own so that evented does not depend on the
// libraries it is compared with. Its module path lies under evented's, so
// Go lets it import evented's internal packages: it measures every
// contender with internal/bench's append loop (the one `evented bench`
// uses), and evented's store and the floors through internal/bench's own
// code, not copies of it.
//
// The workload, the same for every contender: W writers (goroutines), each
// appending E events of 128 bytes per append to its own new aggregate,
// for W in 1, 16 and E in 1, 10. Each measurement has a warm-up of a fifth
// of its window and counts the events whose append returned in the window.
// Rounds rotate the contenders (A B C, B C A, C A B, …) so that a drift of
// the machine hits them alike; the report gives the median events/s of each
// contender and its ratio to evented's median.
//
//	go run . -postgres "$POSTGRES_URL"      # or: just bench-peers
//
// BENCHMARKS.md ("Peers") gives the method, the durability of every
// contender and the latest figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evented/evented/internal/bench"
)

// config says what to run.
type config struct {
	rounds   int
	duration time.Duration
	writers  []int
	events   []int
	dir      string // SQLite files; "" means a temporary directory
	postgres string // "" means SQLite only
	timeout  time.Duration
}

// contender is one side of every case of a backend.
type contender struct {
	name    string
	measure func(ctx context.Context, a *bench.Appends, writers, perAppend int) (bench.AppendRate, error)
	// setup runs once before the rounds; close at the end.
	setup func(ctx context.Context) error
	close func()
}

// result is one case on one backend: every contender's rounds.
type result struct {
	backend            string
	writers, perAppend int
	names              []string
	rates              map[string][]bench.AppendRate
	err                error
}

// report is the outcome of a run.
type report struct {
	started         time.Time
	elapsed         time.Duration
	loadAt, loadEnd string
	cfg             config
	results         []result
	versions        []string
	setupErrs       []string
}

func main() {
	var (
		cfg              config
		writers, perAppd string
	)
	flag.IntVar(&cfg.rounds, "rounds", 3, "measurements of each contender in each case; medians are reported")
	flag.DurationVar(&cfg.duration, "duration", 2*time.Second, "measured window of one measurement (after a warm-up of a fifth of it)")
	flag.StringVar(&writers, "writers", "1,16", "numbers of writers, comma-separated")
	flag.StringVar(&perAppd, "events", "1,10", "events per append, comma-separated")
	flag.StringVar(&cfg.dir, "dir", "", "directory of the SQLite files (default: a temporary one, removed at the end)")
	flag.StringVar(&cfg.postgres, "postgres", "", "PostgreSQL URL: also run the PostgreSQL contenders (each library in a database of its own)")
	flag.DurationVar(&cfg.timeout, "timeout", 15*time.Minute, "bound of the whole run")
	flag.Parse()
	var err error
	if cfg.writers, err = ints(writers); err == nil {
		cfg.events, err = ints(perAppd)
	}
	if err == nil && (cfg.rounds < 1 || cfg.rounds > 100) {
		err = fmt.Errorf("rounds: %d is not within 1..100", cfg.rounds)
	}
	if err == nil && (cfg.duration <= 0 || cfg.duration > 10*time.Minute) {
		err = fmt.Errorf("duration: %s is not within 0..10m", cfg.duration)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
	rep.write(os.Stdout)
	if rep.failed() {
		os.Exit(1)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 256 {
			return nil, fmt.Errorf("%q: want numbers within 1..256", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// run measures every case of every backend, and returns the report; a
// failed case is recorded in its result.
func run(ctx context.Context, cfg config, progress io.Writer) (*report, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	dir := cfg.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "evented-peers-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rep := &report{started: time.Now(), loadAt: bench.LoadAvg(), cfg: cfg, versions: versions()}
	logf := func(format string, args ...any) {
		fmt.Fprintf(progress, "[%4ds] %s\n", int(time.Since(rep.started).Seconds()), fmt.Sprintf(format, args...))
	}
	type backend struct {
		name, at   string
		contenders []contender
	}
	backends := []backend{{"sqlite", dir, sqliteContenders()}}
	if cfg.postgres != "" {
		backends = append(backends, backend{"postgres", cfg.postgres, postgresContenders(cfg.postgres)})
	}
	for _, b := range backends {
		a, err := bench.NewAppends(b.name, b.at, cfg.duration)
		if err != nil {
			return nil, err
		}
		var ready []contender
		for _, c := range b.contenders {
			if c.setup != nil {
				sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
				err := c.setup(sctx)
				scancel()
				if err != nil {
					msg := fmt.Sprintf("%s %s: set-up failed: %v", b.name, c.name, err)
					logf("%s", msg)
					rep.setupErrs = append(rep.setupErrs, msg)
					continue
				}
			}
			if c.close != nil {
				defer c.close()
			}
			ready = append(ready, c)
		}
		for _, w := range cfg.writers {
			for _, e := range cfg.events {
				rep.results = append(rep.results, runCase(ctx, cfg, a, b.name, ready, w, e, logf))
			}
		}
	}
	rep.elapsed = time.Since(rep.started)
	rep.loadEnd = bench.LoadAvg()
	return rep, ctx.Err()
}

// runCase measures every contender cfg.rounds times, rotating which one
// goes first each round.
func runCase(ctx context.Context, cfg config, a *bench.Appends, backend string, cs []contender, writers, perAppend int, logf func(string, ...any)) result {
	res := result{backend: backend, writers: writers, perAppend: perAppend, rates: map[string][]bench.AppendRate{}}
	for _, c := range cs {
		res.names = append(res.names, c.name)
	}
	for round := range cfg.rounds {
		for i := range cs {
			c := cs[(round+i)%len(cs)]
			mctx, cancel := context.WithTimeout(ctx, 4*cfg.duration+time.Minute)
			runtime.GC() // the previous measurement's garbage is not this one's
			r, err := c.measure(mctx, a, writers, perAppend)
			cancel()
			if err == nil && !(r.EventsPerSec > 0) {
				err = errors.New("measured nothing")
			}
			if err != nil {
				logf("%s writers=%d/events=%d round %d/%d %s: error: %v", backend, writers, perAppend, round+1, cfg.rounds, c.name, err)
				res.err = fmt.Errorf("%s, round %d: %w", c.name, round+1, err)
				return res
			}
			res.rates[c.name] = append(res.rates[c.name], r)
			logf("%s writers=%d/events=%d round %d/%d %-24s %8.0f events/s, cpu %.1f us/event", backend, writers, perAppend, round+1, cfg.rounds, c.name, r.EventsPerSec, r.CPUPerEvent)
		}
	}
	return res
}

// versions are the module versions of the libraries measured.
func versions() []string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	var out []string
	for _, d := range info.Deps {
		if strings.HasPrefix(d.Path, "github.com/hallgren/") || strings.HasPrefix(d.Path, "github.com/modernice/") ||
			d.Path == "modernc.org/sqlite" || d.Path == "github.com/jackc/pgx/v5" || d.Path == "github.com/jackc/pgx/v4" {
			out = append(out, d.Path+" "+d.Version)
		}
	}
	slices.Sort(out)
	return out
}

func (r result) median(name string, f func(bench.AppendRate) float64) float64 {
	var v []float64
	for _, x := range r.rates[name] {
		v = append(v, f(x))
	}
	return bench.Median(v)
}

func rate(x bench.AppendRate) float64 { return x.EventsPerSec }
func cpu(x bench.AppendRate) float64  { return x.CPUPerEvent }

func (rep *report) failed() bool {
	if len(rep.setupErrs) > 0 {
		return true
	}
	for _, r := range rep.results {
		if r.err != nil {
			return true
		}
	}
	return false
}

// write prints the report as Markdown: the machine, then one table row per
// contender of every case.
func (rep *report) write(w io.Writer) {
	fmt.Fprintf(w, "Started %s, took %s; %d CPUs (GOMAXPROCS %d), %s/%s, %s; load average %s at start, %s at end.\n",
		rep.started.UTC().Format("2006-01-02 15:04 UTC"), rep.elapsed.Round(time.Second), runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.GOOS, runtime.GOARCH, runtime.Version(), rep.loadAt, rep.loadEnd)
	fmt.Fprintf(w, "%d rounds of %s per contender and case (after a warm-up of %s); medians.\n", rep.cfg.rounds, rep.cfg.duration, rep.cfg.duration/5)
	if len(rep.versions) > 0 {
		fmt.Fprintf(w, "Modules: %s.\n", strings.Join(rep.versions, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| backend | writers × events/append | contender | events/s | / evented | CPU µs/event | rounds (events/s) |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---|")
	for _, r := range rep.results {
		base := r.median("evented", rate)
		for _, name := range r.names {
			if len(r.rates[name]) == 0 {
				continue
			}
			m := r.median(name, rate)
			ratio := "—"
			if base > 0 {
				ratio = fmt.Sprintf("%.2f", m/base)
			}
			var rounds []string
			for _, x := range r.rates[name] {
				rounds = append(rounds, fmt.Sprintf("%.0f", x.EventsPerSec))
			}
			fmt.Fprintf(w, "| %s | %d × %d | %s | %s | %s | %.1f | %s |\n", r.backend, r.writers, r.perAppend, name,
				thousands(m), ratio, r.median(name, cpu), strings.Join(rounds, ", "))
		}
		if r.err != nil {
			fmt.Fprintf(w, "| %s | %d × %d | **error** | %v | | | |\n", r.backend, r.writers, r.perAppend, r.err)
		}
	}
	for _, e := range rep.setupErrs {
		fmt.Fprintf(w, "\nNot measured: %s\n", e)
	}
}

// thousands formats v rounded, with commas: 12,345.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
