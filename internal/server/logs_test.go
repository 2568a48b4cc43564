package server_test

import (
	"context"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/grpcapi"
	"github.com/evented/evented/internal/server"
)

// runLogged runs a server of cfg on ports 0 of 127.0.0.1, logging at
// level into logs.
func runLogged(t *testing.T, cfg config.Config, logs *syncBuffer, level slog.Level, opts ...server.Option) *server.Server {
	t.Helper()
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, 0
	srv, err := server.New(t.Context(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10s")
		}
	})
	return srv
}

// TestOneWarningWhenBusinessLogicIsDown: with the business logic of a
// domain stopped, several commands to it and the console's background
// checks (every 50 ms here, so several fail) leave exactly one WARN in the
// log, naming the service; each command's reply names it too. Once it is
// back, one INFO says so.
func TestOneWarningWhenBusinessLogicIsDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	var logs syncBuffer
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "customer", Address: addr}}
	srv := runLogged(t, cfg, &logs, slog.LevelInfo, server.WithConsoleSampling(50*time.Millisecond))
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()
	cmd := &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/test.Create"}}},
	}
	for range 5 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := client.Handle(ctx, cmd)
		cancel()
		if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), `business logic of domain "customer" at `+addr) {
			t.Fatalf("a command to the stopped service: %v; want UNAVAILABLE naming it", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The checks, every 50 ms, have failed often enough by now (more
	// than the two in a row that make an outage) to warn on their own.
	time.Sleep(time.Second)
	warns := regexp.MustCompile(`(?m)^.*level=WARN.*$`).FindAllString(logs.String(), -1)
	if len(warns) != 1 || !strings.Contains(warns[0], "name=customer") || !strings.Contains(warns[0], "address="+addr) {
		t.Fatalf("want one WARN naming the business logic of customer, got %d:\n%s", len(warns), strings.Join(warns, "\n"))
	}

	// Back: the next command goes through, and the log says so once.
	back, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	g := grpc.NewServer()
	eventedpb.RegisterBusinessLogicServer(g, echoLogic{})
	go g.Serve(back)
	t.Cleanup(g.Stop)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "reachable again"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no INFO once the service is back:\n%s", logs.String())
		}
	}
	// gRPC's client redials after its backoff: a few tries, bounded.
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := client.Handle(ctx, cmd)
		cancel()
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("a command once the service is back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "reachable again"); n != 1 {
		t.Errorf("%d INFOs that the service is back, want 1:\n%s", n, logs.String())
	}
}

// TestCommandPathDebugLog: at DEBUG, a command's steps are logged with its
// domain, root and correlation id: received, routed, the business logic's
// reply, the events appended (sequence range), the synchronous consumers
// called, the reply. At INFO, none of them.
func TestCommandPathDebugLog(t *testing.T) {
	logic := serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, echoLogic{}) })
	proj := serve(t, func(g *grpc.Server) { eventedpb.RegisterProjectorCoordinatorServer(g, syncProjector{}) })
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "customer", Address: logic}}
	cfg.Projectors = []config.Consumer{{Name: "totals", Address: proj, Synchronous: true, Domains: []string{"customer"}}}
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var logs syncBuffer
		srv := runLogged(t, cfg, &logs, level)
		root := uuid.New()
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(t.Context(), grpcapi.CorrelationKey, "corr-debug-1"), 10*time.Second)
		_, err := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr())).Handle(ctx, &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/test.Create"}}},
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		steps := []string{
			`msg="command received".*type=type.googleapis.com/test.Create`,
			`msg="command routed".*service="business logic of domain \\"customer\\"`,
			`msg="business logic replied".*events=1`,
			`msg="events appended".*first_sequence=0 last_sequence=0`,
			`msg="synchronous consumers called".*consumers=\[totals\] projections=1`,
			`msg="command replied".*books=1 projections=1`,
		}
		for _, step := range steps {
			re := regexp.MustCompile(`level=DEBUG ` + step)
			lines := regexp.MustCompile(`(?m)^.*`+step+`.*$`).FindAllString(logs.String(), -1)
			if level == slog.LevelInfo {
				if len(lines) != 0 {
					t.Errorf("at INFO, logged %s", lines[0])
				}
				continue
			}
			if len(lines) != 1 || !re.MatchString(lines[0]) {
				t.Errorf("at DEBUG, want one line %s, got %d:\n%s", step, len(lines), logs.String())
				continue
			}
			for _, id := range []string{"domain=customer", "root=" + root.String(), "correlation_id=corr-debug-1"} {
				if !strings.Contains(lines[0], id) {
					t.Errorf("%s lacks %s: %s", step, id, lines[0])
				}
			}
		}
	}
}

// refusingSaga refuses every book with its own reason.
type refusingSaga struct {
	eventedpb.UnimplementedSagaCoordinatorServer
}

func (refusingSaga) HandleSync(context.Context, *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	return nil, status.Error(codes.FailedPrecondition, "loyalty table is locked")
}

// TestFailingSyncConsumerReplyNamesCause: a synchronous saga that fails
// is named in the reply's failures trailer with its own error: for the
// command that met the failure, and for the next command of the aggregate,
// which gives way to the events still being retried and says why they are.
func TestFailingSyncConsumerReplyNamesCause(t *testing.T) {
	logic := serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, echoLogic{}) })
	saga := serve(t, func(g *grpc.Server) { eventedpb.RegisterSagaCoordinatorServer(g, refusingSaga{}) })
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "customer", Address: logic}}
	cfg.Sagas = []config.Consumer{{Name: "loyalty", Address: saga, Synchronous: true, Domains: []string{"customer"}}}
	cfg.Delivery.MaxAttempts, cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = 1000, 50*time.Millisecond, 100*time.Millisecond
	var logs syncBuffer
	srv := runLogged(t, cfg, &logs, slog.LevelInfo)
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()
	for i := range 2 {
		var trailer metadata.MD
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := client.Handle(ctx, &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/test.Create"}}},
		}, grpc.Trailer(&trailer))
		cancel()
		if err != nil {
			t.Fatalf("command %d: %v (a failing synchronous consumer does not fail the command)", i, err)
		}
		failures := trailer.Get("evented-delivery-failures")
		if len(failures) != 1 || !strings.HasPrefix(failures[0], "loyalty: ") || !strings.Contains(failures[0], "loyalty table is locked") {
			t.Errorf("command %d: failures %q; want loyalty named with its own error", i, failures)
		}
	}
}
