// Package bus is the event bus port of evented: how committed events leave
// the server for consumers that read a message broker rather than being
// called by evented (external services, other evented instances).
//
// The unit on the bus is a book: one aggregate's new events (an
// eventstore.Book with a cover and events in sequence order). A relay reads
// the event store from a checkpoint and publishes; the store is the outbox,
// so the bus never has to be the source of truth. That shapes the contract:
//
//   - Publish returns nil only once the broker has durably accepted the book
//     (publisher confirm, JetStream ack). On any error the book may or may
//     not be on the bus, and the relay publishes it again: delivery is
//     at-least-once and consumers see duplicates after failures. A book is
//     identified by its cover and sequence range, which is how a consumer
//     tells a duplicate.
//   - Order holds per cover: books of one cover published one after the
//     other (each Publish returned before the next began) are delivered to a
//     subscription in that order. There is no order across covers. A
//     redelivery (after Nack, a closed Subscription or a lost connection)
//     may come after later books of its cover; a consumer that needs strict
//     order remembers the last sequence it applied per cover.
//   - Subscriptions are durable and named: books published while nobody
//     consumes wait in the broker, and what was received but not acked is
//     delivered again. A new subscription receives the books published after
//     Subscribe returned, not the bus's history (that is the event store's
//     job).
//
// Backends live in child packages — inprocess (the embedded default), amqp
// (RabbitMQ) and nats (JetStream) — and all pass the conformance suite in
// bus/bustest, so callers can rely on this doc comment alone. Books cross a
// broker as protobuf evented.EventBook messages, so external consumers in
// any language can read them.
package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/evented/evented/internal/eventstore"
)

// Publisher puts books on the bus.
//
// Implementations are safe for concurrent use. Concurrent Publish calls for
// different covers are fine, and are how a caller gets many books in flight
// at once (the backends pipeline them over one connection); the caller
// publishes one cover's books one at a time, in sequence order, each after
// the previous one returned nil, which is what keeps them ordered whatever
// fails in between.
type Publisher interface {
	// Publish sends book and returns nil once the broker has durably
	// accepted it. It returns an error — promptly, bounded by ctx — when the
	// broker is unreachable (ErrUnavailable), the book is not valid for the
	// bus (ErrInvalid, see Check) or the publisher is closed (ErrClosed).
	// After ErrUnavailable, publishing again later works once the broker is
	// back: backends reconnect by themselves.
	Publish(ctx context.Context, book eventstore.Book) error

	// Close releases the publisher; it is idempotent. Publish after Close
	// returns ErrClosed.
	Close() error
}

// AsyncPublisher is a Publisher that also publishes without making its
// caller wait for the broker's confirmation: PublishAsync sends book and
// returns; done is called exactly once, on any goroutine (before
// PublishAsync returns, too, when the book cannot be sent), with what
// Publish would have returned. The answer comes by itself within the
// publisher's AckTimeout (see SelfTimed) of the send, whatever the broker
// does; PublishAsync itself may take as long again before it sends (the
// first publish of a Bus making sure of its stream, say). The
// ordering rule is Publish's: a caller publishes one cover's next book
// only once done reported nil for the one before.
type AsyncPublisher interface {
	Publisher
	SelfTimed
	PublishAsync(book eventstore.Book, done func(error))
}

// SelfTimed is implemented by a Publisher whose Publish gives up by
// itself: it fails with ErrUnavailable when the broker has not confirmed a
// book within AckTimeout, even under a context without a deadline. A
// caller whose own bound is no shorter needs no deadline per book (a
// context and a timer each, about a twentieth of the relay's CPU per book
// on NATS).
type SelfTimed interface {
	AckTimeout() time.Duration
}

// Subscriber opens durable, named subscriptions.
//
// Implementations are safe for concurrent use.
type Subscriber interface {
	// Subscribe opens the durable subscription name (see CheckName), creating
	// it on first use. It receives the books of domain, or of every domain
	// when domain is "". From the moment Subscribe returns, every book
	// published is kept for it until acked, also while no Subscription is
	// open. The domain is fixed when the subscription is created; to change
	// it, Unsubscribe first (backends that can tell return ErrInvalid for a
	// different domain, others may add it to the old one).
	//
	// Two Subscriptions open under one name share its books (each book goes
	// to one of them), which loses the order per cover: open one at a time
	// for ordered consumption.
	Subscribe(ctx context.Context, name, domain string) (Subscription, error)

	// Unsubscribe deletes the durable subscription name and the books it
	// holds, closing its open Subscriptions. Unknown names are not an error.
	Unsubscribe(ctx context.Context, name string) error

	// Close closes every open Subscription and releases the subscriber; it
	// is idempotent. Durable subscriptions stay in the broker.
	Close() error
}

// Subscription is one open consumer of a durable subscription.
//
// Receive is meant to be called from one goroutine; Ack and Nack of received
// messages, and Close, may be called from any.
type Subscription interface {
	// Receive blocks until the next book arrives, ctx ends or the
	// subscription is closed (ErrClosed). When the connection to the broker
	// is lost it reconnects; if that fails it returns an error wrapping
	// ErrUnavailable, and calling Receive again tries again. A message whose
	// body is not a valid book is dropped by the backend (never redelivered)
	// and reported as an error wrapping ErrMalformed.
	Receive(ctx context.Context) (*Message, error)

	// Close stops consuming; it is idempotent. Books it received and did
	// not ack are delivered again: at once (in-process, AMQP), or once the
	// backend's ack deadline has passed (NATS AckWait). Acking them after
	// Close fails.
	Close() error
}

