package server_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

// countingLogic answers each command with one event carrying the
// command's payload, and counts its calls.
type countingLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
	calls atomic.Int32
}

func (l *countingLogic) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	l.calls.Add(1)
	return &eventedpb.EventBook{Cover: in.GetCommand().GetCover(), Pages: []*eventedpb.EventPage{{
		Event: &anypb.Any{TypeUrl: "type.googleapis.com/test.Paid", Value: in.GetCommand().GetPages()[0].GetCommand().GetValue()},
	}}}, nil
}

// slowProjector is a synchronous projector that takes wait on its first
// call: the command's events are committed, and its reply comes late.
type slowProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	wait  time.Duration
	calls atomic.Int32
}

func (p *slowProjector) HandleSync(_ context.Context, b *eventedpb.EventBook) (*eventedpb.Projection, error) {
	if p.calls.Add(1) == 1 {
		time.Sleep(p.wait)
	}
	return &eventedpb.Projection{Cover: b.GetCover(), Projector: "slow"}, nil
}

func (p *slowProjector) Handle(ctx context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	_, err := p.HandleSync(ctx, b)
	return &emptypb.Empty{}, err
}

func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "idempotency-key", key)
}

func pay(root uuid.UUID, amount string) *eventedpb.CommandBook {
	return &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: "payment", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/test.Pay", Value: []byte(amount)}}},
	}
}

func storedEvents(t *testing.T, addr string, domain string, root uuid.UUID) []*eventedpb.EventPage {
	t.Helper()
	return events(t, eventedpb.NewEventQueryClient(dial(t, addr)), &eventedpb.Cover{Domain: domain, Root: &eventedpb.UUID{Value: root[:]}})
}

func TestIdempotencyKey(t *testing.T) {
	logic := &countingLogic{}
	cfg := config.Default()
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "payment", Address: serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, logic) })}}
	srv, _ := start(t, cfg)
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()

	first, err := client.Handle(withKey(t.Context(), "pay-1"), pay(root, "10"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := client.Handle(withKey(t.Context(), "pay-1"), pay(root, "10"))
	if err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if !proto.Equal(first.GetBooks()[0], again.GetBooks()[0]) {
		t.Errorf("repeat answered %v; want the first answer %v", again.GetBooks(), first.GetBooks())
	}
	if logic.calls.Load() != 1 {
		t.Errorf("business logic called %d times; want once", logic.calls.Load())
	}
	if got := storedEvents(t, srv.QueryAddr(), "payment", root); len(got) != 1 {
		t.Errorf("%d events stored; want 1", len(got))
	}

	_, err = client.Handle(withKey(t.Context(), "pay-1"), pay(root, "20"))
	if st := status.Convert(err); st.Code() != codes.AlreadyExists || st.Message() != `idempotency-key "pay-1" was used for a different command` {
		t.Errorf("same key, another command: %s %q; want ALREADY_EXISTS naming the key", st.Code(), st.Message())
	}

	// (gRPC clients themselves refuse to send what is not printable ASCII.)
	for _, bad := range []string{strings.Repeat("k", 257), ""} {
		_, err = client.Handle(withKey(t.Context(), bad), pay(root, "10"))
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "idempotency-key") || !strings.Contains(st.Message(), "printable ASCII") {
			t.Errorf("key %.20q: %s %q; want INVALID_ARGUMENT naming idempotency-key and what is allowed", bad, st.Code(), st.Message())
		}
	}

	// Record: stored once.
	imported := uuid.New()
	book := &eventedpb.EventBook{
		Cover: &eventedpb.Cover{Domain: "ledger", Root: &eventedpb.UUID{Value: imported[:]}},
		Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "type.googleapis.com/test.Imported", Value: []byte("row 1")}}},
	}
	r1, err := client.Record(withKey(t.Context(), "import-1"), book)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := client.Record(withKey(t.Context(), "import-1"), book)
	if err != nil || !proto.Equal(r1, r2) {
		t.Fatalf("repeated Record: %v, %v; want the first answer %v", r2, err, r1)
	}
	if got := storedEvents(t, srv.QueryAddr(), "ledger", imported); len(got) != 1 {
		t.Errorf("Record with a key twice stored %d events; want 1", len(got))
	}
}

