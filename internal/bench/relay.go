package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"golang.org/x/sync/errgroup"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/bus/amqp"
	"github.com/evented/evented/internal/bus/nats"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
)

// The relay scenario: the bus relay publishing committed events to a
// broker, against the broker's raw confirmed publish rate.
//
//   - evented: RelayEvents events are appended (untimed), each the only
//     event of a new aggregate, so every book is one event of 128 bytes
//     and the books are the floor's; then the relay as the server runs it
//     (server.NewRelay: the bus backend, bus.in_flight books in flight,
//     the default delivery settings) starts from the head before them. The
//     time runs from its checkpoint's first move (the subscription takes
//     its segments' leases first, once per process: about 0.15 s here) until
//     its checkpoint has passed the last event, i.e. every book is
//     confirmed by the broker; the rate counts the events in between.
//   - floor: the same number of books of the same shape (fresh aggregates:
//     JetStream would drop a message id it has seen as a duplicate)
//     published by the broker's client library alone, with the same
//     messages (amqp.Message, nats.Message) and as many in flight:
//     amqp091-go on one confirm-mode channel, counting NotifyPublish
//     confirmations; nats.go's JetStream PublishMsgAsync, waiting for
//     PublishAsyncComplete. The time runs from the first confirmation to
//     the last (connecting is not timed either).
//
// Both sides publish to the same durable subscription on the bench domain,
// made fresh for each measurement and deleted after it, so the broker
// really stores every book. The store is SQLite only: the relay's cost is
// the broker's, not the store's.

// relayBroker is one broker the relay scenario publishes to.
type relayBroker struct {
	name, url string
}

func (r *runner) relayBrokers() []relayBroker {
	var out []relayBroker
	if r.cfg.AMQP != "" {
		out = append(out, relayBroker{"amqp", r.cfg.AMQP})
	}
	if r.cfg.NATS != "" {
		out = append(out, relayBroker{"nats", r.cfg.NATS})
	}
	return out
}

func (r *runner) relayCases(ctx context.Context, b *backend) ([]spec, func(), error) {
	if b.name != "sqlite" {
		return nil, nil, nil
	}
	brokers := r.relayBrokers()
	if len(brokers) == 0 {
		return nil, nil, errors.New("no broker to relay to: give --amqp URL and/or --nats URL")
	}
	store, _, closeStore, err := b.open(ctx, "relay")
	if err != nil {
		return nil, nil, err
	}
	n, window := r.cfg.RelayEvents, server.DefaultInFlight
	var cases []spec
	for _, br := range brokers {
		floor := fmt.Sprintf("the same number of one-event books published by amqp091-go alone: one confirm-mode channel, %d in flight, NotifyPublish confirmations counted", window)
		if br.name == "nats" {
			floor = fmt.Sprintf("the same number of one-event books published by nats.go alone: JetStream PublishMsgAsync with the message id, %d in flight, until PublishAsyncComplete", window)
		}
		cases = append(cases, spec{
			name:    fmt.Sprintf("%s: relay of %d events", br.name, n),
			floor:   floor,
			metrics: []metricSpec{{name: "events/s", higher: true, format: "%.0f"}, {name: cpuPerEvent, higher: false, format: "%.1f"}},
			evented: r.relayEvented(store, br, n),
			raw:     r.relayRaw(br, n, window),
			notes: []string{fmt.Sprintf("every event is the only one of its aggregate (one book = one event of %d bytes, as on the floor); the relay runs with bus.in_flight=%d and the default delivery settings; the time runs from the first confirmation to the last on both sides (the relay's start, taking its leases, is not timed)",
				payloadSize, window)},
		})
	}
	return cases, closeStore, nil
}

// relayBook is one bench book: the only event of a new aggregate.
func relayBook() eventstore.Book {
	return eventstore.Book{Cover: eventstore.Cover{Domain: benchDomain, Root: uuid.New()}, Events: []eventstore.Event{{
		Sequence: 0, CreatedAt: time.Now(), TypeURL: eventTypeURL, Payload: payload(),
	}}}
}

