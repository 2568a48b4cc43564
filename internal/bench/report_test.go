package bench

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// The report names the scenarios of each backend that ran without a raw
// floor, and checks PostgreSQL's group-commit target on PostgreSQL's
// figures, not SQLite's.
func TestReportFloorsAndPostgresTarget(t *testing.T) {
	withFloor := func(backend, scenario, c string, evented, floor float64) Result {
		return Result{Backend: backend, Scenario: scenario, Case: c, Floor: "plain INSERTs", Metrics: []Metric{{
			Name: "events/s", HigherIsBetter: true, Evented: []float64{evented}, Floor: []float64{floor},
			EventedMedian: evented, FloorMedian: floor, Ratio: evented / floor,
		}}}
	}
	bare := func(backend, scenario, c string) Result {
		return Result{Backend: backend, Scenario: scenario, Case: c, Metrics: []Metric{{Name: "load ms", Evented: []float64{1}, EventedMedian: 1}}}
	}
	rep := &Report{Results: []Result{
		withFloor("sqlite", "append", "writers=16/events=1", 900, 1000),
		withFloor("sqlite", "append", "writers=16/events=10", 7994, 10000),
		withFloor("postgres", "append", "writers=16/events=1", 800, 1000),
		bare("postgres", "load", "events=100/no-snapshot"),
		bare("postgres", "delivery", "catch-up of 100 events"),
		bare("redis", "load", "events=100/no-snapshot"),
	}}
	rep.Targets = checkTargets(rep)
	var pg *Target
	for i, tg := range rep.Targets {
		if strings.HasPrefix(tg.Name, "PostgreSQL ") {
			pg = &rep.Targets[i]
		}
		if tg.Name == "append, 16 writers, 1 event" && (!tg.Checked || !tg.Met) {
			t.Errorf("SQLite's target: %+v, want checked and met (0.90)", tg)
		}
	}
	for _, tg := range rep.Targets {
		if tg.Name == "append, 16 writers, 10 events" && (tg.Met || !strings.HasPrefix(tg.Got, "0.799 ")) {
			t.Errorf("a ratio just under its limit: %+v, want 0.799 and not met", tg)
		}
	}
	if pg == nil || !pg.Checked || pg.Met || !strings.HasPrefix(pg.Got, "0.80 ") {
		t.Errorf("PostgreSQL's target: %+v, want checked and not met at 0.80", pg)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"postgres load, delivery: no raw floor", "redis load: no raw floor"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "append: no raw floor") || strings.Contains(text.String(), "(append,") {
		t.Errorf("report says an append case has no floor:\n%s", text.String())
	}
}

// A target on a ratio shows the spread of the rounds' own ratios, each
// round's evented figure over the same round's floor, beside the
// medians' ratio.
func TestTargetsShowTheRoundsSpread(t *testing.T) {
	rep := &Report{Results: []Result{{Backend: "sqlite", Scenario: "command", Case: "clients=1", Metrics: []Metric{{
		Name: "commands/s", HigherIsBetter: true,
		Evented: []float64{2400, 2600, 2000}, Floor: []float64{3000, 2600, 2500},
		EventedMedian: 2400, FloorMedian: 2600, Ratio: 2400.0 / 2600,
	}}}}}
	for _, tg := range checkTargets(rep) {
		if tg.Name != "Handle, 1 client" {
			continue
		}
		if want := []float64{0.8, 1, 0.8}; !slices.Equal(tg.RoundRatios, want) {
			t.Errorf("round ratios %v, want %v", tg.RoundRatios, want)
		}
		if !strings.HasSuffix(tg.Got, "; rounds 0.80–1.00)") || !strings.HasPrefix(tg.Got, "0.92 (2400 / 2600 commands/s") {
			t.Errorf("got %q, want the medians' ratio and the rounds' 0.80–1.00", tg.Got)
		}
		return
	}
	t.Fatal("no target for one client's commands")
}
