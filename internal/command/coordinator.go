// Package command is evented's command coordinator: it routes a command to
// its domain's business logic with the aggregate's prior state, numbers and
// appends the events it returns, retries when another writer got there
// first, and stores returned snapshots. It is the core of evented and
// imports no driver, no gRPC and no YAML.
//
// Commands for the same aggregate are sequenced on one coordinator, so it
// never races itself; a conflict can only come from another writer (Record,
// another server on the same store) and is retried by reloading the
// aggregate and asking business logic again.
package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/deadline"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
)

// Options tune a Coordinator.
type Options struct {
	// MaxAttempts is how many times a command is tried when its append
	// conflicts with another writer (at least 1).
	MaxAttempts int
	// Timeout is the deadline of one call to business logic.
	Timeout time.Duration
	// Snapshots is the snapshot policy per domain; a domain not in it stores
	// every snapshot business logic returns.
	Snapshots map[string]SnapshotPolicy
	// Observer, when set, is told what happens (metrics).
	Observer Observer
	// Loads, when set, is told how long each load of an aggregate from
	// the store took (a command whose aggregate was not kept in memory),
	// e.g. to snapshot aggregates that load slowly.
	Loads LoadObserver
	// CacheEvents bounds the events of recently handled aggregates kept in
	// memory, so that their next command skips loading them from the store
	// (0 means DefaultCacheEvents; negative keeps none). A kept aggregate
	// that another writer has appended to since is noticed by the
	// optimistic check of the append, reloaded and decided again; that try
	// does not count against MaxAttempts.
	CacheEvents int
	// CacheBytes bounds the memory those aggregates hold, in bytes
	// (payloads, snapshot states and their structures; 0 means
	// DefaultCacheBytes; negative keeps none).
	CacheBytes int
	// MaxEvents bounds the events business logic may return for one
	// command, MaxEventBytes the payload of each (0: no bound); more is
	// a *business.MisbehaviourError naming the service and the bound.
	MaxEvents, MaxEventBytes int
	// KeyRetention is how long an idempotency key is kept after its
	// command stored events (0 means DefaultKeyRetention).
	KeyRetention time.Duration
}

// Observer is told about appends and conflicts, e.g. to count them. Its
// methods must be cheap and safe for concurrent use.
type Observer interface {
	// Appended reports events appended to a domain.
	Appended(domain string, events int)
	// Conflict reports an append that lost to another writer; retried says
	// whether the command is tried again (else it is aborted).
	Conflict(domain string, retried bool)
}

// LoadObserver is told about loads from the store: the aggregate, the
// time its snapshot and events took to read, and how many events were read.
// It is called with the aggregate's lock held: it must not block.
type LoadObserver interface {
	Loaded(cover eventstore.Cover, took time.Duration, events int)
}

// DeadlineObserver, when the Observer implements it too, is told of the
// deadlines a reply stored: scheduled and cancelled, counted by the
// domain of the command that replied. It must be cheap and safe for
// concurrent use.
type DeadlineObserver interface {
	DeadlinesPlanned(domain string, scheduled, cancelled int)
}

type noObserver struct{}

func (noObserver) Appended(string, int)  {}
func (noObserver) Conflict(string, bool) {}

// SnapshotPolicy says which returned snapshots are stored.
type SnapshotPolicy struct {
	Disabled bool
	// MinEvents: store only when at least this many events were appended
	// since the stored snapshot.
	MinEvents uint32
	// Keep is how many snapshots of each aggregate are kept (0 and 1: the
	// latest).
	Keep int
}

// Router finds the business logic of a domain.
type Router interface {
	// Route returns the logic of domain, or an *UnknownDomainError.
	Route(domain string) (business.Logic, error)
}

