package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
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
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

func cover(domain string, root uuid.UUID) *eventedpb.Cover {
	return &eventedpb.Cover{Domain: domain, Root: &eventedpb.UUID{Value: root[:]}}
}

func eventPages(n, size int) []*eventedpb.EventPage {
	pages := make([]*eventedpb.EventPage, n)
	for i := range pages {
		pages[i] = &eventedpb.EventPage{Event: &anypb.Any{TypeUrl: "E", Value: make([]byte, size)}}
	}
	return pages
}

func commandPages(n, size int) []*eventedpb.CommandPage {
	pages := make([]*eventedpb.CommandPage, n)
	for i := range pages {
		pages[i] = &eventedpb.CommandPage{Command: &anypb.Any{TypeUrl: "CreateThing", Value: make([]byte, size)}}
	}
	return pages
}

// wantStatus fails unless err has code and a message holding every part.
func wantStatus(t *testing.T, what string, err error, code codes.Code, parts ...string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Errorf("%s: %v; want %s", what, err, code)
		return
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Errorf("%s: message %q lacks %q", what, st.Message(), p)
		}
	}
}

// Request and response sizes on the client ports: a request over
// limits.max_request_bytes is refused by gRPC with both sizes; a reply over
// limits.max_response_bytes is refused naming the limit (the events of a
// Record are stored all the same, and GetEvents streams them in books that
// fit).
func TestMessageSizeLimits(t *testing.T) {
	cfg := config.Default()
	cfg.Limits.MaxRequestBytes = 1 << 20
	cfg.Limits.MaxResponseBytes = 256 << 10
	cfg.Limits.MaxEventBytes = 200 << 10
	srv, _ := start(t, cfg)
	cmd := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()

	_, err := cmd.Record(t.Context(), &eventedpb.EventBook{Cover: cover("files", root), Pages: eventPages(6, 190<<10)})
	wantStatus(t, "request of 1.1 MiB", err, codes.ResourceExhausted, "larger than max", fmt.Sprint(1<<20))

	_, err = cmd.Record(t.Context(), &eventedpb.EventBook{Cover: cover("files", root), Pages: eventPages(2, 190<<10)})
	wantStatus(t, "reply of 380 KiB", err, codes.ResourceExhausted, "limits.max_response_bytes (262144)", "the events are stored")

	stream, err := eventedpb.NewEventQueryClient(dial(t, srv.QueryAddr())).GetEvents(t.Context(),
		&eventedpb.Query{Domain: "files", Root: &eventedpb.UUID{Value: root[:]}})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for range 10 {
		b, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("GetEvents: %v", err)
		}
		got += len(b.GetPages())
	}
	if got != 2 {
		t.Errorf("GetEvents streamed %d events, want the 2 stored", got)
	}
}

// bigLogic answers every command with one event of size bytes.
type bigLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
	size, events int
}

func (l *bigLogic) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	return &eventedpb.EventBook{Cover: in.GetCommand().GetCover(), Pages: eventPages(l.events, l.size)}, nil
}

