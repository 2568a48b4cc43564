package cli_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
	"github.com/evented/evented/sdk"
)

// refusingProjector refuses every book until healed.
type refusingProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	healed   atomic.Bool
	got      atomic.Int32
	replayed atomic.Int32 // events delivered with evented-replay: true
}

func (p *refusingProjector) Handle(ctx context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	if !p.healed.Load() {
		return nil, status.Error(codes.FailedPrecondition, "ledger table is missing")
	}
	p.got.Add(int32(len(b.GetPages())))
	if md, _ := metadata.FromIncomingContext(ctx); slices.Contains(md.Get("evented-replay"), "true") {
		p.replayed.Add(int32(len(b.GetPages())))
	}
	return &emptypb.Empty{}, nil
}

// TestParkedAndReplay: the CLI lists a subscriber's parked events with
// their reason and delivers them again.
func TestParkedAndReplay(t *testing.T) {
	proj := &refusingProjector{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	eventedpb.RegisterProjectorCoordinatorServer(g, proj)
	go g.Serve(lis)
	t.Cleanup(g.Stop)

	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, -1
	cfg.Projectors = []config.Consumer{{Name: "ledger", Address: lis.Addr().String()}}
	cfg.Delivery.MaxAttempts, cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = 2, time.Millisecond, 2*time.Millisecond
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := "--command-addr=" + srv.CommandAddr()

	contains(t, "parked before anything failed", ok(t, "parked", "ledger", addr), "no parked events for ledger")
	ok(t, "send", "ledger", "entry-1", "examples.CreateCustomer", `{"name":"Ann","email":"a@b"}`, addr)
	var out string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out, "1 parked"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no parked event listed within 10s:\n%s", out)
		}
		out = ok(t, "parked", "ledger", addr)
	}
	contains(t, "parked", out, sdk.Root("entry-1").String(), "examples.CustomerCreated", "ledger table is missing", "evented replay ledger")
	list := decode[[]map[string]any](t, ok(t, "parked", "ledger", addr, "-o", "json"))
	if len(list) != 1 || list[0]["attempts"] != float64(2) || list[0]["payload"].(map[string]any)["name"] != "Ann" || list[0]["reason"] == "" {
		t.Fatalf("parked -o json: %+v", list)
	}

	// Still refused: the replay says so and exits 1.
	errOut := fails(t, "replay", "ledger", addr)
	contains(t, "failed replay", errOut, "1 aggregates failed again and stay parked")
	contains(t, "bad --aggregate", fails(t, "replay", "ledger", addr, "--aggregate", "entry-1"), "want DOMAIN/ID")

	proj.healed.Store(true)
	contains(t, "replay", ok(t, "replay", "ledger", addr, "--aggregate", "ledger/entry-1"), "ledger: 1 parked events delivered and unparked")
	if proj.got.Load() != 1 {
		t.Fatalf("projector got %d events after the replay; want 1", proj.got.Load())
	}
	contains(t, "parked after the replay", ok(t, "parked", "ledger", addr), "no parked events for ledger")
	contains(t, "unknown subscriber", fails(t, "parked", "nope", addr), "ledger")

	// A rebuild: the event is delivered again, marked as a replay.
	contains(t, "reset", ok(t, "reset", "ledger", addr), "ledger reset after position 0", "evented subscriptions")
	waitUntil(t, "the replayed event", func() bool { return proj.replayed.Load() == 1 })
	if proj.got.Load() != 2 {
		t.Fatalf("projector got %d events after the reset; want 2 (the replay's, then the reset's)", proj.got.Load())
	}
	res := decode[map[string]any](t, ok(t, "reset", "ledger", addr, "--time", "2000-01-01T00:00:00Z", "-o", "json"))
	if res["position"] != float64(0) || res["replay_until"].(float64) < 1 {
		t.Fatalf("reset -o json: %+v", res)
	}
	contains(t, "bad --time", fails(t, "reset", "ledger", addr, "--time", "yesterday"), "RFC 3339")
	contains(t, "two targets", fails(t, "reset", "ledger", addr, "--time", "2000-01-01T00:00:00Z", "--after-position", "3"), "give one of them")
	contains(t, "beyond the head", fails(t, "reset", "ledger", addr, "--after-position", "99999999"), "beyond the log's head")
	contains(t, "unknown subscriber", fails(t, "reset", "nope", addr), "ledger")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
	}
}

// TestBusinessLogicDownIsNotEventedDown: when evented answers UNAVAILABLE
// because a business logic service is down, the CLI says so, and does not
// tell the user to start evented.
func TestBusinessLogicDownIsNotEventedDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, -1
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "billing", Address: down}}
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	errOut := fails(t, "send", "billing", "inv-1", "examples.CreateCustomer", `{"name":"Ann"}`, "--command-addr="+srv.CommandAddr())
	contains(t, "business logic down", errOut, "UNAVAILABLE", `business logic of domain "billing"`, down)
	if strings.Contains(errOut, "evented serve") || strings.Contains(errOut, "cannot reach evented") {
		t.Fatalf("the CLI blamed evented for its business logic being down:\n%s", errOut)
	}
}
