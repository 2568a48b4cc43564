// Package server is evented's composition root: it opens the configured
// store, connects business logic, and serves the command and query ports.
// It is the only package that imports adapters; tests start it in-process
// on port 0 with a temp dir.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/evented/evented/api/eventedpb"
	_ "github.com/evented/evented/api/examplespb" // example types resolvable by reflection (grpcurl)
	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/business/placeholder"
	"github.com/evented/evented/internal/business/remote"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/console"
	"github.com/evented/evented/internal/deadline"
	"github.com/evented/evented/internal/delivery"
	dremote "github.com/evented/evented/internal/delivery/remote"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
	"github.com/evented/evented/internal/eventstore/postgres"
	"github.com/evented/evented/internal/eventstore/redis"
	"github.com/evented/evented/internal/eventstore/sqlite"
	"github.com/evented/evented/internal/grpcapi"
	"github.com/evented/evented/internal/metrics"
	"github.com/evented/evented/internal/outage"
	"github.com/evented/evented/internal/query"
	"github.com/evented/evented/internal/snapshot"
	"github.com/evented/evented/internal/tracing"
	"github.com/evented/evented/internal/upcast"
)

// Storage is what a backend provides: events, snapshots, the log and the
// subscriptions' checkpoints and parked events.
type Storage = delivery.Storage

// backends lists the storage types this binary knows, by storage.type.
var backends = map[string]func(ctx context.Context, cfg config.Storage) (Storage, error){
	"memory": func(context.Context, config.Storage) (Storage, error) { return memory.New(), nil },
	"sqlite": func(ctx context.Context, cfg config.Storage) (Storage, error) {
		return sqlite.Open(ctx, cfg.Path, sqlite.Options{Sync: cfg.Sync})
	},
	"postgres": func(ctx context.Context, cfg config.Storage) (Storage, error) { return postgres.Open(ctx, cfg.URL) },
	"redis":    func(ctx context.Context, cfg config.Storage) (Storage, error) { return redis.Open(ctx, cfg.URL) },
}

// StorageTypes lists the storage types this binary knows, sorted.
func StorageTypes() []string {
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// OpenStorage opens the store cfg names.
func OpenStorage(ctx context.Context, cfg config.Storage) (Storage, error) {
	open, ok := backends[cfg.Type]
	if !ok {
		return nil, fmt.Errorf("storage.type %q is not available in this build; available: %v", cfg.Type, StorageTypes())
	}
	s, err := open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s storage: %w", cfg.Type, err)
	}
	return s, nil
}

// Option changes how New builds a server.
type Option func(*options)

type options struct {
	spanExporter sdktrace.SpanExporter
	storage      Storage
	clientKey    func(context.Context) string
	projections  delivery.ProjectionOptions
	sources      config.Sources
	sampleEvery  time.Duration
	upcasters    *upcast.Registry
}

// WithStorage serves st instead of opening the store storage.* names (tests
// open a store with settings no configuration key has); the server closes
// it.
func WithStorage(st Storage) Option {
	return func(o *options) { o.storage = st }
}

// WithSpanExporter sends traces to exp, whatever tracing.exporter says
// (tests read spans from an in-memory exporter).
func WithSpanExporter(exp sdktrace.SpanExporter) Option {
	return func(o *options) { o.spanExporter = exp }
}

