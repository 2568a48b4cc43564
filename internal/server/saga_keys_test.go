package server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
)

// pickyLogic stores one event per command and refuses every command whose
// type ends in Reject; it counts the commands it stored.
type pickyLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
	stored atomic.Int32
}

func (l *pickyLogic) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	typ := in.GetCommand().GetPages()[0].GetCommand().GetTypeUrl()
	if strings.HasSuffix(typ, "Reject") {
		return nil, status.Error(codes.FailedPrecondition, "refused: "+typ)
	}
	l.stored.Add(1)
	return &eventedpb.EventBook{Cover: in.GetCommand().GetCover(), Pages: []*eventedpb.EventPage{{
		Event: &anypb.Any{TypeUrl: strings.TrimSuffix(typ, "Command") + "Done"},
	}}}, nil
}

// twoCommandSaga answers every purchase with a loyalty credit, then a
// command that is always refused.
type twoCommandSaga struct {
	eventedpb.UnimplementedSagaCoordinatorServer
	asked atomic.Int32
}

func (s *twoCommandSaga) HandleSync(_ context.Context, b *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	s.asked.Add(1)
	root := b.GetCover().GetRoot()
	return &eventedpb.SynchronousProcessingResponse{Commands: []*eventedpb.CommandBook{
		{Cover: &eventedpb.Cover{Domain: "loyalty", Root: root}, Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "CreditCommand"}}}},
		{Cover: &eventedpb.Cover{Domain: "audit", Root: root}, Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "AuditReject"}}}},
	}}, nil
}

// A saga whose second command is refused is asked again on every attempt,
// and the book is parked in the end; its first command, carrying the same
// idempotency key each time, is applied once.
func TestSagaWhoseSecondCommandIsRefusedAppliesTheFirstOnce(t *testing.T) {
	logic := &pickyLogic{}
	saga := &twoCommandSaga{}
	logicAddr := serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, logic) })
	sagaAddr := serve(t, func(g *grpc.Server) { eventedpb.RegisterSagaCoordinatorServer(g, saga) })

	cfg := config.Default()
	cfg.BusinessLogic = []config.BusinessLogic{
		{Domain: "purchase", Address: logicAddr}, {Domain: "loyalty", Address: logicAddr}, {Domain: "audit", Address: logicAddr},
	}
	cfg.Sagas = []config.Consumer{{Name: "loyalty", Address: sagaAddr, Domains: []string{"purchase"}}}
	cfg.Delivery.MaxAttempts = 4
	cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = time.Millisecond, 5*time.Millisecond
	srv, _ := start(t, cfg)
	root := uuid.New()
	if _, err := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr())).Handle(t.Context(), &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: "purchase", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "BuyCommand"}}},
	}); err != nil {
		t.Fatal(err)
	}
	parked := waitParked(t, srv, "loyalty", 1)
	if !strings.Contains(parked[0].GetReason(), "refused: AuditReject") {
		t.Fatalf("parked for %q; want the refusal", parked[0].GetReason())
	}
	if n := saga.asked.Load(); n != 4 {
		t.Errorf("saga asked %d times; want 4 (max_attempts)", n)
	}
	if got := storedEvents(t, srv.QueryAddr(), "loyalty", root); len(got) != 1 {
		t.Fatalf("loyalty credited %d times for one purchase; want 1", len(got))
	}
	if n := logic.stored.Load(); n != 2 { // the purchase and one credit
		t.Errorf("business logic stored %d commands; want 2", n)
	}
}
