// Package bench measures evented beside its raw floors: for every scenario,
// the same work done by evented and by the cheapest code that could do it
// with the same driver, durability and transport, measured in one process,
// alternately, several rounds, so that both sides see the same machine.
//
// A floor is what evented costs at best: plain SQL on the same file with the
// same pragmas (appends, loads, log reads), or a gRPC echo with the same hops
// (commands). The ratio evented/floor is what evented adds. Ratios near 1
// mean evented is as fast as the hardware and the driver let it be; they
// depend much less on the machine than absolute figures do. Beside the
// rates, the CPU time per operation is reported: on a machine shared with
// other work it moves much less than a rate does.
//
// Method, per scenario (see BENCHMARKS.md for the figures):
//
//   - append: W writers (goroutines), each appending E events to its own
//     aggregate with the optimistic check, on a fresh SQLite file (WAL,
//     synchronous=FULL). Floor: the same rows inserted by prepared INSERTs
//     from one goroutine on one connection, W×E rows per IMMEDIATE
//     transaction: what the writers have pending, committed at once.
//   - command: C clients (one connection each) calling
//     BusinessCoordinator.Handle of a real server (server.New, 127.0.0.1:0)
//     whose domain is routed to a Go business-logic stub (one event per
//     command). Each client works on its own aggregate and moves to a fresh
//     one every commandsPerAggregate commands. Floor: a two-hop echo: the
//     client calls a bare gRPC server that calls the same stub and answers
//     the same reply shape, with no store; with 1 client (SQLite), the
//     echo also commits each command's event as one row in a transaction
//     of its own, durably, as the client waits for every commit.
//   - load: eventstore.Load (what the coordinator does before every
//     command) of an aggregate of LoadEvents events, with a snapshot at
//     LoadEvents-10 and without one. Floor: the same rows read by a
//     prepared SELECT and scanned, without building events.
//   - delivery: a writer appending at a fixed Rate (events/s) to 100
//     aggregates while a delivery.Subscription feeds an in-process
//     projector; lag is from the writer's acknowledged Append to the
//     projector's Deliver. Floor: the same paced rows inserted by plain SQL
//     and read by a reader woken in-process after each commit. Catch-up:
//     a new subscription replays CatchUpEvents events from position 0.
//     Floor: one sequential SELECT of the same rows in log order.
//   - replicas (opt-in): the catch-up and the paced lag of delivery with 2
//     and 3 replicas, each a subscription with its own store handle on one
//     database, sharing the segments through leases. Floor: the same with
//     one replica, so the ratio is what scaling out costs or gains.
//   - relay (opt-in, with --amqp and/or --nats): the bus relay publishing
//     RelayEvents one-event books from the store to RabbitMQ or NATS
//     JetStream until its checkpoint passed them all (every book
//     confirmed). Floor: the same number of books of the same shape
//     published by the broker's client library alone, as many in flight,
//     until all are confirmed (see relay.go).
//   - append with idempotency keys: 16 writers appending with a new key
//     per append (AppendKeyed). Floor: the same appends without keys.
//
// Throughput ratios are evented/floor (higher is better, 1 is the floor);
// time ratios are evented/floor too (lower is better, 1 is the floor).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Scenarios are the scenarios Run knows, in the order it runs them. scale
// is not in the default set: it fills a store up to ScaleEvents events.
var Scenarios = []string{"append", "command", "load", "delivery", "replicas", "lifecycle", "relay", "scale"}

// DefaultScenarios are those run when Config.Scenarios is empty.
var DefaultScenarios = []string{"append", "command", "load", "delivery"}

