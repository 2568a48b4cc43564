// Package nats is the NATS JetStream backend of the bus (through
// github.com/nats-io/nats.go and its jetstream package).
//
// Layout on the server, the contract with external consumers:
//
//   - one stream, EVENTED by default, over the subjects evented.events.>,
//     file storage, interest retention (a book is kept until every
//     subscription it matched has acked it, like an AMQP queue);
//   - a book is one message on evented.events.<domain>.<root as 32
//     lowercase hex digits>, data the protobuf evented.EventBook, header
//     Content-Type application/protobuf and Nats-Msg-Id
//     <domain>.<root hex>.<first>-<last sequence>;
//   - a subscription is a durable pull consumer named after it, explicit
//     ack, filtered on evented.events.<domain>.* or evented.events.>,
//     delivering what is published after it was created.
//
// Durability: Publish waits for the stream's ack (it publishes
// asynchronously and waits on the ack's future, so concurrent calls, the
// relay's pipeline, have many books in flight on the one connection),
// which JetStream sends once the message is written to the stream's files
// (handed to the OS: the server fsyncs every sync_interval, 2 minutes by
// default, so a crash of the server process loses nothing acked, a power
// loss of a single-node server may; a clustered stream with replicas acks
// once a quorum has it). The message id makes a retried Publish of the
// same book within the stream's duplicate window (2 minutes) a no-op, so a
// relay retrying after a lost ack does not duplicate it.
//
// Connection: nats.go reconnects by itself, forever, every quarter second.
// While it is disconnected Publish fails at once with bus.ErrUnavailable
// (nothing is buffered for later: the caller's retry is the buffer), and
// Subscriptions resume pulling once it is back. A book received and not
// acked within Options.AckWait is delivered again by the server: that is
// also how the books a closed Subscription held come back. Nack gives a book
// back at once.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/eventstore"
)

// SubjectPrefix starts the subject of every book.
const SubjectPrefix = "evented.events."

// Options tune a Bus; the zero value gives the defaults.
type Options struct {
	// Stream is the JetStream stream's name; default EVENTED.
	Stream string
	// Prefetch is how many books one Subscription pulls ahead; default 64.
	Prefetch int
	// AckWait is how long a received book may stay unacked before the
	// server delivers it again; default 30s. It is fixed when a
	// subscription is created.
	AckWait time.Duration
	// AckTimeout is how long Publish waits for the stream's ack before it
	// fails (ErrUnavailable), whatever its context says; default 10s, the
	// default of delivery.timeout, which bounds the relay's publishes.
	AckTimeout time.Duration
	// Logger receives disconnections and reconnections; default none.
	Logger *slog.Logger
}

// Bus publishes to and subscribes from one NATS server (or cluster).
type Bus struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	closed bool
	stream jetstream.Stream                  // nil until ensured
	subs   map[string]map[*subscription]bool // open Subscriptions by name

	amu     sync.Mutex
	answers map[*nats.Msg]answer // books PublishAsync sent, not answered yet
}

// New returns a bus for the server at url (nats://host:port). It returns
// without waiting for the server, which may be down: the connection is
// retried in the background. Only a malformed url is an error.
func New(url string, opts Options) (*Bus, error) {
	if opts.Stream == "" {
		opts.Stream = "EVENTED"
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 64
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "bus/nats")
	nc, err := nats.Connect(url,
		nats.Name("evented"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		// No buffering while disconnected: Publish must fail then, not
		// succeed later behind the caller's back.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("disconnected; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("reconnected", "server", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("nats bus: %w", err)
	}
	b := &Bus{nc: nc, opts: opts, log: log, subs: map[string]map[*subscription]bool{}, answers: map[*nats.Msg]answer{}}
	b.js, err = jetstream.New(nc, jetstream.WithPublishAsyncTimeout(opts.AckTimeout), jetstream.WithPublishAsyncMaxPending(asyncMaxPending),
		jetstream.WithPublishAsyncAckHandler(b.acked), jetstream.WithPublishAsyncErrHandler(b.refused))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats bus: %w", err)
	}
	return b, nil
}