// TestRetryAfterDeadlineExceeded: the client's deadline passes after the
// events are committed (a synchronous projector is slow), so it gets
// DEADLINE_EXCEEDED for a command that happened. Its retry with the same
// key gets the committed events, and nothing is decided or stored again.
func TestRetryAfterDeadlineExceeded(t *testing.T) {
	logic := &countingLogic{}
	proj := &slowProjector{wait: 700 * time.Millisecond}
	cfg := config.Default()
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "payment", Address: serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, logic) })}}
	cfg.Projectors = []config.Consumer{{Name: "slow", Synchronous: true, Address: serve(t, func(g *grpc.Server) { eventedpb.RegisterProjectorCoordinatorServer(g, proj) })}}
	srv, _ := start(t, cfg)
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()

	ctx, cancel := context.WithTimeout(withKey(t.Context(), "pay-late"), 300*time.Millisecond)
	defer cancel()
	if _, err := client.Handle(ctx, pay(root, "10")); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("first try: %v; want DEADLINE_EXCEEDED", err)
	}
	// The events are committed while the client has given up.
	stored := storedEvents(t, srv.QueryAddr(), "payment", root)
	if len(stored) != 1 {
		t.Fatalf("%d events stored by the timed-out command; want 1 (committed before the projector)", len(stored))
	}
	res, err := client.Handle(withKey(t.Context(), "pay-late"), pay(root, "10"))
	if err != nil {
		t.Fatalf("retry with the same key: %v", err)
	}
	if len(res.GetBooks()) != 1 || !proto.Equal(res.GetBooks()[0].GetPages()[0], stored[0]) {
		t.Errorf("retry answered %v; want the committed event %v", res.GetBooks(), stored[0])
	}
	if got := storedEvents(t, srv.QueryAddr(), "payment", root); len(got) != 1 || logic.calls.Load() != 1 {
		t.Errorf("after the retry: %d events, business logic called %d times; want 1 and 1", len(got), logic.calls.Load())
	}
}

// TestIdempotencyAcrossServers sends one key to two servers sharing one
// SQLite file, at once and again: one command is stored.
func TestIdempotencyAcrossServers(t *testing.T) {
	logic := &countingLogic{}
	cfg := config.Default()
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "payment", Address: serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, logic) })}}
	cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	clients := []eventedpb.BusinessCoordinatorClient{
		eventedpb.NewBusinessCoordinatorClient(dial(t, startShared(t, cfg).CommandAddr())),
		eventedpb.NewBusinessCoordinatorClient(dial(t, startShared(t, cfg).CommandAddr())),
	}
	root := uuid.New()
	replies := make([]*eventedpb.SynchronousProcessingResponse, 8)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Go(func() {
			r, err := clients[i%2].Handle(withKey(t.Context(), "pay-shared"), pay(root, "10"))
			if err != nil {
				t.Errorf("server %d: %v", i%2, err)
			}
			replies[i] = r
		})
	}
	wg.Wait()
	for i, r := range replies {
		if r != nil && !proto.Equal(r.GetBooks()[0], replies[0].GetBooks()[0]) {
			t.Errorf("reply %d differs: %v; want %v", i, r.GetBooks(), replies[0].GetBooks())
		}
	}
	srvQuery := startShared(t, cfg).QueryAddr()
	if got := storedEvents(t, srvQuery, "payment", root); len(got) != 1 {
		t.Errorf("%d events stored through two servers under one key; want 1", len(got))
	}
}

// startShared is start without a fresh SQLite file: cfg's is shared.
func startShared(t *testing.T, cfg config.Config) *server.Server {
	t.Helper()
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, 0
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv
}