// Config says what to run and how long.
type Config struct {
	// Rounds is how many times each side of each case is measured
	// (default 3); results are the medians.
	Rounds int
	// Duration is the measured time of one measurement (default 3s); a
	// warm-up of a fifth of it comes first where the scenario needs one.
	Duration time.Duration
	// Scenarios to run; empty means DefaultScenarios.
	Scenarios []string
	// Dir holds the SQLite files; empty means a temporary directory,
	// removed at the end.
	Dir string
	// Postgres and Redis are the addresses of those backends; each one given
	// adds the backend to the run.
	Postgres, Redis string
	// AMQP and NATS are the brokers' URLs the relay scenario publishes
	// to; it needs at least one.
	AMQP, NATS string
	// RelayEvents is how many events the relay scenario publishes per
	// measurement (default 20,000).
	RelayEvents int
	// LoadEvents is the length of the aggregate of the load scenario
	// (default 100,000).
	LoadEvents int
	// CatchUpEvents is how many events the catch-up replays (default
	// 100,000).
	CatchUpEvents int
	// Rate is the paced writer's rate in the delivery scenario, events/s
	// (default 1,000).
	Rate int
	// ScaleEvents is the store size the scale scenario grows to (default
	// 10,000,000).
	ScaleEvents int
	// ConnectTimeout bounds the first connection to a server backend
	// (default 10s).
	ConnectTimeout time.Duration
	// Timeout bounds the whole run (default 9m30s; an hour with scale).
	Timeout time.Duration
	// ProfileDir, when set, receives a CPU profile of every evented
	// measurement (figures of a profiled run are not representative).
	ProfileDir string
	// Progress receives one line per measurement; nil means none.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	if c.Rounds <= 0 {
		c.Rounds = 3
	}
	if c.Duration <= 0 {
		c.Duration = 3 * time.Second
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = DefaultScenarios
	}
	if c.LoadEvents <= 0 {
		c.LoadEvents = 100_000
	}
	if c.CatchUpEvents <= 0 {
		c.CatchUpEvents = 100_000
	}
	if c.Rate <= 0 {
		c.Rate = 1000
	}
	if c.RelayEvents <= 0 {
		c.RelayEvents = 20_000
	}
	if c.ScaleEvents <= 0 {
		c.ScaleEvents = 10_000_000
	}
	if c.Timeout <= 0 {
		c.Timeout = 9*time.Minute + 30*time.Second
		if slices.Contains(c.Scenarios, "scale") {
			c.Timeout = time.Hour
		}
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios, s) {
			errs = append(errs, fmt.Errorf("unknown scenario %q; known: %s", s, strings.Join(Scenarios, ", ")))
		}
	}
	if c.Rounds < 0 || c.Rounds > 100 {
		errs = append(errs, fmt.Errorf("rounds: %d is not within 1..100", c.Rounds))
	}
	if c.Duration < 0 || c.Duration > 10*time.Minute {
		errs = append(errs, fmt.Errorf("duration: %s is not within 0..10m", c.Duration))
	}
	if c.LoadEvents < 0 || c.LoadEvents > 0 && c.LoadEvents < 20 {
		errs = append(errs, fmt.Errorf("load events: %d is too few (at least 20)", c.LoadEvents))
	}
	return errors.Join(errs...)
}

// Metric is one measured quantity of a case.
type Metric struct {
	Name string `json:"name"` // e.g. "events/s", "p99 ms"
	// HigherIsBetter tells how to read the ratio.
	HigherIsBetter bool `json:"higher_is_better"`
	// Evented and Floor are the values of each round; Floor is empty when
	// the backend has no floor in this build.
	Evented []float64 `json:"evented"`
	Floor   []float64 `json:"floor,omitempty"`
	// EventedMedian, FloorMedian and Ratio (evented/floor) summarise them.
	EventedMedian float64 `json:"evented_median"`
	FloorMedian   float64 `json:"floor_median,omitempty"`
	Ratio         float64 `json:"ratio,omitempty"`
}

// Result is one case of one scenario on one backend.
type Result struct {
	Backend  string   `json:"backend"`
	Scenario string   `json:"scenario"`
	Case     string   `json:"case"`
	Floor    string   `json:"floor"` // what the floor is
	Metrics  []Metric `json:"metrics"`
	Notes    []string `json:"notes,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// Metric returns r's metric called name, or nil.
func (r *Result) Metric(name string) *Metric {
	for i := range r.Metrics {
		if r.Metrics[i].Name == name {
			return &r.Metrics[i]
		}
	}
	return nil
}

// Machine describes where a report was made.
type Machine struct {
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	CPU         string `json:"cpu,omitempty"`
	CPUs        int    `json:"cpus"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	GoVersion   string `json:"go_version"`
	LoadAtStart string `json:"load_at_start,omitempty"` // /proc/loadavg, where there is one
	LoadAtEnd   string `json:"load_at_end,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	Started  time.Time     `json:"started"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Machine  Machine       `json:"machine"`
	Rounds   int           `json:"rounds"`
	Duration time.Duration `json:"duration_ns"`
	Results  []Result      `json:"results"`
	Targets  []Target      `json:"targets"`
	// Skipped lists backends or scenarios that could not run, and why.
	Skipped []string `json:"skipped,omitempty"`
}

