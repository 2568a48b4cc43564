// Package delivery gets committed events to projectors, sagas and bus
// relays, with guarantees: the event store is the outbox, so nothing
// committed is ever lost because a consumer or broker was down.
//
// Every configured consumer has a Subscription: it reads the store's Log
// from a durable checkpoint and delivers each aggregate's events in
// sequence order, at least once, retrying with exponential backoff and
// jitter. An event that still fails after the configured attempts is parked
// (dead-lettered) together with every later event of the same aggregate, so
// per-aggregate order holds, while other aggregates keep flowing; parked
// events are listed and replayed on demand.
//
// Synchronous consumers are also called inline by the command coordinator
// before it replies (Hub.Inline). Such a call claims the aggregate first, so
// the consumer's Subscription waits for it and skips what it delivered; what
// it failed to deliver, the Subscription retries.
//
// The package is part of the core: consumers are reached through the
// Consumer interface; gRPC and brokers live in adapters.
package delivery

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/outage"
)

// Consumer receives books: one aggregate's events, in sequence order.
//
// Implementations are safe for concurrent use (books of different
// aggregates are delivered concurrently; books of one aggregate never are).
type Consumer interface {
	// Name identifies the consumer: its subscription, checkpoint and parked
	// events are kept under this name.
	Name() string
	// Deliver hands book to the consumer; inline is true when the command
	// coordinator waits for the answer before replying. A nil error means
	// handled; any error is retried, so deliveries must be idempotent.
	Deliver(ctx context.Context, book eventstore.Book, inline bool) (Outcome, error)
}

// AsyncConsumer is a Consumer that takes a book without making its caller
// wait for the answer: the bus relay, whose broker confirms many books in
// flight on one connection. A segment hands such a consumer the next book
// of another aggregate while earlier ones await their answer, instead of
// parking a worker on each; everything else stays as for Deliver: an
// aggregate has one book in flight at most, its next events are taken once
// done reported success, the checkpoint stays below every book not yet
// answered, and a failed book is retried (with Deliver) and parked as
// configured.
//
// Its outcome is always empty: no projection, no commands. Segments use
// DeliverAsync only for consumers that are not Synchronous and take no
// History.
type AsyncConsumer interface {
	Consumer
	// DeliverAsync hands book to the consumer and returns without waiting
	// for the answer. done is called exactly once, on any goroutine
	// (before DeliverAsync returns, too), with what Deliver would have
	// returned; the answer must come by itself within a bound of the
	// consumer's (a broker's ack timeout), whatever happens. ctx marks a
	// replay (Replaying) and is never cancelled; it has no NewFrom, as
	// every event of the book is new.
	DeliverAsync(ctx context.Context, book eventstore.Book, done func(error))
}

// Outcome is what a consumer answered.
type Outcome struct {
	// Projection is a projector's read model, returned when asked inline.
	Projection *Projection
	// Commands are a saga's commands, dispatched by evented.
	Commands []business.CommandBook
	// Deadlines are a saga's commands for later (or cancellations),
	// stored through Options.SaveDeadlines before its commands go out.
	Deadlines []business.Deadline
}

type newFromKey struct{}

// WithNewFrom tells the consumer, through ctx, the sequence of the first new
// event of the book it is given: with History the book starts earlier, and
// the events from this sequence on are the ones being delivered.
func WithNewFrom(ctx context.Context, seq uint32) context.Context {
	return context.WithValue(ctx, newFromKey{}, seq)
}

// NewFrom is the sequence WithNewFrom put in ctx.
func NewFrom(ctx context.Context) (uint32, bool) {
	seq, ok := ctx.Value(newFromKey{}).(uint32)
	return seq, ok
}

// Projection is a read model built by a projector.
type Projection struct {
	Cover     eventstore.Cover
	Projector string
	Sequence  uint32
	TypeURL   string
	Payload   []byte
	// Key is what subscription queries find it under: the key the
	// projector named, or "" for the aggregate (Cover.String()).
	Key string
}

// Dispatcher executes commands emitted by sagas (the command coordinator).
type Dispatcher interface {
	Dispatch(ctx context.Context, cmd business.CommandBook) error
}

