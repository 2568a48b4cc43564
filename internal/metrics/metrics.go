// Package metrics exposes evented's Prometheus metrics: commands by domain
// and outcome with their latency, appends, conflicts and retries, and for
// every subscriber its deliveries, delivery lag, failures, parked events and
// how far behind the log it is.
//
// All metrics are named evented_*; see docs/reference/metrics.md for
// the list. The core knows nothing of Prometheus: it reports through the
// command.Observer and delivery.Observer interfaces this package implements,
// and the gRPC interceptor here measures commands at the edge.
package metrics

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
)

// Metrics holds evented's collectors and the registry they live in.
type Metrics struct {
	Registry *prometheus.Registry

	snaps snapshotMetrics
	dls   deadlineMetrics

	commands       *prometheus.CounterVec
	commandSeconds *prometheus.HistogramVec
	appended       *prometheus.CounterVec
	conflicts      *prometheus.CounterVec
	delivered      *prometheus.CounterVec
	deliveryLag    *prometheus.HistogramVec
	deliveryFailed *prometheus.CounterVec
	parked         *prometheus.CounterVec
	discarded      *prometheus.CounterVec
	domains        *domains
}

// OtherDomain is the domain label of every domain without one of its own.
const OtherDomain = "other"

// domains bounds the domain label's values: a client choosing domains at
// random must not grow the server (each label value is a series held
// forever). The configured domains have their label; so do the first
// extra others that are stored (so valid: a request's domain is only
// labelled once an append proved it valid); the rest count as OtherDomain.
type domains struct {
	mu     sync.RWMutex
	labels map[string]bool
	extra  int // how many more may be added
}

func (d *domains) label(domain string) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.labels[domain] {
		return domain
	}
	return OtherDomain
}

// admit gives a stored domain its label, while there is room.
func (d *domains) admit(domain string) string {
	if l := d.label(domain); l != OtherDomain || domain == OtherDomain {
		return l
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.labels[domain] && d.extra > 0 {
		d.labels[domain] = true
		d.extra--
	}
	if d.labels[domain] {
		return domain
	}
	return OtherDomain
}

// New registers evented's metrics, with Go runtime and process metrics, in
// a fresh registry. The domain label takes the values of configured, the
// first extra other domains stored, and OtherDomain.
func New(configured []string, extra int) *Metrics {
	d := &domains{labels: map[string]bool{}, extra: extra}
	for _, c := range configured {
		d.labels[c] = true
	}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		domains:  d,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_commands_total",
			Help: "Commands and records handled, by method (Handle, Record), domain and gRPC outcome code.",
		}, []string{"method", "domain", "code"}),
		commandSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "evented_command_duration_seconds",
			Help:    "Time to handle a command or record, from request to reply, by method and domain.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms … 16s
		}, []string{"method", "domain"}),
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_events_appended_total",
			Help: "Events appended to the store, by domain.",
		}, []string{"domain"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_append_conflicts_total",
			Help: "Appends that lost to another writer, by domain and what followed (retried, aborted).",
		}, []string{"domain", "then"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_events_delivered_total",
			Help: "Events delivered to a subscriber (projector, saga, bus relay).",
		}, []string{"subscriber"}),
		deliveryLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "evented_delivery_lag_seconds",
			Help:    "Time from an event's creation to its delivery, by subscriber.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18), // 0.5ms … 65s
		}, []string{"subscriber"}),
		deliveryFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_delivery_failures_total",
			Help: "Failed delivery attempts, by subscriber (each is retried, then parked).",
		}, []string{"subscriber"}),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_events_parked_total",
			Help: "Events parked (dead-lettered), by subscriber.",
		}, []string{"subscriber"}),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evented_parked_discarded_total",
			Help: "Parked events discarded by an operator (never delivered), by subscriber.",
		}, []string{"subscriber"}),
	}
	m.Registry.MustRegister(m.commands, m.commandSeconds, m.appended, m.conflicts,
		m.delivered, m.deliveryLag, m.deliveryFailed, m.parked, m.discarded,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.snaps = newSnapshotMetrics(m.Registry)
	m.dls = newDeadlineMetrics(m.Registry)
	return m
}

// Appended implements command.Observer.
func (m *Metrics) Appended(domain string, events int) {
	m.appended.WithLabelValues(m.domains.admit(domain)).Add(float64(events))
}

// Conflict implements command.Observer.
func (m *Metrics) Conflict(domain string, retried bool) {
	then := "aborted"
	if retried {
		then = "retried"
	}
	m.conflicts.WithLabelValues(m.domains.admit(domain), then).Inc()
}

// Delivered implements delivery.Observer.
func (m *Metrics) Delivered(subscriber string, events int, lag time.Duration) {
	m.delivered.WithLabelValues(subscriber).Add(float64(events))
	m.deliveryLag.WithLabelValues(subscriber).Observe(lag.Seconds())
}

// Failed implements delivery.Observer.
func (m *Metrics) Failed(subscriber string) { m.deliveryFailed.WithLabelValues(subscriber).Inc() }

// Parked implements delivery.Observer.
func (m *Metrics) Parked(subscriber string, events int) {
	m.parked.WithLabelValues(subscriber).Add(float64(events))
}

// Discarded implements delivery.DiscardObserver.
func (m *Metrics) Discarded(subscriber string, events int) {
	m.discarded.WithLabelValues(subscriber).Add(float64(events))
}

