package sdk

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/api/eventedpb"
)

// Service is what Serve serves: an *Aggregate, a *Projector, a *Saga or an
// *Upcaster.
type Service interface {
	register(*services) error
}

// services collects what one gRPC server serves.
type services struct {
	logic     map[string]eventedpb.BusinessLogicServer
	projector eventedpb.ProjectorCoordinatorServer
	saga      eventedpb.SagaCoordinatorServer
	upcaster  *Upcaster
}

func (u *Upcaster) register(s *services) error {
	if u.err != nil {
		return u.err
	}
	if s.upcaster != nil {
		return fmt.Errorf("upcaster %q: one gRPC server serves one upcaster (put every step in one)", u.name)
	}
	s.upcaster = u
	return nil
}

func (a *Aggregate[S]) register(s *services) error {
	if _, dup := s.logic[a.domain]; dup {
		return fmt.Errorf("two aggregates of domain %q", a.domain)
	}
	s.logic[a.domain] = a
	return nil
}

func (p *Projector[S]) register(s *services) error {
	if s.projector != nil {
		return fmt.Errorf("projector %q: one gRPC server serves one projector (evented calls ProjectorCoordinator per address)", p.name)
	}
	s.projector = p
	return nil
}

func (g *Saga[S]) register(s *services) error {
	if s.saga != nil {
		return fmt.Errorf("saga %q: one gRPC server serves one saga (evented calls SagaCoordinator per address)", g.name)
	}
	s.saga = g
	return nil
}

// Register registers services on s, for programs that build their own
// gRPC server: aggregates as evented.BusinessLogic (several aggregates are
// routed by the command's domain), a projector as
// evented.ProjectorCoordinator, a saga as evented.SagaCoordinator, an
// upcaster as evented.Upcaster. The
// legacy names evented.Projector and evented.Saga are not registered:
// evented calls the coordinator names.
func Register(s grpc.ServiceRegistrar, svcs ...Service) error {
	reg := &services{logic: map[string]eventedpb.BusinessLogicServer{}}
	for _, svc := range svcs {
		if svc == nil {
			return errors.New("sdk: Register: nil service")
		}
		if err := svc.register(reg); err != nil {
			return fmt.Errorf("sdk: Register: %w", err)
		}
	}
	switch len(reg.logic) {
	case 0:
	case 1:
		for _, a := range reg.logic {
			eventedpb.RegisterBusinessLogicServer(s, a)
		}
	default:
		eventedpb.RegisterBusinessLogicServer(s, &router{byDomain: reg.logic})
	}
	if reg.projector != nil {
		eventedpb.RegisterProjectorCoordinatorServer(s, reg.projector)
	}
	if reg.saga != nil {
		eventedpb.RegisterSagaCoordinatorServer(s, reg.saga)
	}
	if reg.upcaster != nil {
		eventedpb.RegisterUpcasterServer(s, reg.upcaster)
	}
	return nil
}

// router sends each command to the aggregate of its domain.
type router struct {
	eventedpb.UnimplementedBusinessLogicServer
	byDomain map[string]eventedpb.BusinessLogicServer
}

func (r *router) Handle(ctx context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	d := in.GetCommand().GetCover().GetDomain()
	a, ok := r.byDomain[d]
	if !ok {
		known := make([]string, 0, len(r.byDomain))
		for k := range r.byDomain {
			known = append(known, k)
		}
		slices.Sort(known)
		return nil, status.Errorf(codes.NotFound, "this service handles domains %q, not %q", known, d)
	}
	return a.Handle(ctx, in)
}

// Snapshot routes by the book's domain.
func (r *router) Snapshot(ctx context.Context, in *eventedpb.EventBook) (*eventedpb.Snapshot, error) {
	d := in.GetCover().GetDomain()
	a, ok := r.byDomain[d]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "this service handles domains %q, not %q", slices.Sorted(maps.Keys(r.byDomain)), d)
	}
	return a.Snapshot(ctx, in)
}

// MaxMessageSize is the largest request Serve accepts (64 MiB).
const MaxMessageSize = 64 << 20

// Serve serves svcs on addr ("127.0.0.1:50052", ":50052") with gRPC
// health (SERVING while up) until ctx ends, then stops gracefully, giving
// calls in flight up to 5 seconds. It returns nil after a shutdown caused
// by ctx.
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	err := sdk.Serve(ctx, ":50052", customer.New())
func Serve(ctx context.Context, addr string, svcs ...Service) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sdk: Serve: %w", err)
	}
	return ServeListener(ctx, lis, svcs...)
}

// ServeListener is Serve on a listener it takes over (and closes).
func ServeListener(ctx context.Context, lis net.Listener, svcs ...Service) error {
	return serveListener(ctx, lis, nil, svcs)
}

func serveListener(ctx context.Context, lis net.Listener, tc *tls.Config, svcs []Service) error {
	// A projector or saga with history receives a whole aggregate in one
	// book: allow more than gRPC's default 4 MiB.
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxMessageSize)}
	if tc != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
	}
	srv := grpc.NewServer(opts...)
	if err := Register(srv, svcs...); err != nil {
		_ = lis.Close()
		return err
	}
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served:
		return fmt.Errorf("sdk: serve %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		srv.Stop()
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("sdk: serve %s: %w", lis.Addr(), err)
	}
	return nil
}
