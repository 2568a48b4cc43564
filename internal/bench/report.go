package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// Target is one of the performance targets evented must reach (on SQLite,
// durable), checked against a report.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	// Checked is false when the case did not run (filtered out, failed).
	Checked bool `json:"checked"`
	Met     bool `json:"met"`
	// RoundRatios are the ratios of each round's pair of measurements
	// (evented's and the floor's, taken one after the other) for a target
	// on a ratio: how far the median's verdict is from the rounds'.
	RoundRatios []float64 `json:"round_ratios,omitempty"`
}

type targetSpec struct {
	backend                          string // "" is sqlite
	name, scenario, caseName, metric string
	ratio                            bool // compare the ratio, else the evented median
	atLeast                          bool // the value must be >= limit, else < (or <= for ratios)
	limit                            float64
	want                             string
}

func targets(rep *Report) []targetSpec {
	n, rate, rebuilt, caughtUp := 100_000, 1000, 100_000, 100_000
	// The sizes this run used; a case name that does not parse keeps the
	// default.
	for _, r := range rep.Results {
		if r.Scenario == "lifecycle" && strings.HasPrefix(r.Case, "rebuild of ") {
			_, _ = fmt.Sscanf(r.Case, "rebuild of %d ", &rebuilt)
		}
		if r.Scenario == "load" && strings.HasSuffix(r.Case, "/no-snapshot") {
			_, _ = fmt.Sscanf(r.Case, "events=%d/", &n)
		}
		if r.Scenario == "delivery" && strings.HasPrefix(r.Case, "lag at ") {
			_, _ = fmt.Sscanf(r.Case, "lag at %d ", &rate)
		}
		if r.Scenario == "delivery" && strings.HasPrefix(r.Case, "catch-up of ") {
			_, _ = fmt.Sscanf(r.Case, "catch-up of %d ", &caughtUp)
		}
	}
	var more []targetSpec // one result per backend, scenario and case
	for _, r := range rep.Results {
		if r.Scenario == "append" && r.Backend == "postgres" && r.Case == "writers=16/events=1" {
			more = append(more, targetSpec{backend: "postgres", name: "PostgreSQL append, 16 writers, 1 event", scenario: "append", caseName: r.Case, metric: "events/s", ratio: true, atLeast: true, limit: 0.85,
				want: ">= 0.85 of the batched floor"})
		}
		if r.Scenario == "relay" && r.Backend == "sqlite" && r.Case != "set-up" {
			broker, _, _ := strings.Cut(r.Case, ":")
			more = append(more, targetSpec{name: "relay to " + broker, scenario: "relay", caseName: r.Case, metric: "events/s", ratio: true, atLeast: true, limit: 0.8,
				want: ">= 0.80 of the raw confirmed publish"})
		}
	}
	return append([]targetSpec{
		{name: "append, 16 writers, 1 event", scenario: "append", caseName: "writers=16/events=1", metric: "events/s", ratio: true, atLeast: true, limit: 0.8, want: ">= 0.80 of the batched floor"},
		{name: "append, 16 writers, 10 events", scenario: "append", caseName: "writers=16/events=10", metric: "events/s", ratio: true, atLeast: true, limit: 0.8, want: ">= 0.80 of the batched floor"},
		{name: "Handle, 1 client", scenario: "command", caseName: "clients=1", metric: "commands/s", ratio: true, atLeast: true, limit: 0.8, want: ">= 0.80 of the echo plus one durable commit"},
		{name: "Handle, 16 clients", scenario: "command", caseName: "clients=16", metric: "commands/s", ratio: true, atLeast: true, limit: 0.7, want: ">= 0.70 of the two-hop echo"},
		{name: fmt.Sprintf("load %d events, recent snapshot", n), scenario: "load", caseName: fmt.Sprintf("events=%d/snapshot=%d", n, n-snapshotGap), metric: "load ms", limit: 5, want: "< 5 ms"},
		{name: fmt.Sprintf("load %d events, no snapshot", n), scenario: "load", caseName: fmt.Sprintf("events=%d/no-snapshot", n), metric: "load ms", ratio: true, limit: 1.2, want: "<= 1.2x the raw read"},
		{name: fmt.Sprintf("delivery lag p99 at %d events/s", rate), scenario: "delivery", caseName: fmt.Sprintf("lag at %d events/s", rate), metric: "lag p99 ms", limit: 10, want: "< 10 ms"},
		{name: fmt.Sprintf("catch-up of %d events", caughtUp), scenario: "delivery", caseName: fmt.Sprintf("catch-up of %d events", caughtUp), metric: "events/s", ratio: true, atLeast: true, limit: 0.8, want: ">= 0.80 of a sequential read"},
		{name: fmt.Sprintf("rebuild of %d events (lifecycle)", rebuilt), scenario: "lifecycle", caseName: fmt.Sprintf("rebuild of %d events", rebuilt), metric: "events/s", ratio: true, atLeast: true, limit: 0.8, want: ">= 0.80 of a sequential read"},
	}, more...)
}