// ensureStream creates or updates the stream once per Bus (and again after
// the server said it has none).
func (b *Bus) ensureStream(ctx context.Context) (jetstream.Stream, error) {
	b.mu.Lock()
	s := b.stream
	b.mu.Unlock()
	if s != nil {
		return s, nil
	}
	if !b.nc.IsConnected() {
		return nil, fmt.Errorf("%w: nats: not connected (%s)", bus.ErrUnavailable, b.nc.Status())
	}
	s, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        b.opts.Stream,
		Description: "evented: books of events, one message per book",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.InterestPolicy,
		Discard:     jetstream.DiscardOld,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: nats: stream %s: %w", bus.ErrUnavailable, b.opts.Stream, err)
	}
	b.mu.Lock()
	b.stream = s
	b.mu.Unlock()
	return s, nil
}

// Publish sends book and waits for the stream's ack.
func (b *Bus) Publish(ctx context.Context, book eventstore.Book) error {
	msg, id, err := b.prepare(ctx, book)
	if err != nil {
		return err
	}
	// Asynchronously: the ack is matched to this book by the client's
	// reply subscription, so concurrent Publish calls (the relay's
	// pipeline) have many books in flight on the one connection without a
	// request-reply round trip each.
	ack, err := b.js.PublishMsgAsync(msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(b.opts.Stream))
	if err != nil {
		return b.fail(id, err)
	}
	select {
	case <-ack.Ok():
		return nil
	case err := <-ack.Err():
		return b.fail(id, err)
	case <-ctx.Done():
		// The library forgets the future after Options.AckTimeout.
		return b.fail(id, fmt.Errorf("no ack: %w", ctx.Err()))
	}
}

var _ bus.AsyncPublisher = (*Bus)(nil)

// PublishAsync implements bus.AsyncPublisher: book is sent as Publish
// sends it, and the stream's ack (or the library's failure: a timeout
// after Options.AckTimeout, a disconnection, a refusal) calls done from
// the client's reply handlers (acked, refused), matched by the message.
// No goroutine waits on the book meanwhile.
func (b *Bus) PublishAsync(book eventstore.Book, done func(error)) {
	// The stream is made sure of (once per Bus) within the AckTimeout too:
	// without a deadline the client would give each call its own default.
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.AckTimeout)
	defer cancel()
	msg, id, err := b.prepare(ctx, book)
	if err != nil {
		done(err)
		return
	}
	b.amu.Lock()
	b.answers[msg] = answer{id: id, done: done}
	b.amu.Unlock()
	if _, err := b.js.PublishMsgAsync(msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(b.opts.Stream)); err != nil {
		// Not sent: no handler will answer it.
		if a, ok := b.answer(msg); ok {
			a.done(b.fail(id, err))
		}
	}
}

// answer is who waits for the ack of a book PublishAsync sent.
type answer struct {
	id   string
	done func(error)
}

// answer takes msg's answer away (once: a second call finds none).
func (b *Bus) answer(msg *nats.Msg) (answer, bool) {
	b.amu.Lock()
	a, ok := b.answers[msg]
	delete(b.answers, msg)
	b.amu.Unlock()
	return a, ok
}

// acked is the client's handler of every ack of an asynchronous publish.
func (b *Bus) acked(_ jetstream.JetStream, msg *nats.Msg, _ *jetstream.PubAck) {
	if a, ok := b.answer(msg); ok {
		a.done(nil)
	}
}

// refused is the client's handler of every failed asynchronous publish:
// refused by the stream, timed out, or cut by a disconnection. The timeout
// calls it with the client's publisher lock held: done must not publish.
func (b *Bus) refused(_ jetstream.JetStream, msg *nats.Msg, err error) {
	if a, ok := b.answer(msg); ok {
		a.done(b.fail(a.id, err))
	}
}

