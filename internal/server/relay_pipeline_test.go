package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
)

// The relay's pipeline (see relay.go): many books in flight, one per
// aggregate, the checkpoint below the first unconfirmed one. These tests
// drive the relay as the server builds it (server.NewRelay) against a
// broker that confirms when and how the test says, and check what a
// consumer of the bus would see.

// pipeBroker is a bus.Publisher standing in for a broker: a published book
// is on the bus at once (brokers enqueue in publish order) and confirmed
// or nacked when decide says; a nacked book is taken off the bus again (the
// worst case: a nack means it may or may not be there).
type pipeBroker struct {
	// decide answers the attempt-th publish (from 1) of book: how long the
	// confirmation takes and whether it is an ack. It may block.
	decide func(book eventstore.Book, attempt int) (time.Duration, bool)

	mu          sync.Mutex
	log         []*onBus // in publish order
	attempts    map[string]int
	inflight    map[eventstore.Cover]int
	maxInflight int // most books of one cover in flight at once
	most        int // most books in flight at once, all covers
	now         int
	changed     chan struct{}
}

type onBus struct {
	book eventstore.Book
	lost bool // nacked: not on the bus
}

func newPipeBroker(decide func(eventstore.Book, int) (time.Duration, bool)) *pipeBroker {
	return &pipeBroker{decide: decide, attempts: map[string]int{}, inflight: map[eventstore.Cover]int{}, changed: make(chan struct{})}
}

func (f *pipeBroker) Publish(ctx context.Context, book eventstore.Book) error {
	if err := bus.Check(book); err != nil {
		return err
	}
	f.mu.Lock()
	entry := &onBus{book: book}
	f.log = append(f.log, entry)
	id := bus.ID(book)
	f.attempts[id]++
	attempt := f.attempts[id]
	f.inflight[book.Cover]++
	f.maxInflight = max(f.maxInflight, f.inflight[book.Cover])
	f.now++
	f.most = max(f.most, f.now)
	f.mu.Unlock()
	delay, ack := f.decide(book, attempt)
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inflight[book.Cover]--
	f.now--
	close(f.changed)
	f.changed = make(chan struct{})
	if !ack {
		entry.lost = true
		return fmt.Errorf("%w: nacked by the test broker", bus.ErrUnavailable)
	}
	return nil
}

func (f *pipeBroker) Close() error { return nil }

// asyncPipe is the pipeBroker as a bus.AsyncPublisher (as the NATS
// backend is): PublishAsync answers from a goroutine when decide says.
type asyncPipe struct {
	*pipeBroker
	async atomic.Int64 // books published with PublishAsync
}

func (f *asyncPipe) AckTimeout() time.Duration { return time.Second }

func (f *asyncPipe) PublishAsync(book eventstore.Book, done func(error)) {
	f.async.Add(1)
	go func() { done(f.Publish(context.Background(), book)) }()
}

// eachMode runs test against broker as a plain bus.Publisher (the relay's
// workers wait on each confirmation, as for RabbitMQ) and as a
// bus.AsyncPublisher (the relay's books wait on none, as for NATS).
func eachMode(t *testing.T, decide func(eventstore.Book, int) (time.Duration, bool), test func(t *testing.T, broker *pipeBroker, pub bus.Publisher)) {
	t.Run("sync", func(t *testing.T) {
		b := newPipeBroker(decide)
		test(t, b, b)
	})
	t.Run("async", func(t *testing.T) {
		b := &asyncPipe{pipeBroker: newPipeBroker(decide)}
		test(t, b.pipeBroker, b)
		if b.async.Load() == 0 {
			t.Error("the relay published nothing with PublishAsync")
		}
	})
}

// consume reads the bus as a consumer that applies each cover's events in
// sequence and skips what it applied already (as consumers dedupe): it
// returns the first gap (an event on the bus before an earlier one of its
// aggregate) and how many events it applied.
func (f *pipeBroker) consume() (gap string, applied int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := map[eventstore.Cover]uint32{}
	for _, e := range f.log {
		if e.lost {
			continue
		}
		first, last := e.book.Events[0].Sequence, e.book.Events[len(e.book.Events)-1].Sequence
		want := next[e.book.Cover]
		if last < want {
			continue // a duplicate
		}
		if first > want && gap == "" {
			gap = fmt.Sprintf("%s: book %d-%d on the bus before sequence %d", e.book.Cover, first, last, want)
		}
		applied += int(last+1) - int(max(first, want))
		next[e.book.Cover] = last + 1
	}
	return gap, applied
}

