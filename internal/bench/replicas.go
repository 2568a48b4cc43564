package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
)

// replicaLease is the lease of the replicas scenario's subscriptions.
const replicaLease = 2 * time.Second

// replicaCases: commands handled by k evented servers, and delivery shared
// by k replicas, each with its own store handle (connections) on one
// database, against the same with one replica.
func (r *runner) replicaCases(ctx context.Context, b *backend) ([]spec, func(), error) {
	first, path, closeFirst, err := b.open(ctx, "replicas")
	if err != nil {
		return nil, nil, err
	}
	handles := []server.Storage{first}
	cleanup := func() {
		for _, h := range handles[1:] {
			h.Close()
		}
		closeFirst()
	}
	for range 2 {
		cfg := b.storage("replicas")
		if path != "" {
			cfg = config.Storage{Type: "sqlite", Sync: "full", Path: path}
		}
		h, err := server.OpenStorage(ctx, cfg)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		handles = append(handles, h)
	}
	after, err := first.Head(ctx)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	n := r.cfg.CatchUpEvents
	t0 := time.Now()
	if err := fillLog(ctx, first, n); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("fill the log: %w", err)
	}
	r.progress("replicas on %s: %d events written in %s", b.name, n, time.Since(t0).Round(time.Millisecond))
	var cases []spec
	for _, k := range []int{2, 3} {
		cases = append(cases, spec{
			name:  fmt.Sprintf("commands, %d clients, %d replicas", replicaClients, k),
			floor: fmt.Sprintf("the same %d clients on one replica", replicaClients),
			metrics: []metricSpec{
				{name: "commands/s", higher: true, format: "%.0f"},
				{name: "p50 ms", higher: false, format: "%.3f"},
				{name: "p99 ms", higher: false, format: "%.3f"},
			},
			evented: r.commandEvented(b, "replicas-commands", k, replicaClients),
			raw:     r.commandEvented(b, "replicas-commands", 1, replicaClients),
			notes: []string{fmt.Sprintf("k evented servers (server.New) in this process on one store, each with its own connections, all routed to one Go business-logic stub; client w talks to replica w%%k; as the command scenario otherwise. The replicas share this machine's %d CPUs: the ratio is the cost of sharing one store, not the gain of more machines",
				runtime.NumCPU())},
		}, spec{
			name:    fmt.Sprintf("catch-up of %d events, %d replicas", n, k),
			floor:   "the same catch-up by one replica",
			metrics: []metricSpec{{name: "events/s", higher: true, format: "%.0f"}},
			evented: r.replicaCatchUp(handles[:k], after, n),
			raw:     r.replicaCatchUp(handles[:1], after, n),
			notes: []string{fmt.Sprintf("each replica is a delivery.Subscription with its own store handle (its own connections) and the default %d segments, lease %s; the replicas join before they start, so each takes its share at once",
				config.Default().Delivery.Segments, replicaLease)},
		}, spec{
			name:  fmt.Sprintf("lag at %d events/s, %d replicas", r.cfg.Rate, k),
			floor: "the same paced writer delivered by one replica",
			metrics: []metricSpec{
				{name: "lag p50 ms", higher: false, format: "%.3f"},
				{name: "lag p99 ms", higher: false, format: "%.3f"},
			},
			evented: r.replicaLag(handles[:k]),
			raw:     r.replicaLag(handles[:1]),
			notes:   []string{"the writer appends through the first replica's handle; a replica is only woken in-process by its own handle's commits, the others poll or are notified by the database (PostgreSQL LISTEN/NOTIFY)"},
		})
	}
	return cases, cleanup, nil
}

// replicaClients is how many clients the commands cases of the replicas
// scenario spread over the replicas.
const replicaClients = 16

// startReplicas runs one subscription of consumer per handle, all under one
// subscriber name, after registering every replica as a member; stop ends
// them and reports their errors.
func (r *runner) startReplicas(ctx context.Context, handles []server.Storage, consumer delivery.Consumer, after uint64) (stop func() error, err error) {
	if err := handles[0].SaveCheckpoint(ctx, consumer.Name(), after); err != nil {
		return nil, err
	}
	owners := make([]string, len(handles))
	for i, h := range handles {
		owners[i] = fmt.Sprintf("bench-replica-%d-%s", i, uuid.NewString()[:6])
		if err := h.Join(ctx, owners[i], replicaLease); err != nil {
			return nil, err
		}
	}
	subCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make([]error, len(handles))
	for i, h := range handles {
		opts := deliveryOptions()
		opts.Owner, opts.LeaseTTL = owners[i], replicaLease
		sub := delivery.New(consumer, h, nil, opts, r.log)
		wg.Go(func() { errs[i] = sub.Run(subCtx) })
	}
	return func() error { cancel(); wg.Wait(); return errors.Join(errs...) }, nil
}

func (r *runner) replicaCatchUp(handles []server.Storage, after uint64, n int) measure {
	return func(ctx context.Context) (s sample, err error) {
		c := &countingConsumer{name: "bench-replicas-" + uuid.NewString(), want: int64(n), done: make(chan struct{})}
		t0 := time.Now()
		stop, err := r.startReplicas(ctx, handles, c, after)
		if err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, stop()) }()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("replayed %d of %d events: %w", c.n.Load(), n, ctx.Err())
		}
		return sample{"events/s": float64(n) / time.Since(t0).Seconds()}, nil
	}
}

func (r *runner) replicaLag(handles []server.Storage) measure {
	return func(ctx context.Context) (s sample, err error) {
		warm := int(r.warmup().Seconds() * float64(r.cfg.Rate))
		n := warm + max(1, int(r.cfg.Duration.Seconds()*float64(r.cfg.Rate)))
		track := newLagTrack(n)
		head, err := handles[0].Head(ctx)
		if err != nil {
			return nil, err
		}
		stop, err := r.startReplicas(ctx, handles, &lagConsumer{name: "bench-replica-lag-" + uuid.NewString(), track: track}, head)
		if err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, stop()) }()
		covers := make([]eventstore.Cover, lagAggregates)
		for i := range covers {
			covers[i] = eventstore.Cover{Domain: benchDomain, Root: uuid.New()}
		}
		err = pace(ctx, r.cfg.Rate, n, lagWriters, func(ctx context.Context, i int) error {
			_, err := handles[0].Append(ctx, covers[i%len(covers)], []eventstore.Page{{TypeURL: eventTypeURL, Payload: indexed(i)}})
			track.ack[i].Store(time.Now().UnixNano())
			return err
		})
		if err != nil {
			return nil, err
		}
		if err := track.wait(ctx); err != nil {
			return nil, err
		}
		return track.lags(warm), nil
	}
}