// prepare checks book and the connection and returns the message that
// carries book and its id, or the error Publish returns.
func (b *Bus) prepare(ctx context.Context, book eventstore.Book) (*nats.Msg, string, error) {
	if err := bus.Check(book); err != nil {
		return nil, "", err
	}
	if b.isClosed() {
		return nil, "", bus.ErrClosed
	}
	msg, id, err := Message(book)
	if err != nil {
		return nil, "", err
	}
	if !b.nc.IsConnected() {
		return nil, "", fmt.Errorf("%w: nats publish %s: not connected (%s)", bus.ErrUnavailable, id, b.nc.Status())
	}
	if limit := b.nc.MaxPayload(); limit > 0 && int64(len(msg.Data)) > limit {
		return nil, "", fmt.Errorf("%w: nats publish %s: %d bytes, more than the server's max_payload of %d", bus.ErrTooLarge, id, len(msg.Data), limit)
	}
	if _, err := b.ensureStream(ctx); err != nil {
		return nil, "", err
	}
	return msg, id, nil
}

// fail is the error of the publish of book id that the client failed
// with err.
func (b *Bus) fail(id string, err error) error {
	if errors.Is(err, nats.ErrMaxPayload) {
		return fmt.Errorf("%w: nats publish %s: %w", bus.ErrTooLarge, id, err)
	}
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		b.forgetStream() // deleted behind our back? ensure it again next time
	}
	return fmt.Errorf("%w: nats publish %s: %w", bus.ErrUnavailable, id, err)
}

// asyncMaxPending bounds the books published and not yet acked; past it,
// Publish waits (up to the library's stall wait, then fails and is
// retried). Above the relay's bus.in_flight bound.
const asyncMaxPending = 8192

// Message is what Publish sends for book (the layout above), and its
// message id (the Nats-Msg-Id header Publish sets). Exported for the relay
// benchmark's raw floor, which publishes the same messages with the client
// library alone.
func Message(book eventstore.Book) (msg *nats.Msg, id string, err error) {
	id = bus.ID(book)
	body, err := encode(book)
	if err != nil {
		return nil, id, fmt.Errorf("nats bus: encode %s: %w", id, err)
	}
	return &nats.Msg{
		Subject: SubjectPrefix + bus.Key(book.Cover),
		Data:    body,
		Header:  nats.Header{"Content-Type": []string{contentType}},
	}, id, nil
}

// AckTimeout implements bus.SelfTimed: the client library fails a
// publish whose ack has not come within Options.AckTimeout.
func (b *Bus) AckTimeout() time.Duration { return b.opts.AckTimeout }

// MaxPayload is the largest message the connected server accepts (0 when
// not connected); the relay cuts its books below it.
func (b *Bus) MaxPayload() int { return int(b.nc.MaxPayload()) }

func (b *Bus) forgetStream() {
	b.mu.Lock()
	b.stream = nil
	b.mu.Unlock()
}

// Subscribe opens the durable consumer name, creating it on first use.
func (b *Bus) Subscribe(ctx context.Context, name, domain string) (bus.Subscription, error) {
	if err := bus.CheckName(name); err != nil {
		return nil, err
	}
	filter := SubjectPrefix + ">"
	if domain != "" {
		if err := bus.CheckDomain(domain); err != nil {
			return nil, err
		}
		filter = SubjectPrefix + domain + ".*"
	}
	if b.isClosed() {
		return nil, bus.ErrClosed
	}
	stream, err := b.ensureStream(ctx)
	if err != nil {
		return nil, err
	}
	cons, err := stream.Consumer(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		cons, err = stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       name,
			Description:   "evented bus subscription",
			FilterSubject: filter,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       b.opts.AckWait,
			DeliverPolicy: jetstream.DeliverNewPolicy,
			MaxDeliver:    -1,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: nats: create consumer %s: %w", bus.ErrUnavailable, name, err)
		}
	case err != nil:
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			b.forgetStream()
		}
		return nil, fmt.Errorf("%w: nats: consumer %s: %w", bus.ErrUnavailable, name, err)
	default:
		if got := cons.CachedInfo().Config.FilterSubject; got != filter {
			return nil, fmt.Errorf("%w: subscription %s filters %q, not %q; unsubscribe it first", bus.ErrInvalid, name, got, filter)
		}
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(b.opts.Prefetch))
	if err != nil {
		return nil, fmt.Errorf("%w: nats: consume %s: %w", bus.ErrUnavailable, name, err)
	}
	s := &subscription{b: b, name: name, it: it, done: make(chan struct{}), inflight: map[jetstream.Msg]bool{}}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		it.Stop()
		return nil, bus.ErrClosed
	}
	if b.subs[name] == nil {
		b.subs[name] = map[*subscription]bool{}
	}
	b.subs[name][s] = true
	b.mu.Unlock()
	return s, nil
}