// Options tune one subscription.
type Options struct {
	// SaveDeadlines stores the deadlines a saga returned, with the cause
	// of its commands (deadline.Save); nil refuses them.
	SaveDeadlines func(ctx context.Context, ds []business.Deadline, cause eventstore.Cause) error
	// Domains whose events are delivered; empty means all.
	Domains []string
	// History makes each book carry the aggregate's latest snapshot and every
	// event from its sequence up to the newest delivered one, instead of only
	// the new events, for consumers that need the whole aggregate (a receipt
	// needs the items of the transaction, not only its completion).
	History bool
	// Synchronous consumers are also called inline before the reply.
	Synchronous bool
	// MaxAttempts is how many times a book is tried before its events are
	// parked (default 10).
	MaxAttempts int
	// BackoffMin and BackoffMax bound the wait between attempts, which
	// doubles from BackoffMin with ±50% jitter (defaults 100ms and 30s).
	BackoffMin, BackoffMax time.Duration
	// Workers is how many aggregates are delivered concurrently (default 8).
	Workers int
	// BatchSize bounds the events read from the log at once and delivered
	// in one book (default 256).
	BatchSize int
	// PollInterval is how often the log is read when no commit signalled
	// (commits by other processes; default 250ms).
	PollInterval time.Duration
	// Observer, when set, is told about deliveries (metrics).
	Observer Observer

	// Segments is how many segments the subscription's work is split
	// into, by aggregate (default 4). Replicas sharing the store share
	// the segments; one aggregate's events are always in one segment.
	Segments int
	// LeaseTTL is how long a segment's lease lasts unless renewed; it is
	// renewed every third of it. A replica that dies has its segments
	// taken over after at most this long (default 10s).
	LeaseTTL time.Duration
	// Owner names this replica in the leases (default: a random name).
	// With Replica set, the replica's ID is used instead.
	Owner string
	// Replica, when set, is this process's membership, shared by all its
	// subscriptions (one Join per third of a lease for all of them); the
	// caller leaves it when they have all stopped. Nil: the subscription
	// keeps a membership of its own.
	Replica *Replica
	// Start is where a subscription with no checkpoint yet begins:
	// StartBeginning (the default) or StartHead.
	Start string
	// MaxBookBytes bounds the payload bytes of one book (default 3 MiB,
	// under gRPC's 4 MiB message limit). An event larger than it can
	// never be delivered and is parked with a reason that says so.
	MaxBookBytes int
	// EventPerBook delivers one event per book (sagas): the commands a
	// saga returns then each come from one event, and their idempotency
	// keys (saga, event, index) stay the same however a retry or another
	// replica batches the events.
	EventPerBook bool
	// ClaimTTL bounds how long a replica that does not own an aggregate's
	// segment may hold the aggregate's delivery mark while it appends and
	// delivers inline (default 30s); past it, the owner delivers.
	ClaimTTL time.Duration
	// Projector and Version name a version of a projector run beside
	// others (see versions.go); the consumer's name is then
	// VersionName(Projector, Version). FirstVersion is the lowest version
	// configured (active until a cut-over); AutoCutover cuts over to this
	// version once it has caught up.
	Projector    string
	Version      int
	FirstVersion int
	AutoCutover  bool
	// Projections, when set, keeps the projections the consumer returns
	// (a projector's HandleSync answers) for subscription queries.
	Projections *Projections
	// Outage is told when the consumer is unavailable and when it answers
	// again; it logs the WARN. Nil: the subscription has a tracker of its
	// own, logging to its logger.
	Outage *outage.Service
}

// Where a subscription without a checkpoint starts.
const (
	StartBeginning = "beginning" // every event in the store
	StartHead      = "head"      // events committed after it first started
)

// DefaultMaxBookBytes is the default of Options.MaxBookBytes.
const DefaultMaxBookBytes = 3 << 20

// Observer is told about deliveries, e.g. to measure them. Its methods must
// be cheap and safe for concurrent use.
type Observer interface {
	// Delivered reports events handed to subscriber; lag is the time from
	// the newest one's commit to its delivery.
	Delivered(subscriber string, events int, lag time.Duration)
	// Failed reports a failed attempt.
	Failed(subscriber string)
	// Parked reports events parked.
	Parked(subscriber string, events int)
}

type noObserver struct{}

func (noObserver) Delivered(string, int, time.Duration) {}
func (noObserver) Failed(string)                        {}
func (noObserver) Parked(string, int)                   {}

func (o Options) withDefaults() Options {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(30*time.Second, o.BackoffMin)
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	if o.Segments <= 0 {
		o.Segments = 4
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.Owner == "" {
		o.Owner = "replica-" + uuid.NewString()[:8]
	}
	if o.Start == "" {
		o.Start = StartBeginning
	}
	if o.MaxBookBytes <= 0 {
		o.MaxBookBytes = DefaultMaxBookBytes
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = 30 * time.Second
	}
	return o
}

// wants reports whether the options' domain filter lets domain through.
func (o Options) wants(domain string) bool {
	if len(o.Domains) == 0 {
		return true
	}
	for _, d := range o.Domains {
		if d == domain {
			return true
		}
	}
	return false
}

// Storage is what subscriptions need of the store.
type Storage interface {
	eventstore.Store
	eventstore.Snapshots
	eventstore.Log
	eventstore.Checkpoints
	eventstore.Parking
	eventstore.Segments
	eventstore.Marks
	eventstore.Idempotent        // idempotency keys: every backend keeps them
	eventstore.Projections       // subscription queries: every backend keeps them
	eventstore.Deadlines         // scheduled commands: every backend keeps them
	eventstore.SnapshotRetention // the newest few snapshots: every backend keeps them
	eventstore.DeadlineCounter   // pending deadlines counted, for metrics
}
