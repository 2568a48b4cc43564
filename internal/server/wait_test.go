package server_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
)

// readModelProjector records each event after a delay, like a read model that
// takes its time; hold stops it until released.
type readModelProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	delay time.Duration
	mu    sync.Mutex
	seen  map[string]uint32 // root → events recorded
	hold  chan struct{}
}

func (p *readModelProjector) Handle(ctx context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	if p.hold != nil {
		select {
		case <-p.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	time.Sleep(p.delay)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[uuid.UUID(b.GetCover().GetRoot().GetValue()).String()] += uint32(len(b.GetPages()))
	return &emptypb.Empty{}, nil
}

func (p *readModelProjector) count(root uuid.UUID) uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[root.String()]
}

// Read-your-writes across two replicas on one file: a command that asks to
// wait for an asynchronous projector is answered only once the projector
// itself has recorded its events, whichever replica delivers them.
func TestReadYourWritesAcrossReplicas(t *testing.T) {
	proj := &readModelProjector{delay: 20 * time.Millisecond, seen: map[string]uint32{}}
	addr := serve(t, func(g *grpc.Server) { eventedpb.RegisterProjectorCoordinatorServer(g, proj) })

	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	cfg.Projectors = []config.Consumer{{Name: "ledger", Address: addr}}
	cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = time.Millisecond, 10*time.Millisecond
	cfg.Delivery.LeaseTTL = 600 * time.Millisecond
	a, _ := start(t, cfg)
	b, _ := start(t, cfg)
	waitShared(t, a, "ledger")
	clients := []eventedpb.BusinessCoordinatorClient{
		eventedpb.NewBusinessCoordinatorClient(dial(t, a.CommandAddr())),
		eventedpb.NewBusinessCoordinatorClient(dial(t, b.CommandAddr())),
	}
	ctx := metadata.AppendToOutgoingContext(t.Context(), "evented-wait-for", "ledger", "evented-wait-timeout", "10s")
	for i := range 40 {
		root := uuid.New()
		resp, err := clients[i%2].Handle(ctx, &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "ledger", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "CreateEntry"}}},
		})
		if err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
		// The projector's own record, at the moment the answer arrives.
		// (More than once is delivery's at-least-once when a lease lapses
		// on a starved machine; not this test's concern.)
		if n := proj.count(root); n == 0 {
			t.Fatalf("command %d answered before the projector recorded its event", i)
		} else if n > 1 {
			t.Logf("command %d: the projector recorded its event %d times", i, n)
		}
		w := resp.GetWaits()
		if len(w) != 1 || w[0].GetSubscriber() != "ledger" || !w[0].GetDone() || w[0].GetReached() < resp.GetPosition() || resp.GetPosition() == 0 {
			t.Fatalf("command %d: position %d, waits %v", i, resp.GetPosition(), w)
		}
	}

	// EventQuery.WaitFor: the same wait for a log position, whole projector;
	// the command asks for its position without waiting.
	root := uuid.New()
	unasked, err := clients[0].Handle(t.Context(), &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: "ledger", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "CreateEntry"}}},
	})
	if err != nil || unasked.GetPosition() != 0 {
		t.Fatalf("a command that asked for nothing: position %d, %v; want 0 (the head is not read unasked)", unasked.GetPosition(), err)
	}
	root = uuid.New()
	resp, err := clients[0].Handle(metadata.AppendToOutgoingContext(t.Context(), "evented-want-position", "true"), &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: "ledger", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "CreateEntry"}}},
	})
	if err != nil || resp.GetPosition() == 0 {
		t.Fatalf("a command that asked for its position: %d, %v", resp.GetPosition(), err)
	}
	q := eventedpb.NewEventQueryClient(dial(t, b.QueryAddr()))
	res, err := q.WaitFor(t.Context(), &eventedpb.WaitRequest{Position: resp.GetPosition(), Subscribers: []string{"ledger"}, Timeout: durationpb.New(10 * time.Second)})
	if err != nil || len(res.GetWaits()) != 1 || !res.GetWaits()[0].GetDone() {
		t.Fatalf("WaitFor = %v, %v", res, err)
	}
	if proj.count(root) != 1 {
		t.Fatal("WaitFor returned before the projector recorded the event")
	}
}

// A wait that runs out answers OK (the command is committed) and says how
// far the projector got, in the reply and a trailer; bad wait metadata is
// refused before the command runs.
func TestReadYourWritesTimeoutAndRefusals(t *testing.T) {
	proj := &readModelProjector{seen: map[string]uint32{}, hold: make(chan struct{})}
	addr := serve(t, func(g *grpc.Server) { eventedpb.RegisterProjectorCoordinatorServer(g, proj) })
	cfg := config.Default()
	cfg.Projectors = []config.Consumer{{Name: "ledger", Address: addr}}
	srv, _ := start(t, cfg)
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	cmd := func() *eventedpb.CommandBook {
		root := uuid.New()
		return &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "ledger", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "CreateEntry"}}},
		}
	}
	var trailer metadata.MD
	ctx := metadata.AppendToOutgoingContext(t.Context(), "evented-wait-for", "ledger", "evented-wait-timeout", "200ms")
	began := time.Now()
	resp, err := client.Handle(ctx, cmd(), grpc.Trailer(&trailer))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 200*time.Millisecond {
		t.Errorf("answered after %v, before the 200ms wait ran out", took)
	}
	if w := resp.GetWaits(); len(w) != 1 || w[0].GetDone() || w[0].GetReached() >= w[0].GetPosition() {
		t.Fatalf("waits %v; want ledger not done", w)
	}
	if got := trailer.Get("evented-wait-expired"); len(got) != 1 || !strings.HasPrefix(got[0], "ledger: reached ") {
		t.Fatalf("trailer %v", got)
	}
	close(proj.hold)

	for _, tc := range []struct {
		md   []string
		want string
	}{
		{[]string{"evented-wait-for", "nope"}, `unknown subscriber "nope"; configured: ledger`},
		{[]string{"evented-wait-for", "ledger", "evented-wait-timeout", "soon"}, "want a duration"},
		{[]string{"evented-wait-for", "ledger", "evented-wait-timeout", "1h"}, "at most 5m0s"},
		{[]string{"evented-wait-timeout", "1s"}, "name the projectors"},
	} {
		_, err := client.Handle(metadata.AppendToOutgoingContext(t.Context(), tc.md...), cmd())
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want INVALID_ARGUMENT with %q", tc.md, err, tc.want)
		}
	}
}

// waitShared waits until the subscriber's segments are held by two replicas.
func waitShared(t *testing.T, srv interface{ CommandAddr() string }, subscriber string) {
	t.Helper()
	admin := eventedpb.NewDeliveryAdminClient(dial(t, srv.CommandAddr()))
	waitFor(t, "segments shared by two replicas", func() bool {
		stream, err := admin.ListSubscriptions(t.Context(), &emptypb.Empty{})
		if err != nil {
			return false
		}
		for {
			st, err := stream.Recv()
			if err != nil {
				return false
			}
			if st.GetName() != subscriber {
				continue
			}
			owners := map[string]bool{}
			for _, s := range st.GetSegments() {
				owners[s.GetOwner()] = true
			}
			return len(owners) == 2 && !owners[""]
		}
	})
}