// Server is one evented server.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	outages *outage.Tracker // one WARN per outage of a service evented calls, whoever notices it
	store   Storage
	router  *router
	hub     *delivery.Hub
	replica *delivery.Replica // this process among those sharing the store
	firer   *deadline.Firer   // fires the due deadlines of the segments it leases
	remotes []*dremote.Consumer
	closers []io.Closer // upcaster clients
	// byKind holds the subscriptions of projectors and of sagas.
	byKind   map[dremote.Kind][]*delivery.Subscription
	health   *health.Server
	limits   []grpc.ServerOption // shared by both ports
	cmdLis   net.Listener
	qryLis   net.Listener
	cmdGRPC  *grpc.Server
	qryGRPC  *grpc.Server
	metrics  *metrics.Metrics
	tracing  *tracing.Tracing
	bus      bus.Publisher // nil when bus.type is none
	admin    *http.Server  // nil when server.admin_port is -1
	adminLis net.Listener
	ready    atomic.Bool      // serving, and the store answers
	space    eventstore.Space // nil when the store cannot tell it is full
	sec      security
	// projections are the projectors' projections, for subscription
	// queries (projections.go).
	projections *delivery.Projections
	snapper     *snapshot.Worker // nil when no domain has automatic snapshots
	sources     config.Sources
	console     *console.Console // served at / of the admin port
	reach       *console.Reach
	samples     *console.Sampler
}