// Messages to and from business logic are bounded by limits.max_call_bytes,
// and the error names the service and the limit; so are the events it
// returns, by limits.max_pages and limits.max_event_bytes.
func TestBusinessLogicCallLimits(t *testing.T) {
	big := &bigLogic{size: 100 << 10, events: 1}
	many := &bigLogic{size: 10, events: 5}
	bigEvent := &bigLogic{size: 40 << 10, events: 1}
	cfg := config.Default()
	cfg.Limits.MaxCallBytes = 64 << 10
	cfg.Limits.MaxPages = 4
	cfg.Limits.MaxEventBytes = 32 << 10
	cfg.BusinessLogic = []config.BusinessLogic{
		{Domain: "big", Address: serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, big) })},
		{Domain: "many", Address: serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, many) })},
		{Domain: "bigevent", Address: serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, bigEvent) })},
	}
	srv, _ := start(t, cfg)
	cmd := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))

	_, err := cmd.Handle(t.Context(), &eventedpb.CommandBook{Cover: cover("big", uuid.New()), Pages: commandPages(1, 10)})
	wantStatus(t, "reply from business logic over the limit", err, codes.ResourceExhausted,
		`business logic of domain "big"`, "limits.max_call_bytes", "larger than max")

	// Small commands pass; one whose request to business logic is too
	// large does not (3 pages of 30 KiB, each under max_event_bytes).
	_, err = cmd.Handle(t.Context(), &eventedpb.CommandBook{Cover: cover("many", uuid.New()), Pages: commandPages(3, 30<<10)})
	wantStatus(t, "request to business logic over the limit", err, codes.ResourceExhausted,
		`business logic of domain "many"`, "limits.max_call_bytes", "larger than max")

	_, err = cmd.Handle(t.Context(), &eventedpb.CommandBook{Cover: cover("many", uuid.New()), Pages: commandPages(1, 10)})
	wantStatus(t, "5 events returned", err, codes.Internal, `business logic of domain "many"`, "returned 5 events", "limits.max_pages")

	_, err = cmd.Handle(t.Context(), &eventedpb.CommandBook{Cover: cover("bigevent", uuid.New()), Pages: commandPages(1, 10)})
	wantStatus(t, "event of 40 KiB returned", err, codes.Internal, `business logic of domain "bigevent"`, "limits.max_event_bytes")
}

// Pages per request and bytes per event or command are bounded at the
// edge, the error naming the page and the limit.
func TestPagesAndPayloadLimits(t *testing.T) {
	cfg := config.Default()
	cfg.Limits.MaxPages = 3
	cfg.Limits.MaxEventBytes = 1024
	srv, _ := start(t, cfg)
	cmd := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()

	_, err := cmd.Record(t.Context(), &eventedpb.EventBook{Cover: cover("files", root), Pages: eventPages(4, 10)})
	wantStatus(t, "Record of 4 pages", err, codes.InvalidArgument, "pages: holds 4 pages: want at most 3 (limits.max_pages)")
	_, err = cmd.Handle(t.Context(), &eventedpb.CommandBook{Cover: cover("files", root), Pages: commandPages(4, 10)})
	wantStatus(t, "Handle of 4 pages", err, codes.InvalidArgument, "pages: holds 4 pages: want at most 3 (limits.max_pages)")

	pages := eventPages(3, 10)
	pages[1].Event.Value = make([]byte, 1025)
	_, err = cmd.Record(t.Context(), &eventedpb.EventBook{Cover: cover("files", root), Pages: pages})
	wantStatus(t, "Record of a 1025-byte event", err, codes.InvalidArgument, "pages[1].event.value: is 1025 bytes: want at most 1024 (limits.max_event_bytes)")
	_, err = cmd.Handle(t.Context(), &eventedpb.CommandBook{Cover: cover("files", root), Pages: commandPages(1, 1025)})
	wantStatus(t, "Handle of a 1025-byte command", err, codes.InvalidArgument, "pages[0].command.value: is 1025 bytes: want at most 1024 (limits.max_event_bytes)")

	if _, err := cmd.Record(t.Context(), &eventedpb.EventBook{Cover: cover("files", root), Pages: eventPages(3, 1024)}); err != nil {
		t.Errorf("3 pages of 1024 bytes, at the limits: %v", err)
	}
}

