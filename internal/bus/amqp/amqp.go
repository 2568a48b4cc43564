// Package amqp is the RabbitMQ backend of the bus (AMQP 0-9-1, through
// github.com/rabbitmq/amqp091-go).
//
// Layout on the broker, the contract with external consumers:
//
//   - one durable topic exchange, evented.events;
//   - a book is one message with routing key <domain>.<root as 32 lowercase
//     hex digits>, body the protobuf evented.EventBook, content type
//     application/protobuf, type evented.EventBook, message id
//     <domain>.<root hex>.<first>-<last sequence>, delivery mode persistent;
//   - a subscription is a durable queue named after it, bound with
//     <domain>.* (one domain) or # (all).
//
// So any AMQP client can consume: declare a durable queue, bind it to
// evented.events, decode the body with the generated code of evented.proto.
//
// Durability: the publishing channel is in confirm mode and Publish waits
// for the broker's confirmation (a deferred confirmation of its own, so
// concurrent calls, the relay's pipeline, have many books in flight on the
// one channel, confirmed in whatever batches the broker acks them), which
// RabbitMQ sends for a persistent message once every durable queue it was
// routed to has it on disk. A book routed to no queue is confirmed and
// dropped: subscriptions see what is published after they exist.
//
// Connections: one for publishing, one for consuming (RabbitMQ throttles
// publishing connections under memory pressure; consumers must not stall
// with them). Both are opened on first use and again after they are lost —
// there is no background loop: a call finding its connection dead dials,
// bounded by its context and Options.DialTimeout, and fails with
// bus.ErrUnavailable when the broker does not answer. While the broker is
// down Publish therefore fails at once (connection refused), and the first
// call after it is back reconnects.
package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/eventstore"
)

// Exchange is the topic exchange books are published to.
const Exchange = "evented.events"

// Options tune a Bus; the zero value gives the defaults.
type Options struct {
	// Prefetch is how many unacked books one Subscription may hold (basic.qos);
	// default 64.
	Prefetch int
	// DialTimeout bounds opening a connection when the caller's context
	// allows longer; default 5s.
	DialTimeout time.Duration
	// Logger receives connection losses and reconnections; default none.
	Logger *slog.Logger
}

// Bus publishes to and subscribes from one RabbitMQ broker.
type Bus struct {
	url  string
	opts Options
	log  *slog.Logger
	pub  *link
	sub  *link

	mu     sync.Mutex
	closed bool
	subs   map[string]map[*subscription]bool // open Subscriptions by name
}

// New returns a bus for the broker at url (amqp://user:pass@host:port/vhost).
// It does not connect yet: the first call does, so evented starts while the
// broker is down. Only a malformed url is an error.
func New(url string, opts Options) (*Bus, error) {
	if _, err := amqp.ParseURI(url); err != nil {
		return nil, fmt.Errorf("amqp bus: %w", err)
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 64
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "bus/amqp")
	b := &Bus{url: url, opts: opts, log: log, subs: map[string]map[*subscription]bool{}}
	b.pub = &link{b: b, role: "publish", lock: make(chan struct{}, 1)}
	b.sub = &link{b: b, role: "consume", lock: make(chan struct{}, 1)}
	return b, nil
}

// Publish sends book and waits for the broker's confirmation.
func (b *Bus) Publish(ctx context.Context, book eventstore.Book) error {
	if err := bus.Check(book); err != nil {
		return err
	}
	if b.isClosed() {
		return bus.ErrClosed
	}
	key, msg, err := Message(book)
	if err != nil {
		return err
	}
	ch, err := b.pub.confirmChannel(ctx)
	if err != nil {
		return err
	}
	id := msg.MessageId
	// Concurrent calls pipeline: each publishes on the one confirm-mode
	// channel and waits on its own deferred confirmation, which the
	// client matches to the broker's (possibly multiple) acks and nacks.
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, Exchange, key, false, false, msg)
	if err != nil {
		return fmt.Errorf("%w: amqp publish %s: %w", bus.ErrUnavailable, id, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("%w: amqp publish %s: no confirmation: %w", bus.ErrUnavailable, id, err)
	}
	if !ok {
		// A nack, or the channel closed before the confirmation came.
		return fmt.Errorf("%w: amqp publish %s: not confirmed by the broker", bus.ErrUnavailable, id)
	}
	return nil
}

