package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/internal/cli"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
	"github.com/evented/evented/sdk"
)

// These tests run every client command against a real server started
// in-process on 127.0.0.1 (ports 0, SQLite in a temp dir), through cli.Main
// as the binary does, and check what a user reads.

// stub is business logic for the domains customer and shop: CreateCustomer
// becomes CustomerCreated with a CustomerState snapshot, AddLoyaltyPoints
// becomes LoyaltyPointsAdded, RedeemLoyaltyPoints is rejected, and any other
// command is stored as it is (its type and bytes become the event's).
type stub struct {
	eventedpb.UnimplementedBusinessLogicServer
}

func (stub) Handle(_ context.Context, req *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	cmd := req.GetCommand()
	out := &eventedpb.EventBook{Cover: cmd.GetCover()}
	for _, p := range cmd.GetPages() {
		c := p.GetCommand()
		var event proto.Message
		switch {
		case c.MessageIs(&examplespb.CreateCustomer{}):
			var m examplespb.CreateCustomer
			if err := c.UnmarshalTo(&m); err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			event = &examplespb.CustomerCreated{Name: m.GetName(), Email: m.GetEmail()}
			state, _ := anypb.New(&examplespb.CustomerState{Name: m.GetName(), Email: m.GetEmail()})
			out.Snapshot = &eventedpb.Snapshot{State: state}
		case c.MessageIs(&examplespb.AddLoyaltyPoints{}):
			var m examplespb.AddLoyaltyPoints
			if err := c.UnmarshalTo(&m); err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			event = &examplespb.LoyaltyPointsAdded{Points: m.GetPoints(), NewBalance: m.GetPoints(), Reason: m.GetReason()}
		case c.MessageIs(&examplespb.RedeemLoyaltyPoints{}):
			var m examplespb.RedeemLoyaltyPoints
			if err := c.UnmarshalTo(&m); err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			return nil, status.Errorf(codes.FailedPrecondition, "Insufficient points: have 0, need %d", m.GetPoints())
		default:
			out.Pages = append(out.Pages, &eventedpb.EventPage{Event: c})
			continue
		}
		a, err := anypb.New(event)
		if err != nil {
			return nil, err
		}
		out.Pages = append(out.Pages, &eventedpb.EventPage{Event: a})
	}
	return out, nil
}

// projector is a synchronous projector for domain audit: its projection is
// a Receipt saying how many events it was given.
type projector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
}

func (projector) Handle(context.Context, *eventedpb.EventBook) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (projector) HandleSync(_ context.Context, b *eventedpb.EventBook) (*eventedpb.Projection, error) {
	pages := b.GetPages()
	receipt, err := anypb.New(&examplespb.Receipt{FormattedText: fmt.Sprintf("%d events", len(pages))})
	if err != nil {
		return nil, err
	}
	return &eventedpb.Projection{Cover: b.GetCover(), Projector: "receipt",
		Sequence: pages[len(pages)-1].GetNum(), Projection: receipt}, nil
}

// fixture is one server with the stub behind it.
type fixture struct {
	srv    *server.Server
	config string // a config file naming the server's ports
	dir    string
}

// start runs a server for one test (each test has its own store).
func start(t *testing.T) *fixture {
	t.Helper()
	f, stop, err := newFixture()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return f
}

func newFixture() (*fixture, func(), error) {
	dir, err := os.MkdirTemp("", "evented-cli-test-")
	if err != nil {
		return nil, nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	logic := grpc.NewServer()
	eventedpb.RegisterBusinessLogicServer(logic, stub{})
	eventedpb.RegisterProjectorCoordinatorServer(logic, projector{})
	go logic.Serve(lis)
	// A synchronous projector that is down.
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	down.Close()

	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(dir, "events.db")
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, 0
	cfg.BusinessLogic = []config.BusinessLogic{
		{Domain: "customer", Address: lis.Addr().String(), Snapshots: config.SnapshotPolicy{Keep: 3}},
		{Domain: "shop", Address: lis.Addr().String()},
		{Domain: "audit", Address: lis.Addr().String()},
	}
	cfg.Projectors = []config.Consumer{
		{Name: "receipt", Address: lis.Addr().String(), Synchronous: true, Domains: []string{"audit"}},
		{Name: "broken", Address: down.Addr().String(), Synchronous: true, Domains: []string{"audit"}},
	}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		logic.Stop()
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stop := func() {
		cancel()
		<-done
		logic.Stop()
		os.RemoveAll(dir)
	}

	// A config file with the server's ports, for the commands that take
	// their address from the configuration.
	_, cport, _ := net.SplitHostPort(srv.CommandAddr())
	_, qport, _ := net.SplitHostPort(srv.QueryAddr())
	file := filepath.Join(dir, "client.yaml")
	content := fmt.Sprintf("storage:\n  path: %s\nserver:\n  host: 127.0.0.1\n  command_handler_port: %s\n  event_query_port: %s\n",
		filepath.Join(dir, "client.db"), cport, qport)
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		stop()
		return nil, nil, err
	}
	return &fixture{srv: srv, config: file, dir: dir}, stop, nil
}