// New opens storage, prepares business logic clients and binds both ports
// (port 0 picks a free one; see CommandAddr and QueryAddr). Nothing is served
// until Run.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (_ *Server, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{cfg: cfg, log: log, metrics: metrics.New(configuredDomains(cfg), cfg.Limits.MetricsDomains), store: o.storage, sources: o.sources,
		outages: outage.New(log.With("component", "outage"))}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err = s.secure(ctx); err != nil {
		return nil, err
	}
	if s.tracing, err = tracing.New(ctx, cfg.Tracing, os.Stdout, o.spanExporter); err != nil {
		return nil, err
	}
	if s.store == nil {
		if s.store, err = OpenStorage(ctx, cfg.Storage); err != nil {
			return nil, err
		}
	}
	s.space, _ = s.store.(eventstore.Space)
	s.store = s.tracing.Storage(s.store)
	s.store = filterSnapshots(s.store, snapshotPolicies(cfg.BusinessLogic))
	reg, closers, err := upcasters(cfg.Upcasters, o.upcasters, s.tracing.DialOption(), callOptions(cfg.Limits))
	if err != nil {
		return nil, err
	}
	s.closers = closers
	s.store = upcast.Storage(s.store, reg, upcast.Options{CacheBytes: upcastCacheBytes(cfg.Command.UpcastCacheBytes)})
	if s.router, err = newRouter(cfg.BusinessLogic, s.outages, s.tracing.DialOption(), callOptions(cfg.Limits)); err != nil {
		return nil, err
	}
	policies := map[string]command.SnapshotPolicy{}
	for _, b := range cfg.BusinessLogic {
		policies[b.Domain] = command.SnapshotPolicy{Disabled: b.Snapshots.Disabled, MinEvents: uint32(b.Snapshots.MinEvents), Keep: b.Snapshots.Keep}
	}
	var loads command.LoadObserver = loadMetrics{s.metrics}
	if s.snapper = s.snapshotWorker(s.router); s.snapper != nil {
		loads = s.snapper // it passes loads on to the metrics
	}
	coord := command.New(s.store, s.store, s.router, command.Options{
		Loads:         loads,
		MaxAttempts:   cfg.Command.MaxAttempts,
		Timeout:       cfg.Command.Timeout,
		KeyRetention:  cfg.Command.IdempotencyRetention,
		Snapshots:     policies,
		Observer:      s.metrics,
		CacheBytes:    cacheBytes(cfg.Command.CacheBytes),
		MaxEvents:     cfg.Limits.MaxPages,
		MaxEventBytes: cfg.Limits.MaxEventBytes,
	}, log)
	s.projections = delivery.NewProjections(s.store, o.projections, log)
	if s.hub, err = s.subscriptions(coord); err != nil {
		return nil, err
	}
	// Fix where new subscriptions start before any command is served.
	for _, sub := range s.hub.Subscriptions() {
		if err := sub.Prepare(ctx); err != nil {
			return nil, err
		}
	}
	coord.Distribute(s.hub)
	dl := cfg.Deadlines
	if s.firer, err = deadline.NewFirer(s.store, s.replica, coord.Fire, deadline.Options{
		Segments: dl.Segments, LeaseTTL: cfg.Delivery.LeaseTTL, Poll: dl.Poll, Batch: dl.Batch, Concurrency: dl.Concurrency,
		FireGroup: coord.FireGroup, Observer: s.metrics,
	}, log); err != nil {
		return nil, err
	}
	s.metrics.WatchSubscriptions(s.hub, s.store)
	s.metrics.WatchDeadlines(s.store)

	s.health = health.NewServer()
	s.limits = limitOptions(cfg, o.clientKey)
	s.cmdGRPC = s.grpcServer()
	waits := &grpcapi.Waits{Hub: s.hub, Log: s.store}
	commands, admin := &grpcapi.Commands{Coordinator: coord, Waits: waits}, &grpcapi.Admin{Hub: s.hub, Log: s.store, Deadlines: s.store, Snapshots: s.store, Projections: s.projections, Replica: s.replicaName()}
	eventedpb.RegisterBusinessCoordinatorServer(s.cmdGRPC, commands)
	eventedpb.RegisterDeliveryAdminServer(s.cmdGRPC, admin)
	eventedpb.RegisterProjectorCoordinatorServer(s.cmdGRPC, &grpcapi.Projectors{Subscriptions: s.byKind[dremote.Projector], Store: s.store})
	eventedpb.RegisterSagaCoordinatorServer(s.cmdGRPC, &grpcapi.Sagas{Subscriptions: s.byKind[dremote.Saga], Coordinator: coord, Store: s.store})
	s.qryGRPC = s.grpcServer()
	eventedpb.RegisterEventQueryServer(s.qryGRPC, &grpcapi.Queries{Service: query.New(s.store, s.store), Waits: waits, MaxBookBytes: bookBytes(cfg.Limits)})
	eventedpb.RegisterProjectionQueryServer(s.qryGRPC, s.projectionQuery())
	s.setServing(true)
	if err = s.newConsole(o, commands, admin); err != nil {
		return nil, err
	}

	var lc net.ListenConfig
	if s.cmdLis, err = lc.Listen(ctx, "tcp", hostPort(cfg.Server.Host, cfg.Server.CommandHandlerPort)); err != nil {
		return nil, fmt.Errorf("command port (server.command_handler_port): %w", err)
	}
	if s.qryLis, err = lc.Listen(ctx, "tcp", hostPort(cfg.Server.Host, cfg.Server.EventQueryPort)); err != nil {
		return nil, fmt.Errorf("query port (server.event_query_port): %w", err)
	}
	if cfg.Server.AdminPort >= 0 {
		if s.adminLis, err = lc.Listen(ctx, "tcp", hostPort(cfg.Server.Host, cfg.Server.AdminPort)); err != nil {
			return nil, fmt.Errorf("admin port (server.admin_port): %w", err)
		}
		s.admin = &http.Server{Handler: s.adminAuth(s.adminHandler()), ReadHeaderTimeout: 5 * time.Second}
		if s.sec.adminTLS != nil {
			s.adminLis = tls.NewListener(s.adminLis, s.sec.adminTLS)
		}
	}
	return s, nil
}

// The flow-control windows of the gRPC servers: how much a client may send
// before the server has read it. Fixed windows turn off grpc-go's
// bandwidth-delay estimation, which answered most requests with a PING of
// its own (and the client with its ack): with 16 clients sending commands,
// 1 write and 2 reads of the process's 5 and 9 system calls per command
// (BenchmarkHandleMemory, writes/op and reads/op). 1 MiB a stream and 4
// MiB a connection let a request of up to 1 MiB go in one round trip, and
// a client far away send 4 MiB per round trip; the estimation would grow
// the window up to 16 MiB, for uploads that evented's clients do not make.
const (
	streamWindow = 1 << 20
	connWindow   = 4 << 20
)