// Interceptor measures BusinessCoordinator calls by domain and outcome.
// It runs outside the error-mapping interceptor, so it sees final codes.
func (m *Metrics) Interceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		var method, domain string
		switch r := req.(type) {
		case *eventedpb.CommandBook:
			method, domain = "Handle", r.GetCover().GetDomain()
		case *eventedpb.EventBook:
			if info.FullMethod != eventedpb.BusinessCoordinator_Record_FullMethodName {
				return h(ctx, req)
			}
			method, domain = "Record", r.GetCover().GetDomain()
		default:
			return h(ctx, req)
		}
		start := time.Now()
		resp, err := h(ctx, req)
		// After the call: a domain it stored has its label by now.
		domain = m.domains.label(domain)
		m.commandSeconds.WithLabelValues(method, domain).Observe(time.Since(start).Seconds())
		m.commands.WithLabelValues(method, domain, status.Code(err).String()).Inc()
		return resp, err
	}
}

// WatchSubscriptions adds gauges read at scrape time: each subscriber's
// checkpoint, pending events and lag behind the log's head (in events).
func (m *Metrics) WatchSubscriptions(hub *delivery.Hub, log eventstore.Log) {
	m.Registry.MustRegister(&subscriptionCollector{hub: hub, log: log})
}

var (
	behindDesc = prometheus.NewDesc("evented_subscriber_behind_events",
		"Events in the log the subscriber has not handled yet (head - checkpoint).", []string{"subscriber"}, nil)
	checkpointDesc = prometheus.NewDesc("evented_subscriber_checkpoint",
		"The subscriber's checkpoint: the log position up to which everything is handled.", []string{"subscriber"}, nil)
	headDesc      = prometheus.NewDesc("evented_log_head", "The highest position in the store's log.", nil, nil)
	segmentBehind = prometheus.NewDesc("evented_segment_behind_events",
		"Events in the log one segment of the subscriber has not handled yet (head - the segment's position).", []string{"subscriber", "segment"}, nil)
	segmentOwned = prometheus.NewDesc("evented_segment_owned",
		"1 when this replica holds the segment's lease, else 0.", []string{"subscriber", "segment"}, nil)
	lagSecondsDesc = prometheus.NewDesc("evented_subscriber_lag_seconds",
		"Seconds since the oldest event the subscriber has not handled was committed (0 when caught up).", []string{"subscriber"}, nil)
	rateDesc = prometheus.NewDesc("evented_subscriber_rate_events_per_second",
		"Events per second this replica delivered to the subscriber lately (a moving average).", []string{"subscriber"}, nil)
	etaDesc = prometheus.NewDesc("evented_subscriber_catch_up_seconds",
		"Estimated seconds until the subscriber catches up: events behind / rate (0 when caught up or not delivering).", []string{"subscriber"}, nil)
	versionDesc = prometheus.NewDesc("evented_projector_version_state",
		"1 for the state (active, candidate, retired) of each version of a projector.", []string{"projector", "version", "state"}, nil)
	segmentToken = prometheus.NewDesc("evented_segment_token",
		"The fencing token of the segment's lease: it grows each time the segment changes hands.", []string{"subscriber", "segment"}, nil)
)

type subscriptionCollector struct {
	hub *delivery.Hub
	log eventstore.Log
}

func (c *subscriptionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- behindDesc
	ch <- checkpointDesc
	ch <- headDesc
	ch <- segmentBehind
	ch <- segmentOwned
	ch <- segmentToken
	ch <- lagSecondsDesc
	ch <- rateDesc
	ch <- etaDesc
	ch <- versionDesc
}

func (c *subscriptionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	head, err := c.log.Head(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(headDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(headDesc, prometheus.GaugeValue, float64(head))
	for _, sub := range c.hub.Subscriptions() {
		st := sub.Status()
		ch <- prometheus.MustNewConstMetric(checkpointDesc, prometheus.GaugeValue, float64(st.Checkpoint), st.Name)
		behind := float64(0)
		if head > st.Checkpoint {
			behind = float64(head - st.Checkpoint)
		}
		ch <- prometheus.MustNewConstMetric(behindDesc, prometheus.GaugeValue, behind, st.Name)
		lag, eta := delivery.CatchUp(st, head, time.Now())
		ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, lag, st.Name)
		ch <- prometheus.MustNewConstMetric(rateDesc, prometheus.GaugeValue, st.Rate, st.Name)
		ch <- prometheus.MustNewConstMetric(etaDesc, prometheus.GaugeValue, eta, st.Name)
		if st.Versioned {
			ch <- prometheus.MustNewConstMetric(versionDesc, prometheus.GaugeValue, 1, st.Projector, strconv.Itoa(st.Version), st.State)
		}
		for _, seg := range st.Segments {
			label := fmt.Sprintf("%d/%d", seg.Index, seg.Of)
			lag, owned := float64(0), float64(0)
			if head > seg.Position {
				lag = float64(head - seg.Position)
			}
			if seg.Local {
				owned = 1
			}
			ch <- prometheus.MustNewConstMetric(segmentBehind, prometheus.GaugeValue, lag, st.Name, label)
			ch <- prometheus.MustNewConstMetric(segmentOwned, prometheus.GaugeValue, owned, st.Name, label)
			ch <- prometheus.MustNewConstMetric(segmentToken, prometheus.GaugeValue, float64(seg.Token), st.Name, label)
		}
	}
}