// Result is what a command or a record produced.
type Result struct {
	// Books are the persisted books as stored (assigned sequences and
	// created_at filled in), this command's first, then those of the
	// commands synchronous sagas emitted; empty when nothing happened.
	Books []eventstore.Book
	// Commands are the commands synchronous sagas emitted and that were
	// dispatched.
	Commands []business.CommandBook
	// Projections are the synchronous projectors' answers.
	Projections []delivery.Projection
	// Failures are synchronous consumers that failed; the events are
	// committed all the same and their subscriptions deliver them again.
	Failures []delivery.Failure
}

func (r *Result) merge(o Result) {
	r.Books = append(r.Books, o.Books...)
	r.Commands = append(r.Commands, o.Commands...)
	r.Projections = append(r.Projections, o.Projections...)
	r.Failures = append(r.Failures, o.Failures...)
}

// Coordinator handles commands and records. It is safe for concurrent use.
type Coordinator struct {
	store  eventstore.Store
	keys   eventstore.Idempotent // nil when the store keeps no keys
	dls    eventstore.Deadlines  // nil when the store keeps no deadlines
	snaps  eventstore.Snapshots
	router Router
	opts   Options
	log    *slog.Logger
	locks  keyedMutex
	hub    *delivery.Hub
	books  *books // nil: none kept
}

// Distribute makes c deliver inline to the synchronous subscriptions of hub
// after each command. Call it before the first command.
func (c *Coordinator) Distribute(hub *delivery.Hub) { c.hub = hub }

// MaxCascade bounds how many commands deep sagas may cascade, synchronous
// or not (a saga's command whose events trigger a saga whose command …): a
// command whose Cause.Depth reaches it is refused with a *CascadeError.
const MaxCascade = 8

// ErrCascade is matched by every *CascadeError.
var ErrCascade = errors.New("saga cascade too deep")

// CascadeError reports a saga's command MaxCascade hops or more from the
// client's command that started it, usually a loop between sagas.
type CascadeError struct {
	// Chain is the covers of the commands that led to the refused one,
	// from the client's, ending with the refused command's own; read back
	// through the events' causes, so it is cut short where the store has
	// no cause to follow (events stored before causes were).
	Chain []eventstore.Cover
	// CorrelationID is that of the client's request, to find the whole
	// chain's events by.
	CorrelationID string
}

func (e *CascadeError) Error() string {
	return fmt.Sprintf("saga cascade deeper than %d commands (a loop between sagas?), correlation id %q: %v",
		MaxCascade, e.CorrelationID, e.Chain)
}

// Is makes errors.Is(err, ErrCascade) true.
func (e *CascadeError) Is(target error) bool { return target == ErrCascade }

// Permanent reports that the failure would only repeat: the saga's command
// is refused however often it is sent, so delivery should not retry it.
func (e *CascadeError) Permanent() bool { return true }

// cascade is the error refusing cmd, with its chain read back through the
// store from cmd's triggering event: at most MaxCascade+1 reads, and only
// on this error's path.
func (c *Coordinator) cascade(ctx context.Context, cmd business.CommandBook) *CascadeError {
	chain := []eventstore.Cover{cmd.Cover}
	by := cmd.Cause.CausedBy
	for range MaxCascade + 1 {
		if by.IsZero() {
			break
		}
		chain = append(chain, by.Cover)
		events, err := c.store.Read(ctx, by.Cover, by.Sequence, by.Sequence+1)
		if err != nil || len(events) == 0 {
			break
		}
		by = events[0].Cause.CausedBy
	}
	slices.Reverse(chain)
	return &CascadeError{Chain: chain, CorrelationID: cmd.Cause.CorrelationID}
}

// permanent reports whether err says that trying again would fail again.
func permanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// Dispatch implements delivery.Dispatcher: it handles a saga's command like
// a client's.
func (c *Coordinator) Dispatch(ctx context.Context, cmd business.CommandBook) error {
	_, err := c.Handle(ctx, cmd)
	return err
}