// Message is one delivery of a book to a subscription.
type Message struct {
	Book eventstore.Book
	// Redelivered is set when the broker may have delivered this book to the
	// subscription before (after a Nack, a closed subscription or a lost
	// connection).
	Redelivered bool

	ack     Acknowledger
	settled atomic.Bool
}

// Acknowledger settles one delivery with the broker. Backends implement it;
// Message makes sure it is called at most once.
type Acknowledger interface {
	Ack(ctx context.Context) error
	Nack(ctx context.Context) error
}

// NewMessage is for backends: a delivery of book that ack settles.
func NewMessage(book eventstore.Book, redelivered bool, ack Acknowledger) *Message {
	return &Message{Book: book, Redelivered: redelivered, ack: ack}
}

// Ack tells the broker the book was handled: it is not delivered to this
// subscription again, unless the ack is lost with the connection (then Ack
// returns an error and the book comes again). A message is settled once:
// a second Ack or Nack returns ErrSettled.
func (m *Message) Ack(ctx context.Context) error {
	if !m.settled.CompareAndSwap(false, true) {
		return ErrSettled
	}
	return m.ack.Ack(ctx)
}

// Nack gives the book back for redelivery to the subscription, as soon as
// possible. Same once-only rule as Ack.
func (m *Message) Nack(ctx context.Context) error {
	if !m.settled.CompareAndSwap(false, true) {
		return ErrSettled
	}
	return m.ack.Nack(ctx)
}

var (
	// ErrClosed is returned by calls on a closed publisher, subscriber or
	// subscription.
	ErrClosed = errors.New("bus closed")
	// ErrUnavailable wraps failures to reach the broker or to get its
	// confirmation; retrying later is the remedy.
	ErrUnavailable = errors.New("bus unavailable")
	// ErrInvalid wraps a book, domain or subscription name the bus cannot
	// carry; retrying does not help.
	ErrInvalid = errors.New("invalid for the bus")
	// ErrTooLarge wraps a book larger than the broker accepts (NATS's
	// max_payload); retrying does not help.
	ErrTooLarge = errors.New("book too large for the bus")
	// ErrMalformed wraps a received message whose body is not a book.
	ErrMalformed = errors.New("malformed message on the bus")
	// ErrSettled is returned by Ack or Nack of a message already settled.
	ErrSettled = errors.New("message already acked or nacked")
)

// Check reports whether book can be published: a domain that CheckDomain
// accepts, at least one event, and consecutive sequences. Every backend
// calls it first, so a bad book fails the same way everywhere.
func Check(book eventstore.Book) error {
	if err := CheckDomain(book.Cover.Domain); err != nil {
		return err
	}
	if len(book.Events) == 0 {
		return fmt.Errorf("%w: book of %s has no events", ErrInvalid, book.Cover)
	}
	for i := 1; i < len(book.Events); i++ {
		if book.Events[i].Sequence != book.Events[i-1].Sequence+1 {
			return fmt.Errorf("%w: book of %s: sequence %d follows %d; events must be consecutive",
				ErrInvalid, book.Cover, book.Events[i].Sequence, book.Events[i-1].Sequence)
		}
	}
	return nil
}

// CheckDomain reports whether domain can be a routing key word and a NATS
// subject token: not empty, no space or control character, no wildcard
// (* > #) and no empty part between dots.
func CheckDomain(domain string) error {
	if domain == "" {
		return fmt.Errorf("%w: empty domain", ErrInvalid)
	}
	for _, part := range strings.Split(domain, ".") {
		if part == "" {
			return fmt.Errorf("%w: domain %q has an empty part between dots", ErrInvalid, domain)
		}
	}
	if i := strings.IndexFunc(domain, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '*' || r == '>' || r == '#'
	}); i >= 0 {
		return fmt.Errorf("%w: domain %q: character %q is not allowed (spaces, control characters, * > #)", ErrInvalid, domain, domain[i])
	}
	return nil
}

// CheckName reports whether name can name a durable subscription on every
// backend (an AMQP queue, a JetStream durable consumer): 1 to 200 ASCII
// letters, digits, '-' or '_'.
func CheckName(name string) error {
	if name == "" || len(name) > 200 {
		return fmt.Errorf("%w: subscription name must have 1 to 200 characters, got %d", ErrInvalid, len(name))
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%w: subscription name %q: only ASCII letters, digits, '-' and '_' are allowed", ErrInvalid, name)
		}
	}
	return nil
}

// Key is the routing key of cover: its domain, a dot, and its root as 32
// lowercase hex digits (no dashes). AMQP routes on it as is; NATS prefixes
// it with the subject root.
func Key(c eventstore.Cover) string {
	return c.Domain + "." + RootHex(c)
}

// RootHex is cover's root as 32 lowercase hex digits.
func RootHex(c eventstore.Cover) string {
	const hex = "0123456789abcdef"
	var b [32]byte
	for i, x := range c.Root {
		b[2*i], b[2*i+1] = hex[x>>4], hex[x&0x0f]
	}
	return string(b[:])
}

// ID names a book by its cover, sequence range and the creation time of
// its last event, "<domain>.<root hex>.<first>-<last>.<unix nanos>": the
// broker's message id, so a consumer (or JetStream's duplicate window) can
// recognise a book published twice. The time tells apart the same cover
// and sequences written to two different stores (a test run after another,
// a store rebuilt from scratch), which are not the same events.
func ID(book eventstore.Book) string {
	first, last := uint32(0), uint32(0)
	var at int64
	if n := len(book.Events); n > 0 {
		first, last = book.Events[0].Sequence, book.Events[n-1].Sequence
		if t := book.Events[n-1].CreatedAt; !t.IsZero() {
			at = t.UnixNano()
		}
	}
	return fmt.Sprintf("%s.%d-%d.%d", Key(book.Cover), first, last, at)
}