// pipeline is a store with events and the relay over it.
type pipeline struct {
	store  server.Storage
	sub    *delivery.Subscription
	head   uint64
	covers []eventstore.Cover
	events int
}

// newPipeline appends perCover events to each of covers aggregates, in
// rounds (see write), so that every aggregate's events are spread over the
// log.
func newPipeline(t *testing.T, covers, perCover int) *pipeline {
	t.Helper()
	ctx := context.Background()
	store, err := server.OpenStorage(ctx, config.Storage{Type: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p := &pipeline{store: store}
	for range covers {
		p.covers = append(p.covers, eventstore.Cover{Domain: "pipe", Root: uuid.New()})
	}
	p.write(t, perCover, 0)
	return p
}

// write appends rounds events to every aggregate, one round after the
// other, pausing between rounds (a live relay then publishes an
// aggregate's events as several books).
func (p *pipeline) write(t *testing.T, rounds int, pause time.Duration) {
	t.Helper()
	ctx := context.Background()
	for range rounds {
		for _, c := range p.covers {
			if _, err := p.store.Append(ctx, c, []eventstore.Page{{TypeURL: "type.googleapis.com/test.Happened", Payload: []byte("x")}}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(pause)
	}
	p.events += rounds * len(p.covers)
	var err error
	if p.head, err = p.store.Head(ctx); err != nil {
		t.Fatal(err)
	}
}

// position is where cover's event seq is in the log.
func (p *pipeline) position(t *testing.T, cover eventstore.Cover, seq uint32) uint64 {
	t.Helper()
	logged, err := p.store.ReadLog(context.Background(), 0, p.events)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range logged {
		if e.Cover == cover && e.Sequence == seq {
			return e.Position
		}
	}
	t.Fatalf("%s/%d is not in the log", cover, seq)
	return 0
}

// run starts the relay as the server builds it, publishing to broker with
// inFlight books in flight.
func (p *pipeline) run(t *testing.T, broker bus.Publisher, inFlight int) {
	t.Helper()
	cfg := config.Default()
	cfg.Bus.InFlight = inFlight
	cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = time.Millisecond, 5*time.Millisecond
	cfg.Delivery.Timeout = 5 * time.Second
	consumer, opts := server.NewRelay(broker, cfg)
	p.sub = delivery.New(consumer, p.store, nil, opts, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.sub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitCheckpoint waits until the relay's checkpoint reaches the head.
func (p *pipeline) waitCheckpoint(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for p.sub.Status().Checkpoint < p.head {
		if time.Now().After(deadline) {
			st := p.sub.Status()
			t.Fatalf("checkpoint %d after %s, want the head %d (last error: %s)", st.Checkpoint, within, p.head, st.LastError)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRelayCheckpointStaysBelowUnconfirmed: one book is left unconfirmed
// while every later one is confirmed; the checkpoint must not pass it, and
// reaches the head once it is confirmed.
func TestRelayCheckpointStaysBelowUnconfirmed(t *testing.T) {
	const covers, perCover = 40, 3
	var (
		held    eventstore.Cover
		release chan struct{}
	)
	eachMode(t, func(book eventstore.Book, attempt int) (time.Duration, bool) {
		if book.Cover == held && book.Events[0].Sequence == 0 && attempt == 1 {
			<-release
		}
		return 0, true
	}, func(t *testing.T, broker *pipeBroker, pub bus.Publisher) {
		p := newPipeline(t, covers, perCover)
		held = p.covers[4] // its first event is the 5th in the log
		release = make(chan struct{})
		checkpointBelowUnconfirmed(t, p, broker, pub, held, release, perCover)
	})
}

func checkpointBelowUnconfirmed(t *testing.T, p *pipeline, broker *pipeBroker, pub bus.Publisher, held eventstore.Cover, release chan struct{}, perCover int) {
	heldAt := p.position(t, held, 0)
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	p.run(t, pub, 64)
	t.Cleanup(free) // before the relay stops (cleanups run last first)
	// Every other aggregate's events are published and confirmed while the
	// held book waits; the checkpoint is sampled all along.
	others := p.events - perCover // the held aggregate's later events wait behind its first
	deadline := time.Now().Add(10 * time.Second)
	for {
		if cp := p.sub.Status().Checkpoint; cp >= heldAt {
			t.Fatalf("checkpoint %d passed position %d, whose book is not confirmed", cp, heldAt)
		}
		_, applied := broker.consume()
		if applied >= others {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of the other %d events confirmed", applied, others)
		}
		time.Sleep(time.Millisecond)
	}
	// Give a checkpoint that would pass it the time to do so.
	for range 100 {
		if cp := p.sub.Status().Checkpoint; cp >= heldAt {
			t.Fatalf("checkpoint %d passed position %d, whose book is not confirmed", cp, heldAt)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if cp := p.sub.Status().Checkpoint; cp != heldAt-1 {
		t.Errorf("checkpoint %d while position %d is unconfirmed and everything else is, want %d", cp, heldAt, heldAt-1)
	}
	free()
	p.waitCheckpoint(t, 10*time.Second)
	if gap, applied := broker.consume(); gap != "" || applied != p.events {
		t.Fatalf("bus: gap %q, %d of %d events", gap, applied, p.events)
	}
}

// TestRelayNackRepublishesInOrder: a book nacked in the middle of a full
// pipeline is published again before any later book of its aggregate, and
// nothing is lost.
func TestRelayNackRepublishesInOrder(t *testing.T) {
	var victim eventstore.Cover
	const victimSeq = uint32(1)
	eachMode(t, func(book eventstore.Book, attempt int) (time.Duration, bool) {
		if book.Cover == victim && book.Events[0].Sequence <= victimSeq && victimSeq <= book.Events[len(book.Events)-1].Sequence && attempt == 1 {
			// Nacked once, after its peers had the time to be published.
			return 20 * time.Millisecond, false
		}
		return time.Duration(rand.IntN(2000)) * time.Microsecond, true
	}, func(t *testing.T, broker *pipeBroker, pub bus.Publisher) {
		p := newPipeline(t, 30, 1)
		victim = p.covers[7]
		nackRepublishesInOrder(t, p, broker, pub, victim, victimSeq)
	})
}

func nackRepublishesInOrder(t *testing.T, p *pipeline, broker *pipeBroker, pub bus.Publisher, victim eventstore.Cover, victimSeq uint32) {
	p.run(t, pub, 32)
	p.write(t, 5, 2*time.Millisecond)
	p.waitCheckpoint(t, 20*time.Second)
	gap, applied := broker.consume()
	if gap != "" {
		t.Fatalf("order broken on the bus after a nack: %s", gap)
	}
	if applied != p.events {
		t.Fatalf("%d of %d events on the bus after a nack", applied, p.events)
	}
	broker.mu.Lock()
	defer broker.mu.Unlock()
	nacked, republished := -1, -1
	for i, e := range broker.log {
		if e.book.Cover != victim {
			continue
		}
		first, last := e.book.Events[0].Sequence, e.book.Events[len(e.book.Events)-1].Sequence
		if first <= victimSeq && victimSeq <= last {
			if e.lost && nacked < 0 {
				nacked = i
			} else if !e.lost && republished < 0 {
				republished = i
			}
		}
	}
	if nacked < 0 || republished < nacked {
		t.Fatalf("the victim %s/%d: nacked at %d, published again at %d", victim, victimSeq, nacked, republished)
	}
}

// TestRelayPipelineKeepsAggregateOrder: many books in flight, confirmed
// after random delays (so out of publish order) and some nacked; every
// aggregate has at most one book in flight, the bus holds every event and
// a consumer reads each aggregate's in order.
func TestRelayPipelineKeepsAggregateOrder(t *testing.T) {
	eachMode(t, func(book eventstore.Book, attempt int) (time.Duration, bool) {
		return time.Duration(rand.IntN(3000)) * time.Microsecond, attempt > 1 || rand.IntN(10) > 0
	}, pipelineKeepsAggregateOrder)
}

func pipelineKeepsAggregateOrder(t *testing.T, broker *pipeBroker, pub bus.Publisher) {
	p := newPipeline(t, 60, 1)
	p.run(t, pub, 64)
	p.write(t, 7, time.Millisecond)
	p.waitCheckpoint(t, 30*time.Second)
	gap, applied := broker.consume()
	if gap != "" {
		t.Fatalf("order broken on the bus: %s", gap)
	}
	if applied != p.events {
		t.Fatalf("%d of %d events on the bus", applied, p.events)
	}
	broker.mu.Lock()
	defer broker.mu.Unlock()
	if broker.maxInflight != 1 {
		t.Errorf("up to %d books of one aggregate were in flight at once, want 1", broker.maxInflight)
	}
	if len(broker.log) < 2*p.events/8 {
		t.Errorf("%d books for %d events: too few books per aggregate to test their order", len(broker.log), p.events)
	}
	if broker.most < 8 {
		t.Errorf("at most %d books were in flight at once: not a pipeline", broker.most)
	}
}