// Unsubscribe deletes the consumer name; interest retention then drops the
// books only it was holding.
func (b *Bus) Unsubscribe(ctx context.Context, name string) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return bus.ErrClosed
	}
	open := b.subs[name]
	b.mu.Unlock()
	for s := range open {
		s.Close()
	}
	stream, err := b.ensureStream(ctx)
	if err != nil {
		return err
	}
	if err := stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("%w: nats: delete consumer %s: %w", bus.ErrUnavailable, name, err)
	}
	return nil
}

// Close closes every Subscription and the connection.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	var open []*subscription
	for _, set := range b.subs {
		for s := range set {
			open = append(open, s)
		}
	}
	b.mu.Unlock()
	for _, s := range open {
		s.Close()
	}
	b.nc.Close()
	return nil
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// subscription reads one consumer through a pull iterator.
type subscription struct {
	b         *Bus
	name      string
	it        jetstream.MessagesContext
	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	inflight map[jetstream.Msg]bool // received, not settled
}

func (s *subscription) Receive(ctx context.Context) (*bus.Message, error) {
	select {
	case <-s.done:
		return nil, bus.ErrClosed
	default:
	}
	m, err := s.it.Next(jetstream.NextContext(ctx))
	if err != nil {
		select {
		case <-s.done:
			return nil, bus.ErrClosed
		default:
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: nats subscription %s: %w", bus.ErrUnavailable, s.name, err)
	}
	book, err := decode(m.Data())
	if err != nil {
		_ = m.Term() // redelivering it would not help
		return nil, fmt.Errorf("nats subscription %s: message on %s: %w", s.name, m.Subject(), err)
	}
	redelivered := false
	if md, err := m.Metadata(); err == nil {
		redelivered = md.NumDelivered > 1
	}
	s.mu.Lock()
	select {
	case <-s.done: // closed while we waited: AckWait gives it back
		s.mu.Unlock()
		return nil, bus.ErrClosed
	default:
	}
	s.inflight[m] = true
	s.mu.Unlock()
	return bus.NewMessage(book, redelivered, acker{s, m}), nil
}

// Close stops pulling. What the Subscription held — received and not
// acked, or pulled ahead and never received — the server delivers again
// once AckWait has passed, in stream order. Not with a nak: nats-server 2.9
// (Debian's) loses or duplicates nacked books when no pull request is
// waiting, as a closed Subscription leaves it (seen here).
func (s *subscription) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.done)
		clear(s.inflight)
		s.mu.Unlock()

		s.b.mu.Lock()
		delete(s.b.subs[s.name], s)
		if len(s.b.subs[s.name]) == 0 {
			delete(s.b.subs, s.name)
		}
		s.b.mu.Unlock()
		s.it.Stop()
	})
	return nil
}

// acker settles one message of one subscription.
type acker struct {
	s *subscription
	m jetstream.Msg
}

// take removes the message from the subscription's in-flight set; false
// when the subscription was closed and has given it back already.
func (a acker) take() bool {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if !a.s.inflight[a.m] {
		return false
	}
	delete(a.s.inflight, a.m)
	return true
}

// Ack waits for the server to confirm it (a double ack), so an acked book
// is not delivered again.
func (a acker) Ack(ctx context.Context) error {
	if !a.take() {
		return fmt.Errorf("%w: the subscription closed before the ack; the book will be delivered again", bus.ErrClosed)
	}
	if err := a.m.DoubleAck(ctx); err != nil {
		return fmt.Errorf("%w: nats ack (the book will be delivered again): %w", bus.ErrUnavailable, err)
	}
	return nil
}

func (a acker) Nack(ctx context.Context) error {
	if !a.take() {
		return nil // given back already
	}
	if err := a.m.Nak(); err != nil {
		return fmt.Errorf("%w: nats nack (the book comes again after AckWait): %w", bus.ErrUnavailable, err)
	}
	return nil
}