// Every RPC that takes a domain refuses one a bus cannot carry or that is
// too long, naming the field and what is allowed.
func TestDomainsAreValidatedAtTheEdge(t *testing.T) {
	srv, _ := start(t, config.Default())
	cmdConn, qryConn := dial(t, srv.CommandAddr()), dial(t, srv.QueryAddr())
	cmd := eventedpb.NewBusinessCoordinatorClient(cmdConn)
	qry := eventedpb.NewEventQueryClient(qryConn)
	admin := eventedpb.NewDeliveryAdminClient(cmdConn)
	proj := eventedpb.NewProjectorCoordinatorClient(cmdConn)
	saga := eventedpb.NewSagaCoordinatorClient(cmdConn)
	root := uuid.New()
	stored := []*eventedpb.EventPage{{Sequence: &eventedpb.EventPage_Num{Num: 0}, Event: &anypb.Any{TypeUrl: "E"}}}

	rpcs := map[string]struct {
		field string
		call  func(ctx context.Context, domain string) error
	}{
		"Handle": {"cover.domain", func(ctx context.Context, d string) error {
			_, err := cmd.Handle(ctx, &eventedpb.CommandBook{Cover: cover(d, root), Pages: commandPages(1, 1)})
			return err
		}},
		"Record": {"cover.domain", func(ctx context.Context, d string) error {
			_, err := cmd.Record(ctx, &eventedpb.EventBook{Cover: cover(d, root), Pages: eventPages(1, 1)})
			return err
		}},
		"GetEvents": {"domain", func(ctx context.Context, d string) error {
			s, err := qry.GetEvents(ctx, &eventedpb.Query{Domain: d, Root: &eventedpb.UUID{Value: root[:]}})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
		"Synchronize": {"domain", func(ctx context.Context, d string) error {
			s, err := qry.Synchronize(ctx)
			if err != nil {
				return err
			}
			if err := s.Send(&eventedpb.Query{Domain: d, Root: &eventedpb.UUID{Value: root[:]}}); err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
		"ReplayParked": {"covers[0].domain", func(ctx context.Context, d string) error {
			_, err := admin.ReplayParked(ctx, &eventedpb.ParkedQuery{Subscriber: "x", Covers: []*eventedpb.Cover{cover(d, root)}})
			return err
		}},
		"ProjectorCoordinator.Handle": {"cover.domain", func(ctx context.Context, d string) error {
			_, err := proj.Handle(ctx, &eventedpb.EventBook{Cover: cover(d, root), Pages: stored})
			return err
		}},
		"SagaCoordinator.HandleSync": {"cover.domain", func(ctx context.Context, d string) error {
			_, err := saga.HandleSync(ctx, &eventedpb.EventBook{Cover: cover(d, root), Pages: stored})
			return err
		}},
	}
	bad := map[string]string{
		"space":      "a b",
		"NUL":        "a\x00",
		"wildcard":   "orders.>",
		"star":       "*",
		"hash":       "a#b",
		"empty part": "a..b",
		"65 bytes":   strings.Repeat("d", 65),
		"3.9 MB":     strings.Repeat("d", 3_900_000),
	}
	for name, rpc := range rpcs {
		for what, d := range bad {
			err := rpc.call(t.Context(), d)
			wantStatus(t, name+" with a domain with "+what, err, codes.InvalidArgument, rpc.field+": ", "want", "letters, digits")
		}
	}
	// The domains used throughout the examples pass.
	for _, d := range []string{"customer", "order", "orders", "inventory", "payment", "loyalty", "transaction", "order-line", "shop.eu"} {
		if _, err := cmd.Handle(t.Context(), &eventedpb.CommandBook{Cover: cover(d, root), Pages: commandPages(1, 1)}); err != nil {
			t.Errorf("Handle in %q: %v", d, err)
		}
	}
}

var domainLabel = regexp.MustCompile(`domain="([^"]*)"`)

// Metrics are labelled with the configured domains and the first stored
// others, up to limits.metrics_domains; requests in random domains, valid
// or not, count under "other" instead of growing the label set.
func TestMetricsDomainLabelsStayBounded(t *testing.T) {
	cfg := config.Default()
	cfg.Limits.MetricsDomains = 5
	srv, _ := start(t, cfg)
	cmd := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	for i := range 300 {
		d := fmt.Sprintf("d%d", i)
		if i%2 == 1 {
			d = fmt.Sprintf("bad domain %d", i)
		}
		_, err := cmd.Handle(t.Context(), &eventedpb.CommandBook{Cover: cover(d, uuid.New()), Pages: commandPages(1, 1)})
		if i%2 == 0 && err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get("http://" + srv.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	labels := map[string]bool{}
	for _, m := range domainLabel.FindAllStringSubmatch(string(body), -1) {
		labels[m[1]] = true
	}
	if len(labels) != 6 || !labels["other"] || !labels["d0"] || !labels["d8"] || labels["d10"] {
		t.Errorf("domain labels %v; want the first 5 domains stored (d0 … d8) and other", labels)
	}
	if !strings.Contains(string(body), `evented_commands_total{code="InvalidArgument",domain="other",method="Handle"} 150`) {
		t.Error("the 150 invalid domains are not counted under other")
	}
}

// gatedLogic holds every command until released, counting those in it.
type gatedLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
	in      atomic.Int32
	release chan struct{}
}

func (l *gatedLogic) Handle(ctx context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	l.in.Add(1)
	select {
	case <-l.release:
	case <-ctx.Done():
	}
	return &eventedpb.EventBook{Cover: in.GetCommand().GetCover(), Pages: eventPages(1, 1)}, nil
}

// Commands beyond command.max_concurrent wait command.queue_wait for a
// slot, then are refused with RESOURCE_EXHAUSTED naming the limit; those
// in progress finish and the server goes on serving.
func TestConcurrentCommandsAreBounded(t *testing.T) {
	logic := &gatedLogic{release: make(chan struct{})}
	cfg := config.Default()
	cfg.Command.MaxConcurrent = 2
	cfg.Command.QueueWait = 50 * time.Millisecond
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "slow", Address: serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, logic) })}}
	srv, _ := start(t, cfg)
	cmd := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))

	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 2 {
		wg.Go(func() {
			if _, err := cmd.Handle(t.Context(), &eventedpb.CommandBook{Cover: cover("slow", uuid.New()), Pages: commandPages(1, 1)}); err == nil {
				ok.Add(1)
			} else {
				t.Errorf("a command within the bound: %v", err)
			}
		})
	}
	waitFor(t, "2 commands at business logic", func() bool { return logic.in.Load() == 2 })
	// A burst above the bound: every one is refused, quickly.
	var refused atomic.Int32
	var burst sync.WaitGroup
	for range 20 {
		burst.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			_, err := cmd.Record(ctx, &eventedpb.EventBook{Cover: cover("slow", uuid.New()), Pages: eventPages(1, 1)})
			if status.Code(err) == codes.ResourceExhausted && strings.Contains(err.Error(), "command.max_concurrent") {
				refused.Add(1)
			} else {
				t.Errorf("a command over the bound: %v; want RESOURCE_EXHAUSTED naming command.max_concurrent", err)
			}
		})
	}
	burst.Wait()
	if refused.Load() != 20 {
		t.Errorf("%d of 20 refused", refused.Load())
	}
	close(logic.release)
	wg.Wait()
	if ok.Load() != 2 {
		t.Fatalf("%d of the 2 commands in progress succeeded", ok.Load())
	}
	// Healthy afterwards.
	if _, err := cmd.Record(t.Context(), &eventedpb.EventBook{Cover: cover("slow", uuid.New()), Pages: eventPages(1, 1)}); err != nil {
		t.Errorf("after the burst: %v", err)
	}
}

