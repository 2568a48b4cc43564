// Package bustest is the conformance suite of the bus port. Every backend
// runs it from its own tests, so the contract in the bus doc comments is
// checked once, the same way, everywhere:
//
//	func TestBus(t *testing.T) {
//		bustest.Run(t, bustest.Backend{Open: func(t *testing.T) bustest.Bus {
//			b := inprocess.New()
//			t.Cleanup(func() { b.Close() })
//			return b
//		}})
//	}
//
// What a backend can do beyond the common contract is declared in Backend
// (watermill's pubsub/tests do the same with Features); a subtest that needs
// an ability the backend lacks is skipped with the reason.
//
// Every subtest works in its own namespace (domains and subscription names
// carry a random prefix), so it can share a broker with other tests and
// earlier runs. After every subtest the suite checks an invariant over
// everything it received: each book was published by the subtest (or at
// least attempted, when the broker was down), arrived intact, and arrived
// twice only when marked Redelivered (or when a failed Publish of it was
// retried). A backend that corrupts, invents or silently duplicates a book
// fails there even when the subtest looked elsewhere.
//
// Brokers come from the environment (URL, BrokerFromEnv): tests skip with
// the reason when the address is unset, and fail when CI=true. Benchmarks
// shared by the backends, and their method, are in bench.go.
package bustest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/testenv"
)

// Bus is what a backend gives the suite: both halves of the port over one
// broker (or one in-process bus).
type Bus interface {
	bus.Publisher
	bus.Subscriber
}

// Backend declares how the suite opens a backend and what it can do.
type Backend struct {
	// Open returns a bus. It registers its own cleanup; the suite may close
	// the bus earlier (Close is idempotent).
	Open func(t *testing.T) Bus
	// Shared is set when every Open connects to the same broker, so that a
	// durable subscription outlives the client that created it. The
	// in-process bus is not shared: each Open is a new bus.
	Shared bool
	// FixedDomain is set when Subscribe under an existing name with another
	// domain fails with bus.ErrInvalid.
	FixedDomain bool
	// RedeliveryDelay is how long the backend may take to deliver again what
	// a closed Subscription held (NATS: its AckWait). Zero means at once,
	// and then the suite also checks that those books come first, in order.
	RedeliveryDelay time.Duration
	// Addr is the broker's host:port and OpenAddr opens a bus that connects
	// to addr instead: the network-fault test puts a TCP proxy at addr that
	// freezes and cuts connections. Without them that test is skipped.
	Addr     string
	OpenAddr func(t *testing.T, addr string) Bus
	// Broker controls the broker process for the restart test; nil skips it
	// with BrokerSkip as the reason.
	Broker     *Broker
	BrokerSkip string
}

// Broker stops and starts the broker process. Stop returns once it is
// down; Start once it accepts connections again, with its data intact.
type Broker struct {
	Stop, Start func(t *testing.T)
}

// timeout bounds every subtest but the restart one, so a deadlocked backend
// fails instead of hanging the run.
const timeout = 30 * time.Second

// Run runs the conformance suite against b.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, e *env)
	}{
		{"PublishReceive", testPublishReceive},
		{"OrderPerCover", testOrderPerCover},
		{"DomainFilter", testDomainFilter},
		{"NackRedelivers", testNackRedelivers},
		{"CloseRedeliversUnacked", testCloseRedeliversUnacked},
		{"DurableWhileClosed", testDurableWhileClosed},
		{"DurableAcrossClients", testDurableAcrossClients},
		{"FixedDomain", testFixedDomain},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"Unsubscribe", testUnsubscribe},
		{"SettleOnce", testSettleOnce},
		{"ReceiveContext", testReceiveContext},
		{"Invalid", testInvalid},
		{"Close", testClose},
		{"NetworkFaults", testNetworkFaults},
		{"BrokerRestart", testBrokerRestart},
		{"PublishAsync", testPublishAsync},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			switch {
			case tc.name == "DurableAcrossClients" && !b.Shared:
				t.Skip("backend is not shared between clients (Backend.Shared is false)")
			case tc.name == "FixedDomain" && !b.FixedDomain:
				t.Skip("backend does not detect a changed domain (Backend.FixedDomain is false)")
			case tc.name == "NetworkFaults" && b.OpenAddr == nil:
				t.Skip("no network between client and bus (Backend.OpenAddr is nil)")
			case tc.name == "BrokerRestart" && b.Broker == nil:
				if strings.Contains(b.BrokerSkip, "_TEST_RESTART") {
					// BrokerFromEnv's reason: a variable this run lacks.
					testenv.Skip(t, testenv.BrokerRestart, b.BrokerSkip)
				}
				t.Skip(b.BrokerSkip)
			}
			d := timeout
			if tc.name == "BrokerRestart" {
				d = 3 * time.Minute
			}
			ctx, cancel := context.WithTimeout(t.Context(), d)
			defer cancel()
			e := newEnv(t, b)
			tc.fn(t, ctx, e)
			e.checkInvariants()
		})
	}
}

