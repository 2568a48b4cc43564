// Package snapshot takes automatic snapshots: it asks a domain's business
// logic for the state of an aggregate (its optional Snapshot ability,
// business.Snapshotter) and stores it, without waiting for a command to
// return one, so that a long-lived aggregate loads in bounded time.
//
// Three policies trigger a snapshot, per domain (Policy):
//
//   - Every: this many events were appended since the latest snapshot. The
//     Worker is a delivery.Consumer fed by the store's log, so with several
//     replicas sharing a store each aggregate is looked at by the one
//     replica holding its segment's lease: one snapshot, not one per
//     replica, and nothing missed across restarts (the checkpoint).
//   - LoadOver: loading the aggregate for a command took longer than this
//     (Loaded, called by the command coordinator of the replica that
//     loaded it).
//   - Idle: the aggregate got no event for this long and has events after
//     its snapshot (tracked for the aggregates this replica delivers).
//
// The state is folded in chunks of at most Options.Chunk events: each call
// gives the business logic the previous state and the next events, so an
// aggregate of a million events never travels in one message. A service
// that answers UNIMPLEMENTED is logged once and not asked again: its domain
// keeps the snapshots its commands return. Failures are logged and
// counted, never retried in a loop: the next trigger tries again, and
// events are safe whatever happens here.
//
// Versioning: a snapshot whose state type is not the domain's StateType is
// ignored on load (Filter) and replaced by the next one taken.
//
// The package is part of the core: it imports no driver and no gRPC.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
)

// Name is the subscriber name of the worker: its checkpoint and leases are
// kept under it.
const Name = "snapshots"

// Policy is when a domain's aggregates get a snapshot; zero values turn a
// rule off.
type Policy struct {
	Every     uint32
	LoadOver  time.Duration
	Idle      time.Duration
	StateType string
	Keep      int // snapshots kept per aggregate (0 and 1: the latest)
}

// Auto reports whether p takes snapshots on its own.
func (p Policy) Auto() bool { return p.Every > 0 || p.LoadOver > 0 || p.Idle > 0 }

// Router gives a domain's business logic (command.Router).
type Router interface {
	Route(domain string) (business.Logic, error)
}

// Observer is told what the worker does (metrics). Reasons are "every",
// "load_over" and "idle"; outcomes of a skip are "current" (no event after
// the latest snapshot), "unimplemented", "failed" and "state_type".
type Observer interface {
	SnapshotTaken(domain, reason string, events int)
	SnapshotSkipped(domain, reason, outcome string)
	SnapshotLoad(domain string, took time.Duration)
}

type noObserver struct{}

func (noObserver) SnapshotTaken(string, string, int)      {}
func (noObserver) SnapshotSkipped(string, string, string) {}
func (noObserver) SnapshotLoad(string, time.Duration)     {}

