package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/bus/amqp"
	"github.com/evented/evented/internal/bus/inprocess"
	"github.com/evented/evented/internal/bus/nats"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
)

// RelayName is the subscriber that publishes committed events to the bus.
const RelayName = "bus"

// buses lists the bus types this binary knows, by bus.type ("none" has no
// relay).
var buses = map[string]func(cfg config.Config, log *slog.Logger) (bus.Publisher, error){
	"inprocess": func(config.Config, *slog.Logger) (bus.Publisher, error) { return inprocess.New(), nil },
	"amqp": func(cfg config.Config, log *slog.Logger) (bus.Publisher, error) {
		return amqp.New(cfg.Bus.URL, amqp.Options{Logger: log.With("component", "bus")})
	},
	"nats": func(cfg config.Config, log *slog.Logger) (bus.Publisher, error) {
		// Its publishes time out by themselves at the relay's bound.
		return nats.New(cfg.Bus.URL, nats.Options{AckTimeout: cfg.Delivery.Timeout, Logger: log.With("component", "bus")})
	},
}

// DefaultInFlight is the relay's pipeline depth when bus.in_flight is 0.
const DefaultInFlight = 256

// relay is the consumer of the bus subscription: it publishes each book and
// returns once the broker has it. The subscription's checkpoint makes the
// store the outbox: a broker that is down delays events and loses none.
//
// Pipelining. Up to bus.in_flight books (256 by default) are published
// and awaiting their confirmation at once, over the one publishing
// connection; the client libraries match the broker's confirms to the
// books as they come, in any order. On AMQP the relay's subscription runs
// bus.in_flight workers instead of delivery.workers, each publishing a
// book on the confirm-mode channel and waiting on its deferred
// confirmation. NATS is a bus.AsyncPublisher: the relay is then a
// delivery.AsyncConsumer (asyncRelay), whose segments hand it books
// without a worker waiting on each; the ack handlers of the client answer
// them, and bus.in_flight bounds how many are unanswered. What the
// pipeline keeps from the subscription, either way:
//
//   - One aggregate has at most one book in flight: a segment hands an
//     aggregate to one worker at a time and takes its next events only once
//     Deliver returned, i.e. once the broker confirmed. So a nack or a
//     timeout in the middle of the pipeline cannot let a later book of the
//     same aggregate reach the broker first: there is none in flight, and
//     the next is not taken until the failed one is published again and
//     confirmed. Books of other aggregates in flight meanwhile are unrelated
//     (the bus orders per cover only) and are confirmed or retried on their
//     own. A hot aggregate does not serialise on the round trip: its events
//     queued meanwhile go out as the next, larger book.
//   - The checkpoint is each segment's low watermark: the position below
//     which every event is handled, i.e. confirmed. A nacked, timed-out or
//     unanswered book holds it back, however many later books are
//     confirmed; after a crash the relay publishes again from there (the
//     books already confirmed come twice, which consumers tell by the
//     message id, as after any failure).
//   - A failed publish is retried (with the subscription's backoff) from
//     the failed book, which is the first unconfirmed one of its aggregate;
//     while the broker is down the books wait, nothing is parked.
type relay struct {
	pub     bus.Publisher
	timeout time.Duration
	// selfTimed: pub fails a publish by itself within timeout (see
	// bus.SelfTimed), so Deliver sets no deadline of its own.
	selfTimed bool
}

func (relay) Name() string { return RelayName }

func (r relay) Deliver(ctx context.Context, book eventstore.Book, _ bool) (delivery.Outcome, error) {
	if !r.selfTimed {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	return delivery.Outcome{}, published(r.pub.Publish(ctx, book))
}

// published is what the relay answers for a publish that returned err.
func published(err error) error {
	if errors.Is(err, bus.ErrTooLarge) {
		return tooLarge{err}
	}
	if err != nil && !errors.Is(err, bus.ErrInvalid) {
		// Anything but a book the bus cannot take means the broker did not
		// confirm: wait for it rather than park.
		return brokerDown{err}
	}
	return err
}

// asyncRelay is the relay over a bus.AsyncPublisher (NATS): its
// subscription hands it books without a worker waiting on each
// confirmation (delivery.AsyncConsumer). A failed book is retried with
// Deliver.
type asyncRelay struct {
	relay
	async bus.AsyncPublisher
}

func (r asyncRelay) DeliverAsync(_ context.Context, book eventstore.Book, done func(error)) {
	r.async.PublishAsync(book, func(err error) { done(published(err)) })
}

// NewRelay returns the consumer that publishes committed books to pub, as
// the server runs it for bus.type amqp, nats or inprocess, and the delivery
// options of its subscription: cfg's delivery settings with bus.in_flight
// workers. (The server adds its observer, replica and outage tracking.)
func NewRelay(pub bus.Publisher, cfg config.Config) (delivery.Consumer, delivery.Options) {
	d := cfg.Delivery
	inFlight := cfg.Bus.InFlight
	if inFlight <= 0 {
		inFlight = DefaultInFlight
	}
	t, ok := pub.(bus.SelfTimed)
	selfTimed := ok && t.AckTimeout() <= d.Timeout
	opts := delivery.Options{
		MaxAttempts: d.MaxAttempts, BackoffMin: d.BackoffMin, BackoffMax: d.BackoffMax,
		Workers: max(inFlight, d.Workers), Segments: d.Segments, LeaseTTL: d.LeaseTTL, MaxBookBytes: d.MaxBookBytes,
	}
	r := relay{pub: pub, timeout: d.Timeout, selfTimed: selfTimed}
	if a, ok := pub.(bus.AsyncPublisher); ok && selfTimed {
		// Its answers come within the relay's bound by themselves.
		return asyncRelay{relay: r, async: a}, opts
	}
	return r, opts
}

// brokerDown marks a failed publish as the broker being unavailable.
type brokerDown struct{ err error }

func (e brokerDown) Error() string     { return fmt.Sprintf("publish to the bus: %v", e.err) }
func (e brokerDown) Unwrap() error     { return e.err }
func (e brokerDown) Unavailable() bool { return true }

// tooLarge marks a book the broker can never take: it is parked at once.
type tooLarge struct{ err error }

func (e tooLarge) Error() string   { return fmt.Sprintf("publish to the bus: %v", e.err) }
func (e tooLarge) Unwrap() error   { return e.err }
func (e tooLarge) Permanent() bool { return true }

// Bus is the publisher committed events are relayed to, or nil when
// bus.type is none (tests subscribe to the in-process bus through it).
func (s *Server) Bus() bus.Publisher { return s.bus }