// run runs the command line; it returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(t.Context(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// ok runs the command line and fails the test unless it succeeds.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, args...)
	if code != 0 {
		t.Fatalf("evented %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// fails runs the command line and returns stderr, failing the test unless
// the command fails.
func fails(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, args...)
	if code == 0 {
		t.Fatalf("evented %s: succeeded, want a failure\nstdout:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

func (f *fixture) cmd() string { return "--command-addr=" + f.srv.CommandAddr() }
func (f *fixture) qry() string { return "--query-addr=" + f.srv.QueryAddr() }

func contains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// tableRow matches one row of an events table.
func tableRow(seq int, typ, payload string) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\s+%s\s+%s$`,
		seq, regexp.QuoteMeta(typ), regexp.QuoteMeta(payload)))
}

type eventJSON struct {
	Sequence      uint32          `json:"sequence"`
	CreatedAt     time.Time       `json:"created_at"`
	Type          string          `json:"type"`
	TypeURL       string          `json:"type_url"`
	Payload       json.RawMessage `json:"payload"`
	PayloadBase64 string          `json:"payload_base64"`
	Cause         *struct {
		CorrelationID string `json:"correlation_id"`
		CommandID     string `json:"command_id"`
		CausedBy      string `json:"caused_by"`
		Depth         uint32 `json:"depth"`
	} `json:"cause"`
}

type bookJSON struct {
	Domain   string `json:"domain"`
	Root     string `json:"root"`
	Snapshot *struct {
		Sequence uint32          `json:"sequence"`
		Type     string          `json:"type"`
		TypeURL  string          `json:"type_url"`
		State    json.RawMessage `json:"state"`
	} `json:"snapshot"`
	Events []eventJSON `json:"events"`
}

// compact is JSON without insignificant space.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, s)
	}
	return v
}

func TestSendAndEvents(t *testing.T) {
	f := start(t)
	root := sdk.Root("cust-001").String()

	out := ok(t, "send", "customer", "cust-001", "examples.CreateCustomer", `{"name":"Alice","email":"alice@example.com"}`, f.cmd())
	contains(t, "send output", out, `customer cust-001 (root `+root+`, the name-based UUID of "cust-001")`)
	if !tableRow(0, "examples.CustomerCreated", `{"name":"Alice","email":"alice@example.com"}`).MatchString(out) {
		t.Errorf("send output lacks the stored event as a table row:\n%s", out)
	}

	// The type URL form, JSON output, the payload from standard input is
	// covered by the binary test; here -o json.
	out = ok(t, "send", "customer", "cust-001", "type.googleapis.com/examples.AddLoyaltyPoints", `{"points": 50, "reason": "welcome"}`, f.cmd(), "-o", "json")
	reply := decode[struct {
		Books []bookJSON `json:"books"`
	}](t, out)
	if len(reply.Books) != 1 || len(reply.Books[0].Events) != 1 {
		t.Fatalf("send -o json: want one book with one event, got %+v", reply)
	}
	b, e := reply.Books[0], reply.Books[0].Events[0]
	if b.Domain != "customer" || b.Root != root || e.Sequence != 1 || e.Type != "examples.LoyaltyPointsAdded" ||
		e.TypeURL != "type.googleapis.com/examples.LoyaltyPointsAdded" || compact(e.Payload) != `{"points":50,"new_balance":50,"reason":"welcome"}` ||
		time.Since(e.CreatedAt) > time.Minute {
		t.Errorf("send -o json: got %+v, event %+v payload %s", b, e, e.Payload)
	}

	// events: every event, also those folded into the snapshot CreateCustomer stored.
	out = ok(t, "events", "customer", "cust-001", f.qry())
	contains(t, "events output", out, "SEQUENCE  CREATED_AT", root)
	for _, row := range []*regexp.Regexp{
		tableRow(0, "examples.CustomerCreated", `{"name":"Alice","email":"alice@example.com"}`),
		tableRow(1, "examples.LoyaltyPointsAdded", `{"points":50,"new_balance":50,"reason":"welcome"}`),
	} {
		if !row.MatchString(out) {
			t.Errorf("events output lacks a row matching %s:\n%s", row, out)
		}
	}

	// The same aggregate by its UUID, as JSON, bounded.
	out = ok(t, "events", "customer", root, f.qry(), "--from", "1", "-o", "json")
	book := decode[bookJSON](t, out)
	if book.Root != root || book.Snapshot != nil || len(book.Events) != 1 || book.Events[0].Sequence != 1 {
		t.Errorf("events --from 1 -o json: got %+v", book)
	}
	out = ok(t, "events", "customer", "cust-001", f.qry(), "--to", "1", "-o", "json")
	book = decode[bookJSON](t, out)
	if len(book.Events) != 1 || book.Events[0].Sequence != 0 {
		t.Fatalf("events --to 1 -o json: got %+v", book)
	}
	cause := book.Events[0].Cause
	if cause == nil || uuid.Validate(cause.CorrelationID) != nil || uuid.Validate(cause.CommandID) != nil || cause.CausedBy != "" || cause.Depth != 0 {
		t.Errorf("events -o json: cause %+v; want a client command's (new correlation and command ids, depth 0)", cause)
	}
	// --causes adds the correlation id, depth and triggering event.
	out = ok(t, "events", "customer", "cust-001", f.qry(), "--to", "1", "--causes")
	contains(t, "events --causes", out, "CORRELATION_ID", "DEPTH  CAUSED_BY  PAYLOAD", cause.CorrelationID+"  0      -          {")
	out = ok(t, "events", "customer", "cust-001", f.qry(), "--from", "5")
	contains(t, "events --from 5", out, "no events in [5, ∞)")
	contains(t, "events --from 2 --to 1", fails(t, "events", "customer", "cust-001", f.qry(), "--from", "2", "--to", "1"), "--to 1 is below --from 2")

	out = ok(t, "events", "customer", "nobody", f.qry())
	contains(t, "events of an unknown aggregate", out, "no events: nothing was stored", sdk.Root("nobody").String())
}

func TestSendReportsProjectionsAndFailures(t *testing.T) {
	f := start(t)
	out := ok(t, "send", "audit", "a-1", "examples.CreateCustomer", `{"name":"Al","email":"a@l"}`, f.cmd())
	contains(t, "send output", out,
		`projection by receipt (at sequence 0): examples.Receipt {"formatted_text":"1 events"}`,
		"synchronous consumers that failed (the events are stored; their subscriptions deliver them again):\n  broken")
	if !tableRow(0, "examples.CustomerCreated", `{"name":"Al","email":"a@l"}`).MatchString(out) {
		t.Errorf("send output lacks the stored event:\n%s", out)
	}

	reply := decode[struct {
		Books       []bookJSON `json:"books"`
		Projections []struct {
			Domain    string          `json:"domain"`
			Root      string          `json:"root"`
			Projector string          `json:"projector"`
			Sequence  uint32          `json:"sequence"`
			Type      string          `json:"type"`
			TypeURL   string          `json:"type_url"`
			Payload   json.RawMessage `json:"payload"`
		} `json:"projections"`
		DeliveryFailures []string `json:"delivery_failures"`
	}](t, ok(t, "send", "audit", "a-1", "examples.AddLoyaltyPoints", `{"points":1}`, f.cmd(), "-o", "json"))
	if len(reply.Projections) != 1 || reply.Projections[0].Projector != "receipt" || reply.Projections[0].Sequence != 1 ||
		reply.Projections[0].Root != sdk.Root("a-1").String() || compact(reply.Projections[0].Payload) != `{"formatted_text":"1 events"}` ||
		reply.Projections[0].TypeURL != "type.googleapis.com/examples.Receipt" {
		t.Errorf("send -o json projections: %+v", reply.Projections)
	}
	if len(reply.DeliveryFailures) != 1 || !strings.HasPrefix(reply.DeliveryFailures[0], "broken") {
		t.Errorf("send -o json delivery_failures: %q", reply.DeliveryFailures)
	}
}

func TestSendFromConfigAddresses(t *testing.T) {
	f := start(t)
	// No address flags: the ports come from the configuration.
	out := ok(t, "--config", f.config, "send", "customer", "cust-cfg", "examples.CreateCustomer", `{"name":"Cy","email":"c@y"}`)
	if !tableRow(0, "examples.CustomerCreated", `{"name":"Cy","email":"c@y"}`).MatchString(out) {
		t.Errorf("send with the configured address:\n%s", out)
	}
	out = ok(t, "--config", f.config, "events", "customer", "cust-cfg")
	if !tableRow(0, "examples.CustomerCreated", `{"name":"Cy","email":"c@y"}`).MatchString(out) {
		t.Errorf("events with the configured address:\n%s", out)
	}
}

func TestSendErrors(t *testing.T) {
	f := start(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"rejected", []string{"customer", "cust-poor", "examples.RedeemLoyaltyPoints", `{"points":5}`},
			[]string{"business logic rejected the command: FAILED_PRECONDITION: Insufficient points: have 0, need 5"}},
		{"unknown domain", []string{"nowhere", "x-1", "examples.CreateCustomer", `{}`},
			[]string{"NOT_FOUND", "customer", "add it under business_logic"}},
		{"unknown type", []string{"customer", "c", "examples.Nope", `{}`},
			[]string{`unknown message type "examples.Nope"`, "--descriptor-set FILE", "buf build -o", "examples.CreateCustomer"}},
		{"short name", []string{"customer", "c", "CreateCustomer", `{}`},
			[]string{"Did you mean examples.CreateCustomer?"}},
		{"bad field", []string{"customer", "c", "examples.CreateCustomer", `{"nme":"A"}`},
			[]string{`unknown field "nme"`, "Its fields: name (string), email (string)"}},
		{"not JSON", []string{"customer", "c", "examples.CreateCustomer", `name=A`},
			[]string{"payload is not a valid examples.CreateCustomer in JSON"}},
		{"too few arguments", []string{"customer", "c"},
			[]string{"want DOMAIN ID TYPE [JSON], got 2 argument(s)"}},
		{"missing descriptor set", []string{"customer", "c", "examples.CreateCustomer", "--descriptor-set", filepath.Join(t.TempDir(), "none.binpb")},
			[]string{"--descriptor-set", "no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errOut := fails(t, append(append([]string{"send"}, tc.args...), f.cmd())...)
			contains(t, "stderr", errOut, tc.want...)
		})
	}
	// Nothing of the rejected command was stored.
	out := ok(t, "events", "customer", "cust-poor", f.qry())
	contains(t, "events after a rejection", out, "no events")
}

func TestServerUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for _, args := range [][]string{
		{"send", "customer", "c", "examples.CreateCustomer", "--command-addr", closed},
		{"events", "customer", "c", "--query-addr", closed},
		{"snapshot", "customer", "c", "--query-addr", closed},
		{"aggregates", "--query-addr", closed},
	} {
		errOut := fails(t, args...)
		contains(t, args[0]+" stderr", errOut, "cannot reach evented's", closed, "connection refused", "evented serve")
	}

	// The two ports swapped.
	f := start(t)
	errOut := fails(t, "events", "customer", "c", "--query-addr", f.srv.CommandAddr())
	contains(t, "events on the command port", errOut, "does not serve evented.EventQuery", "Is it the other port?")
}

func TestSnapshot(t *testing.T) {
	f := start(t)
	ok(t, "send", "customer", "cust-snap", "examples.CreateCustomer", `{"name":"Bob","email":"bob@example.com"}`, f.cmd())
	ok(t, "send", "customer", "cust-snap", "examples.AddLoyaltyPoints", `{"points":7}`, f.cmd())

	out := ok(t, "snapshot", "customer", "cust-snap", f.qry())
	contains(t, "snapshot output", out,
		sdk.Root("cust-snap").String(),
		"snapshot at sequence 1 (events 0 to 0 folded in), examples.CustomerState:\n"+`{"name":"Bob","email":"bob@example.com"}`,
		"1 events after it")
	if !tableRow(1, "examples.LoyaltyPointsAdded", `{"points":7,"new_balance":7}`).MatchString(out) {
		t.Errorf("snapshot output lacks the event after the snapshot:\n%s", out)
	}
	if tableRow(0, "examples.CustomerCreated", `{"name":"Bob","email":"bob@example.com"}`).MatchString(out) {
		t.Errorf("snapshot output shows the event folded into the snapshot:\n%s", out)
	}

	book := decode[bookJSON](t, ok(t, "snapshot", "customer", "cust-snap", f.qry(), "-o", "json"))
	if book.Snapshot == nil || book.Snapshot.Sequence != 1 || book.Snapshot.Type != "examples.CustomerState" ||
		book.Snapshot.TypeURL != "type.googleapis.com/examples.CustomerState" ||
		compact(book.Snapshot.State) != `{"name":"Bob","email":"bob@example.com"}` || len(book.Events) != 1 {
		t.Errorf("snapshot -o json: got %+v", book)
	}

	// An aggregate whose business logic never returned a snapshot.
	ok(t, "send", "customer", "cust-nosnap", "examples.AddLoyaltyPoints", `{"points":1}`, f.cmd())
	out = ok(t, "snapshot", "customer", "cust-nosnap", f.qry())
	contains(t, "snapshot output without one", out, "no snapshot: the 1 events below are the whole prior state")
	contains(t, "snapshots without one", ok(t, "snapshots", "customer", "cust-nosnap", f.cmd()), "has no snapshot")

	// The older snapshots kept (the customer domain keeps 3), newest first.
	ok(t, "send", "customer", "cust-snap", "examples.CreateCustomer", `{"name":"Bobby","email":"bob@example.com"}`, f.cmd())
	out = ok(t, "snapshots", "customer", "cust-snap", f.cmd())
	if !regexp.MustCompile(`(?m)^3\s+\S+\s+type.googleapis.com/examples.CustomerState\s+\d+\s+loaded\n1\s+\S+\s+type.googleapis.com/examples.CustomerState\s+\d+\s*\n`).MatchString(out) {
		t.Errorf("snapshots output lacks the two kept, newest first, the newest loaded:\n%s", out)
	}
	contains(t, "snapshots footer", out, "2 kept")
	kept := decode[[]struct {
		Sequence   uint32 `json:"sequence"`
		Type       string `json:"type"`
		StateBytes uint32 `json:"state_bytes"`
		CreatedAt  string `json:"created_at"`
		Loaded     bool   `json:"loaded"`
	}](t, ok(t, "snapshots", "customer", "cust-snap", f.cmd(), "-o", "json"))
	if len(kept) != 2 || kept[0].Sequence != 3 || !kept[0].Loaded || kept[1].Sequence != 1 || kept[1].Loaded || kept[1].CreatedAt == "" {
		t.Errorf("snapshots -o json: %+v", kept)
	}
}

func TestAggregates(t *testing.T) {
	f := start(t)
	contains(t, "aggregates of an empty store", ok(t, "aggregates", f.qry()), "no aggregates: nothing is stored yet")
	ok(t, "send", "shop", "order-agg-1", "examples.CreateTransaction", `{"customer_id":"cust-001"}`, f.cmd())
	ok(t, "send", "shop", "order-agg-2", "examples.CreateTransaction", `{"customer_id":"cust-001"}`, f.cmd())
	ok(t, "send", "customer", "cust-agg", "examples.CreateCustomer", `{"name":"A","email":"a@b"}`, f.cmd())

	// Ordered by domain, then root.
	o1, o2 := sdk.Root("order-agg-1").String(), sdk.Root("order-agg-2").String()
	if o2 < o1 {
		o1, o2 = o2, o1
	}
	c := sdk.Root("cust-agg").String()
	want := "DOMAIN    ROOT\ncustomer  " + c + "\nshop      " + o1 + "\nshop      " + o2 + "\n"
	if out := ok(t, "aggregates", f.qry()); out != want {
		t.Errorf("aggregates:\n%s\nwant:\n%s", out, want)
	}

	roots := decode[[]struct {
		Domain string `json:"domain"`
		Root   string `json:"root"`
	}](t, ok(t, "aggregates", "shop", f.qry(), "-o", "json"))
	if len(roots) != 2 || roots[0].Domain != "shop" || roots[0].Root != o1 || roots[1].Domain != "shop" || roots[1].Root != o2 {
		t.Errorf("aggregates shop -o json: got %+v, want shop %s and %s", roots, o1, o2)
	}
	contains(t, "aggregates of an empty domain", ok(t, "aggregates", "nothing-here", f.qry()), `no aggregates in domain "nothing-here"`)

	// A root derived from a name its first event keeps (CustomerCreated's
	// name is the id here) is shown with that name, as in the console.
	ok(t, "send", "customer", "Named", "examples.CreateCustomer", `{"name":"Named","email":"n@b"}`, f.cmd())
	n := sdk.Root("Named").String()
	out := ok(t, "aggregates", "customer", f.qry())
	if !regexp.MustCompile(`(?m)^DOMAIN +NAME +ROOT\n`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^customer +Named +`+n+`$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^customer +`+c+`$`).MatchString(out) {
		t.Errorf("aggregates customer: want Named beside its root, and %s without a name:\n%s", c, out)
	}
	named := decode[[]struct {
		Domain string `json:"domain"`
		Root   string `json:"root"`
		Name   string `json:"name"`
	}](t, ok(t, "aggregates", "customer", f.qry(), "-o", "json"))
	found := false
	for _, r := range named {
		found = found || r.Root == n && r.Name == "Named"
		if r.Root == c && r.Name != "" {
			t.Errorf("aggregates -o json: %s named %q", c, r.Name)
		}
	}
	if !found {
		t.Errorf("aggregates customer -o json: no Named: %+v", named)
	}
	if out := ok(t, "aggregates", "customer", f.qry(), "--names=false"); strings.Contains(out, "Named") {
		t.Errorf("aggregates --names=false looked names up:\n%s", out)
	}
}

// descriptorSet writes a FileDescriptorSet with message shop.PlaceOrder
// {string item = 1; google.protobuf.Timestamp at = 2;}, its import left out as
// protoc leaves it out without --include_imports.
func descriptorSet(t *testing.T) string {
	t.Helper()
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{{
		Name:       proto.String("shop/orders.proto"),
		Package:    proto.String("shop"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("PlaceOrder"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("item"), JsonName: proto.String("item"), Number: proto.Int32(1),
					Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()},
				{Name: proto.String("at"), JsonName: proto.String("at"), Number: proto.Int32(2),
					Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
					TypeName: proto.String(".google.protobuf.Timestamp")},
			},
		}},
	}}}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "shop.binpb")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDescriptorSet(t *testing.T) {
	f := start(t)
	set := descriptorSet(t)
	const order = `{"item":"book","at":"2026-01-02T03:04:05Z"}`

	contains(t, "send of a type only the set knows, without it", fails(t, "send", "shop", "order-ds", "shop.PlaceOrder", order, f.cmd()),
		`unknown message type "shop.PlaceOrder"`)
	out := ok(t, "send", "shop", "order-ds", "shop.PlaceOrder", order, f.cmd(), "--descriptor-set", set)
	if !tableRow(0, "shop.PlaceOrder", order).MatchString(out) {
		t.Errorf("send with --descriptor-set:\n%s", out)
	}

	// Without the set, the payload is shown as base64 of the stored bytes.
	book := decode[bookJSON](t, ok(t, "events", "shop", "order-ds", f.qry(), "-o", "json"))
	if len(book.Events) != 1 || book.Events[0].Payload != nil {
		t.Fatalf("events without the set: want one event without a decoded payload, got %+v", book)
	}
	raw, err := base64.StdEncoding.DecodeString(book.Events[0].PayloadBase64)
	if err != nil || !bytes.Contains(raw, []byte("book")) {
		t.Errorf("payload_base64 %q is not the stored bytes: %v", book.Events[0].PayloadBase64, err)
	}
	out = ok(t, "events", "shop", "order-ds", f.qry())
	if !tableRow(0, "shop.PlaceOrder", "base64:"+book.Events[0].PayloadBase64).MatchString(out) {
		t.Errorf("events table without the set:\n%s", out)
	}
	// With it, decoded.
	out = ok(t, "events", "shop", "order-ds", f.qry(), "--descriptor-set", set)
	if !tableRow(0, "shop.PlaceOrder", order).MatchString(out) {
		t.Errorf("events table with the set:\n%s", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.binpb")
	if err := os.WriteFile(bad, []byte("not a descriptor set"), 0o600); err != nil {
		t.Fatal(err)
	}
	contains(t, "a file that is no descriptor set", fails(t, "events", "shop", "order-ds", f.qry(), "--descriptor-set", bad),
		"not a binary FileDescriptorSet", "protoc --include_imports")
}

func TestConfigCommands(t *testing.T) {
	f := start(t)
	contains(t, "config validate", ok(t, "--config", f.config, "config", "validate"), "configuration is valid: "+f.config+",")
	out := ok(t, "--config", f.config, "config", "print")
	contains(t, "config print", out, "host: 127.0.0.1 # file "+f.config, "type: sqlite # default")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("server:\n  command_handler_prot: 1\nstorage:\n  type: floppy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	contains(t, "config validate of a bad file", fails(t, "--config", bad, "config", "validate"),
		"command_handler_prot", "floppy")
}

func TestConfigEnv(t *testing.T) {
	out := ok(t, "config", "env")
	var names []string
	for line := range strings.Lines(out) {
		names = append(names, strings.Fields(line)[0])
	}
	for _, want := range []string{"EVENTED_CONFIG", "EVENTED_LOG", "EVENTED_STORAGE__TYPE", "EVENTED_SERVER__COMMAND_HANDLER_PORT",
		"EVENTED_BUSINESS_LOGIC", "STORAGE_PATH", "COMMAND_HANDLER_PORT", "EVENT_QUERY_PORT", "SERVER_HOST"} {
		contains(t, "config env", out, want+" ")
	}

	// Every EVENTED_ variable listed is one config.Load knows, and an
	// unlisted one is refused.
	for _, n := range names {
		if strings.HasPrefix(n, "EVENTED_") && n != config.EnvConfig {
			t.Setenv(n, "x")
		}
	}
	t.Setenv("EVENTED_NOT_A_KEY", "x")
	_, _, err := config.Load(os.DevNull, os.Getenv)
	var unknown []string
	for _, line := range strings.Split(fmt.Sprint(err), "\n") {
		if strings.Contains(line, "unknown variable") {
			unknown = append(unknown, line)
		}
	}
	if len(unknown) != 1 || !strings.Contains(unknown[0], "EVENTED_NOT_A_KEY") {
		t.Errorf("config.Load with every listed variable set: want only EVENTED_NOT_A_KEY unknown, got %q", unknown)
	}

	// Each evented-rs name sets its key.
	for name, val := range map[string]string{"STORAGE_PATH": "/tmp/x.db", "COMMAND_HANDLER_PORT": "1400", "EVENT_QUERY_PORT": "1401", "SERVER_HOST": "127.0.0.1"} {
		_, src, err := config.Load(os.DevNull, func(k string) string {
			if k == name {
				return val
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for key, s := range src {
			if s == "env "+name {
				found = true
				contains(t, "config env", out, name+" ")
				if !regexp.MustCompile(`(?m)^` + name + `\s+` + regexp.QuoteMeta(key) + ` `).MatchString(out) {
					t.Errorf("config env does not say %s sets %s:\n%s", name, key, out)
				}
			}
		}
		if !found {
			t.Errorf("%s is listed but config.Load does not read it", name)
		}
	}
}

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sub", "events.db")
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("storage:\n  path: "+db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`^sqlite at ` + regexp.QuoteMeta(db) + `: schema version ([1-9][0-9]*), up to date\n$`)
	first := version.FindStringSubmatch(ok(t, "--config", file, "migrate"))
	if first == nil {
		t.Fatalf("migrate: want a line matching %s", version)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("migrate did not create the database: %v", err)
	}
	// Again: nothing left to do, same version.
	again := version.FindStringSubmatch(ok(t, "--config", file, "migrate"))
	if again == nil || again[1] != first[1] {
		t.Errorf("migrate again: got %q, want version %s", again, first[1])
	}

	if err := os.WriteFile(file, []byte("storage:\n  type: memory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	contains(t, "migrate of memory storage", ok(t, "--config", file, "migrate"), "memory: no schema to migrate")
}

func TestVersionAndCompletion(t *testing.T) {
	if out := ok(t, "version"); !regexp.MustCompile(`^evented \S+\n$`).MatchString(out) {
		t.Errorf("version: %q", out)
	}
	contains(t, "completion bash", ok(t, "completion", "bash"), "__start_evented", "complete -o default -F __start_evented evented")
	contains(t, "completion zsh", ok(t, "completion", "zsh"), "#compdef evented")
	// Dynamic completion of the type of send, as the shell asks for it.
	out := ok(t, "__complete", "send", "customer", "cust-001", "")
	contains(t, "completion of send's type", out, "examples.CreateCustomer\n", "examples.AddLoyaltyPoints\n", ":4\n")
	contains(t, "completion of --output", ok(t, "__complete", "events", "customer", "c", "--output", ""), "table\njson\n")
	// Every command of the issue is there.
	help := ok(t, "--help")
	for _, c := range []string{"serve", "send", "events", "aggregates", "subscriptions", "parked", "replay", "snapshot", "snapshots", "deadlines", "config", "migrate", "version", "completion"} {
		if !regexp.MustCompile(`(?m)^  ` + c + `\s`).MatchString(help) {
			t.Errorf("evented --help does not list %s:\n%s", c, help)
		}
	}
}

// TestBinary builds cmd/evented and runs it as a user would, against the
// in-process server.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	f := start(t)
	bin := filepath.Join(t.TempDir(), "evented")
	build := exec.Command("go", "build", "-o", bin, "github.com/evented/evented/cmd/evented")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVENTED_") {
			env = append(env, kv)
		}
	}
	evented := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Dir = env, t.TempDir()
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("evented %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return string(out)
	}
	if out := evented("", "version"); !strings.HasPrefix(out, "evented ") {
		t.Errorf("evented version: %q", out)
	}
	out := evented(`{"name":"Dee","email":"d@e"}`, "send", "customer", "cust-bin", "examples.CreateCustomer", "-", f.cmd())
	if !tableRow(0, "examples.CustomerCreated", `{"name":"Dee","email":"d@e"}`).MatchString(out) {
		t.Errorf("evented send (payload from stdin):\n%s", out)
	}
	out = evented("", "events", "customer", "cust-bin", f.qry())
	if !tableRow(0, "examples.CustomerCreated", `{"name":"Dee","email":"d@e"}`).MatchString(out) {
		t.Errorf("evented events:\n%s", out)
	}

	// A failure exits 1 with the message on stderr.
	cmd := exec.Command(bin, "aggregates", "--query-addr", "127.0.0.1:1")
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "evented serve") {
		t.Errorf("evented aggregates against no server: %v\n%s", err, stderr.String())
	}
}

func TestSubscriptions(t *testing.T) {
	f := start(t)
	// broken is down: the inline delivery fails, and so does each of its
	// subscription's attempts.
	ok(t, "send", "audit", "a-retries", "examples.CreateCustomer", `{"name":"Al","email":"a@l"}`, f.cmd())
	out := ok(t, "subscriptions", f.cmd())
	// The fixture's server has two synchronous projectors; it holds all
	// four segments of each.
	for _, want := range []string{"SUBSCRIBER", "RETRIES", "receipt", "broken", "0/4", "3/4"} {
		contains(t, "subscriptions", out, want)
	}
	if !regexp.MustCompile(`(?m)^receipt +\(all\) +\d+ +0 +0 *$`).MatchString(out) || !regexp.MustCompile(`(?m)^broken +\(all\) +0 +1 +[1-9]\d*`).MatchString(out) {
		t.Errorf("subscriptions: want 0 retries of receipt and some of broken:\n%s", out)
	}
	subs := decode[[]struct {
		Name, Replica                                              string
		LastError                                                  string `json:"last_error"`
		Checkpoint, Head, Lag, Delivered, Retries, Parked, Pending uint64
		Synchronous, Rebuilding                                    bool
		ReplayUntil                                                uint64 `json:"replay_until"`
		Projector, State                                           string
		Version                                                    uint32
		LagSeconds                                                 float64 `json:"lag_seconds"`
		Rate                                                       float64
		ETASeconds                                                 float64 `json:"eta_seconds"`
		Segments                                                   []struct {
			Segment, Owner, Expires string
			Token, Position, Lag    uint64
		}
	}](t, ok(t, "subscriptions", f.cmd(), "-o", "json"))
	if len(subs) != 2 || subs[0].Name != "receipt" || len(subs[0].Segments) != 4 {
		t.Fatalf("subscriptions -o json: %+v", subs)
	}
	if subs[0].Retries != 0 || subs[1].Name != "broken" || subs[1].Retries == 0 || !strings.Contains(subs[1].LastError, "connection refused") {
		t.Errorf("subscriptions -o json: receipt %d retries, %s %d retries (last error %q); want 0, and broken's failures counted",
			subs[0].Retries, subs[1].Name, subs[1].Retries, subs[1].LastError)
	}
	for _, g := range subs[0].Segments {
		if g.Owner != subs[0].Replica || g.Token == 0 {
			t.Errorf("segment %s owned by %q with token %d; want %q, a token", g.Segment, g.Owner, g.Token, subs[0].Replica)
		}
	}
}

func TestSendIdempotencyKey(t *testing.T) {
	f := start(t)
	args := []string{"send", "customer", "cust-key", "examples.CreateCustomer", `{"name":"Kim","email":"k@m"}`, f.cmd(), "-o", "json", "--idempotency-key", "create-cust-key"}
	first, again := ok(t, args...), ok(t, args...)
	type reply struct {
		Books []bookJSON `json:"books"`
	}
	a, b := decode[reply](t, first), decode[reply](t, again)
	if len(b.Books) != 1 || len(b.Books[0].Events) != 1 || !b.Books[0].Events[0].CreatedAt.Equal(a.Books[0].Events[0].CreatedAt) || b.Books[0].Events[0].Sequence != 0 {
		t.Errorf("second send with the key printed %+v; want the first one's event %+v", b, a)
	}
	book := decode[bookJSON](t, ok(t, "events", "customer", "cust-key", f.qry(), "-o", "json"))
	if len(book.Events) != 1 {
		t.Errorf("%d events stored by two sends with one key; want 1", len(book.Events))
	}
	errOut := fails(t, "send", "customer", "cust-key", "examples.CreateCustomer", `{"name":"Other","email":"o@x"}`, f.cmd(), "--idempotency-key", "create-cust-key")
	contains(t, "reused key", errOut, `idempotency-key "create-cust-key" was used for a different command`, "use a new key")
}

func TestQueries(t *testing.T) {
	f := start(t)
	contains(t, "queries", ok(t, "queries", f.cmd()), "no live subscription queries on this replica")
	conn, err := grpc.NewClient(f.srv.QueryAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := eventedpb.NewProjectionQueryClient(conn).Subscribe(ctx, &eventedpb.ProjectionSubscription{Projector: "receipt", Key: "order-7"})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if out = ok(t, "queries", f.cmd()); strings.Contains(out, "order-7") {
			break
		}
	}
	for _, want := range []string{"PROJECTOR", "receipt", "order-7", "127.0.0.1:", "1 live on "} {
		contains(t, "queries", out, want)
	}
	views := decode[[]struct {
		Projector, Key, Client, Replica, Since string
		Version, Updates                       uint64
	}](t, ok(t, "queries", f.cmd(), "-o", "json"))
	if len(views) != 1 || views[0].Projector != "receipt" || views[0].Key != "order-7" || views[0].Replica == "" {
		t.Errorf("queries -o json: %+v", views)
	}
}