// Message is what Publish sends for book: its routing key and the message
// (the layout above). Exported for the relay benchmark's raw floor, which
// publishes the same messages with the client library alone.
func Message(book eventstore.Book) (key string, msg amqp.Publishing, err error) {
	body, err := encode(book)
	if err != nil {
		return "", msg, fmt.Errorf("amqp bus: encode %s: %w", bus.ID(book), err)
	}
	return bus.Key(book.Cover), amqp.Publishing{
		ContentType:  contentType,
		Type:         messageType,
		DeliveryMode: amqp.Persistent,
		MessageId:    bus.ID(book),
		Timestamp:    time.Now(),
		AppId:        "evented",
		Body:         body,
	}, nil
}

// Subscribe declares the durable queue name, binds it to the exchange for
// domain and starts consuming it.
func (b *Bus) Subscribe(ctx context.Context, name, domain string) (bus.Subscription, error) {
	if err := bus.CheckName(name); err != nil {
		return nil, err
	}
	key := "#"
	if domain != "" {
		if err := bus.CheckDomain(domain); err != nil {
			return nil, err
		}
		key = domain + ".*"
	}
	s := &subscription{b: b, name: name, key: key, done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, bus.ErrClosed
	}
	if b.subs[name] == nil {
		b.subs[name] = map[*subscription]bool{}
	}
	b.subs[name][s] = true
	b.mu.Unlock()
	if _, err := s.consume(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Unsubscribe deletes the queue name with its books.
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
	// A queue.delete of a missing queue succeeds on RabbitMQ.
	return b.sub.do(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete(name, false, false, false)
		return err
	})
}

// Close closes every Subscription and both connections.
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
	return errors.Join(b.pub.close(), b.sub.close())
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// link is one connection, opened on demand and again after it is lost.
type link struct {
	b    *Bus
	role string
	// lock serialises dialing; a channel so that waiting honours ctx.
	lock chan struct{}

	mu   sync.Mutex
	conn *amqp.Connection
	ch   *amqp.Channel // the publisher's confirm-mode channel
}

// connection returns the live connection, dialing if there is none.
func (l *link) connection(ctx context.Context) (*amqp.Connection, error) {
	if c := l.live(); c != nil {
		return c, nil
	}
	select {
	case l.lock <- struct{}{}:
		defer func() { <-l.lock }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: amqp connect: %w", bus.ErrUnavailable, ctx.Err())
	}
	if c := l.live(); c != nil { // another caller dialed meanwhile
		return c, nil
	}
	if l.b.isClosed() {
		return nil, bus.ErrClosed
	}
	c, err := l.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: amqp connect (%s): %w", bus.ErrUnavailable, l.role, err)
	}
	l.mu.Lock()
	l.conn, l.ch = c, nil
	l.mu.Unlock()
	if l.b.isClosed() { // Close ran while we dialed
		c.Close()
		return nil, bus.ErrClosed
	}
	return c, nil
}

func (l *link) live() *amqp.Connection {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil && !l.conn.IsClosed() {
		return l.conn
	}
	return nil
}

// dial connects and declares the exchange, bounded by ctx and DialTimeout.
func (l *link) dial(ctx context.Context) (*amqp.Connection, error) {
	deadline := time.Now().Add(l.b.opts.DialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("evented " + l.role)
	c, err := amqp.DialConfig(l.b.url, amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Deadline: deadline}
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Bounds the AMQP handshake too; the library clears it once open.
			return conn, conn.SetDeadline(deadline)
		},
	})
	if err != nil {
		return nil, err
	}
	ch, err := c.Channel()
	if err == nil {
		err = ch.ExchangeDeclare(Exchange, amqp.ExchangeTopic, true, false, false, false, nil)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("declare exchange %s: %w", Exchange, err)
	}
	ch.Close()
	lost := c.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		if err, ok := <-lost; ok && err != nil {
			l.b.log.Warn("connection lost; the next call reconnects", "role", l.role, "err", err)
		}
	}()
	l.b.log.Info("connected", "role", l.role)
	return c, nil
}

// confirmChannel returns the publisher's channel in confirm mode.
func (l *link) confirmChannel(ctx context.Context) (*amqp.Channel, error) {
	c, err := l.connection(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ch != nil && !l.ch.IsClosed() && l.conn == c {
		return l.ch, nil
	}
	ch, err := c.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: amqp confirm channel: %w", bus.ErrUnavailable, err)
	}
	l.ch = ch
	return ch, nil
}

// do runs fn on a fresh channel, closing it after; ctx ending closes the
// channel, which makes a blocked fn return.
func (l *link) do(ctx context.Context, fn func(*amqp.Channel) error) error {
	c, err := l.connection(ctx)
	if err != nil {
		return err
	}
	ch, err := c.Channel()
	if err != nil {
		return fmt.Errorf("%w: amqp channel: %w", bus.ErrUnavailable, err)
	}
	defer ch.Close()
	stop := context.AfterFunc(ctx, func() { ch.Close() })
	defer stop()
	if err := fn(ch); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("%w: amqp: %w", bus.ErrUnavailable, err)
	}
	return nil
}

