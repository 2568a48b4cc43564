package server

import (
	"context"
	"time"

	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/metrics"
	"github.com/evented/evented/internal/snapshot"
)

// snapshotPolicies are the automatic snapshot policies of the configured
// domains.
func snapshotPolicies(cfg []config.BusinessLogic) map[string]snapshot.Policy {
	policies := map[string]snapshot.Policy{}
	for _, b := range cfg {
		p := b.Snapshots
		policies[b.Domain] = snapshot.Policy{Every: uint32(p.Every), LoadOver: p.LoadOver, Idle: p.Idle, StateType: p.StateType, Keep: p.Keep}
	}
	return policies
}

// filterSnapshots makes every reader of st (commands, queries, deliveries
// with history) ignore snapshots of a domain whose state type is not its
// snapshots.state_type; st is unchanged when no domain sets one.
func filterSnapshots(st Storage, policies map[string]snapshot.Policy) Storage {
	any := false
	for _, p := range policies {
		any = any || p.StateType != ""
	}
	if !any {
		return st
	}
	return filteredStorage{Storage: st, f: snapshot.Filter(st, func(d string) string { return policies[d].StateType })}
}

type filteredStorage struct {
	Storage
	f eventstore.Snapshots
}

func (s filteredStorage) Snapshot(ctx context.Context, cover eventstore.Cover) (eventstore.Snapshot, bool, error) {
	return s.f.Snapshot(ctx, cover)
}

// snapshotWorker is the automatic snapshot worker, or nil when no domain
// has an automatic policy.
func (s *Server) snapshotWorker(r snapshot.Router) *snapshot.Worker {
	w := snapshot.New(s.store, s.store, r, snapshotPolicies(s.cfg.BusinessLogic), snapshot.Options{Observer: s.metrics}, s.log)
	if len(w.Domains()) == 0 {
		return nil
	}
	return w
}

// snapshotSubscription feeds the worker the log of its domains: each
// aggregate is looked at by the replica holding its segment.
func (s *Server) snapshotSubscription(w *snapshot.Worker) *delivery.Subscription {
	d := s.cfg.Delivery
	return delivery.New(w, s.store, nil, delivery.Options{
		Domains: w.Domains(), MaxAttempts: d.MaxAttempts, BackoffMin: d.BackoffMin, BackoffMax: d.BackoffMax,
		Workers: d.Workers, Observer: s.metrics, Segments: d.Segments, LeaseTTL: d.LeaseTTL, Replica: s.replica,
	}, s.log)
}

// loadMetrics measures loads when no domain has automatic snapshots.
type loadMetrics struct{ m *metrics.Metrics }

func (l loadMetrics) Loaded(cover eventstore.Cover, took time.Duration, _ int) {
	l.m.SnapshotLoad(cover.Domain, took)
}
