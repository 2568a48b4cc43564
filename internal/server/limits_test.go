package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/bus/bustest"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

// record appends one event of size bytes to root through Record.
func record(t *testing.T, client eventedpb.BusinessCoordinatorClient, domain string, root uuid.UUID, size int) {
	t.Helper()
	_, err := client.Record(t.Context(), &eventedpb.EventBook{
		Cover: &eventedpb.Cover{Domain: domain, Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "Big", Value: make([]byte, size)}}},
	})
	if err != nil {
		t.Fatalf("record %d bytes: %v", size, err)
	}
}

// sizeProjector records the size of every book it is handed.
type sizeProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	mu     sync.Mutex
	down   bool
	books  []int
	events int
}

func (p *sizeProjector) Handle(_ context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return nil, status.Error(codes.Unavailable, "projector starting")
	}
	p.books = append(p.books, proto.Size(b))
	p.events += len(b.GetPages())
	return &emptypb.Empty{}, nil
}

// Several large events of one aggregate, together over gRPC's 4 MiB limit,
// reach a projector in books that fit it.
func TestLargeEventsReachAProjectorInBooksThatFit(t *testing.T) {
	proj := &sizeProjector{down: true} // until the events are stored: they go in one book if they can
	lis := listen(t)
	g := grpc.NewServer() // the default 4 MiB receive limit
	eventedpb.RegisterProjectorCoordinatorServer(g, proj)
	go g.Serve(lis)
	t.Cleanup(g.Stop)

	cfg := config.Default()
	cfg.Projectors = []config.Consumer{{Name: "archive", Address: lis.Addr().String()}}
	cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = time.Millisecond, 10*time.Millisecond
	srv, _ := start(t, cfg)
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()
	// The first event is taken alone while the projector is down; the
	// other three (4.5 MB) wait and go out once it is back.
	for range 4 {
		record(t, client, "files", root, 1_500_000)
	}
	proj.mu.Lock()
	proj.down = false
	proj.mu.Unlock()
	waitFor(t, "4 events at the projector", func() bool { proj.mu.Lock(); defer proj.mu.Unlock(); return proj.events == 4 })
	proj.mu.Lock()
	defer proj.mu.Unlock()
	for _, n := range proj.books {
		if n > 4<<20 {
			t.Errorf("a book of %d bytes, over gRPC's 4 MiB", n)
		}
	}
}

// A book larger than the consumer accepts (here: delivery.max_book_bytes
// raised past gRPC's limit) is answered RESOURCE_EXHAUSTED: it is parked at
// once with that reason, not retried forever.
func TestBookTheConsumerRefusesAsTooLargeIsParkedAtOnce(t *testing.T) {
	proj := &sizeProjector{}
	lis := listen(t)
	g := grpc.NewServer()
	eventedpb.RegisterProjectorCoordinatorServer(g, proj)
	go g.Serve(lis)
	t.Cleanup(g.Stop)

	cfg := config.Default()
	cfg.Projectors = []config.Consumer{{Name: "archive", Address: lis.Addr().String(), History: true}}
	cfg.Delivery.MaxBookBytes = 16 << 20
	cfg.Limits.MaxEventBytes = 3_500_000 // over the default, under a request's 4 MiB
	cfg.Delivery.MaxAttempts = 50
	cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = time.Millisecond, 10*time.Millisecond
	srv, _ := start(t, cfg)
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root, other := uuid.New(), uuid.New()
	record(t, client, "files", root, 3_000_000)
	record(t, client, "files", root, 3_000_000) // with history: a 6 MB book
	record(t, client, "files", other, 10)
	parked := waitParked(t, srv, "archive", 1)
	if p := parked[0]; p.GetAttempts() != 1 || !strings.Contains(p.GetReason(), "larger than max") ||
		!strings.Contains(p.GetReason(), `projector "archive"`) || !strings.Contains(p.GetReason(), "limits.max_call_bytes") {
		t.Fatalf("parked %d attempts, reason %q; want 1 attempt and gRPC's size refusal naming the projector and limits.max_call_bytes", p.GetAttempts(), p.GetReason())
	}
	waitFor(t, "the other aggregate delivered", func() bool { proj.mu.Lock(); defer proj.mu.Unlock(); return proj.events >= 2 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 20s", what)
		}
	}
}

func waitParked(t *testing.T, srv *server.Server, subscriber string, n int) []*eventedpb.ParkedEvent {
	t.Helper()
	admin := eventedpb.NewDeliveryAdminClient(dial(t, srv.CommandAddr()))
	var parked []*eventedpb.ParkedEvent
	waitFor(t, "parked event", func() bool {
		parked = nil
		stream, err := admin.ListParked(t.Context(), &eventedpb.ParkedQuery{Subscriber: subscriber})
		if err != nil {
			t.Fatal(err)
		}
		for p, err := stream.Recv(); err == nil; p, err = stream.Recv() {
			parked = append(parked, p)
		}
		return len(parked) >= n
	})
	return parked
}

// An event larger than the bus takes is parked by the relay with a reason
// that says so, on every bus; the other aggregates' events keep flowing.
func TestEventTooLargeForTheBusIsParked(t *testing.T) {
	for _, tc := range relayCases {
		t.Run(tc.typ, func(t *testing.T) {
			var url string
			if tc.urlEnv != "" {
				url = bustest.URL(t, tc.urlEnv)
			}
			cfg := config.Default()
			cfg.Bus = config.Bus{Type: tc.typ, URL: url}
			cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax, cfg.Delivery.Timeout = 10*time.Millisecond, 100*time.Millisecond, 2*time.Second
			size := 300_000
			if tc.typ == "nats" {
				size = 1_200_000 // over NATS's default max_payload of 1 MB; the book limit stays 3 MiB
			} else {
				cfg.Delivery.MaxBookBytes = 256 << 10
			}
			srv, _ := start(t, cfg)
			sub := tc.subscribe(t, srv, url, "limits-test-"+uuid.NewString()[:8], "")
			client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
			big, small := uuid.New(), uuid.New()
			record(t, client, "files", big, size)
			record(t, client, "files", small, 10)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			for {
				msg, err := sub.Receive(ctx)
				if err != nil {
					t.Fatalf("the small event never reached the bus: %v", err)
				}
				msg.Ack(ctx)
				if msg.Book.Cover.Root == small {
					break
				}
				if msg.Book.Cover.Root == big {
					t.Fatal("the oversized event reached the bus")
				}
			}
			p := waitParked(t, srv, server.RelayName, 1)[0]
			if !strings.Contains(p.GetReason(), "larger than") || p.GetAttempts() != 1 {
				t.Fatalf("parked after %d attempts: %q; want 1 attempt and a reason naming the size", p.GetAttempts(), p.GetReason())
			}
		})
	}
}