// limits.rate_per_client refuses a client's calls beyond its rate with
// RESOURCE_EXHAUSTED naming the limit; other clients are not affected. The
// client is the peer's address by default, or whatever WithClientKey says.
func TestRatePerClient(t *testing.T) {
	cfg := config.Default()
	cfg.Limits.RatePerClient = 0.01 // no refill during the test
	cfg.Limits.RateBurst = 3
	t.Run("by peer", func(t *testing.T) {
		srv, _ := start(t, cfg)
		qry := eventedpb.NewEventQueryClient(dial(t, srv.QueryAddr()))
		cmd := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
		root := uuid.New()
		get := func() error {
			s, err := qry.GetEvents(t.Context(), &eventedpb.Query{Domain: "d", Root: &eventedpb.UUID{Value: root[:]}})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}
		for i := range 2 {
			if err := get(); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		// The third call goes to the other port: one rate for both.
		if _, err := cmd.Record(t.Context(), &eventedpb.EventBook{Cover: cover("d", root), Pages: eventPages(1, 1)}); err != nil {
			t.Fatalf("call 3: %v", err)
		}
		wantStatus(t, "call 4", get(), codes.ResourceExhausted, `client "127.0.0.1"`, "limits.rate_per_client", "limits.rate_burst")
	})
	t.Run("by key", func(t *testing.T) {
		srv, _ := start(t, cfg, server.WithClientKey(func(ctx context.Context) string {
			return strings.Join(metadata.ValueFromIncomingContext(ctx, "x-client"), ",")
		}))
		cmd := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
		as := func(name string) context.Context {
			return metadata.AppendToOutgoingContext(t.Context(), "x-client", name)
		}
		rec := func(ctx context.Context) error {
			_, err := cmd.Record(ctx, &eventedpb.EventBook{Cover: cover("d", uuid.New()), Pages: eventPages(1, 1)})
			return err
		}
		for i := range 3 {
			if err := rec(as("alice")); err != nil {
				t.Fatalf("alice's call %d: %v", i, err)
			}
		}
		wantStatus(t, "alice's call 4", rec(as("alice")), codes.ResourceExhausted, `client "alice"`, "limits.rate_per_client")
		if err := rec(as("bob")); err != nil {
			t.Errorf("bob, from the same address: %v", err)
		}
	})
}

// limits.max_streams bounds the concurrent calls of one connection: one
// more waits until a stream ends; another connection is not affected.
func TestStreamsPerConnection(t *testing.T) {
	cfg := config.Default()
	cfg.Limits.MaxStreams = 2
	srv, _ := start(t, cfg)
	conn := dial(t, srv.QueryAddr())
	qry := eventedpb.NewEventQueryClient(conn)
	root := uuid.New()
	query := &eventedpb.Query{Domain: "d", Root: &eventedpb.UUID{Value: root[:]}}
	var cancels []context.CancelFunc
	for range 2 {
		ctx, cancel := context.WithCancel(t.Context())
		cancels = append(cancels, cancel)
		s, err := qry.Synchronize(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(query); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil { // the stream is open on the server
			t.Fatal(err)
		}
	}
	get := func(c eventedpb.EventQueryClient, wait time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		defer cancel()
		s, err := c.GetEvents(ctx, query)
		if err == nil {
			_, err = s.Recv()
		}
		return err
	}
	if err := get(qry, 300*time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("a third stream on the connection: %v; want it to wait (DEADLINE_EXCEEDED)", err)
	}
	if err := get(eventedpb.NewEventQueryClient(dial(t, srv.QueryAddr())), 5*time.Second); err != nil {
		t.Errorf("another connection: %v", err)
	}
	cancels[0]()
	if err := get(qry, 5*time.Second); err != nil {
		t.Errorf("after a stream ended: %v", err)
	}
	cancels[1]()
}

// snapLogic answers each command with one event of size bytes, and the
// first also with a snapshot of size bytes.
type snapLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
	size int
}

func (l *snapLogic) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	out := &eventedpb.EventBook{Cover: in.GetCommand().GetCover(), Pages: eventPages(1, l.size)}
	if len(in.GetEvents().GetPages()) == 0 && in.GetEvents().GetSnapshot() == nil {
		out.Snapshot = &eventedpb.Snapshot{State: &anypb.Any{TypeUrl: "State", Value: make([]byte, l.size)}}
	}
	return out, nil
}

