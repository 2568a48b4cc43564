package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

// start runs a server on ports 0 of 127.0.0.1 with a SQLite file in a temp
// dir; it returns the server and a stop function that waits for Run.
func start(t *testing.T, cfg config.Config, opts ...server.Option) (*server.Server, func() error) {
	t.Helper()
	return startLogging(t, cfg, slog.New(slog.DiscardHandler), opts...)
}

// startLogging is start with the server logging to log.
func startLogging(t *testing.T, cfg config.Config, log *slog.Logger, opts ...server.Option) (*server.Server, func() error) {
	t.Helper()
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, 0
	if cfg.Storage.Type == "sqlite" && cfg.Storage.Path == config.Default().Storage.Path {
		cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	}
	srv, err := server.New(t.Context(), cfg, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10s")
			return nil
		}
	})
	t.Cleanup(func() { stop() })
	return srv, stop
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestBothPortsServeHealthAndReflection(t *testing.T) {
	srv, _ := start(t, config.Default())
	for addr, want := range map[string]string{srv.CommandAddr(): "evented.BusinessCoordinator", srv.QueryAddr(): "evented.EventQuery"} {
		conn := dial(t, addr)
		h, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: want})
		if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s health of %s: %v %v", addr, want, h, err)
		}
		stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		if !slices.Contains(names, want) || !slices.Contains(names, "grpc.health.v1.Health") {
			t.Errorf("%s lists %v, want %s and grpc.health.v1.Health", addr, names, want)
		}
	}
}

func TestPlaceholderCreatesAnEventReadableThroughQuery(t *testing.T) {
	srv, _ := start(t, config.Default())
	root := uuid.New()
	cover := &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}}
	resp, err := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr())).Handle(t.Context(), &eventedpb.CommandBook{
		Cover: cover,
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/examples.CreateCustomer", Value: []byte{10, 1, 'A'}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetBooks()[0].GetPages()[0].GetEvent().GetTypeUrl(); got != "type.googleapis.com/examples.CustomerCreated" {
		t.Fatalf("reply event %q", got)
	}
	stream, err := eventedpb.NewEventQueryClient(dial(t, srv.QueryAddr())).GetEvents(t.Context(), &eventedpb.Query{Domain: "customer", Root: cover.Root})
	if err != nil {
		t.Fatal(err)
	}
	book, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(book.GetPages()) != 1 || book.GetPages()[0].GetNum() != 0 || book.GetPages()[0].GetEvent().GetTypeUrl() != "type.googleapis.com/examples.CustomerCreated" {
		t.Fatalf("GetEvents = %v", book)
	}
}

// slowLogic takes its time, so a shutdown can begin while it decides.
type slowLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
	entered chan struct{}
}

func (s *slowLogic) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	close(s.entered)
	time.Sleep(300 * time.Millisecond)
	return &eventedpb.EventBook{Cover: in.GetCommand().GetCover(), Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "Done"}}}}, nil
}

func TestShutdownLetsInFlightCommandsFinish(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logic := &slowLogic{entered: make(chan struct{})}
	g := grpc.NewServer()
	eventedpb.RegisterBusinessLogicServer(g, logic)
	go g.Serve(lis)
	defer g.Stop()

	cfg := config.Default()
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "slow", Address: lis.Addr().String()}}
	srv, stop := start(t, cfg)
	root := uuid.New()
	reply := make(chan error, 1)
	go func() {
		_, err := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr())).Handle(context.Background(), &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "slow", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "Do"}}},
		})
		reply <- err
	}()
	<-logic.entered
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v after a graceful shutdown", err)
	}
	if err := <-reply; err != nil {
		t.Fatalf("in-flight command failed during shutdown: %v", err)
	}
}

func TestUnknownStorageTypeListsKnownOnes(t *testing.T) {
	cfg := config.Default()
	cfg.Storage.Type = "cassandra"
	_, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "available: [memory") || !strings.Contains(err.Error(), "sqlite]") {
		t.Fatalf("err = %v, want one listing the available types", err)
	}
}

// flakyProjector fails until healed.
type flakyProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	healed atomic.Bool
	got    atomic.Int32
}

func (p *flakyProjector) Handle(_ context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	if !p.healed.Load() {
		return nil, status.Error(codes.FailedPrecondition, "projector database is down")
	}
	p.got.Add(int32(len(b.GetPages())))
	return &emptypb.Empty{}, nil
}

