package bench_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evented/evented/internal/bench"
	"github.com/evented/evented/internal/testenv"
)

// TestEveryScenarioMeasuresSomething runs every scenario but relay (it
// needs brokers: TestRelayScenario), both sides, with tiny sizes and
// durations: a smoke test of the harness, not a benchmark
// (no figure is asserted beyond being measured).
func TestEveryScenarioMeasuresSomething(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario for a few seconds")
	}
	var progress bytes.Buffer
	rep, err := bench.Run(t.Context(), bench.Config{
		Rounds:        1,
		Duration:      100 * time.Millisecond,
		Scenarios:     withoutRelay(),
		Dir:           t.TempDir(),
		LoadEvents:    200,
		CatchUpEvents: 1000,
		Rate:          500,
		ScaleEvents:   2000,
		Timeout:       4 * time.Minute, // a smoke test: generous on a loaded machine
		Progress:      &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("progress:\n%s", progress.String())
		}
	}()
	scenarios := map[string]int{}
	for _, r := range rep.Results {
		scenarios[r.Scenario]++
		if r.Error != "" {
			t.Errorf("%s %s %s: %s", r.Backend, r.Scenario, r.Case, r.Error)
			continue
		}
		if len(r.Metrics) == 0 {
			t.Errorf("%s %s %s: no metric", r.Backend, r.Scenario, r.Case)
		}
		for _, m := range r.Metrics {
			lag := strings.HasPrefix(m.Name, "lag")
			if !(m.EventedMedian > 0) && !(lag && m.EventedMedian == 0) {
				t.Errorf("%s %s %s: evented %s = %v", r.Backend, r.Scenario, r.Case, m.Name, m.EventedMedian)
			}
			if len(m.Floor) == 0 || !(m.FloorMedian > 0) && !lag {
				t.Errorf("%s %s %s: floor %s = %v", r.Backend, r.Scenario, r.Case, m.Name, m.Floor)
			}
		}
	}
	for _, s := range withoutRelay() {
		if scenarios[s] == 0 {
			t.Errorf("scenario %s reported nothing", s)
		}
	}
	if len(rep.Targets) == 0 {
		t.Error("no target checked")
	}
	for _, tg := range rep.Targets {
		if !tg.Checked {
			t.Errorf("target %q not checked: %s", tg.Name, tg.Got)
		}
	}
	if !strings.Contains(progress.String(), "round 1/1 evented") {
		t.Errorf("no progress line:\n%s", progress.String())
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"evented/floor", "targets (SQLite, durable", "writers=16/events=1"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back bench.Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Results) != len(rep.Results) {
		t.Errorf("JSON report does not read back: %v", err)
	}
}

func withoutRelay() []string {
	var out []string
	for _, s := range bench.Scenarios {
		if s != "relay" {
			out = append(out, s)
		}
	}
	return out
}