// Run runs the configured scenarios and returns the report. Failures of
// single cases are recorded in their Result; Run fails only when nothing
// can run at all or ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dir := cfg.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "evented-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	r := &runner{cfg: cfg, start: time.Now(), log: slog.New(slog.DiscardHandler)}
	rep := &Report{Started: r.start, Machine: machine(), Rounds: cfg.Rounds, Duration: cfg.Duration}
	r.report = rep

	backends := []*backend{{name: "sqlite", dir: filepath.Join(dir, "sqlite")}}
	for _, b := range []struct{ name, url string }{{"postgres", cfg.Postgres}, {"redis", cfg.Redis}} {
		if b.url == "" {
			continue
		}
		be := &backend{name: b.name, url: b.url}
		if err := be.probe(ctx, cfg.ConnectTimeout); err != nil {
			msg := fmt.Sprintf("%s: not available in this build (%v)", b.name, err)
			if !strings.Contains(err.Error(), "not available in this build") {
				msg = fmt.Sprintf("%s: cannot be used: %v", b.name, err)
			}
			r.progress("%s", msg)
			rep.Skipped = append(rep.Skipped, msg)
			continue
		}
		backends = append(backends, be)
	}
	for _, scenario := range Scenarios {
		if !slices.Contains(cfg.Scenarios, scenario) {
			continue
		}
		for _, b := range backends {
			if err := ctx.Err(); err != nil {
				rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s on %s: the run's time limit (%s) was reached", scenario, b.name, cfg.Timeout))
				continue
			}
			r.scenario(ctx, b, scenario)
		}
	}
	rep.Elapsed = time.Since(r.start)
	rep.Machine.LoadAtEnd = loadavg()
	rep.Targets = checkTargets(rep)
	return rep, nil
}

// runner runs cases and fills the report.
type runner struct {
	cfg    Config
	start  time.Time
	log    *slog.Logger
	report *Report
	mu     sync.Mutex // guards progress output
}

func (r *runner) progress(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.cfg.Progress, "[%4ds] %s\n", int(time.Since(r.start).Seconds()), fmt.Sprintf(format, args...))
}

func (r *runner) warmup() time.Duration { return r.cfg.Duration / 5 }

// measureTimeout bounds one measurement: its duration, warm-up, set-up and
// drain, with room for a slow, shared machine.
func (r *runner) measureTimeout() time.Duration { return 4*r.cfg.Duration + time.Minute }

// sample is what one measurement produced: a value per metric name.
type sample map[string]float64

type measure func(ctx context.Context) (sample, error)

// spec is one case: both sides, the metrics they report, and targets.
type spec struct {
	name    string
	floor   string // what the floor is
	metrics []metricSpec
	evented measure
	raw     measure // nil: no floor for this backend
	notes   []string
	// prepare, when set, runs once before the rounds (e.g. grows a store).
	prepare func(ctx context.Context) error
}

type metricSpec struct {
	name   string
	higher bool
	format string // how to print a value, e.g. "%.0f"
}