// env is one subtest's namespace and ledger.
type env struct {
	t       *testing.T
	backend Backend
	bus     Bus
	prefix  string

	mu        sync.Mutex
	published map[string]eventstore.Book // confirmed by Publish
	attempted map[string]eventstore.Book // Publish failed: may or may not be on the bus
	received  []received
	twice     string // a book whose PublishAsync answered more than once
}

type received struct {
	sub string
	msg *bus.Message
}

// newPrefix is a fresh namespace for domains and subscription names.
func newPrefix() string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return "bt" + hex.EncodeToString(r[:])
}

func newEnv(t *testing.T, b Backend) *env {
	return &env{
		t: t, backend: b, bus: b.Open(t), prefix: newPrefix(),
		published: map[string]eventstore.Book{}, attempted: map[string]eventstore.Book{},
	}
}

// domain is a domain of this subtest only.
func (e *env) domain(label string) string { return e.prefix + "-" + label }

// name is a subscription name of this subtest only.
func (e *env) name(label string) string { return e.prefix + "_" + label }

func (e *env) ours(b eventstore.Book) bool { return strings.HasPrefix(b.Cover.Domain, e.prefix+"-") }

func cover(domain string) eventstore.Cover { return eventstore.Cover{Domain: domain, Root: uuid.New()} }

// book builds n events of c from sequence first on, with payloads that
// carry the cover, the sequence and bytes that text encodings mangle.
func book(c eventstore.Cover, first uint32, n int) eventstore.Book {
	b := eventstore.Book{Cover: c}
	base := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	for i := range n {
		seq := first + uint32(i)
		b.Events = append(b.Events, eventstore.Event{
			Sequence:  seq,
			CreatedAt: base.Add(time.Duration(seq) * time.Millisecond),
			TypeURL:   "type.googleapis.com/bustest.Happened",
			Payload:   append([]byte(fmt.Sprintf("%s#%d", c, seq)), 0, 0xff, 0x80, '\n'),
		})
	}
	return b
}

// publish publishes b and records it as confirmed; failing is fatal.
func (e *env) publish(ctx context.Context, p bus.Publisher, b eventstore.Book) {
	e.t.Helper()
	if err := e.tryPublish(ctx, p, b); err != nil {
		e.t.Fatalf("Publish %s: %v", bus.ID(b), err)
	}
}

// tryPublish publishes b, recording it as confirmed or only attempted.
func (e *env) tryPublish(ctx context.Context, p bus.Publisher, b eventstore.Book) error {
	err := p.Publish(ctx, b)
	e.record(b, err)
	return err
}

// record enters b in the ledger as confirmed (err nil) or only attempted.
func (e *env) record(b eventstore.Book, err error) {
	b = clone(b) // the ledger keeps what was published, whatever the caller does next
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		e.published[bus.ID(b)] = b
	} else {
		e.attempted[bus.ID(b)] = b
	}
}

// tryPublishAsync publishes b with p's PublishAsync and waits for its
// answer (failing when none comes within a minute), recording it as
// tryPublish does; a second answer is recorded in e.twice.
func (e *env) tryPublishAsync(ctx context.Context, p bus.Publisher, b eventstore.Book) error {
	answers := make(chan error, 2)
	calls := 0
	var mu sync.Mutex
	p.(bus.AsyncPublisher).PublishAsync(b, func(err error) {
		mu.Lock()
		calls++
		if calls > 1 {
			e.mu.Lock()
			e.twice = bus.ID(b)
			e.mu.Unlock()
		}
		mu.Unlock()
		answers <- err
	})
	var err error
	select {
	case err = <-answers:
	case <-time.After(time.Minute):
		err = errors.New("no answer within a minute")
	case <-ctx.Done():
		err = ctx.Err()
	}
	e.record(b, err)
	return err
}

// subscribe opens this subtest's subscription label and deletes it at the
// end of the subtest.
func (e *env) subscribe(ctx context.Context, s bus.Subscriber, label, domain string) bus.Subscription {
	e.t.Helper()
	sub, err := s.Subscribe(ctx, e.name(label), domain)
	if err != nil {
		e.t.Fatalf("Subscribe(%s, %q): %v", e.name(label), domain, err)
	}
	e.t.Cleanup(func() {
		sub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.bus.Unsubscribe(ctx, e.name(label)); err != nil && !errors.Is(err, bus.ErrClosed) {
			e.t.Errorf("Unsubscribe(%s): %v", e.name(label), err)
		}
	})
	return sub
}

// next receives the next book of this subtest on sub (acking and skipping
// books of other tests that share the broker) and records it.
func (e *env) next(ctx context.Context, label string, sub bus.Subscription) (*bus.Message, error) {
	for {
		m, err := sub.Receive(ctx)
		if err != nil {
			return nil, err
		}
		if !e.ours(m.Book) {
			_ = m.Ack(ctx)
			continue
		}
		e.mu.Lock()
		e.received = append(e.received, received{sub: label, msg: m})
		e.mu.Unlock()
		return m, nil
	}
}