// Options tune a Worker.
type Options struct {
	// Chunk bounds the events given to business logic in one call
	// (default 1000).
	Chunk int
	// MaxIdle bounds the aggregates tracked for the Idle rule (default
	// 100,000); past it, new ones are not tracked until some are snapshotted.
	MaxIdle int
	// Observer, when set, is told about snapshots (metrics).
	Observer Observer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Worker takes automatic snapshots. Create it with New, deliver the log
// to it through a delivery.Subscription of the domains with a policy, and
// run it with Run (the Idle and LoadOver rules). It is safe for concurrent
// use.
type Worker struct {
	store    eventstore.Store
	snaps    eventstore.Snapshots
	router   Router
	policies map[string]Policy
	opts     Options
	log      *slog.Logger
	slow     chan eventstore.Cover

	mu          sync.Mutex
	idle        map[eventstore.Cover]time.Time // events after the snapshot; last seen at
	unsupported map[string]bool                // domains whose logic has no Snapshot
	taking      map[eventstore.Cover]bool      // a snapshot under way
}

// New returns a worker for the domains in policies. snaps should be the
// Filter of the store's snapshots, so that stale state types count as none.
func New(store eventstore.Store, snaps eventstore.Snapshots, router Router, policies map[string]Policy, opts Options, log *slog.Logger) *Worker {
	if opts.Chunk <= 0 {
		opts.Chunk = 1000
	}
	if opts.MaxIdle <= 0 {
		opts.MaxIdle = 100_000
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Worker{
		store: store, snaps: snaps, router: router, policies: policies, opts: opts,
		log: log.With("component", "snapshots"), slow: make(chan eventstore.Cover, 1024),
		idle: map[eventstore.Cover]time.Time{}, unsupported: map[string]bool{}, taking: map[eventstore.Cover]bool{},
	}
}

// Domains are the domains with an automatic policy, for the subscription.
func (w *Worker) Domains() []string {
	var ds []string
	for d, p := range w.policies {
		if p.Auto() {
			ds = append(ds, d)
		}
	}
	return ds
}

// Name implements delivery.Consumer.
func (w *Worker) Name() string { return Name }

// Deliver implements delivery.Consumer: it applies the Every rule to the
// aggregate's new events and notes them for the Idle rule. It never fails:
// a snapshot not taken now is taken on a later trigger.
func (w *Worker) Deliver(ctx context.Context, book eventstore.Book, _ bool) (delivery.Outcome, error) {
	p := w.policies[book.Cover.Domain]
	if len(book.Events) == 0 || !p.Auto() || w.isUnsupported(book.Cover.Domain) {
		return delivery.Outcome{}, nil
	}
	next := book.Events[len(book.Events)-1].Sequence + 1
	if p.Every > 0 {
		var from uint32
		s, ok, err := w.snaps.Snapshot(ctx, book.Cover)
		if err != nil {
			w.log.WarnContext(ctx, "reading the latest snapshot failed", "cover", book.Cover, "err", err)
			return delivery.Outcome{}, nil
		}
		if ok {
			from = s.Sequence
		}
		if next >= from && next-from >= p.Every {
			w.Take(ctx, book.Cover, "every")
			return delivery.Outcome{}, nil
		}
	}
	if p.Idle > 0 {
		w.mu.Lock()
		if _, ok := w.idle[book.Cover]; ok || len(w.idle) < w.opts.MaxIdle {
			w.idle[book.Cover] = w.opts.Now()
		}
		w.mu.Unlock()
	}
	return delivery.Outcome{}, nil
}

// Loaded is told how long loading an aggregate for a command took (the
// command coordinator's LoadObserver); over the domain's LoadOver, the
// aggregate gets a snapshot soon, in the background.
func (w *Worker) Loaded(cover eventstore.Cover, took time.Duration, _ int) {
	w.opts.Observer.SnapshotLoad(cover.Domain, took)
	p := w.policies[cover.Domain]
	if p.LoadOver <= 0 || took <= p.LoadOver || w.isUnsupported(cover.Domain) {
		return
	}
	select {
	case w.slow <- cover:
	default: // full: the next slow load asks again
	}
}

// Run applies the LoadOver and Idle rules until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	tick := time.Second
	for _, p := range w.policies {
		if p.Idle > 0 {
			tick = min(tick, max(p.Idle/4, 10*time.Millisecond))
		}
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-w.slow:
			w.Take(ctx, c, "load_over")
		case <-t.C:
			for _, c := range w.idleDue() {
				if ctx.Err() != nil {
					return nil
				}
				w.Take(ctx, c, "idle")
			}
		}
	}
}

// idleDue returns the aggregates idle for longer than their domain's Idle.
func (w *Worker) idleDue() []eventstore.Cover {
	now := w.opts.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	var due []eventstore.Cover
	for c, at := range w.idle {
		if now.Sub(at) >= w.policies[c.Domain].Idle {
			due = append(due, c)
		}
	}
	return due
}

func (w *Worker) isUnsupported(domain string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.unsupported[domain]
}

