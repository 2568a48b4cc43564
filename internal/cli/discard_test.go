package cli_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

// TestDiscard: a discard needs --yes, drops the parked events, logs them
// at WARN, and the aggregate flows again.
func TestDiscard(t *testing.T) {
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
	var logs syncBuffer
	srv, err := server.New(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := "--command-addr=" + srv.CommandAddr()

	ok(t, "send", "ledger", "entry-1", "examples.CreateCustomer", `{"name":"Ann","email":"a@b"}`, addr)
	waitUntil(t, "a parked event", func() bool { return strings.Contains(ok(t, "parked", "ledger", addr), "1 parked") })

	contains(t, "discard without --yes", fails(t, "discard", "ledger", addr), "confirm with --yes")
	contains(t, "still parked", ok(t, "parked", "ledger", addr), "1 parked")
	contains(t, "discard", ok(t, "discard", "ledger", addr, "--aggregate", "ledger/entry-1", "--yes"), "ledger: 1 parked events discarded")
	contains(t, "parked after the discard", ok(t, "parked", "ledger", addr), "no parked events for ledger")
	contains(t, "the server's log", logs.String(), "parked events DISCARDED", "subscriber=ledger", "examples.CustomerCreated")
	if proj.got.Load() != 0 {
		t.Fatalf("the discarded event was delivered")
	}
	// The aggregate flows again.
	proj.healed.Store(true)
	ok(t, "send", "ledger", "entry-1", "examples.CreateCustomer", `{"name":"Ann","email":"a@b"}`, addr)
	waitUntil(t, "the next event delivered", func() bool { return proj.got.Load() == 1 })
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
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