func (s *Server) grpcServer() *grpc.Server {
	// Callers are authenticated first (an anonymous request is not even
	// decoded), then requests that did not decode are refused as such,
	// before the limits look into them.
	opts := append(s.securityOptions(), s.tracing.ServerOption(), grpc.ChainUnaryInterceptor(s.metrics.Interceptor()))
	opts = append(opts, grpcapi.Interceptors(s.log)...)
	opts = append(opts, s.limits...)
	opts = append(opts, grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(connWindow))
	// Requests are served by long-lived workers (grpc-go starts a goroutine
	// of its own only when all are busy, as with a subscription's stream):
	// a fresh goroutine per request grew its stack on every command, 5% of
	// the command path's CPU.
	opts = append(opts, grpc.NumStreamWorkers(uint32(max(16, 4*runtime.GOMAXPROCS(0)))))
	g := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(g, s.health)
	reflection.Register(g)
	return g
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// CommandAddr is the address the command port listens on.
func (s *Server) CommandAddr() string { return s.cmdLis.Addr().String() }

// QueryAddr is the address the query port listens on.
func (s *Server) QueryAddr() string { return s.qryLis.Addr().String() }

// Run serves both ports until ctx ends, then shuts down gracefully: it stops
// accepting calls, lets in-flight ones finish (bounded by
// server.shutdown_timeout), and closes the store. Run returns nil after a
// clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("evented serving", append(s.startup(), s.sec.describe(s.cfg)...)...)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.reach.Run(gctx) })
	g.Go(func() error { return s.samples.Run(gctx) })
	for _, sub := range s.hub.Subscriptions() {
		g.Go(func() error { return sub.Run(gctx) })
	}
	g.Go(func() error { s.watchStore(gctx); return nil })
	g.Go(func() error { return s.projections.Run(gctx) })
	if s.snapper != nil {
		g.Go(func() error { return s.snapper.Run(gctx) })
	}
	g.Go(func() error { return s.firer.Run(gctx) })
	// Take the first share of the segments before serving commands.
	startWait := time.After(s.cfg.Delivery.LeaseTTL)
	for _, sub := range s.hub.Subscriptions() {
		select {
		case <-sub.Started():
		case <-startWait:
		case <-gctx.Done():
		}
	}
	if s.admin != nil {
		g.Go(func() error {
			if err := s.admin.Serve(s.adminLis); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("admin port: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error { return serve(s.cmdGRPC, s.cmdLis) })
	g.Go(func() error { return serve(s.qryGRPC, s.qryLis) })
	g.Go(func() error {
		<-gctx.Done()
		s.log.Info("shutting down: finishing in-flight calls", "timeout", s.cfg.Server.ShutdownTimeout.String())
		s.health.Shutdown()
		s.ready.Store(false)
		s.stopGracefully(s.cfg.Server.ShutdownTimeout)
		if s.admin != nil {
			s.admin.Close()
		}
		return nil
	})
	err := g.Wait()
	if s.replica != nil { // subscriptions and deadlines
		// Every subscription has stopped: the others may take its share.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if lerr := s.replica.Leave(ctx); lerr != nil {
			s.log.Warn("leaving the replicas failed; the others take over when the membership expires", "err", lerr)
		}
		cancel()
	}
	if cerr := s.close(); err == nil {
		err = cerr
	}
	if err == nil {
		s.log.Info("evented stopped")
	}
	return err
}

func serve(g *grpc.Server, l net.Listener) error {
	if err := g.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

func (s *Server) stopGracefully(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		s.cmdGRPC.GracefulStop()
		s.qryGRPC.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		s.log.Warn("shutdown timeout reached; cutting remaining calls")
		s.cmdGRPC.Stop()
		s.qryGRPC.Stop()
		<-done
	}
}

// close releases what New acquired; safe on a partly built Server.
func (s *Server) close() error {
	var errs []error
	for _, l := range []net.Listener{s.cmdLis, s.qryLis, s.adminLis} {
		if l != nil {
			l.Close() // already closed by Serve/Stop when Run ran
		}
	}
	if s.router != nil {
		errs = append(errs, s.router.close())
	}
	for _, c := range s.remotes {
		errs = append(errs, c.Close())
	}
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	if s.bus != nil {
		errs = append(errs, s.bus.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	if s.tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.tracing.Shutdown(ctx))
		cancel()
	}
	return errors.Join(errs...)
}

// subscriptions makes one subscription per configured projector and saga,
// in configuration order (projectors first), each with its own checkpoint.
func (s *Server) subscriptions(dispatch delivery.Dispatcher) (*delivery.Hub, error) {
	d := s.cfg.Delivery
	owner := replicaID(s.cfg.Server.ReplicaID)
	s.log.Info("replica", "id", owner, "segments", d.Segments, "lease_ttl", d.LeaseTTL.String())
	// One membership for all subscriptions: one Join per third of a lease.
	s.replica = delivery.NewReplica(s.store, owner, d.LeaseTTL)
	var subs []*delivery.Subscription
	s.byKind = map[dremote.Kind][]*delivery.Subscription{}
	// The lowest configured version of each versioned projector is the
	// active one until a cut-over.
	// An unversioned entry beside versions of the same projector is its
	// version 1 (the unversioned checkpoints are version 1's).
	projectors := slices.Clone(s.cfg.Projectors)
	for i, c := range projectors {
		if c.Version == 0 && slices.ContainsFunc(projectors, func(o config.Consumer) bool { return o.Name == c.Name && o.Version > 0 }) {
			projectors[i].Version = 1
		}
	}
	firstVersion := map[string]int{}
	for _, c := range projectors {
		if v, ok := firstVersion[c.Name]; c.Version > 0 && (!ok || c.Version < v) {
			firstVersion[c.Name] = c.Version
		}
	}
	add := func(kind dremote.Kind, key string, c config.Consumer) error {
		sec, err := serviceDialOptions(key, c.TLS, c.TokenFile)
		if err != nil {
			return err
		}
		start := c.Start
		if start == "" && kind == dremote.Saga {
			start = delivery.StartHead // a new saga does not act on history
		}
		name, projector, first := c.Name, "", 0
		if c.Version > 0 {
			// One version of several: its own subscription, from the
			// beginning when it is newer than the first.
			name, projector, first = delivery.VersionName(c.Name, c.Version), c.Name, firstVersion[c.Name]
			if c.Version > first {
				start = delivery.StartBeginning
			}
		}
		consumer, err := dremote.Dial(kind, name, c.Address, d.Timeout, append(sec, s.tracing.DialOption(), callOptions(s.cfg.Limits))...)
		if err != nil {
			return err
		}
		s.remotes = append(s.remotes, consumer)
		var projections *delivery.Projections
		if kind == dremote.Projector {
			projections = s.projections
			if c.PublishProjections {
				consumer.PublishProjections()
			}
		}
		attempts := d.MaxAttempts
		if c.MaxAttempts > 0 {
			attempts = c.MaxAttempts
		}
		sub := delivery.New(consumer, s.store, dispatch, delivery.Options{
			Domains: c.Domains, History: c.History, Synchronous: c.Synchronous,
			MaxAttempts: attempts, BackoffMin: d.BackoffMin, BackoffMax: d.BackoffMax, Workers: d.Workers,
			Observer: s.metrics, Segments: d.Segments, LeaseTTL: d.LeaseTTL, Replica: s.replica, SaveDeadlines: s.saveDeadlines, Start: start,
			MaxBookBytes: d.MaxBookBytes, EventPerBook: kind == dremote.Saga, ClaimTTL: 2*d.Timeout + 5*time.Second,
			Projector: projector, Version: c.Version, FirstVersion: first, AutoCutover: c.Cutover == "auto",
			Projections: projections, Outage: s.outages.Service(kind.String(), reachName(c), c.Address),
		}, s.log)
		subs = append(subs, sub)
		s.byKind[kind] = append(s.byKind[kind], sub)
		return nil
	}
	for i, c := range projectors {
		if err := add(dremote.Projector, fmt.Sprintf("projectors[%d]", i), c); err != nil {
			return nil, err
		}
	}
	for i, c := range s.cfg.Sagas {
		if err := add(dremote.Saga, fmt.Sprintf("sagas[%d]", i), c); err != nil {
			return nil, err
		}
	}
	if s.cfg.Bus.Type != "none" && s.cfg.Bus.Type != "" {
		open, ok := buses[s.cfg.Bus.Type]
		if !ok {
			return nil, fmt.Errorf("bus.type %q is not available in this build", s.cfg.Bus.Type)
		}
		pub, err := open(s.cfg, s.log)
		if err != nil {
			return nil, fmt.Errorf("bus %s: %w", s.cfg.Bus.Type, err)
		}
		s.bus = pub
		limit := d.MaxBookBytes
		if m, ok := pub.(interface{ MaxPayload() int }); ok && m.MaxPayload() > 0 {
			// The broker's own limit, less room for the book's framing.
			limit = min(limit, m.MaxPayload()*15/16)
		}
		consumer, opts := NewRelay(pub, s.cfg)
		opts.Observer, opts.Replica, opts.SaveDeadlines, opts.MaxBookBytes = s.metrics, s.replica, s.saveDeadlines, limit
		opts.Outage = s.outages.Service(kindBroker, s.cfg.Bus.Type, s.cfg.Bus.URL)
		subs = append(subs, delivery.New(consumer, s.store, nil, opts, s.log))
	}
	if s.snapper != nil {
		subs = append(subs, s.snapshotSubscription(s.snapper))
	}
	return delivery.NewHub(subs...), nil
}

// replicaID is this process's name in segment leases: the configured one,
// else the host name, process id and a random suffix, unique per start (a
// restarted process never mistakes its predecessor's leases for its own).
// replicaName is this process's replica id, "" before subscriptions made it.
func (s *Server) replicaName() string {
	if s.replica == nil {
		return ""
	}
	return s.replica.ID()
}

func replicaID(configured string) string {
	if configured != "" {
		return configured
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "evented"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:6])
}

// router routes domains to business logic: the configured services, or the
// placeholder for every domain when none is configured.
type router struct {
	logic   map[string]business.Logic
	domains []string
	remotes []*remote.Logic
}

func newRouter(cfg []config.BusinessLogic, outages *outage.Tracker, opts ...grpc.DialOption) (*router, error) {
	r := &router{logic: map[string]business.Logic{}}
	for i, b := range cfg {
		sec, err := serviceDialOptions(fmt.Sprintf("business_logic[%d]", i), b.TLS, b.TokenFile)
		if err != nil {
			r.close()
			return nil, err
		}
		l, err := remote.Dial(b.Domain, b.Address, append(sec, opts...)...)
		if err != nil {
			r.close()
			return nil, err
		}
		l.ReportTo(outages.Service(kindBusinessLogic, b.Domain, b.Address))
		r.logic[b.Domain] = l
		r.remotes = append(r.remotes, l)
		r.domains = append(r.domains, b.Domain)
	}
	slices.Sort(r.domains)
	return r, nil
}

// Route implements command.Router.
func (r *router) Route(domain string) (business.Logic, error) {
	if len(r.remotes) == 0 {
		return placeholder.Logic{}, nil
	}
	if l, ok := r.logic[domain]; ok {
		return l, nil
	}
	return nil, &command.UnknownDomainError{Domain: domain, Known: r.domains}
}

func (r *router) describe() string {
	if len(r.remotes) == 0 {
		return "any (placeholder business logic: CreateX -> XCreated)"
	}
	return fmt.Sprint(r.domains)
}

func (r *router) close() error {
	var errs []error
	for _, l := range r.remotes {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}