// GetEvents sends a large snapshot in a book of its own, so that a
// snapshot and an event that each fit the response limit are never sent
// together in one book over it.
func TestGetEventsKeepsALargeSnapshotApart(t *testing.T) {
	logic := &snapLogic{size: 150 << 10}
	cfg := config.Default()
	cfg.Limits.MaxResponseBytes = 256 << 10
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "snap", Address: serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, logic) })}}
	srv, _ := start(t, cfg)
	cmd := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()
	for range 2 {
		if _, err := cmd.Handle(t.Context(), &eventedpb.CommandBook{Cover: cover("snap", root), Pages: commandPages(1, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	stream, err := eventedpb.NewEventQueryClient(dial(t, srv.QueryAddr())).GetEvents(t.Context(),
		&eventedpb.Query{Domain: "snap", Root: &eventedpb.UUID{Value: root[:]}})
	if err != nil {
		t.Fatal(err)
	}
	var books, events int
	snapshot := false
	for range 10 {
		b, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("GetEvents: %v", err)
		}
		books++
		events += len(b.GetPages())
		snapshot = snapshot || b.GetSnapshot() != nil
	}
	if !snapshot || events != 1 || books != 2 {
		t.Errorf("GetEvents: %d books, %d events, snapshot %v; want the snapshot, then the event after it", books, events, snapshot)
	}
}
