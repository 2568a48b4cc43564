// Package inprocess is the embedded bus: durable subscriptions kept in
// memory, for a single evented process and as the fake every other package
// tests against. It passes the bus conformance suite like the brokers do.
//
// "Durable" here means: a subscription keeps its books while no
// Subscription is open, for as long as the Bus lives. Nothing survives the
// process; after a restart the relay's checkpoint in the event store, not
// the bus, is what resumes delivery. Books are copied on Publish and on
// delivery, so neither side can change what the other sees.
//
// A subscription is a queue in publish order. Received books are in flight
// until settled; a Nack, or closing the Subscription that received them,
// puts them back at the front of the queue in publish order, so they come
// again before anything newer. Memory grows with what no one consumes:
// Unsubscribe what is no longer read.
package inprocess

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/eventstore"
)

// Bus is an in-memory bus.Publisher and bus.Subscriber. The zero value is
// not usable; call New.
type Bus struct {
	mu     sync.Mutex
	closed bool
	queues map[string]*queue
}

// New returns an empty bus.
func New() *Bus { return &Bus{queues: map[string]*queue{}} }

// queue is one durable subscription. Its fields are guarded by Bus.mu.
type queue struct {
	name, domain string
	next         uint64   // id of the next book put in
	pending      []*entry // not delivered (or given back), by id
	open         map[*subscription]bool
	// wake is closed and replaced whenever pending grows or the queue goes
	// away, so that blocked Receives look again.
	wake chan struct{}
}

type entry struct {
	id          uint64
	book        eventstore.Book
	redelivered bool
}

func (q *queue) signal() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// giveBack returns entries to the front of the queue, keeping publish order.
func (q *queue) giveBack(es ...*entry) {
	for _, e := range es {
		e.redelivered = true
	}
	q.pending = append(q.pending, es...)
	slices.SortFunc(q.pending, func(a, b *entry) int { return cmp.Compare(a.id, b.id) })
	q.signal()
}

// Publish puts a copy of book in every subscription of its domain.
func (b *Bus) Publish(ctx context.Context, book eventstore.Book) error {
	if err := bus.Check(book); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	for _, q := range b.queues {
		if q.domain != "" && q.domain != book.Cover.Domain {
			continue
		}
		q.pending = append(q.pending, &entry{id: q.next, book: clone(book)})
		q.next++
		q.signal()
	}
	return nil
}

// Subscribe opens the subscription name, creating it on first use.
func (b *Bus) Subscribe(ctx context.Context, name, domain string) (bus.Subscription, error) {
	if err := bus.CheckName(name); err != nil {
		return nil, err
	}
	if domain != "" {
		if err := bus.CheckDomain(domain); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, bus.ErrClosed
	}
	q, ok := b.queues[name]
	if !ok {
		q = &queue{name: name, domain: domain, open: map[*subscription]bool{}, wake: make(chan struct{})}
		b.queues[name] = q
	} else if q.domain != domain {
		return nil, fmt.Errorf("%w: subscription %s listens to domain %q, not %q; unsubscribe it first", bus.ErrInvalid, name, q.domain, domain)
	}
	s := &subscription{bus: b, q: q, inflight: map[uint64]*entry{}}
	q.open[s] = true
	return s, nil
}

// Unsubscribe deletes the subscription name with its books.
func (b *Bus) Unsubscribe(ctx context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	if q, ok := b.queues[name]; ok {
		for s := range q.open {
			s.closed = true
		}
		q.open = nil
		delete(b.queues, name)
		q.signal()
	}
	return nil
}

// Close closes every Subscription; later calls fail with bus.ErrClosed.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for _, q := range b.queues {
		for s := range q.open {
			s.closed = true
		}
		q.signal()
	}
	return nil
}

// subscription is one open consumer of a queue. Guarded by Bus.mu.
type subscription struct {
	bus      *Bus
	q        *queue
	closed   bool
	inflight map[uint64]*entry
}

func (s *subscription) Receive(ctx context.Context) (*bus.Message, error) {
	for {
		s.bus.mu.Lock()
		if s.closed {
			s.bus.mu.Unlock()
			return nil, bus.ErrClosed
		}
		if len(s.q.pending) > 0 {
			e := s.q.pending[0]
			s.q.pending = s.q.pending[1:]
			s.inflight[e.id] = e
			s.bus.mu.Unlock()
			return bus.NewMessage(clone(e.book), e.redelivered, acker{s, e}), nil
		}
		wake := s.q.wake
		s.bus.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *subscription) Close() error {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	s.closed = true
	delete(s.q.open, s)
	es := make([]*entry, 0, len(s.inflight))
	for _, e := range s.inflight {
		es = append(es, e)
	}
	clear(s.inflight)
	s.q.giveBack(es...) // also wakes a Receive blocked on this subscription
	return nil
}

// acker settles one entry of one subscription.
type acker struct {
	s *subscription
	e *entry
}

func (a acker) Ack(ctx context.Context) error {
	a.s.bus.mu.Lock()
	defer a.s.bus.mu.Unlock()
	if _, ok := a.s.inflight[a.e.id]; !ok {
		// Given back when its Subscription closed: it comes again.
		return fmt.Errorf("%w: the subscription closed before the ack; the book will be delivered again", bus.ErrClosed)
	}
	delete(a.s.inflight, a.e.id)
	return nil
}

func (a acker) Nack(ctx context.Context) error {
	a.s.bus.mu.Lock()
	defer a.s.bus.mu.Unlock()
	if _, ok := a.s.inflight[a.e.id]; !ok {
		return nil // already given back
	}
	delete(a.s.inflight, a.e.id)
	a.s.q.giveBack(a.e)
	return nil
}

// clone copies book deep enough that no slice is shared.
func clone(b eventstore.Book) eventstore.Book {
	out := eventstore.Book{Cover: b.Cover, Events: make([]eventstore.Event, len(b.Events))}
	for i, e := range b.Events {
		e.Payload = slices.Clone(e.Payload)
		out.Events[i] = e
	}
	if b.Snapshot != nil {
		s := *b.Snapshot
		s.State = slices.Clone(s.State)
		out.Snapshot = &s
	}
	return out
}
