package console

import (
	"net/http"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// snapshotView is one snapshot kept of an aggregate (snapshots.keep), as
// the Events page lists them: the state itself only for the latest, which
// the aggregate's book carries.
type snapshotView struct {
	Sequence  uint32 `json:"sequence"`
	Type      string `json:"type"`
	Bytes     int    `json:"bytes"`
	CreatedAt string `json:"created_at"`
}

// keptSnapshots lists the snapshots kept of cv, newest first (the first is
// the one commands load); nil when the store cannot tell.
func (c *Console) keptSnapshots(r *http.Request, cv eventstore.Cover) []snapshotView {
	h, err := c.o.Store.SnapshotHistory(r.Context(), cv)
	if err != nil {
		return nil
	}
	out := make([]snapshotView, len(h))
	for i, s := range h {
		out[i] = snapshotView{Sequence: s.Sequence, Type: s.TypeURL, Bytes: len(s.State), CreatedAt: s.CreatedAt.UTC().Format(time.RFC3339Nano)}
	}
	return out
}

// domainSnapshots is a domain's snapshot policy and what it did since this
// replica started (its metrics).
type domainSnapshots struct {
	Domain    string  `json:"domain"`
	Every     int     `json:"every,omitempty"`
	LoadOver  string  `json:"load_over,omitempty"`
	Idle      string  `json:"idle,omitempty"`
	Keep      int     `json:"keep"`
	StateType string  `json:"state_type,omitempty"`
	Disabled  bool    `json:"disabled,omitempty"`
	MinEvents int     `json:"min_events,omitempty"`
	Taken     float64 `json:"taken"`
	// TakenBy counts the automatic snapshots taken by reason (every,
	// load_over, idle), Skipped those not stored by outcome.
	TakenBy map[string]float64 `json:"taken_by"`
	Skipped map[string]float64 `json:"skipped"`
	Folded  float64            `json:"events_folded"`
	// Loads and LoadMeanMs are the loads of the domain's aggregates for
	// commands (those not kept in memory) and their mean time.
	Loads      uint64  `json:"loads"`
	LoadMeanMs float64 `json:"load_mean_ms"`
}

// snapshots answers the per-domain snapshot figures: each configured
// domain's policy and, from the metrics, what its automatic snapshots and
// loads did on this replica.
func (c *Console) snapshots(w http.ResponseWriter, r *http.Request) {
	byDomain := map[string]*domainSnapshots{}
	out := make([]*domainSnapshots, 0, len(c.o.Config.BusinessLogic))
	for _, b := range c.o.Config.BusinessLogic {
		p := b.Snapshots
		d := &domainSnapshots{Domain: b.Domain, Every: p.Every, Keep: max(p.Keep, 1), StateType: p.StateType, Disabled: p.Disabled,
			MinEvents: p.MinEvents, TakenBy: map[string]float64{}, Skipped: map[string]float64{}}
		if p.LoadOver > 0 {
			d.LoadOver = p.LoadOver.String()
		}
		if p.Idle > 0 {
			d.Idle = p.Idle.String()
		}
		byDomain[b.Domain] = d
		out = append(out, d)
	}
	if c.o.Samples != nil && c.o.Samples.gather != nil {
		if families, err := c.o.Samples.gather.Gather(); err == nil {
			for _, f := range families {
				for _, m := range f.GetMetric() {
					d := byDomain[label(m.GetLabel(), "domain")]
					if d == nil {
						continue
					}
					switch f.GetName() {
					case "evented_snapshots_taken_total":
						d.TakenBy[label(m.GetLabel(), "reason")] += m.GetCounter().GetValue()
						d.Taken += m.GetCounter().GetValue()
					case "evented_snapshots_skipped_total":
						d.Skipped[label(m.GetLabel(), "outcome")] += m.GetCounter().GetValue()
					case "evented_snapshot_events_folded_total":
						d.Folded += m.GetCounter().GetValue()
					case "evented_aggregate_load_seconds":
						if h := m.GetHistogram(); h.GetSampleCount() > 0 {
							d.Loads = h.GetSampleCount()
							d.LoadMeanMs = h.GetSampleSum() / float64(h.GetSampleCount()) * 1000
						}
					}
				}
			}
		}
	}
	writeJSON(w, map[string]any{"domains": out})
}

// label is the value of the label called name among ls ("" when none).
func label[L interface {
	GetName() string
	GetValue() string
}](ls []L, name string) string {
	for _, l := range ls {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