// New returns a Coordinator over store and snaps routing with router.
func New(store eventstore.Store, snaps eventstore.Snapshots, router Router, opts Options, log *slog.Logger) *Coordinator {
	if opts.MaxAttempts < 1 {
		opts.MaxAttempts = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	if opts.KeyRetention <= 0 {
		opts.KeyRetention = DefaultKeyRetention
	}
	c := &Coordinator{store: store, snaps: snaps, router: router, opts: opts, log: log.With("component", "command")}
	c.keys, _ = store.(eventstore.Idempotent)
	c.dls, _ = store.(eventstore.Deadlines)
	if opts.CacheEvents == 0 {
		opts.CacheEvents = DefaultCacheEvents
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.CacheEvents > 0 && opts.CacheBytes > 0 {
		c.books = newBooks(opts.CacheEvents, opts.CacheBytes)
	}
	return c
}

// AbortedError reports a command whose append still conflicted after every
// attempt. It matches eventstore.ErrConflict.
type AbortedError struct {
	Attempts int
	Last     *eventstore.ConflictError
}

func (e *AbortedError) Error() string {
	return fmt.Sprintf("sequence conflict: expected %d, got %d (%s, gave up after %d attempts)",
		e.Last.Expected, e.Last.Actual, e.Last.Cover, e.Attempts)
}

func (e *AbortedError) Unwrap() error { return e.Last }

// UnknownDomainError reports a command for a domain no business logic is
// configured for.
type UnknownDomainError struct {
	Domain string
	Known  []string
}

// ErrUnknownDomain is matched by every *UnknownDomainError.
var ErrUnknownDomain = errors.New("unknown domain")

func (e *UnknownDomainError) Error() string {
	return fmt.Sprintf("unknown domain %q; configured domains: %v", e.Domain, e.Known)
}

// Is makes errors.Is(err, ErrUnknownDomain) true.
func (e *UnknownDomainError) Is(target error) bool { return target == ErrUnknownDomain }

// Handle decides cmd with its domain's business logic, stores the events
// and delivers them to the synchronous consumers.
//
// A command with an IdempotencyKey stores the key with its events. When
// the key is already stored (within the retention window, by this
// coordinator or another sharing the store), Handle answers with the
// events the first command stored, read back from the store, without
// calling business logic or storing anything; its Result then holds that
// one book only (no projections or saga commands: they ran the first
// time). The same key with another command (cover or pages) is a
// *eventstore.KeyMismatchError. A rejection, or a command that produced no
// events, stores no key: repeating it decides it again.
func (c *Coordinator) Handle(ctx context.Context, cmd business.CommandBook) (Result, error) {
	return c.handle(ctx, cmd, true)
}

// Fire handles a deadline's command, as Dispatch does, except that its
// idempotency key is not looked up before business logic is called: a
// deadline is fired once but after a crash or a lease taken over, so that
// lookup is a read per firing that almost never finds anything. The keyed
// append checks the key all the same, in its transaction: a repeated
// firing stores nothing and is answered with what the first one stored
// (or, should business logic refuse it now, with that refusal, which
// ends the deadline as well).
func (c *Coordinator) Fire(ctx context.Context, cmd business.CommandBook) error {
	_, err := c.handle(ctx, cmd, false)
	return err
}

func (c *Coordinator) handle(ctx context.Context, cmd business.CommandBook, lookup bool) (Result, error) {
	if err := validate(cmd); err != nil {
		return Result{}, err
	}
	if cmd.Cause.CorrelationID == "" {
		cmd.Cause.CorrelationID = uuid.NewString()
	}
	if cmd.Cause.CommandID == "" {
		cmd.Cause.CommandID = uuid.NewString()
	}
	tr := c.trace(ctx, cmd)
	if tr != nil {
		tr.DebugContext(ctx, "command received", "pages", len(cmd.Pages), "type", cmd.Pages[0].TypeURL,
			"depth", cmd.Cause.Depth, "idempotency_key", cmd.IdempotencyKey)
	}
	if cmd.Cause.Depth >= MaxCascade {
		return Result{}, c.cascade(ctx, cmd)
	}
	logic, err := c.router.Route(cmd.Cover.Domain)
	if err != nil {
		return Result{}, err
	}
	if tr != nil {
		tr.DebugContext(ctx, "command routed", "service", logic.Name())
	}
	res, inline, err := c.handleLocked(ctx, logic, cmd, lookup, tr)
	if err != nil || inline == nil {
		if tr != nil {
			tr.DebugContext(ctx, "command replied", "books", len(res.Books), "err", err)
		}
		return res, err
	}
	// The aggregate's lock is released: sagas' commands may address any
	// aggregate, this one included, without waiting on it. Their causes
	// are set by the inline delivery.
	failures := inline.Finish(ctx, func(ctx context.Context, sub business.CommandBook) error {
		r, err := c.Handle(ctx, sub)
		if err == nil {
			res.Commands = append(res.Commands, sub)
			res.merge(r)
		}
		return err
	}, permanent)
	res.Failures = append(res.Failures, failures...)
	if tr != nil {
		if len(res.Commands) > 0 || len(failures) > 0 {
			tr.DebugContext(ctx, "saga commands dispatched", "commands", len(res.Commands), "failures", failureNames(failures))
		}
		tr.DebugContext(ctx, "command replied", "books", len(res.Books), "projections", len(res.Projections),
			"saga_commands", len(res.Commands), "failures", failureNames(res.Failures))
	}
	return res, nil
}

// trace is cmd's DEBUG logger, carrying its ids; nil when DEBUG is off, so
// that a command pays nothing for the steps it would log.
func (c *Coordinator) trace(ctx context.Context, cmd business.CommandBook) *slog.Logger {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	return c.log.With("domain", cmd.Cover.Domain, "root", cmd.Cover.Root.String(),
		"correlation_id", cmd.Cause.CorrelationID, "command_id", cmd.Cause.CommandID)
}

func failureNames(fs []delivery.Failure) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Error()
	}
	return names
}

