package server_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
)

// heldLogic decides nothing until released: each command it holds keeps
// one of the server's request workers busy.
type heldLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
	entered chan struct{}
	release chan struct{}
}

func (h *heldLogic) Handle(ctx context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	h.entered <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &eventedpb.EventBook{Cover: in.GetCommand().GetCover(), Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "Done"}}}}, nil
}

// The server serves requests from a pool of long-lived workers (a fresh
// goroutine per request grew its stack every time). A pool must never make
// a request wait for a worker: with more requests in flight than workers,
// all held by a slow business logic, and as many long streams open (health
// watches), a command of another domain is still answered at once.
func TestRequestsDoNotWaitForBusyWorkers(t *testing.T) {
	held := &heldLogic{entered: make(chan struct{}), release: make(chan struct{})}
	cfg := config.Default()
	for domain, logic := range map[string]eventedpb.BusinessLogicServer{"held": held, "quick": echoLogic{}} {
		g := grpc.NewServer()
		eventedpb.RegisterBusinessLogicServer(g, logic)
		lis := listen(t)
		go g.Serve(lis)
		defer g.Stop()
		cfg.BusinessLogic = append(cfg.BusinessLogic, config.BusinessLogic{Domain: domain, Address: lis.Addr().String()})
	}
	// More than the workers the server starts, whatever GOMAXPROCS is.
	busy := max(16, 4*runtime.GOMAXPROCS(0)) + 8
	cfg.Limits.MaxStreams = 2*busy + 8
	srv, _ := start(t, cfg)
	conn := dial(t, srv.CommandAddr())
	cmds := eventedpb.NewBusinessCoordinatorClient(conn)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(held.release)
	for range busy {
		wg.Go(func() {
			root := uuid.New()
			if _, err := cmds.Handle(ctx, &eventedpb.CommandBook{
				Cover: &eventedpb.Cover{Domain: "held", Root: &eventedpb.UUID{Value: root[:]}},
				Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "Do"}}},
			}); err != nil {
				t.Errorf("held command: %v", err)
			}
		})
		<-held.entered
	}
	health := healthpb.NewHealthClient(conn)
	for range busy {
		w, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Recv(); err != nil { // the stream's handler runs, and stays
			t.Fatal(err)
		}
	}

	quick, cancelQuick := context.WithTimeout(ctx, 5*time.Second)
	defer cancelQuick()
	root := uuid.New()
	resp, err := cmds.Handle(quick, &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: "quick", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "Do"}}},
	})
	if err != nil {
		t.Fatalf("with %d commands and %d streams held, a command of another domain: %v", busy, busy, err)
	}
	if got := resp.GetBooks()[0].GetPages()[0].GetEvent().GetTypeUrl(); got != "Done" {
		t.Fatalf("event %q", got)
	}
}