// Take snapshots cover now: it folds the events after the latest snapshot,
// a chunk at a time, through the business logic and stores the result. It
// reports whether a snapshot was stored; failures are logged and counted.
func (w *Worker) Take(ctx context.Context, cover eventstore.Cover, reason string) bool {
	w.mu.Lock()
	if w.taking[cover] || w.unsupported[cover.Domain] {
		w.mu.Unlock()
		return false
	}
	w.taking[cover] = true
	delete(w.idle, cover)
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.taking, cover)
		w.mu.Unlock()
	}()
	n, err := w.take(ctx, cover)
	obs := w.opts.Observer
	switch {
	case errors.Is(err, business.ErrNoSnapshots):
		w.mu.Lock()
		first := !w.unsupported[cover.Domain]
		w.unsupported[cover.Domain] = true
		for c := range w.idle {
			if c.Domain == cover.Domain {
				delete(w.idle, c)
			}
		}
		w.mu.Unlock()
		if first {
			w.log.WarnContext(ctx, "business logic does not implement Snapshot: no automatic snapshots for the domain until evented restarts; snapshots returned with commands are stored as configured",
				"domain", cover.Domain, "err", err)
		}
		obs.SnapshotSkipped(cover.Domain, reason, "unimplemented")
	case errors.Is(err, errStateType):
		w.log.WarnContext(ctx, "snapshot not stored", "cover", cover, "err", err)
		obs.SnapshotSkipped(cover.Domain, reason, "state_type")
	case err != nil:
		if ctx.Err() == nil {
			w.log.WarnContext(ctx, "automatic snapshot failed; the next trigger tries again", "cover", cover, "reason", reason, "err", err)
		}
		obs.SnapshotSkipped(cover.Domain, reason, "failed")
	case n == 0:
		obs.SnapshotSkipped(cover.Domain, reason, "current")
	default:
		w.log.DebugContext(ctx, "snapshot taken", "cover", cover, "reason", reason, "events", n)
		obs.SnapshotTaken(cover.Domain, reason, n)
		return true
	}
	return false
}

var errStateType = errors.New("unexpected state type")

// take folds and stores; it returns how many events the new snapshot
// folded in beyond the previous one (0: already current).
func (w *Worker) take(ctx context.Context, cover eventstore.Cover) (int, error) {
	logic, err := w.router.Route(cover.Domain)
	if err != nil {
		return 0, err
	}
	sn, ok := logic.(business.Snapshotter)
	if !ok {
		return 0, fmt.Errorf("%s: %w", logic.Name(), business.ErrNoSnapshots)
	}
	var prev *eventstore.Snapshot
	if s, ok, err := w.snaps.Snapshot(ctx, cover); err != nil {
		return 0, err
	} else if ok {
		prev = &s
	}
	want := w.policies[cover.Domain].StateType
	folded := 0
	for {
		var from uint32
		if prev != nil {
			from = prev.Sequence
		}
		events, err := w.store.Read(ctx, cover, from, from+uint32(w.opts.Chunk))
		if err != nil {
			return folded, err
		}
		if len(events) == 0 {
			return folded, nil
		}
		s, err := sn.Snapshot(ctx, eventstore.Book{Cover: cover, Snapshot: prev, Events: events})
		if err != nil {
			return folded, err
		}
		if want != "" && s.TypeURL != want {
			return folded, fmt.Errorf("%s returned state of type %q; snapshots.state_type is %q: %w", logic.Name(), s.TypeURL, want, errStateType)
		}
		next := eventstore.Snapshot{Sequence: events[len(events)-1].Sequence + 1, TypeURL: s.TypeURL, State: s.State, CreatedAt: w.opts.Now().UTC()}
		if err := eventstore.PutSnapshotKeeping(ctx, w.snaps, cover, next, w.policies[cover.Domain].Keep); err != nil {
			return folded, err
		}
		folded += len(events)
		prev = &next
		if len(events) < w.opts.Chunk {
			return folded, nil
		}
	}
}

// Filter returns snaps that ignores snapshots whose state type is not
// the one stateType gives for their domain ("" accepts any): an older
// state shape loads as no snapshot, and the aggregate is folded from its
// events until a new snapshot replaces it.
func Filter(snaps eventstore.Snapshots, stateType func(domain string) string) eventstore.Snapshots {
	return filter{snaps, stateType}
}

type filter struct {
	eventstore.Snapshots
	stateType func(string) string
}

func (f filter) Snapshot(ctx context.Context, cover eventstore.Cover) (eventstore.Snapshot, bool, error) {
	s, ok, err := f.Snapshots.Snapshot(ctx, cover)
	if ok && err == nil {
		if want := f.stateType(cover.Domain); want != "" && s.TypeURL != want {
			return eventstore.Snapshot{}, false, nil
		}
	}
	return s, ok, err
}
