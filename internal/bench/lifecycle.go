package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
)

// lifecycleCases: a rebuild (reset) of a caught-up projector over
// CatchUpEvents events, beside a sequential read of the same rows; and
// commands at Rate/s that wait for an asynchronous projector
// (read-your-writes), beside the same commands without the wait.
func (r *runner) lifecycleCases(ctx context.Context, b *backend) ([]spec, func(), error) {
	store, path, closeStore, err := b.open(ctx, "rebuild")
	if err != nil {
		return nil, nil, err
	}
	after, err := store.Head(ctx)
	if err != nil {
		closeStore()
		return nil, nil, err
	}
	n := r.cfg.CatchUpEvents
	t0 := time.Now()
	if err := fillLog(ctx, store, n); err != nil {
		closeStore()
		return nil, nil, fmt.Errorf("fill the log: %w", err)
	}
	r.progress("lifecycle on %s: %d events over %d aggregates written in %s", b.name, n, catchUpAggregates, time.Since(t0).Round(time.Millisecond))
	rb := &rebuilder{store: store, after: after, n: n, r: r}
	rebuild := spec{
		name:    fmt.Sprintf("rebuild of %d events", n),
		floor:   "the same rows read by one sequential SELECT in log order",
		metrics: []metricSpec{{name: "events/s", higher: true, format: "%.0f"}, {name: cpuPerEvent, higher: false, format: "%.2f"}},
		prepare: rb.start,
		evented: rb.measure,
		notes: []string{"a projector that has caught up is reset to the beginning (DeliveryAdmin.ResetSubscription's path); measured from the reset to its last replayed event, with the server's default delivery options",
			fmt.Sprintf("the log holds appends of %d events round-robin over %d aggregates", catchUpRun, catchUpAggregates)},
	}
	var reader *sql.DB
	if path != "" {
		if reader, err = rawReader(path); err != nil {
			closeStore()
			return nil, nil, err
		}
		rebuild.raw = r.catchUpRaw(reader, after, n)
	}
	ryw := spec{
		name:  fmt.Sprintf("read-your-writes at %d commands/s", r.cfg.Rate),
		floor: "the same paced commands to the same server without evented-wait-for",
		metrics: []metricSpec{
			{name: "p50 ms", higher: false, format: "%.3f"},
			{name: "p99 ms", higher: false, format: "%.3f"},
		},
		evented: r.rywMeasure(b, true),
		raw:     r.rywMeasure(b, false),
		notes: []string{"each command (one event, a fresh aggregate every 20) asks evented-wait-for: an asynchronous in-process-served gRPC projector; latency from the call to the reply, after the projector has the event",
			"one replica: the segment's owner answers as soon as the event is handled"},
	}
	cleanup := func() {
		rb.stop()
		if reader != nil {
			reader.Close()
		}
		closeStore()
	}
	return []spec{rebuild, ryw}, cleanup, nil
}

// rebuilder keeps one subscription that has caught up on the log; each
// measurement resets it to the beginning and times the replay.
type rebuilder struct {
	r      *runner
	store  server.Storage
	after  uint64
	n      int
	sub    *delivery.Subscription
	count  *replayCounter
	cancel context.CancelFunc
	done   chan error
}

// replayCounter counts the events delivered as replays.
type replayCounter struct {
	name     string
	replayed atomic.Int64
	live     atomic.Int64
}

func (c *replayCounter) Name() string { return c.name }

func (c *replayCounter) Deliver(ctx context.Context, book eventstore.Book, _ bool) (delivery.Outcome, error) {
	if delivery.Replaying(ctx) {
		c.replayed.Add(int64(len(book.Events)))
	} else {
		c.live.Add(int64(len(book.Events)))
	}
	return delivery.Outcome{}, nil
}

func (rb *rebuilder) start(ctx context.Context) error {
	rb.count = &replayCounter{name: "bench-rebuild-" + uuid.NewString()[:8]}
	if err := rb.store.SaveCheckpoint(ctx, rb.count.name, rb.after); err != nil {
		return err
	}
	opts := deliveryOptions()
	opts.Owner = "bench-rebuild"
	rb.sub = delivery.New(rb.count, rb.store, nil, opts, rb.r.log)
	subCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rb.cancel, rb.done = cancel, make(chan error, 1)
	go func() { rb.done <- rb.sub.Run(subCtx) }()
	t0 := time.Now()
	if !waitFor(ctx, func() bool { return rb.count.live.Load() >= int64(rb.n) }) {
		return fmt.Errorf("first catch-up: %d of %d events: %w", rb.count.live.Load(), rb.n, ctx.Err())
	}
	rb.r.progress("lifecycle: the projector caught up on %d events in %s", rb.n, time.Since(t0).Round(time.Millisecond))
	return nil
}