// handleLocked runs the command under its aggregate's lock: load, decide,
// append (retrying on conflicts), snapshot, inline delivery. It returns the
// inline delivery to finish once the lock is released.
//
// lookup is false for a deadline's command (see Fire); tr is the command's
// DEBUG logger, nil when DEBUG is off (see trace).
func (c *Coordinator) handleLocked(ctx context.Context, logic business.Logic, cmd business.CommandBook, lookup bool, tr *slog.Logger) (Result, *delivery.Inline, error) {
	unlock, err := c.locks.lock(ctx, cmd.Cover)
	if err != nil {
		return Result{}, nil, err
	}
	defer unlock()
	var key *eventstore.Key
	if cmd.IdempotencyKey != "" {
		if key, err = c.storeKey(cmd.IdempotencyKey, commandFingerprint(cmd)); err != nil {
			return Result{}, nil, err
		}
		if lookup {
			if res, done, err := c.seen(ctx, key); done {
				return res, nil, err
			}
		}
	}
	inline, err := c.hub.Begin(ctx, cmd.Cover)
	if err != nil {
		return Result{}, nil, err
	}
	for attempt := 1; ; attempt++ {
		prior, kept := c.books.get(cmd.Cover)
		if !kept {
			start := time.Now()
			if prior, err = eventstore.Load(ctx, c.store, c.snaps, cmd.Cover); err != nil {
				inline.Abort()
				return Result{}, nil, err
			}
			if c.opts.Loads != nil {
				c.opts.Loads.Loaded(cmd.Cover, time.Since(start), len(prior.Events))
			}
		}
		var start time.Time
		if tr != nil {
			start = time.Now()
		}
		decision, err := c.decide(ctx, logic, business.Request{Prior: prior, Command: cmd})
		if tr != nil {
			tr.DebugContext(ctx, "business logic replied", "service", logic.Name(), "prior_events", len(prior.Events),
				"events", len(decision.Events), "deadlines", len(decision.Deadlines), "snapshot", decision.Snapshot != nil,
				"took", time.Since(start), "err", err)
		}
		if (err != nil || len(decision.Events) == 0) && kept && c.moved(ctx, prior) {
			// A refusal, or "nothing to do", must stand on what is stored:
			// another server has moved the aggregate on since it was kept.
			c.books.drop(cmd.Cover)
			attempt--
			continue
		}
		if err != nil || len(decision.Events) == 0 {
			if !kept && err == nil {
				c.books.put(prior)
			}
			inline.Abort()
			if err == nil && len(decision.Deadlines) > 0 {
				// Nothing to commit: the deadlines (a cancellation, say) stand alone.
				var plan eventstore.DeadlinePlan
				if plan.Schedule, plan.Cancel, err = deadline.Plan(decision.Deadlines, cmd.Cause); err == nil {
					if err = deadline.Save(ctx, c.dls, decision.Deadlines, cmd.Cause, c.log); err == nil {
						c.planned(cmd.Cover.Domain, plan)
					}
				}
			}
			return Result{}, nil, err
		}
		var plan eventstore.DeadlinePlan
		if len(decision.Deadlines) > 0 { // checked by decide
			if plan.Schedule, plan.Cancel, err = deadline.Plan(decision.Deadlines, cmd.Cause); err != nil {
				inline.Abort()
				return Result{}, nil, err
			}
		}
		inline.Expect(ctx, prior.Next())
		events, stored, err := c.appendKeyed(ctx, cmd.Cover, c.number(logic, decision.Events, prior.Next(), cmd.Cause), key, plan)
		var conflict *eventstore.ConflictError
		if err != nil || stored != nil {
			c.books.drop(cmd.Cover)
		}
		if stored != nil {
			// Another coordinator stored the key since the lookup.
			inline.Abort()
			if err != nil {
				return Result{}, nil, err
			}
			res, err := c.replay(ctx, key, *stored)
			return res, nil, err
		}
		if errors.As(err, &conflict) && kept {
			// Another writer appended since this coordinator last stored:
			// a fresh load decides again, as if this try had not happened.
			c.opts.Observer.Conflict(cmd.Cover.Domain, true)
			attempt--
			continue
		}
		if errors.As(err, &conflict) {
			c.opts.Observer.Conflict(cmd.Cover.Domain, attempt < c.opts.MaxAttempts)
			if attempt < c.opts.MaxAttempts {
				c.log.DebugContext(ctx, "append conflicted; reloading and retrying",
					"cover", cmd.Cover, "attempt", attempt, "expected", conflict.Expected, "actual", conflict.Actual)
				continue
			}
			inline.Abort()
			return Result{}, nil, &AbortedError{Attempts: attempt, Last: conflict}
		}
		if err != nil {
			inline.Abort()
			return Result{}, nil, fmt.Errorf("append to %s: %w", cmd.Cover, err)
		}
		c.opts.Observer.Appended(cmd.Cover.Domain, len(events))
		if tr != nil {
			tr.DebugContext(ctx, "events appended", "first_sequence", events[0].Sequence, "last_sequence", events[len(events)-1].Sequence,
				"events", len(events), "attempt", attempt)
		}
		c.planned(cmd.Cover.Domain, plan)
		book := eventstore.Book{Cover: cmd.Cover, Events: events}
		// What a load would return now: the new snapshot, or the prior
		// state and the new events.
		c.remember(ctx, prior, book, decision.Snapshot)
		// Committed: from here on the reply never claims failure.
		ir := inline.Deliver(context.WithoutCancel(ctx), book)
		if tr != nil {
			tr.DebugContext(ctx, "synchronous consumers called", "consumers", inline.Consumers(), "projections", len(ir.Projections),
				"saga_commands", len(ir.Commands), "failures", failureNames(ir.Failures))
		}
		return Result{Books: []eventstore.Book{book}, Projections: ir.Projections, Failures: ir.Failures}, inline, nil
	}
}

