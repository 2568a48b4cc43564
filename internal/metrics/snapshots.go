package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// snapshotMetrics count automatic snapshots (snapshot.Observer).
type snapshotMetrics struct {
	taken   *prometheus.CounterVec
	folded  *prometheus.CounterVec
	skipped *prometheus.CounterVec
	load    *prometheus.HistogramVec
}

func newSnapshotMetrics(reg *prometheus.Registry) snapshotMetrics {
	s := snapshotMetrics{
		taken: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_snapshots_taken_total",
			Help: "Automatic snapshots stored, by domain and reason (every, load_over, idle).",
		}, []string{"domain", "reason"}),
		folded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_snapshot_events_folded_total",
			Help: "Events folded into automatic snapshots by business logic, by domain.",
		}, []string{"domain"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_snapshots_skipped_total",
			Help: "Automatic snapshots not stored, by domain, reason and outcome (current, unimplemented, failed, state_type).",
		}, []string{"domain", "reason", "outcome"}),
		load: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "evented_aggregate_load_seconds",
			Help:    "Time to load an aggregate (latest snapshot and the events after it) for a command, by domain.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18), // 0.1ms … 13s
		}, []string{"domain"}),
	}
	reg.MustRegister(s.taken, s.folded, s.skipped, s.load)
	return s
}

// SnapshotTaken implements snapshot.Observer.
func (m *Metrics) SnapshotTaken(domain, reason string, events int) {
	d := m.domains.admit(domain)
	m.snaps.taken.WithLabelValues(d, reason).Inc()
	m.snaps.folded.WithLabelValues(d).Add(float64(events))
}

// SnapshotSkipped implements snapshot.Observer.
func (m *Metrics) SnapshotSkipped(domain, reason, outcome string) {
	m.snaps.skipped.WithLabelValues(m.domains.admit(domain), reason, outcome).Inc()
}

// SnapshotLoad implements snapshot.Observer.
func (m *Metrics) SnapshotLoad(domain string, took time.Duration) {
	m.snaps.load.WithLabelValues(m.domains.admit(domain)).Observe(took.Seconds())
}