func (rb *rebuilder) measure(ctx context.Context) (sample, error) {
	if rb.sub == nil {
		return nil, errors.New("the projector did not start")
	}
	base := rb.count.replayed.Load()
	t0, c0 := time.Now(), cpuTime()
	if _, err := rb.sub.Reset(ctx, delivery.ResetTo{Position: rb.after}); err != nil {
		return nil, err
	}
	if !waitFor(ctx, func() bool { return rb.count.replayed.Load()-base >= int64(rb.n) }) {
		return nil, fmt.Errorf("rebuild: %d of %d events replayed: %w", rb.count.replayed.Load()-base, rb.n, ctx.Err())
	}
	return sample{"events/s": float64(rb.n) / time.Since(t0).Seconds(), cpuPerEvent: cpuPer(cpuTime()-c0, rb.n)}, nil
}

func (rb *rebuilder) stop() {
	if rb.cancel != nil {
		rb.cancel()
		<-rb.done //nolint:errcheck // Run's error after the cancel is the cancellation's
	}
}

// readModel is the asynchronous projector the commands wait for.
type readModel struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	events atomic.Int64
}

func (p *readModel) Handle(_ context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	p.events.Add(int64(len(b.GetPages())))
	return &emptypb.Empty{}, nil
}

// rywMeasure sends paced commands to a real server with an asynchronous
// projector, waiting for it (wait) or not, and reports the latencies.
func (r *runner) rywMeasure(b *backend, wait bool) measure {
	return func(ctx context.Context) (s sample, err error) {
		logicAddr, stopStub, err := startStub(ctx)
		if err != nil {
			return nil, err
		}
		defer stopStub()
		g := grpc.NewServer()
		model := &readModel{}
		eventedpb.RegisterProjectorCoordinatorServer(g, model)
		projAddr, stopProj, err := serveGRPC(ctx, g)
		if err != nil {
			return nil, err
		}
		defer stopProj()
		storage := b.storage("ryw")
		defer removeDB(storage.Path)
		srv, stop, err := r.startEventedWith(ctx, storage, logicAddr, func(cfg *config.Config) {
			cfg.Projectors = []config.Consumer{{Name: "read-model", Address: projAddr}}
		})
		if err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, stop()) }()
		conn, err := grpc.NewClient(srv.CommandAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		client := eventedpb.NewBusinessCoordinatorClient(conn)
		warm := int(r.warmup().Seconds() * float64(r.cfg.Rate))
		total := warm + int(r.cfg.Duration.Seconds()*float64(r.cfg.Rate))
		lat := make([]time.Duration, total)
		roots := make([]uuid.UUID, total/commandsPerAggregate+1)
		for i := range roots {
			roots[i] = uuid.New()
		}
		body := make([]byte, commandSize)
		callCtx := ctx
		if wait {
			callCtx = metadata.AppendToOutgoingContext(ctx, "evented-wait-for", "read-model", "evented-wait-timeout", "10s")
		}
		err = pace(callCtx, r.cfg.Rate, total, 64, func(ctx context.Context, i int) error {
			root := roots[i/commandsPerAggregate]
			t0 := time.Now()
			res, err := client.Handle(ctx, &eventedpb.CommandBook{
				Cover: &eventedpb.Cover{Domain: benchDomain, Root: &eventedpb.UUID{Value: root[:]}},
				Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: commandTypeURL, Value: body}}},
			})
			lat[i] = time.Since(t0)
			if err != nil {
				return err
			}
			if wait && (len(res.GetWaits()) != 1 || !res.GetWaits()[0].GetDone()) {
				return fmt.Errorf("command %d: the wait was not done: %v", i, res.GetWaits())
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		measured := lat[warm:]
		return sample{"p50 ms": percentile(measured, 50), "p99 ms": percentile(measured, 99)}, nil
	}
}