// planned tells the observer, when it listens, of the deadlines stored.
func (c *Coordinator) planned(domain string, plan eventstore.DeadlinePlan) {
	if o, ok := c.opts.Observer.(DeadlineObserver); ok && !plan.Empty() {
		o.DeadlinesPlanned(domain, len(plan.Schedule), len(plan.Cancel))
	}
}

// moved reports whether the store holds events of kept's cover after kept
// (another writer appended since the coordinator kept it), or cannot tell.
// It reads at most one event.
func (c *Coordinator) moved(ctx context.Context, kept eventstore.Book) bool {
	next := kept.Next()
	newer, err := c.store.Read(ctx, kept.Cover, next, next+1)
	return err != nil || len(newer) > 0
}

// Record appends book's pages without calling business logic: a page with
// a number must get exactly that number (the caller's optimistic check).
// The pages are stored with cause, whose CorrelationID and CommandID are
// filled with new UUIDs when empty (a Record call counts as a command).
func (c *Coordinator) Record(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, cause eventstore.Cause) (Result, error) {
	return c.RecordKeyed(ctx, cover, pages, cause, "")
}

// RecordKeyed is Record with an idempotency key (none when key is empty),
// which is stored with the events: a repeat of the key within the
// retention window is answered with the events first stored, and stores
// nothing; the key with other pages or another cover is a
// *eventstore.KeyMismatchError.
func (c *Coordinator) RecordKeyed(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, cause eventstore.Cause, key string) (Result, error) {
	if len(pages) == 0 {
		return Result{}, eventstore.Invalid("pages", "must hold at least one event page")
	}
	var k *eventstore.Key
	if key != "" {
		if err := CheckKey(key); err != nil {
			return Result{}, err
		}
		var err error
		if k, err = c.storeKey(key, recordFingerprint(cover, pages)); err != nil {
			return Result{}, err
		}
		if res, done, err := c.seen(ctx, k); done {
			return res, err
		}
	}
	if cause.CorrelationID == "" {
		cause.CorrelationID = uuid.NewString()
	}
	if cause.CommandID == "" {
		cause.CommandID = uuid.NewString()
	}
	pages = slices.Clone(pages)
	for i := range pages {
		pages[i].Cause = cause
	}
	events, stored, err := c.appendKeyed(ctx, cover, pages, k, eventstore.DeadlinePlan{})
	c.books.drop(cover) // appended without business logic: the next command loads
	if stored != nil && err == nil {
		return c.replay(ctx, k, *stored)
	}
	if err != nil {
		if errors.Is(err, eventstore.ErrConflict) {
			c.opts.Observer.Conflict(cover.Domain, false)
			return Result{}, err
		}
		return Result{}, fmt.Errorf("append to %s: %w", cover, err)
	}
	c.opts.Observer.Appended(cover.Domain, len(events))
	return Result{Books: []eventstore.Book{{Cover: cover, Events: events}}}, nil
}

