package server_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/grpcapi"
)

// loopSaga answers every book of domain "loop" with a command to a new
// aggregate of the same domain, whose event it will see in turn: a loop
// that never ends by itself. It keeps the covers of each chain (by
// correlation id, from the events' metadata) in order, and gives up by
// itself after maxLoop commands per chain, so that a broken cascade bound
// fails the test instead of running away.
type loopSaga struct {
	eventedpb.UnimplementedSagaCoordinatorServer
	mu      sync.Mutex
	chains  map[string][]*eventedpb.Cover // correlation id → covers commanded
	missing int                           // books whose newest page has no metadata
}

const maxLoop = 40

func (s *loopSaga) HandleSync(_ context.Context, b *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pages := b.GetPages()
	correlation := ""
	if len(pages) > 0 {
		correlation = pages[len(pages)-1].GetMetadata().GetCorrelationId()
	}
	if correlation == "" {
		s.missing++
	}
	if len(s.chains[correlation]) >= maxLoop {
		return &eventedpb.SynchronousProcessingResponse{}, nil
	}
	root := uuid.New()
	next := &eventedpb.Cover{Domain: "loop", Root: &eventedpb.UUID{Value: root[:]}}
	s.chains[correlation] = append(s.chains[correlation], next)
	return &eventedpb.SynchronousProcessingResponse{Commands: []*eventedpb.CommandBook{{
		Cover: next, Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "Loop"}}},
	}}}, nil
}

// TestSagaLoopStopsAtTheCascadeBound runs a saga whose commands trigger
// it again, synchronously and asynchronously: either way each seed command
// leads to MaxCascade events (depths 0..7, all with the seed's correlation
// id, each caused by the one before), and the command at depth MaxCascade
// is refused with the chain in the error: in the reply's failures trailer
// (synchronous) or the parked event's reason (asynchronous).
func TestSagaLoopStopsAtTheCascadeBound(t *testing.T) {
	for _, synchronous := range []bool{false, true} {
		t.Run(fmt.Sprintf("synchronous=%v", synchronous), func(t *testing.T) {
			testSagaLoop(t, synchronous)
		})
	}
}