// TestRelayScenario runs the relay scenario against the real brokers with
// tiny sizes: both sides measure, and the target is checked.
func TestRelayScenario(t *testing.T) {
	for _, broker := range []struct {
		name string
		need testenv.Need
	}{{"amqp", testenv.RabbitMQ}, {"nats", testenv.NATS}} {
		t.Run(broker.name, func(t *testing.T) {
			url := testenv.Getenv(t, broker.need)
			cfg := bench.Config{Rounds: 1, Scenarios: []string{"relay"}, Dir: t.TempDir(), RelayEvents: 300,
				Timeout: 2 * time.Minute, Progress: &bytes.Buffer{}}
			if broker.name == "amqp" {
				cfg.AMQP = url
			} else {
				cfg.NATS = url
			}
			rep, err := bench.Run(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != 1 {
				t.Fatalf("%d results, want 1: %+v", len(rep.Results), rep.Results)
			}
			r := rep.Results[0]
			if r.Error != "" {
				t.Fatalf("%s: %s", r.Case, r.Error)
			}
			if want := broker.name + ": relay of 300 events"; r.Case != want {
				t.Errorf("case %q, want %q", r.Case, want)
			}
			m := r.Metric("events/s")
			if m == nil || !(m.EventedMedian > 0) || !(m.FloorMedian > 0) || !(m.Ratio > 0) {
				t.Fatalf("events/s: %+v", m)
			}
			checked := false
			for _, tg := range rep.Targets {
				if tg.Name == "relay to "+broker.name {
					checked = tg.Checked
				}
			}
			if !checked {
				t.Errorf("target relay to %s not checked: %+v", broker.name, rep.Targets)
			}
			t.Logf("%s: relay %.0f events/s, floor %.0f, ratio %.2f (tiny sizes: not a measurement)", broker.name, m.EventedMedian, m.FloorMedian, m.Ratio)
		})
	}
}

// Without a broker the relay scenario says what to give.
func TestRelayScenarioWantsABroker(t *testing.T) {
	rep, err := bench.Run(t.Context(), bench.Config{Rounds: 1, Scenarios: []string{"relay"}, Dir: t.TempDir(), Progress: &bytes.Buffer{}, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || !strings.Contains(rep.Results[0].Error, "--amqp") {
		t.Fatalf("results %+v, want one set-up error naming --amqp", rep.Results)
	}
}

func TestUnknownScenario(t *testing.T) {
	_, err := bench.Run(t.Context(), bench.Config{Scenarios: []string{"append", "nope"}})
	if err == nil || !strings.Contains(err.Error(), `unknown scenario "nope"`) {
		t.Errorf("err = %v, want unknown scenario", err)
	}
}

// A backend that this build does not know, or that does not answer, is
// reported and skipped; SQLite still runs.
func TestUnavailableBackendIsReported(t *testing.T) {
	var progress bytes.Buffer
	rep, err := bench.Run(t.Context(), bench.Config{
		Rounds: 1, Duration: 50 * time.Millisecond, Scenarios: []string{"load"}, Dir: t.TempDir(),
		LoadEvents: 100, Redis: "redis://127.0.0.1:1/0", Progress: &progress, Timeout: 30 * time.Second,
		ConnectTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Skipped) != 1 || !strings.HasPrefix(rep.Skipped[0], "redis: ") {
		t.Errorf("skipped = %q, want one line about redis", rep.Skipped)
	}
	if !strings.Contains(progress.String(), "redis: ") {
		t.Errorf("progress does not mention redis:\n%s", progress.String())
	}
	for _, r := range rep.Results {
		if r.Backend != "sqlite" {
			t.Errorf("result on %s", r.Backend)
		}
	}
}

// On PostgreSQL and Redis the append cases have raw floors measured in
// the same process.
func TestPostgresAppendHasARawFloor(t *testing.T) {
	testServerAppendFloor(t, "postgres", "POSTGRES_TEST_URL")
	// Each append measurement worked in a schema of its own, dropped after.
	conn, err := pgx.Connect(t.Context(), os.Getenv("POSTGRES_TEST_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var left []string
	rows, _ := conn.Query(t.Context(), `SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, fmt.Sprintf("evented\\_bench\\_%d\\_%%", os.Getpid()))
	if left, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("schemas of append measurements left behind: %q", left)
	}
}

func TestRedisAppendHasARawFloor(t *testing.T) {
	testServerAppendFloor(t, "redis", "REDIS_TEST_URL")
}

func testServerAppendFloor(t *testing.T, backend, env string) {
	rep := runOnServer(t, backend, env, bench.Config{Rounds: 1, Scenarios: []string{"append"}})
	floors := 0
	for _, r := range rep.Results {
		if r.Backend != backend || !strings.HasPrefix(r.Case, "writers=") || strings.Contains(r.Case, "keys") {
			continue
		}
		if r.Error != "" {
			t.Fatalf("%s: %s", r.Case, r.Error)
		}
		for _, m := range r.Metrics {
			if m.Name == "events/s" && m.FloorMedian > 0 {
				floors++
			}
		}
	}
	if floors != 4 {
		t.Fatalf("%d %s append cases with a raw floor, want 4", floors, backend)
	}
	// PostgreSQL's group commit has a target of its own (issue 16): 16
	// writers at 0.85 of the batched floor.
	var checked []string
	for _, tg := range rep.Targets {
		if tg.Checked && strings.HasPrefix(tg.Name, "PostgreSQL ") {
			checked = append(checked, tg.Name)
		}
	}
	if want := backend == "postgres"; want != (len(checked) == 1) {
		t.Errorf("PostgreSQL targets checked on %s: %q", backend, checked)
	}
}

// On PostgreSQL and Redis the loads and the catch-up have raw floors too:
// the store's own queries (commands) by the client library alone.
func TestPostgresReadsHaveRawFloors(t *testing.T) {
	testServerReadFloors(t, "postgres", "POSTGRES_TEST_URL", map[string]string{"load": "pgx", "catch-up": "pgx", "lag": "pgx"})
}

func TestRedisReadsHaveRawFloors(t *testing.T) {
	testServerReadFloors(t, "redis", "REDIS_TEST_URL", map[string]string{"load": "LRANGE", "catch-up": "XRANGE", "lag": "MULTI/EXEC"})
}

// testServerReadFloors runs the load and delivery scenarios on backend,
// whose floors name their client's queries: by[case kind].
func testServerReadFloors(t *testing.T, backend, env string, by map[string]string) {
	// Two rounds: every round of a floor reads the same rows.
	rep := runOnServer(t, backend, env, bench.Config{Rounds: 2, Scenarios: []string{"load", "delivery"},
		LoadEvents: 2000, CatchUpEvents: 3000, Rate: 200})
	var floored []string
	for _, r := range rep.Results {
		if r.Backend != backend {
			continue
		}
		if r.Error != "" {
			t.Fatalf("%s: %s", r.Case, r.Error)
		}
		if len(r.Metrics) == 0 || r.Metrics[0].FloorMedian <= 0 {
			t.Errorf("%s %s: no floor measured", r.Scenario, r.Case)
			continue
		}
		kind := "load"
		switch {
		case strings.HasPrefix(r.Case, "lag"):
			kind = "lag"
		case r.Scenario == "delivery":
			kind = "catch-up"
		}
		if !strings.Contains(r.Floor, by[kind]) {
			t.Errorf("%s %s: floor %q, not by %s", r.Scenario, r.Case, r.Floor, by[kind])
		}
		floored = append(floored, r.Case)
	}
	if len(floored) != 4 {
		t.Fatalf("%s cases with a raw floor: %q, want the two loads, the lag and the catch-up", backend, floored)
	}
}

// runOnServer runs cfg, in short measurements, on backend (postgres or
// redis) at the URL in env, or skips the test when env is not set.
func runOnServer(t *testing.T, backend, env string, cfg bench.Config) *bench.Report {
	t.Helper()
	url := os.Getenv(env)
	if url == "" {
		t.Skip(env + " not set")
	}
	cfg.Duration, cfg.Dir, cfg.Timeout, cfg.Progress = 100*time.Millisecond, t.TempDir(), 2*time.Minute, &bytes.Buffer{}
	if backend == "postgres" {
		cfg.Postgres = url
	} else {
		cfg.Redis = url
	}
	rep, err := bench.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