func validate(cmd business.CommandBook) error {
	if cmd.Cover.Domain == "" {
		return eventstore.Invalid("cover.domain", "must not be empty")
	}
	if len(cmd.Pages) == 0 {
		return eventstore.Invalid("pages", "must hold at least one command page")
	}
	if cmd.IdempotencyKey != "" {
		return CheckKey(cmd.IdempotencyKey)
	}
	return nil
}

func (c *Coordinator) decide(ctx context.Context, logic business.Logic, req business.Request) (business.Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	d, err := logic.Handle(ctx, req)
	if err != nil {
		return d, err
	}
	if len(d.Events) > 0 && d.Cover != req.Command.Cover {
		return d, &business.MisbehaviourError{Service: logic.Name(),
			Reason: fmt.Sprintf("returned events for %s in answer to a command for %s", d.Cover, req.Command.Cover)}
	}
	if c.opts.MaxEvents > 0 && len(d.Events) > c.opts.MaxEvents {
		return d, &business.MisbehaviourError{Service: logic.Name(),
			Reason: fmt.Sprintf("returned %d events for one command: at most %d are allowed (limits.max_pages)", len(d.Events), c.opts.MaxEvents)}
	}
	if len(d.Deadlines) > 0 {
		if c.dls == nil {
			return d, &business.MisbehaviourError{Service: logic.Name(), Reason: "scheduled deadlines, which this event store does not keep"}
		}
		if _, _, err := deadline.Plan(d.Deadlines, req.Command.Cause); err != nil {
			return d, &business.MisbehaviourError{Service: logic.Name(), Reason: "returned an invalid deadline: " + err.Error()}
		}
	}
	for i, e := range d.Events {
		if c.opts.MaxEventBytes > 0 && len(e.Payload) > c.opts.MaxEventBytes {
			return d, &business.MisbehaviourError{Service: logic.Name(),
				Reason: fmt.Sprintf("returned event %d of %d bytes: at most %d are allowed (limits.max_event_bytes)", i, len(e.Payload), c.opts.MaxEventBytes)}
		}
	}
	return d, nil
}

