package acceptance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

// callTimeout bounds every gRPC call a step makes, so a hung server fails the
// scenario instead of the whole test binary.
const callTimeout = 10 * time.Second

// running is an evented server under test as the steps see it: two addresses
// and a way to stop it. startInProcess is the only way to get one today; a
// launcher for the built binary would return the same.
type running struct {
	commandAddr, queryAddr string
	bus                    bus.Publisher // the relay's, when bus.type is not none
	stop                   func() error
}

// startInProcess starts evented in this process with cfg.
func startInProcess(ctx context.Context, cfg config.Config, log *slog.Logger) (*running, error) {
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("evented's Run returned %w after shutdown", err)
			}
			return nil
		case <-time.After(2 * cfg.Server.ShutdownTimeout):
			return errors.New("evented's Run did not return after shutdown")
		}
	}
	return &running{commandAddr: srv.CommandAddr(), queryAddr: srv.QueryAddr(), bus: srv.Bus(), stop: stop}, nil
}

// world is the state of one scenario.
type world struct {
	cfg     config.Config
	started time.Time
	logs    *syncBuffer // evented's log, shown when the scenario fails

	logic     *stubLogic      // nil until a step asks for business logic
	consumers []*stubConsumer // projectors and sagas, in the order configured

	evented  *running // nil until a step talks to evented
	conns    []*grpc.ClientConn
	commands eventedpb.BusinessCoordinatorClient
	queries  eventedpb.EventQueryClient
	admin    eventedpb.DeliveryAdminClient

	domains map[string]string // aggregate name → its domain

	busWorld // the bus a scenario reads, if any

	// Outcome of the last action (When) and the aggregate it addressed.
	reply       *eventedpb.SynchronousProcessingResponse
	trailer     metadata.MD
	addressed   *eventedpb.Cover
	books       []*eventedpb.EventBook
	err         error
	errExpected bool // a step looked at err
	action      string
	concurrent  []concurrentResult
	replay      *eventedpb.ReplayResult
	lastParked  []*eventedpb.ParkedEvent // what the last look at parked events found
}

type concurrentResult struct {
	reply *eventedpb.SynchronousProcessingResponse
	err   error
}

func newWorld(t *testing.T) *world {
	cfg := config.Default()
	cfg.Storage.Type = "sqlite"
	cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort = 0
	cfg.Server.EventQueryPort = 0
	cfg.Server.AdminPort = 0
	cfg.Server.ShutdownTimeout = 5 * time.Second
	return &world{cfg: cfg, started: time.Now(), logs: &syncBuffer{}, domains: map[string]string{}}
}

// configure fails when evented already runs: configuration steps come first.
func (w *world) configure(what string) error {
	if w.evented != nil {
		return fmt.Errorf("%s must be set before evented is used; move the step up", what)
	}
	return nil
}

// up starts evented on first use and connects the clients.
func (w *world) up(ctx context.Context) error {
	if w.evented != nil {
		return nil
	}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ev, err := startInProcess(ctx, w.cfg, log)
	if err != nil {
		return fmt.Errorf("start evented: %w", err)
	}
	w.evented = ev
	cmd, err := dial(ev.commandAddr)
	if err != nil {
		return err
	}
	qry, err := dial(ev.queryAddr)
	if err != nil {
		return err
	}
	w.conns = append(w.conns, cmd, qry)
	w.commands = eventedpb.NewBusinessCoordinatorClient(cmd)
	w.queries = eventedpb.NewEventQueryClient(qry)
	w.admin = eventedpb.NewDeliveryAdminClient(cmd)
	if w.logic != nil {
		w.logic.setRecorder(func(ctx context.Context, b *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
			return w.commands.Record(ctx, b)
		})
	}
	return nil
}

// restart stops evented and starts it again on the same store and
// configuration (new ports), as an operator's restart would.
func (w *world) restart(ctx context.Context) error {
	if w.evented == nil {
		return errors.New("evented is not running yet; nothing to restart")
	}
	var errs []error
	for _, c := range w.conns {
		errs = append(errs, c.Close())
	}
	w.conns = nil
	errs = append(errs, w.evented.stop())
	w.evented = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop evented: %w", err)
	}
	return w.up(ctx)
}

func dial(addr string) (*grpc.ClientConn, error) {
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return c, nil
}

// down stops everything the scenario started and reports what went wrong.
func (w *world) down() error {
	var errs []error
	for _, c := range w.conns {
		errs = append(errs, c.Close())
	}
	if w.evented != nil {
		errs = append(errs, w.evented.stop())
	}
	if w.logic != nil {
		if err := w.logic.stop(); err != nil {
			errs = append(errs, fmt.Errorf("stub business logic: %w", err))
		}
	}
	for _, c := range w.consumers {
		errs = append(errs, c.close())
	}
	return errors.Join(errs...)
}

// domainOf is the domain of the aggregate a scenario named: the one a step
// gave it, else the only domain business logic is configured for.
func (w *world) domainOf(name string) (string, error) {
	if d, ok := w.domains[name]; ok {
		return d, nil
	}
	if len(w.cfg.BusinessLogic) == 1 {
		return w.cfg.BusinessLogic[0].Domain, nil
	}
	return "", fmt.Errorf("which domain is aggregate %q in? Name it in an earlier step", name)
}

func (w *world) cover(name string) (*eventedpb.Cover, error) {
	d, err := w.domainOf(name)
	if err != nil {
		return nil, err
	}
	root := aggregateRoot(d, name)
	return &eventedpb.Cover{Domain: d, Root: &eventedpb.UUID{Value: root[:]}}, nil
}

// begin starts a new action (When); the outcome of the previous one must
// have been looked at if it failed.
func (w *world) begin(ctx context.Context, action string) error {
	if err := w.uncheckedFailure(); err != nil {
		return err
	}
	if err := w.up(ctx); err != nil {
		return err
	}
	w.reply, w.addressed, w.books, w.err, w.errExpected, w.action = nil, nil, nil, nil, false, action
	w.trailer, w.replay = nil, nil
	w.concurrent = nil
	return nil
}

// uncheckedFailure reports a failed action no step expected.
func (w *world) uncheckedFailure() error {
	if w.err != nil && !w.errExpected {
		return fmt.Errorf("%s failed and no step expected it: %w", w.action, w.err)
	}
	return nil
}

// succeeded is the check every step about a successful outcome starts with.
func (w *world) succeeded() error {
	if w.action == "" {
		return errors.New("nothing was done yet")
	}
	if w.err != nil {
		w.errExpected = true
		return fmt.Errorf("%s failed: %w", w.action, w.err)
	}
	return nil
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*syncBuffer)(nil)