func testSagaLoop(t *testing.T, synchronous bool) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	saga := &loopSaga{chains: map[string][]*eventedpb.Cover{}}
	g := grpc.NewServer()
	eventedpb.RegisterBusinessLogicServer(g, echoLogic{})
	eventedpb.RegisterSagaCoordinatorServer(g, saga)
	go g.Serve(lis)
	defer g.Stop()

	cfg := config.Default()
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "loop", Address: lis.Addr().String()}}
	cfg.Sagas = []config.Consumer{{Name: "looper", Address: lis.Addr().String(), Domains: []string{"loop"}, Synchronous: synchronous}}
	cfg.Delivery.MaxAttempts, cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = 2, time.Millisecond, 2*time.Millisecond
	srv, _ := start(t, cfg)
	commands := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	queries := eventedpb.NewEventQueryClient(dial(t, srv.QueryAddr()))
	admin := eventedpb.NewDeliveryAdminClient(dial(t, srv.CommandAddr()))

	const seeds = 3
	seedCovers := make([]*eventedpb.Cover, seeds)
	reasons := make([]string, 0, seeds)
	for i := range seedCovers {
		root := uuid.New()
		seedCovers[i] = &eventedpb.Cover{Domain: "loop", Root: &eventedpb.UUID{Value: root[:]}}
		ctx := metadata.AppendToOutgoingContext(t.Context(), grpcapi.CorrelationKey, fmt.Sprintf("seed-%d", i))
		var header, trailer metadata.MD
		_, err := commands.Handle(ctx, &eventedpb.CommandBook{
			Cover: seedCovers[i], Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "Loop"}}},
		}, grpc.Header(&header), grpc.Trailer(&trailer))
		if err != nil {
			t.Fatal(err)
		}
		if got := header.Get(grpcapi.CorrelationKey); len(got) != 1 || got[0] != fmt.Sprintf("seed-%d", i) {
			t.Errorf("correlation-id header = %v; want seed-%d", got, i)
		}
		if synchronous {
			reasons = append(reasons, strings.Join(trailer.Get(grpcapi.FailuresTrailer), "\n"))
		}
	}
	if !synchronous {
		// Each asynchronous chain ends parked, the reason naming it.
		deadline := time.Now().Add(15 * time.Second)
		for len(reasons) < seeds {
			if time.Now().After(deadline) {
				saga.mu.Lock()
				var sent []int
				for _, c := range saga.chains {
					sent = append(sent, len(c))
				}
				saga.mu.Unlock()
				t.Fatalf("%d of %d loops parked within 15s; the saga sent %v commands per chain (it stops at %d)", len(reasons), seeds, sent, maxLoop)
			}
			time.Sleep(20 * time.Millisecond)
			stream, err := admin.ListParked(t.Context(), &eventedpb.ParkedQuery{Subscriber: "looper"})
			if err != nil {
				t.Fatal(err)
			}
			reasons = reasons[:0]
			for p, err := stream.Recv(); err == nil; p, err = stream.Recv() {
				reasons = append(reasons, p.GetReason())
				if p.GetPage().GetMetadata().GetDepth() != command.MaxCascade-1 {
					t.Errorf("parked event's metadata = %v; want depth %d", p.GetPage().GetMetadata(), command.MaxCascade-1)
				}
			}
		}
	}
	time.Sleep(100 * time.Millisecond) // nothing more comes

	saga.mu.Lock()
	defer saga.mu.Unlock()
	if saga.missing > 0 {
		t.Errorf("the saga got %d books whose newest event had no metadata", saga.missing)
	}
	for i, seed := range seedCovers {
		correlation := fmt.Sprintf("seed-%d", i)
		// The saga was asked once per event, and again for the last one
		// on each delivery attempt (asynchronous): its commands from the
		// MaxCascade-th on, at depth MaxCascade, were refused.
		sent := saga.chains[correlation]
		if len(sent) < command.MaxCascade || len(sent) > command.MaxCascade-1+cfg.Delivery.MaxAttempts {
			t.Errorf("%s: the saga sent %d commands; want %d to %d", correlation, len(sent), command.MaxCascade, command.MaxCascade-1+cfg.Delivery.MaxAttempts)
			continue
		}
		chain, refused := append([]*eventedpb.Cover{seed}, sent[:command.MaxCascade-1]...), sent[command.MaxCascade-1:]
		var want []string
		for _, c := range chain {
			want = append(want, "loop/"+uuid.UUID(c.GetRoot().GetValue()).String())
		}
		wantChain := "[" + strings.Join(want, " ") + " loop/" // then the refused command's cover
		if !slices.ContainsFunc(reasons, func(r string) bool {
			return strings.Contains(r, "saga cascade deeper than 8") && strings.Contains(r, correlation) && strings.Contains(r, wantChain)
		}) {
			t.Errorf("%s: no cascade error with chain %s…] in %q", correlation, wantChain, reasons)
		}
		for _, c := range refused {
			if pages := events(t, queries, c); len(pages) != 0 {
				t.Errorf("%s: a refused command stored %d events", correlation, len(pages))
			}
		}
		// The query API shows every event's cause: one event per cover
		// of the chain, each caused by the one before.
		for depth, c := range chain {
			pages := events(t, queries, c)
			if len(pages) != 1 {
				t.Errorf("%s depth %d: %d events stored; want 1", correlation, depth, len(pages))
				continue
			}
			m := pages[0].GetMetadata()
			if m.GetCorrelationId() != correlation || m.GetCommandId() == "" || m.GetDepth() != uint32(depth) {
				t.Errorf("%s depth %d: metadata %v", correlation, depth, m)
			}
			if by := m.GetCausedBy(); depth > 0 && (!proto.Equal(by, chain[depth-1]) || m.GetCausedBySequence() != 0) {
				t.Errorf("%s depth %d: caused by %v/%d; want %v/0", correlation, depth, by, m.GetCausedBySequence(), chain[depth-1])
			} else if depth == 0 && by != nil {
				t.Errorf("%s: the client's command's event has a cause %v", correlation, by)
			}
		}
	}
}

func events(t *testing.T, q eventedpb.EventQueryClient, c *eventedpb.Cover) []*eventedpb.EventPage {
	t.Helper()
	stream, err := q.GetEvents(t.Context(), &eventedpb.Query{Domain: c.GetDomain(), Root: c.GetRoot()})
	if err != nil {
		t.Fatal(err)
	}
	var pages []*eventedpb.EventPage
	for b, err := stream.Recv(); err == nil; b, err = stream.Recv() {
		pages = append(pages, b.GetPages()...)
	}
	return pages
}

// TestCorrelationIDIsValidated: a correlation id the client sends must be
// 1 to 128 printable ASCII characters.
func TestCorrelationIDIsValidated(t *testing.T) {
	srv, _ := start(t, config.Default())
	commands := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()
	book := &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/examples.CreateCustomer", Value: []byte{10, 1, 'A'}}}},
	}
	for _, bad := range []string{strings.Repeat("x", 129)} { // grpc-go sends no other invalid value
		ctx := metadata.AppendToOutgoingContext(t.Context(), grpcapi.CorrelationKey, bad)
		_, err := commands.Handle(ctx, book)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), grpcapi.CorrelationKey) {
			t.Errorf("correlation id %q: %v; want INVALID_ARGUMENT naming %s", bad, err, grpcapi.CorrelationKey)
		}
	}
	var header metadata.MD
	if _, err := commands.Handle(t.Context(), book, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	id := header.Get(grpcapi.CorrelationKey)
	if len(id) != 1 || uuid.Validate(id[0]) != nil {
		t.Fatalf("correlation-id header without one sent = %v; want a new UUID", id)
	}
	pages := events(t, eventedpb.NewEventQueryClient(dial(t, srv.QueryAddr())), book.GetCover())
	if len(pages) != 1 || pages[0].GetMetadata().GetCorrelationId() != id[0] {
		t.Fatalf("stored event's metadata = %v; want correlation id %s", pages[0].GetMetadata(), id[0])
	}
}
