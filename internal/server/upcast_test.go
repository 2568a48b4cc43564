package server_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
	"github.com/evented/evented/internal/upcast"
)

const (
	oldCreated = "type.googleapis.com/shop.CustomerCreated"    // v1 "name", v2 "name|"
	newCreated = "type.googleapis.com/shop.CustomerRegistered" // v3 "name|email"
)

// step12 and step23 are the chain CustomerCreated v1→v2→v3 of these tests.
func step12(e upcast.Event) upcast.Event {
	return upcast.Event{TypeURL: oldCreated, Version: 2, Payload: append(bytes.Clone(e.Payload), '|')}
}

func step23(e upcast.Event) upcast.Event {
	return upcast.Event{TypeURL: newCreated, Version: 3, Payload: append(bytes.Clone(e.Payload), "none@example.com"...)}
}

// upcastService is the chain served as evented.Upcaster.
type upcastService struct {
	eventedpb.UnimplementedUpcasterServer
}

func (upcastService) Upcast(_ context.Context, req *eventedpb.UpcastRequest) (*eventedpb.UpcastResponse, error) {
	out := &eventedpb.UpcastResponse{}
	for _, e := range req.GetEvents() {
		in := upcast.Event{TypeURL: e.GetEvent().GetTypeUrl(), Version: e.GetSchemaVersion(), Payload: e.GetEvent().GetValue()}
		up := step12(in)
		if in.Version == 2 {
			up = step23(in)
		}
		out.Events = append(out.Events, &eventedpb.UpcastEvent{Event: &anypb.Any{TypeUrl: up.TypeURL, Value: up.Payload}, SchemaVersion: up.Version})
	}
	return out, nil
}

// seen records the pages given to business logic and to a projector.
type seen struct {
	mu      sync.Mutex
	history []*eventedpb.EventPage // of the last command
	pages   []*eventedpb.EventPage // delivered
}

type historyLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
	s *seen
}

func (l historyLogic) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	l.s.mu.Lock()
	l.s.history = in.GetEvents().GetPages()
	l.s.mu.Unlock()
	return &eventedpb.EventBook{Cover: in.GetCommand().GetCover(), Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "Touched"}}}}, nil
}

type pageProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	s *seen
}

func (p pageProjector) Handle(_ context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	p.s.mu.Lock()
	p.s.pages = append(p.s.pages, b.GetPages()...)
	p.s.mu.Unlock()
	return &emptypb.Empty{}, nil
}

// TestUpcastOnLoadQueryAndDelivery stores CustomerCreated at v1 and v2 and
// reads them as CustomerRegistered v3 everywhere they leave the store: the
// history business logic is given, GetEvents, and a projector's deliveries;
// with the chain in process (WithUpcasters) and served over gRPC
// (upcasters in the configuration).
func TestUpcastOnLoadQueryAndDelivery(t *testing.T) {
	recorded := []*eventedpb.EventPage{
		{Event: &anypb.Any{TypeUrl: oldCreated, Value: []byte("ann")}},
		{Event: &anypb.Any{TypeUrl: oldCreated, Value: []byte("bob|")}, Metadata: &eventedpb.EventMetadata{SchemaVersion: 2}},
		{Event: &anypb.Any{TypeUrl: newCreated, Value: []byte("cy|c@x")}, Metadata: &eventedpb.EventMetadata{SchemaVersion: 3}},
	}
	want := []*anypb.Any{
		{TypeUrl: newCreated, Value: []byte("ann|none@example.com")},
		{TypeUrl: newCreated, Value: []byte("bob|none@example.com")},
		{TypeUrl: newCreated, Value: []byte("cy|c@x")},
	}
	for _, where := range []string{"in process", "service"} {
		t.Run(where, func(t *testing.T) {
			cfg := config.Default()
			var opts []server.Option
			if where == "service" {
				lis, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				g := grpc.NewServer()
				eventedpb.RegisterUpcasterServer(g, upcastService{})
				go g.Serve(lis)
				defer g.Stop()
				cfg.Upcasters = []config.Upcaster{{Domain: "customer", Address: lis.Addr().String(), Steps: []config.UpcastStep{
					{Type: oldCreated, FromVersion: 1}, {Type: oldCreated, FromVersion: 2, To: newCreated}}}}
			} else {
				reg := upcast.NewRegistry()
				reg.RegisterFunc("customer", oldCreated, 1, "", "step12", func(_ context.Context, e upcast.Event) (upcast.Event, error) { return step12(e), nil })
				reg.RegisterFunc("customer", oldCreated, 2, newCreated, "step23", func(_ context.Context, e upcast.Event) (upcast.Event, error) { return step23(e), nil })
				opts = append(opts, server.WithUpcasters(reg))
			}
			checkUpcastEverywhere(t, cfg, opts, recorded, want)
		})
	}
}