// openBus opens the evented bus backend for br, with a fresh durable
// subscription on the bench domain, which close deletes.
func openBus(ctx context.Context, br relayBroker) (pub bus.Publisher, close func(), err error) {
	var b interface {
		bus.Publisher
		bus.Subscriber
	}
	switch br.name {
	case "amqp":
		b, err = amqp.New(br.url, amqp.Options{})
	case "nats":
		b, err = nats.New(br.url, nats.Options{})
	}
	if err != nil {
		return nil, nil, err
	}
	name := "bench_relay_" + uuid.NewString()[:8]
	sub, err := b.Subscribe(ctx, name, benchDomain)
	if err != nil {
		b.Close()
		return nil, nil, fmt.Errorf("subscribe on %s: %w", br.name, err)
	}
	return b, func() {
		sub.Close()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = b.Unsubscribe(ctx, name)
		b.Close()
	}, nil
}

// relayEvented appends n events (one per new aggregate), then runs the
// relay over them and times it until its checkpoint passed them all.
func (r *runner) relayEvented(store server.Storage, br relayBroker, n int) measure {
	return func(ctx context.Context) (s sample, err error) {
		after, err := store.Head(ctx)
		if err != nil {
			return nil, err
		}
		if err := fillOnePerAggregate(ctx, store, n); err != nil {
			return nil, fmt.Errorf("fill the log: %w", err)
		}
		head, err := store.Head(ctx)
		if err != nil {
			return nil, err
		}
		pub, closeBus, err := openBus(ctx, br)
		if err != nil {
			return nil, err
		}
		defer closeBus()
		relay, opts := server.NewRelay(pub, config.Default())
		consumer := rename(relay, "bench-relay-"+uuid.NewString()[:8])
		if err := store.SaveCheckpoint(ctx, consumer.Name(), after); err != nil {
			return nil, err
		}
		sub := delivery.New(consumer, store, nil, opts, r.log)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sub.Run(runCtx) }()
		defer func() {
			stop()
			err = errors.Join(err, <-done)
		}()
		// The time runs from the first confirmed event (the subscription
		// takes its leases first, once per process) to the last.
		var (
			t0   time.Time
			c0   time.Duration
			base uint64
		)
		started, cpuStarted := time.Now(), cpuTime()
		for {
			cp := sub.Status().Checkpoint
			if t0.IsZero() && cp > after {
				t0, c0, base = time.Now(), cpuTime(), cp
			}
			if cp >= head {
				break
			}
			if !sleepCtx(ctx, 500*time.Microsecond) {
				st := sub.Status()
				return nil, fmt.Errorf("relayed %d of %d events (last error: %s): %w", st.Checkpoint-after, n, st.LastError, ctx.Err())
			}
		}
		moved := int(head - base)
		if moved == 0 {
			// Every event was confirmed before the first look (a few
			// events, a busy machine): time them from the start, leases
			// included, rather than not at all.
			t0, c0, moved = started, cpuStarted, int(head-after)
		}
		elapsed, cpu := time.Since(t0), cpuTime()-c0
		return sample{"events/s": float64(moved) / elapsed.Seconds(), cpuPerEvent: cpuPer(cpu, moved)}, nil
	}
}

// rename is c under another name (a fresh subscriber per measurement),
// an AsyncConsumer still when c is one.
func rename(c delivery.Consumer, name string) delivery.Consumer {
	if a, ok := c.(delivery.AsyncConsumer); ok {
		return renamedAsync{a, name}
	}
	return renamed{c, name}
}

type renamed struct {
	delivery.Consumer
	name string
}

func (c renamed) Name() string { return c.name }

type renamedAsync struct {
	delivery.AsyncConsumer
	name string
}

func (c renamedAsync) Name() string { return c.name }