func TestParkedEventsAreListedAndReplayed(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proj := &flakyProjector{}
	g := grpc.NewServer()
	eventedpb.RegisterProjectorCoordinatorServer(g, proj)
	go g.Serve(lis)
	defer g.Stop()

	cfg := config.Default()
	cfg.Projectors = []config.Consumer{{Name: "ledger", Address: lis.Addr().String()}}
	cfg.Delivery.MaxAttempts, cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = 2, time.Millisecond, 2*time.Millisecond
	srv, _ := start(t, cfg)
	root := uuid.New()
	cover := &eventedpb.Cover{Domain: "ledger", Root: &eventedpb.UUID{Value: root[:]}}
	if _, err := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr())).Handle(t.Context(), &eventedpb.CommandBook{
		Cover: cover, Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "CreateEntry"}}},
	}); err != nil {
		t.Fatal(err)
	}
	admin := eventedpb.NewDeliveryAdminClient(dial(t, srv.CommandAddr()))
	var parked []*eventedpb.ParkedEvent
	for deadline := time.Now().Add(10 * time.Second); len(parked) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no parked event within 10s")
		}
		stream, err := admin.ListParked(t.Context(), &eventedpb.ParkedQuery{Subscriber: "ledger"})
		if err != nil {
			t.Fatal(err)
		}
		for p, err := stream.Recv(); err == nil; p, err = stream.Recv() {
			parked = append(parked, p)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p := parked[0]
	if p.GetAttempts() != 2 || !strings.Contains(p.GetReason(), "projector database is down") || p.GetPage().GetEvent().GetTypeUrl() != "EntryCreated" {
		t.Fatalf("parked = %v", p)
	}
	_, err = admin.ListParked(t.Context(), &eventedpb.ParkedQuery{Subscriber: "nope"})
	if err == nil {
		stream, _ := admin.ListParked(t.Context(), &eventedpb.ParkedQuery{Subscriber: "nope"})
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "ledger") {
		t.Fatalf("unknown subscriber: %v, want NOT_FOUND listing ledger", err)
	}
	proj.healed.Store(true)
	res, err := admin.ReplayParked(t.Context(), &eventedpb.ParkedQuery{Subscriber: "ledger"})
	if err != nil || res.GetReplayed() != 1 || len(res.GetFailed()) != 0 || proj.got.Load() != 1 {
		t.Fatalf("replay = %v, %v; projector got %d", res, err, proj.got.Load())
	}
	stream, err := admin.ListSubscriptions(t.Context(), &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := stream.Recv()
	if err != nil || st.GetName() != "ledger" || st.GetParked() != 1 || st.GetHead() != 1 {
		t.Fatalf("status = %v, %v", st, err)
	}
}

func TestProjectorCoordinatorFansOutToConfiguredProjectors(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proj := &flakyProjector{}
	proj.healed.Store(true)
	g := grpc.NewServer()
	eventedpb.RegisterProjectorCoordinatorServer(g, proj)
	go g.Serve(lis)
	defer g.Stop()

	cfg := config.Default()
	cfg.Projectors = []config.Consumer{
		{Name: "ledger", Address: lis.Addr().String(), Domains: []string{"ledger"}},
		{Name: "other", Address: "127.0.0.1:1", Domains: []string{"elsewhere"}}, // not called: other domain
	}
	srv, _ := start(t, cfg)
	root := uuid.New()
	book := &eventedpb.EventBook{
		Cover: &eventedpb.Cover{Domain: "ledger", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.EventPage{{Sequence: &eventedpb.EventPage_Num{Num: 0}, Event: &anypb.Any{TypeUrl: "EntryCreated"}}},
	}
	coordinator := eventedpb.NewProjectorCoordinatorClient(dial(t, srv.CommandAddr()))

	// A book that is not in the store reaches no projector.
	_, err = coordinator.Handle(t.Context(), book)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "not in the store") {
		t.Fatalf("a made-up book: %v, want FailedPrecondition naming the store", err)
	}
	if n := proj.got.Load(); n != 0 {
		t.Fatalf("projector got %d events of a book that is not in the store", n)
	}

	// Stored, it is delivered (once by the subscription, once more here).
	if _, err := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr())).Record(t.Context(), book); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recorded event delivered", func() bool { return proj.got.Load() == 1 })
	if _, err := coordinator.Handle(t.Context(), book); err != nil {
		t.Fatal(err)
	}
	if n := proj.got.Load(); n != 2 {
		t.Fatalf("projector got %d events, want 2 (the subscription's, then evented's ProjectorCoordinator's)", n)
	}
}