// receive receives and acks n books of this subtest; failing is fatal.
func (e *env) receive(ctx context.Context, label string, sub bus.Subscription, n int) []eventstore.Book {
	e.t.Helper()
	books := make([]eventstore.Book, 0, n)
	for len(books) < n {
		m, err := e.next(ctx, label, sub)
		if err != nil {
			e.t.Fatalf("%s: Receive after %d of %d books: %v", label, len(books), n, err)
		}
		if err := m.Ack(ctx); err != nil {
			e.t.Fatalf("%s: Ack %s: %v", label, bus.ID(m.Book), err)
		}
		books = append(books, m.Book)
	}
	return books
}

// quiet fails when sub receives a book of this subtest within d.
func (e *env) quiet(ctx context.Context, label string, sub bus.Subscription, d time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	m, err := e.next(ctx, label, sub)
	if err == nil {
		e.t.Fatalf("%s: unexpected book %s (redelivered %v)", label, bus.ID(m.Book), m.Redelivered)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		e.t.Fatalf("%s: Receive: %v, want nothing until the deadline", label, err)
	}
}

// checkInvariants: everything received was published (or attempted) by
// this subtest, intact, and a repeat on one subscription is marked
// Redelivered (or follows a failed Publish that was retried).
func (e *env) checkInvariants() {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range e.received {
		id := bus.ID(r.msg.Book)
		want, ok := e.published[id]
		if !ok {
			want, ok = e.attempted[id]
		}
		if !ok {
			e.t.Errorf("invariant: %s received %s, which was never published", r.sub, id)
			continue
		}
		if diff := diffBook(want, r.msg.Book); diff != "" {
			e.t.Errorf("invariant: %s received %s altered: %s", r.sub, id, diff)
		}
		// A repeat is either a redelivery, or a second copy of a book whose
		// first Publish failed after all and was published again.
		key := r.sub + "|" + id
		if _, retried := e.attempted[id]; seen[key] && !r.msg.Redelivered && !retried {
			e.t.Errorf("invariant: %s received %s again without Redelivered", r.sub, id)
		}
		seen[key] = true
	}
}

// diffBook describes the first difference between two books, "" if none.
func diffBook(want, got eventstore.Book) string {
	if got.Cover != want.Cover {
		return fmt.Sprintf("cover %s, want %s", got.Cover, want.Cover)
	}
	if len(got.Events) != len(want.Events) {
		return fmt.Sprintf("%d events, want %d", len(got.Events), len(want.Events))
	}
	for i, w := range want.Events {
		g := got.Events[i]
		switch {
		case g.Sequence != w.Sequence:
			return fmt.Sprintf("events[%d].Sequence %d, want %d", i, g.Sequence, w.Sequence)
		case !g.CreatedAt.Equal(w.CreatedAt):
			return fmt.Sprintf("events[%d].CreatedAt %v, want %v", i, g.CreatedAt, w.CreatedAt)
		case g.TypeURL != w.TypeURL:
			return fmt.Sprintf("events[%d].TypeURL %q, want %q", i, g.TypeURL, w.TypeURL)
		case !bytes.Equal(g.Payload, w.Payload):
			return fmt.Sprintf("events[%d].Payload %q, want %q", i, g.Payload, w.Payload)
		}
	}
	return ""
}

// ids lists the ids of books, for messages.
func ids(books []eventstore.Book) []string {
	out := make([]string, len(books))
	for i, b := range books {
		out[i] = bus.ID(b)
	}
	return out
}

func clone(b eventstore.Book) eventstore.Book {
	out := b
	out.Events = slices.Clone(b.Events)
	for i := range out.Events {
		out.Events[i].Payload = slices.Clone(out.Events[i].Payload)
	}
	return out
}

// URL returns the broker address in the environment variable name, for the
// tests of a backend that needs a real broker. When it is unset the test is
// skipped, saying so — unless CI=true: CI starts the brokers (.ci/services.sh),
// so a missing address there is a broken set-up and the test fails.
func URL(t testing.TB, name string) string {
	t.Helper()
	for _, n := range []testenv.Need{testenv.RabbitMQ, testenv.NATS} {
		if n.Env == name {
			return testenv.Getenv(t, n)
		}
	}
	t.Fatalf("bustest.URL(%s): no broker of that variable", name)
	return ""
}

// BrokerFromEnv builds the Broker control of the restart test from the
// environment variable name, a shell command to which "stop" or "start" is
// appended (.ci/services.sh prints one). When it is unset, Broker is nil and
// skip says why.
func BrokerFromEnv(name string) (b *Broker, skip string) {
	cmd := os.Getenv(name)
	if cmd == "" {
		return nil, name + " is not set: the broker restart test needs a command that stops and starts the broker (.ci/services.sh start prints it)"
	}
	run := func(t *testing.T, action string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		out, err := exec.CommandContext(ctx, "sh", "-c", cmd+" "+action).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, action, err, out)
		}
		t.Logf("broker %s took %v", action, time.Since(start).Round(time.Millisecond))
	}
	return &Broker{
		Stop:  func(t *testing.T) { run(t, "stop") },
		Start: func(t *testing.T) { run(t, "start") },
	}, ""
}
