package bench

import (
	"bytes"
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
