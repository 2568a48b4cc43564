package remote_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/upcast"
	"github.com/evented/evented/internal/upcast/remote"
)

type failing struct {
	eventedpb.UnimplementedUpcasterServer
}

func (failing) Upcast(context.Context, *eventedpb.UpcastRequest) (*eventedpb.UpcastResponse, error) {
	return nil, status.Error(codes.Internal, "no step for X v7")
}

// TestErrors: a service that cannot be reached is unavailable (the read is
// tried again); a service's own failure names it and its message.
func TestErrors(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()
	down, err := remote.Dial(closed)
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	events := []upcast.Event{{TypeURL: "X", Version: 7}}
	if _, err := down.Upcast(ctx, "d", events); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("unreachable service: %v; want ErrUnavailable", err)
	}

	lis, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	eventedpb.RegisterUpcasterServer(g, failing{})
	go g.Serve(lis)
	defer g.Stop()
	up, err := remote.Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	_, err = up.Upcast(ctx, "d", events)
	if err == nil || errors.Is(err, eventstore.ErrUnavailable) || !strings.Contains(err.Error(), "upcaster at "+lis.Addr().String()+": Internal: no step for X v7") {
		t.Errorf("failing service: %v", err)
	}
}