func checkTargets(rep *Report) []Target {
	var out []Target
	for _, t := range targets(rep) {
		res := Target{Name: t.name, Want: t.want, Got: "not run"}
		backend := t.backend
		if backend == "" {
			backend = "sqlite"
		}
		for i := range rep.Results {
			r := &rep.Results[i]
			if r.Backend != backend || r.Scenario != t.scenario || r.Case != t.caseName {
				continue
			}
			m := r.Metric(t.metric)
			if r.Error != "" || m == nil || t.ratio && m.Ratio == 0 {
				res.Got = "failed: " + r.Error
				break
			}
			res.Checked = true
			switch {
			case t.ratio:
				// Two digits, or three where two would round to the limit
				// (0.7994 is not 0.80).
				digits := 2
				if math.Abs(m.Ratio-t.limit) < 0.005 {
					digits = 3
				}
				res.RoundRatios = roundRatios(m)
				spread := ""
				if len(res.RoundRatios) > 1 {
					spread = fmt.Sprintf("; rounds %.2f–%.2f", slices.Min(res.RoundRatios), slices.Max(res.RoundRatios))
				}
				res.Got = fmt.Sprintf("%.*f (%s / %s %s%s)", digits, m.Ratio, short(m.EventedMedian), short(m.FloorMedian), m.Name, spread)
				if t.atLeast {
					res.Met = m.Ratio >= t.limit
				} else {
					res.Met = m.Ratio <= t.limit
				}
			default:
				res.Got = fmt.Sprintf("%s ms", short(m.EventedMedian))
				res.Met = m.EventedMedian < t.limit
			}
		}
		out = append(out, res)
	}
	return out
}

// roundRatios is evented/floor of each round of m: round i measured both
// sides one after the other, so a drift of the machine between rounds
// hits both of a pair alike. Nil when the sides do not pair up.
func roundRatios(m *Metric) []float64 {
	if len(m.Evented) != len(m.Floor) {
		return nil
	}
	out := make([]float64, len(m.Evented))
	for i, e := range m.Evented {
		if m.Floor[i] == 0 {
			return nil
		}
		out[i] = e / m.Floor[i]
	}
	return out
}

// short prints v with about three significant digits.
func short(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.1f", v)
	case v >= 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// WriteText prints rep as tables: every case with its medians and ratio,
// then the targets.
func (rep *Report) WriteText(w io.Writer) error {
	m := rep.Machine
	fmt.Fprintf(w, "evented bench: %s/%s, %d CPUs (GOMAXPROCS %d), %s, %s\n", m.OS, m.Arch, m.CPUs, m.GOMAXPROCS, m.CPU, m.GoVersion)
	fmt.Fprintf(w, "%d rounds of %s per side, alternating; medians; load average %s at start, %s at end; took %s\n\n",
		rep.Rounds, rep.Duration, orDash(m.LoadAtStart), orDash(m.LoadAtEnd), rep.Elapsed.Round(1e9))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tscenario\tcase\tmetric\tevented\tfloor\tevented/floor\t")
	for _, r := range rep.Results {
		if r.Error != "" && len(r.Metrics) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\tERROR\t\n", r.Backend, r.Scenario, r.Case)
			continue
		}
		for _, mt := range r.Metrics {
			floor, ratio := "-", "-"
			if len(mt.Floor) > 0 {
				floor = short(mt.FloorMedian)
				better := "lower is better"
				if mt.HigherIsBetter {
					better = "higher is better"
				}
				ratio = fmt.Sprintf("%.2f (%s)", mt.Ratio, better)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Backend, r.Scenario, r.Case, mt.Name, short(mt.EventedMedian), floor, ratio)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Fprintf(w, "error: %s %s %s: %s\n", r.Backend, r.Scenario, r.Case, r.Error)
		}
	}
	fmt.Fprintln(w, "\nfloors:")
	seen := map[string]bool{}
	var bare []string               // backends with a case that has no floor
	bareIn := map[string][]string{} // their scenarios without one
	for _, r := range rep.Results {
		if r.Error != "" && len(r.Metrics) == 0 {
			continue
		}
		if len(r.Metrics) > 0 && len(r.Metrics[0].Floor) == 0 {
			if !slices.Contains(bare, r.Backend) {
				bare = append(bare, r.Backend)
			}
			if !slices.Contains(bareIn[r.Backend], r.Scenario) {
				bareIn[r.Backend] = append(bareIn[r.Backend], r.Scenario)
			}
			continue
		}
		key := r.Scenario + " " + r.Case
		if seen[key+"\x00"+r.Floor] {
			continue
		}
		if seen[key] {
			// Another backend's floor of the same case (its own client).
			fmt.Fprintf(w, "  %s %s on %s: %s\n", r.Scenario, r.Case, r.Backend, r.Floor)
			seen[key+"\x00"+r.Floor] = true
			continue
		}
		seen[key], seen[key+"\x00"+r.Floor] = true, true
		fmt.Fprintf(w, "  %s %s: %s\n", r.Scenario, r.Case, r.Floor)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "    (%s)\n", n)
		}
	}
	for _, b := range bare {
		fmt.Fprintf(w, "  %s %s: no raw floor in this build: evented's figures only\n", b, strings.Join(bareIn[b], ", "))
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
	fmt.Fprintln(w, "\ntargets (SQLite, durable, where no other backend is named):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range rep.Targets {
		verdict := "NOT MET"
		switch {
		case !t.Checked:
			verdict = "NOT CHECKED"
		case t.Met:
			verdict = "met"
		}
		fmt.Fprintf(tw, "  %s\twant %s\tgot %s\t%s\n", t.Name, t.Want, t.Got, verdict)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteJSON writes rep as indented JSON to path.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
