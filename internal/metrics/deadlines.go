package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evented/evented/internal/eventstore"
)

// deadlineMetrics count deadlines scheduled, cancelled and fired
// (command.DeadlineObserver, deadline.Observer).
type deadlineMetrics struct {
	planned *prometheus.CounterVec
	fired   *prometheus.CounterVec
	delay   *prometheus.HistogramVec
}

func newDeadlineMetrics(reg *prometheus.Registry) deadlineMetrics {
	d := deadlineMetrics{
		planned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_deadlines_planned_total",
			Help: "Deadlines stored by replies (scheduled) or removed by them (cancelled), by the replying command's domain and action.",
		}, []string{"domain", "action"}),
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_deadlines_fired_total",
			Help: "Deadlines fired by this replica, by their command's domain and outcome (applied, refused).",
		}, []string{"domain", "outcome"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "evented_deadline_firing_delay_seconds",
			Help:    "From a deadline's due time to the end of its command, by the command's domain.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17), // 1ms … 65s
		}, []string{"domain"}),
	}
	reg.MustRegister(d.planned, d.fired, d.delay)
	return d
}

// DeadlinesPlanned implements command.DeadlineObserver.
func (m *Metrics) DeadlinesPlanned(domain string, scheduled, cancelled int) {
	d := m.domains.admit(domain)
	if scheduled > 0 {
		m.dls.planned.WithLabelValues(d, "scheduled").Add(float64(scheduled))
	}
	if cancelled > 0 {
		m.dls.planned.WithLabelValues(d, "cancelled").Add(float64(cancelled))
	}
}

// Fired implements deadline.Observer.
func (m *Metrics) Fired(domain string, delay time.Duration, err error) {
	d := m.domains.admit(domain)
	outcome := "applied"
	if err != nil {
		outcome = "refused"
	}
	m.dls.fired.WithLabelValues(d, outcome).Inc()
	m.dls.delay.WithLabelValues(d).Observe(max(delay, 0).Seconds())
}

// WatchDeadlines adds gauges read at scrape time: the deadlines pending in
// the store, and those of them already due.
func (m *Metrics) WatchDeadlines(c eventstore.DeadlineCounter) {
	m.Registry.MustRegister(&deadlineCollector{c: c})
}

var (
	pendingDesc = prometheus.NewDesc("evented_deadlines_pending",
		"Deadlines in the store, not fired nor cancelled (all replicas').", nil, nil)
	dueDesc = prometheus.NewDesc("evented_deadlines_due",
		"Pending deadlines whose due time has passed: fired soon, or late (all replicas').", nil, nil)
)

type deadlineCollector struct{ c eventstore.DeadlineCounter }

func (d *deadlineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- dueDesc
}

func (d *deadlineCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pending, due, err := d.c.CountDeadlines(ctx, time.Now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(pendingDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(dueDesc, prometheus.GaugeValue, float64(due))
}