func TestMetricsMoveAfterCommands(t *testing.T) {
	srv, _ := start(t, config.Default())
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()
	for range 3 {
		if _, err := client.Handle(t.Context(), &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "AddPoints"}}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := client.Handle(t.Context(), &eventedpb.CommandBook{Cover: &eventedpb.Cover{Domain: "customer"}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad command: %v", err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + srv.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("/metrics")
	for _, want := range []string{
		`evented_commands_total{code="OK",domain="customer",method="Handle"} 3`,
		`evented_commands_total{code="InvalidArgument",domain="customer",method="Handle"} 1`,
		`evented_events_appended_total{domain="customer"} 3`,
		`evented_command_duration_seconds_count{domain="customer",method="Handle"} 4`,
		`evented_log_head 3`,
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %s", code, body)
	}
}

type echoLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
}

func (echoLogic) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	return &eventedpb.EventBook{Cover: in.GetCommand().GetCover(), Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "Done"}}}}, nil
}

type syncProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
}

func (syncProjector) HandleSync(_ context.Context, b *eventedpb.EventBook) (*eventedpb.Projection, error) {
	return &eventedpb.Projection{Cover: b.GetCover(), Sequence: uint32(len(b.GetPages())), Projection: &anypb.Any{TypeUrl: "Total"}}, nil
}

// keepSpans keeps the spans when the server shuts its exporter down.
type keepSpans struct{ *tracetest.InMemoryExporter }

func (keepSpans) Shutdown(context.Context) error { return nil }

// TestTraceFollowsACommand: one trace holds the command, the business
// logic call, the store's reads and append, and the synchronous projector.
func TestTraceFollowsACommand(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	eventedpb.RegisterBusinessLogicServer(g, echoLogic{})
	eventedpb.RegisterProjectorCoordinatorServer(g, syncProjector{})
	go g.Serve(lis)
	defer g.Stop()

	cfg := config.Default()
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "orders", Address: lis.Addr().String()}}
	cfg.Projectors = []config.Consumer{{Name: "totals", Address: lis.Addr().String(), Synchronous: true}}
	exp := keepSpans{tracetest.NewInMemoryExporter()}
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, -1
	cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler), server.WithSpanExporter(exp))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	root := uuid.New()
	resp, err := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr())).Handle(t.Context(), &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: "orders", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "Do"}}},
	})
	if err != nil || len(resp.GetProjections()) != 1 {
		t.Fatalf("Handle: %v, %v", resp, err)
	}
	cancel()
	if err := <-done; err != nil { // Run flushes the exporter on the way out
		t.Fatal(err)
	}
	traces := map[string][]string{}
	var commandTrace string
	for _, s := range exp.GetSpans() {
		id := s.SpanContext.TraceID().String()
		traces[id] = append(traces[id], s.Name)
		if s.Name == "evented.BusinessCoordinator/Handle" {
			commandTrace = id
		}
	}
	got := traces[commandTrace]
	for _, want := range []string{"evented.BusinessCoordinator/Handle", "evented.BusinessLogic/Handle",
		"eventstore.Read", "eventstore.Append", "evented.ProjectorCoordinator/HandleSync"} {
		if !slices.Contains(got, want) {
			t.Errorf("the command's trace lacks %s; it has %v", want, got)
		}
	}
}

// historyProjector records the books and the evented-new-from header.
type historyProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	mu      sync.Mutex
	pages   []int
	newFrom []string
}

func (p *historyProjector) HandleSync(ctx context.Context, b *eventedpb.EventBook) (*eventedpb.Projection, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages = append(p.pages, len(b.GetPages()))
	p.newFrom = append(p.newFrom, strings.Join(md.Get("evented-new-from"), ","))
	return &eventedpb.Projection{}, nil // nothing to show: no projection in the reply
}

func TestHistoryBooksSayWhereTheNewEventsBegin(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proj := &historyProjector{}
	g := grpc.NewServer()
	eventedpb.RegisterProjectorCoordinatorServer(g, proj)
	go g.Serve(lis)
	defer g.Stop()
	cfg := config.Default()
	cfg.Projectors = []config.Consumer{{Name: "receipt", Address: lis.Addr().String(), Synchronous: true, History: true}}
	srv, _ := start(t, cfg)
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()
	for _, cmd := range []string{"CreateOrder", "AddItem"} {
		resp, err := client.Handle(t.Context(), &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "orders", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: cmd}}},
		})
		if err != nil || len(resp.GetProjections()) != 0 {
			t.Fatalf("%s: %v, %v (an empty projection is no projection)", cmd, resp.GetProjections(), err)
		}
	}
	proj.mu.Lock()
	defer proj.mu.Unlock()
	if !slices.Equal(proj.pages, []int{1, 2}) || !slices.Equal(proj.newFrom, []string{"0", "1"}) {
		t.Fatalf("books of %v pages with evented-new-from %v; want [1 2] and [0 1]", proj.pages, proj.newFrom)
	}
}