// number stamps events with evented's own sequences from next on, and with
// the command's cause. Business logic's own numbers are not trusted
// (evented-rs examples stamp 0 on every event); a disagreement is logged
// once per command.
func (c *Coordinator) number(logic business.Logic, events []business.Event, next uint32, cause eventstore.Cause) []eventstore.Page {
	pages := make([]eventstore.Page, len(events))
	warned := false
	for i, e := range events {
		seq := next + uint32(i)
		if e.HasNum && e.Num != seq && !warned {
			c.log.Warn("business logic stamped a sequence that is not the next one; evented numbers events itself",
				"service", logic.Name(), "stamped", e.Num, "assigned", seq)
			warned = true
		}
		pages[i] = eventstore.Page{HasNum: true, Num: seq, CreatedAt: e.CreatedAt, TypeURL: e.TypeURL, Payload: e.Payload, SchemaVersion: e.SchemaVersion, Cause: cause}
	}
	return pages
}

// remember keeps what a load of the aggregate would return after stored:
// the snapshot the business logic returned (once stored), or prior with
// the new events.
func (c *Coordinator) remember(ctx context.Context, prior, stored eventstore.Book, snapshot *business.Snapshot) {
	if snapshot != nil {
		if snap := c.storeSnapshot(ctx, prior, stored, snapshot); snap != nil {
			c.books.put(eventstore.Book{Cover: stored.Cover, Snapshot: snap})
			return
		}
	}
	c.books.putAppended(stored.Cover, prior, stored.Events)
}

// storeSnapshot stores a returned snapshot per the domain's policy. The
// events are committed whatever happens here, so a failure is logged, not
// returned: the next snapshot replaces it.
func (c *Coordinator) storeSnapshot(ctx context.Context, prior, stored eventstore.Book, s *business.Snapshot) *eventstore.Snapshot {
	policy := c.opts.Snapshots[stored.Cover.Domain]
	if policy.Disabled || c.snaps == nil {
		return nil
	}
	seq := stored.Next()
	var last uint32
	if prior.Snapshot != nil {
		last = prior.Snapshot.Sequence
	}
	if seq-last < policy.MinEvents {
		return nil
	}
	snap := eventstore.Snapshot{Sequence: seq, TypeURL: s.TypeURL, State: slices.Clone(s.State), CreatedAt: time.Now().UTC()}
	if err := eventstore.PutSnapshotKeeping(ctx, c.snaps, stored.Cover, snap, policy.Keep); err != nil {
		c.log.WarnContext(ctx, "snapshot not stored; events are", "cover", stored.Cover, "sequence", seq, "err", err)
		return nil
	}
	return &snap
}
