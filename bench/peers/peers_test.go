package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/evented/evented/internal/bench"
)

// TestSmoke runs every contender of every case twice, briefly: it checks
// that everything measures (and that hallgren's and goes' events read back
// as appended), not how fast. PostgreSQL runs when POSTGRES_TEST_URL is
// set (CI sets it), SQLite always.
func TestSmoke(t *testing.T) {
	pg := os.Getenv("POSTGRES_TEST_URL")
	if pg == "" {
		t.Log("POSTGRES_TEST_URL is not set: SQLite only")
	}
	cfg := config{rounds: 2, duration: 100 * time.Millisecond, writers: []int{1, 4}, events: []int{1, 3},
		dir: t.TempDir(), postgres: pg, timeout: 5 * time.Minute}
	var progress strings.Builder
	rep, err := run(context.Background(), cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.write(&out)
	t.Log("\n" + progress.String() + out.String())
	want := map[string][]string{"sqlite": {"evented", "floor (raw SQL)", "hallgren/eventsourcing"}}
	if pg != "" {
		want["postgres"] = []string{"evented", "floor (raw SQL)", "hallgren/eventsourcing", "modernice/goes"}
	}
	if len(rep.setupErrs) > 0 {
		t.Errorf("set-up failed: %v", rep.setupErrs)
	}
	if got := len(rep.results); got != 4*len(want) {
		t.Errorf("%d cases measured, want %d", got, 4*len(want))
	}
	for _, r := range rep.results {
		if r.err != nil {
			t.Errorf("%s %d×%d: %v", r.backend, r.writers, r.perAppend, r.err)
			continue
		}
		for _, name := range want[r.backend] {
			if n := len(r.rates[name]); n != cfg.rounds {
				t.Errorf("%s %d×%d %s: %d rounds measured, want %d", r.backend, r.writers, r.perAppend, name, n, cfg.rounds)
			}
			for _, x := range r.rates[name] {
				if !(x.EventsPerSec > 0) {
					t.Errorf("%s %d×%d %s: %v events/s", r.backend, r.writers, r.perAppend, name, x.EventsPerSec)
				}
			}
			if !strings.Contains(out.String(), "| "+r.backend+" | ") || !strings.Contains(out.String(), name) {
				t.Errorf("the report lacks %s %s:\n%s", r.backend, name, out.String())
			}
		}
	}
}

// TestFlags: the lists of writers and events per append are checked.
func TestFlags(t *testing.T) {
	for _, bad := range []string{"", "0", "1,x", "300"} {
		if _, err := ints(bad); err == nil {
			t.Errorf("ints(%q) accepted", bad)
		}
	}
	if got, err := ints("1, 16"); err != nil || len(got) != 2 || got[1] != 16 {
		t.Errorf("ints(\"1, 16\") = %v, %v", got, err)
	}
}

// TestRotation: the contenders take turns in each round, and each one
// comes first in some round.
func TestRotation(t *testing.T) {
	var order []string
	var cs []contender
	for _, name := range []string{"A", "B", "C"} {
		cs = append(cs, contender{name: name, measure: func(context.Context, *bench.Appends, int, int) (bench.AppendRate, error) {
			order = append(order, name)
			return bench.AppendRate{EventsPerSec: 1}, nil
		}})
	}
	r := runCase(context.Background(), config{rounds: 4, duration: time.Millisecond}, nil, "test", cs, 1, 1, func(string, ...any) {})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got, want := strings.Join(order, " "), "A B C B C A C A B A B C"; got != want {
		t.Errorf("order %s, want %s", got, want)
	}
	for _, name := range []string{"A", "B", "C"} {
		if len(r.rates[name]) != 4 {
			t.Errorf("%s measured %d times, want 4", name, len(r.rates[name]))
		}
	}
}