// checkUpcastEverywhere starts evented with cfg (sqlite, business logic and
// an asynchronous projector of domain customer), records pages, and checks
// that business logic, GetEvents and the projector see want (at schema
// version 3) in their place.
func checkUpcastEverywhere(t *testing.T, cfg config.Config, opts []server.Option, pages []*eventedpb.EventPage, want []*anypb.Any) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &seen{}
	g := grpc.NewServer()
	eventedpb.RegisterBusinessLogicServer(g, historyLogic{s: s})
	eventedpb.RegisterProjectorCoordinatorServer(g, pageProjector{s: s})
	go g.Serve(lis)
	defer g.Stop()
	addr := lis.Addr().String()

	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "customer", Address: addr}}
	cfg.Projectors = []config.Consumer{{Name: "pages", Address: addr, Domains: []string{"customer"}}}
	srv, _ := start(t, cfg, opts...)
	commands := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	queries := eventedpb.NewEventQueryClient(dial(t, srv.QueryAddr()))

	root := uuid.New()
	cov := &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}}
	if _, err := commands.Record(t.Context(), &eventedpb.EventBook{Cover: cov, Pages: pages}); err != nil {
		t.Fatal(err)
	}
	check := func(where string, pages []*eventedpb.EventPage) {
		t.Helper()
		if len(pages) < len(want) {
			t.Fatalf("%s: %d pages; want at least %d", where, len(pages), len(want))
		}
		for i, w := range want {
			p := pages[i]
			if p.GetEvent().GetTypeUrl() != w.GetTypeUrl() || p.GetMetadata().GetSchemaVersion() != 3 || !bytes.Equal(p.GetEvent().GetValue(), w.GetValue()) {
				t.Errorf("%s: page %d = %s v%d %q; want %s v3 %q", where, i, p.GetEvent().GetTypeUrl(),
					p.GetMetadata().GetSchemaVersion(), p.GetEvent().GetValue(), w.GetTypeUrl(), w.GetValue())
			}
		}
	}

	// Load: business logic is given the upcast history.
	if _, err := commands.Handle(t.Context(), &eventedpb.CommandBook{Cover: cov, Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "Touch"}}}}); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	check("history given to business logic", s.history)
	s.mu.Unlock()

	// Query.
	stream, err := queries.GetEvents(t.Context(), &eventedpb.Query{Domain: "customer", Root: cov.GetRoot()})
	if err != nil {
		t.Fatal(err)
	}
	var queried []*eventedpb.EventPage
	for {
		b, err := stream.Recv()
		if err != nil {
			break
		}
		queried = append(queried, b.GetPages()...)
	}
	check("GetEvents", queried)

	// Delivery: the recorded events and the command's, bounded wait.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.pages)
		s.mu.Unlock()
		if n > len(pages) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	check("projector delivery", s.pages)
	s.mu.Unlock()
}

// TestUpcasterChainCheckedAtStart: a hole in the chain and two upcasters
// for one step stop the server at start, naming the steps.
func TestUpcasterChainCheckedAtStart(t *testing.T) {
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.Server.Host, cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = "127.0.0.1", 0, 0, -1
	cfg.Upcasters = []config.Upcaster{{Domain: "customer", Address: "127.0.0.1:9", Steps: []config.UpcastStep{
		{Type: oldCreated, FromVersion: 1}, {Type: oldCreated, FromVersion: 3}}}}
	reg := upcast.NewRegistry()
	reg.RegisterFunc("customer", oldCreated, 1, "", "goStep", func(_ context.Context, e upcast.Event) (upcast.Event, error) { return step12(e), nil })
	_, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler), server.WithUpcasters(reg))
	if err == nil {
		t.Fatal("server started with a broken upcaster chain")
	}
	for _, w := range []string{
		"two upcasters for one step: customer: " + oldCreated + " v1→" + oldCreated + " v2 (goStep) and",
		fmt.Sprintf("gap before customer: %s v3→%s v4 (upcaster at 127.0.0.1:9)", oldCreated, oldCreated),
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\ndoes not say %q", err, w)
		}
	}
}