func (l *link) close() error {
	l.mu.Lock()
	c := l.conn
	l.conn, l.ch = nil, nil
	l.mu.Unlock()
	if c == nil || c.IsClosed() {
		return nil
	}
	if err := c.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("amqp bus: close %s connection: %w", l.role, err)
	}
	return nil
}

// subscription consumes one queue on its own channel, which it opens again
// after the connection is lost.
type subscription struct {
	b         *Bus
	name, key string
	done      chan struct{}
	closeOnce sync.Once

	mu         sync.Mutex
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
}

// consume returns the live delivery channel, (re)declaring the queue and
// starting a consumer when there is none.
func (s *subscription) consume(ctx context.Context) (<-chan amqp.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return nil, bus.ErrClosed
	default:
	}
	if s.deliveries != nil && !s.ch.IsClosed() {
		return s.deliveries, nil
	}
	c, err := s.b.sub.connection(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := c.Channel()
	if err != nil {
		return nil, fmt.Errorf("%w: amqp channel: %w", bus.ErrUnavailable, err)
	}
	stop := context.AfterFunc(ctx, func() { ch.Close() })
	deliveries, err := s.setup(ch)
	if !stop() || err != nil {
		ch.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("%w: amqp subscribe %s: %w", bus.ErrUnavailable, s.name, err)
	}
	s.ch, s.deliveries = ch, deliveries
	return deliveries, nil
}

func (s *subscription) setup(ch *amqp.Channel) (<-chan amqp.Delivery, error) {
	if _, err := ch.QueueDeclare(s.name, true, false, false, false, nil); err != nil {
		return nil, err
	}
	if err := ch.QueueBind(s.name, s.key, Exchange, false, nil); err != nil {
		return nil, err
	}
	if err := ch.Qos(s.b.opts.Prefetch, 0, false); err != nil {
		return nil, err
	}
	return ch.Consume(s.name, "", false, false, false, false, nil)
}

func (s *subscription) Receive(ctx context.Context) (*bus.Message, error) {
	// A lost channel is reopened at once; a few losses in a row mean the
	// broker is not really back, and the caller hears of it.
	for range 3 {
		deliveries, err := s.consume(ctx)
		if err != nil {
			return nil, err
		}
		select {
		case d, ok := <-deliveries:
			if !ok {
				s.drop(deliveries)
				continue
			}
			book, err := decode(d.Body)
			if err != nil {
				// Requeueing would loop forever; reject drops it (or
				// dead-letters it, where the queue is set up to).
				_ = d.Reject(false)
				return nil, fmt.Errorf("amqp subscription %s: message %q: %w", s.name, d.MessageId, err)
			}
			return bus.NewMessage(book, d.Redelivered, delivery{d}), nil
		case <-s.done:
			return nil, bus.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	select {
	case <-s.done:
		return nil, bus.ErrClosed
	default:
		return nil, fmt.Errorf("%w: amqp subscription %s: consumer keeps closing", bus.ErrUnavailable, s.name)
	}
}

// drop forgets a delivery channel that closed, so the next consume opens
// a new one.
func (s *subscription) drop(deliveries <-chan amqp.Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deliveries == deliveries {
		s.ch.Close()
		s.ch, s.deliveries = nil, nil
	}
}

// Close closes the channel, which makes the broker requeue what it
// delivered and was not acked.
func (s *subscription) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.b.mu.Lock()
		delete(s.b.subs[s.name], s)
		if len(s.b.subs[s.name]) == 0 {
			delete(s.b.subs, s.name)
		}
		s.b.mu.Unlock()
		s.mu.Lock()
		if s.ch != nil {
			s.ch.Close()
		}
		s.mu.Unlock()
	})
	return nil
}

// delivery settles one amqp.Delivery on the channel it came on; when that
// channel is gone the broker has requeued it already.
type delivery struct{ d amqp.Delivery }

func (d delivery) Ack(context.Context) error {
	if err := d.d.Ack(false); err != nil {
		return fmt.Errorf("%w: amqp ack (the book will be delivered again): %w", bus.ErrUnavailable, err)
	}
	return nil
}

func (d delivery) Nack(context.Context) error {
	if err := d.d.Nack(false, true); err != nil {
		return fmt.Errorf("%w: amqp nack (the book will be delivered again): %w", bus.ErrUnavailable, err)
	}
	return nil
}