// fillOnePerAggregate appends n events, each the first of a new aggregate,
// from 16 writers.
func fillOnePerAggregate(ctx context.Context, store eventstore.Store, n int) error {
	body := payload()
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range 16 {
		g.Go(func() error {
			for next.Add(1) <= int64(n) {
				cover := eventstore.Cover{Domain: benchDomain, Root: uuid.New()}
				if _, err := store.Append(ctx, cover, []eventstore.Page{{TypeURL: eventTypeURL, Payload: body}}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// relayRaw publishes n fresh books with the broker's client alone, window
// in flight, and times it until the broker confirmed them all.
func (r *runner) relayRaw(br relayBroker, n, window int) measure {
	return func(ctx context.Context) (sample, error) {
		books := make([]eventstore.Book, n)
		for i := range books {
			books[i] = relayBook()
		}
		// The evented backend declares the exchange or stream and the
		// subscription; the floor publishes on connections of its own.
		_, closeBus, err := openBus(ctx, br)
		if err != nil {
			return nil, err
		}
		defer closeBus()
		publish := rawAMQP
		if br.name == "nats" {
			publish = rawNATS
		}
		c0 := cpuTime()
		// The time runs from the first confirmation to the last, as on
		// the evented side.
		first, err := publish(ctx, br.url, books, window)
		if err != nil {
			return nil, err
		}
		elapsed, cpu := time.Since(first), cpuTime()-c0
		return sample{"events/s": float64(n-1) / elapsed.Seconds(), cpuPerEvent: cpuPer(cpu, n)}, nil
	}
}

// rawAMQP publishes books on one confirm-mode channel, at most window
// unconfirmed, and returns once every one is confirmed (an error if one
// is nacked), with the time of the first confirmation.
func rawAMQP(ctx context.Context, url string, books []eventstore.Book, window int) (first time.Time, err error) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		return first, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return first, err
	}
	if err := ch.Confirm(false); err != nil {
		return first, err
	}
	confirms := ch.NotifyPublish(make(chan amqp091.Confirmation, window))
	slots := make(chan struct{}, window)
	counted := make(chan error, 1)
	var firstAt time.Time // written before counted is sent to
	go func() {
		acked, nacked := 0, 0
		for c := range confirms {
			if acked+nacked == 0 {
				firstAt = time.Now()
			}
			<-slots
			if c.Ack {
				acked++
			} else {
				nacked++
			}
			if acked+nacked == len(books) {
				break
			}
		}
		if nacked > 0 || acked < len(books) {
			counted <- fmt.Errorf("%d of %d books confirmed, %d nacked", acked, len(books), nacked)
			return
		}
		counted <- nil
	}()
	for _, book := range books {
		key, msg, err := amqp.Message(book)
		if err != nil {
			return first, err
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return first, ctx.Err()
		}
		if err := ch.PublishWithContext(ctx, amqp.Exchange, key, false, false, msg); err != nil {
			return first, err
		}
	}
	select {
	case err := <-counted:
		return firstAt, err
	case <-ctx.Done():
		return first, ctx.Err()
	}
}

// rawNATS publishes books asynchronously to the stream, at most window
// unacked, and returns once every one is acked, with the time of the
// first ack.
func rawNATS(ctx context.Context, url string, books []eventstore.Book, window int) (first time.Time, err error) {
	nc, err := natsgo.Connect(url)
	if err != nil {
		return first, err
	}
	defer nc.Close()
	var failed, firstAck atomic.Int64
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(window),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *natsgo.Msg, *jetstream.PubAck) {
			firstAck.CompareAndSwap(0, time.Now().UnixNano())
		}),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *natsgo.Msg, error) { failed.Add(1) }))
	if err != nil {
		return first, err
	}
	for _, book := range books {
		msg, id, err := nats.Message(book)
		if err != nil {
			return first, err
		}
		if _, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(id), jetstream.WithExpectStream("EVENTED"), jetstream.WithStallWait(time.Minute)); err != nil {
			return first, err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return first, ctx.Err()
	}
	if n := failed.Load(); n > 0 {
		return first, fmt.Errorf("%d of %d books not acked", n, len(books))
	}
	return time.Unix(0, firstAck.Load()), nil
}