func (r *runner) scenario(ctx context.Context, b *backend, name string) {
	r.progress("%s on %s: preparing", name, b.name)
	var (
		cases   []spec
		cleanup func()
		err     error
	)
	switch name {
	case "append":
		cases = r.appendCases(b)
	case "command":
		cases = r.commandCases(b)
	case "load":
		cases, cleanup, err = r.loadCases(ctx, b)
	case "delivery":
		cases, cleanup, err = r.deliveryCases(ctx, b)
	case "replicas":
		cases, cleanup, err = r.replicaCases(ctx, b)
	case "lifecycle":
		cases, cleanup, err = r.lifecycleCases(ctx, b)
	case "relay":
		cases, cleanup, err = r.relayCases(ctx, b)
	case "scale":
		cases, cleanup, err = r.scaleCases(ctx, b)
	}
	if cleanup != nil {
		defer cleanup()
	}
	if err != nil {
		r.progress("%s on %s: set-up failed: %v", name, b.name, err)
		r.report.Results = append(r.report.Results, Result{Backend: b.name, Scenario: name, Case: "set-up", Error: err.Error()})
		return
	}
	for _, c := range cases {
		if ctx.Err() != nil {
			r.report.Skipped = append(r.report.Skipped, fmt.Sprintf("%s %s on %s: the run's time limit was reached", name, c.name, b.name))
			continue
		}
		r.report.Results = append(r.report.Results, r.run(ctx, b, name, c))
	}
}

// run measures both sides of c, alternating which goes first each round so
// that a drift of the machine (other load, the file cache) hits both alike.
func (r *runner) run(ctx context.Context, b *backend, scenario string, c spec) Result {
	res := Result{Backend: b.name, Scenario: scenario, Case: c.name, Floor: c.floor, Notes: c.notes}
	if c.raw == nil {
		res.Floor = "none for this backend in this build: no ratio"
	}
	values := map[string]map[string][]float64{"evented": {}, "floor": {}}
	if c.prepare != nil {
		if err := c.prepare(ctx); err != nil {
			r.progress("%s %s %s: set-up failed: %v", b.name, scenario, c.name, err)
			res.Error = "set-up: " + err.Error()
			return res
		}
	}
	for round := range r.cfg.Rounds {
		sides := []string{"evented", "floor"}
		if round%2 == 1 {
			sides = []string{"floor", "evented"}
		}
		for _, side := range sides {
			m := c.evented
			if side == "floor" {
				m = c.raw
			}
			if m == nil {
				continue
			}
			s, err := r.measureOnce(ctx, b, scenario, c.name, side, round, m)
			if err != nil {
				r.progress("%s %s %s round %d/%d %s: error: %v", b.name, scenario, c.name, round+1, r.cfg.Rounds, side, err)
				res.Error = fmt.Sprintf("%s, round %d: %v", side, round+1, err)
				return finish(res, c, values)
			}
			var parts []string
			for _, ms := range c.metrics {
				v, ok := s[ms.name]
				if !ok {
					continue
				}
				values[side][ms.name] = append(values[side][ms.name], v)
				parts = append(parts, fmt.Sprintf(ms.format+" %s", v, ms.name))
			}
			r.progress("%s %s %s round %d/%d %-7s %s", b.name, scenario, c.name, round+1, r.cfg.Rounds, side, strings.Join(parts, ", "))
		}
	}
	return finish(res, c, values)
}

func (r *runner) measureOnce(ctx context.Context, b *backend, scenario, name, side string, round int, m measure) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, r.measureTimeout())
	defer cancel()
	if side == "evented" && r.cfg.ProfileDir != "" {
		file := fmt.Sprintf("%s-%s-%s-round%d.pprof", b.name, scenario, strings.NewReplacer("/", "_", "=", "", " ", "_").Replace(name), round+1)
		stop, err := startProfile(filepath.Join(r.cfg.ProfileDir, file))
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	runtime.GC() // the previous measurement's garbage is not this one's
	s, err := m(ctx)
	if err == nil && len(s) == 0 {
		err = errors.New("measured nothing")
	}
	for k, v := range s {
		if err == nil && !(v > 0) && !strings.Contains(k, "lag") {
			err = fmt.Errorf("%s is %v", k, v)
		}
	}
	return s, err
}

func finish(res Result, c spec, values map[string]map[string][]float64) Result {
	for _, ms := range c.metrics {
		ev := values["evented"][ms.name]
		if len(ev) == 0 {
			continue
		}
		m := Metric{Name: ms.name, HigherIsBetter: ms.higher, Evented: ev, EventedMedian: median(ev)}
		if fl := values["floor"][ms.name]; len(fl) > 0 {
			m.Floor, m.FloorMedian = fl, median(fl)
			if m.FloorMedian > 0 {
				m.Ratio = m.EventedMedian / m.FloorMedian
			}
		}
		res.Metrics = append(res.Metrics, m)
	}
	return res
}
