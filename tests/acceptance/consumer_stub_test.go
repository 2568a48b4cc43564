package acceptance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
)

// consumerKind says whether a stub consumer is a projector or a saga.
type consumerKind string

const (
	projectorKind consumerKind = "projector"
	sagaKind      consumerKind = "saga"
)

// legacyService is the service name evented-rs services register instead of
// the coordinator name.
func (k consumerKind) legacyService() string {
	if k == sagaKind {
		return "evented.Saga"
	}
	return "evented.Projector"
}

// delivered is one call evented made to a stub consumer.
type delivered struct {
	method   string // full gRPC method, e.g. /evented.ProjectorCoordinator/Handle
	book     *eventedpb.EventBook
	accepted bool
	replay   bool // delivered with evented-replay: true
}

// reaction is a saga's answer to one event type: a command for another
// aggregate.
type reaction struct {
	command string
	target  *eventedpb.Cover
}

// stubConsumer is a real projector or saga gRPC service on 127.0.0.1. It
// records every delivery, accepted or refused, and answers as the scenario
// told it: a projector's projection is its read model of the aggregate (the
// events it has accepted, "<sequence> <type>: <payload>" per line); a saga
// answers the events it reacts to with commands.
//
// It checks what evented owes every consumer: the pages of a book are
// consecutive, and one aggregate is never delivered twice at once.
type stubConsumer struct {
	name   string
	kind   consumerKind
	legacy bool // serves only the legacy service name
	addr   string

	mu          sync.Mutex
	srv         *grpc.Server
	done        chan error
	unavailable bool   // answer UNAVAILABLE, as a projector that is down
	poison      string // event type it cannot handle
	reactions   map[string]reaction
	calls       []delivered
	unknown     []string                     // methods called that it does not serve
	model       map[string]map[uint32]string // cover key → sequence → "Type: payload"
	busy        map[string]bool              // cover key → a delivery is in progress
	problems    []error                      // broken promises; any fails the scenario
}

func newStubConsumer(name string, kind consumerKind, legacy bool) *stubConsumer {
	return &stubConsumer{
		name: name, kind: kind, legacy: legacy,
		reactions: map[string]reaction{},
		model:     map[string]map[uint32]string{},
		busy:      map[string]bool{},
	}
}

// reserve picks the stub's address without serving on it yet: a consumer
// that is not running when evented starts.
func (c *stubConsumer) reserve() error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("stub %s %q: %w", c.kind, c.name, err)
	}
	c.addr = lis.Addr().String()
	return lis.Close()
}

// listenAgain listens on addr, trying again for up to 5s while it is in
// use: a reserved port is an ephemeral one, and until the stub serves on it
// evented keeps dialing it, so a connection of evented's (or of anything
// else on the machine) may hold it as its own end for a moment (seen once
// in CI: "bind: address already in use").
func listenAgain(addr string) (net.Listener, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		lis, err := net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return lis, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start serves on the stub's address (a new one when it has none yet).
func (c *stubConsumer) start() error {
	addr := c.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := listenAgain(addr)
	if err != nil {
		return fmt.Errorf("stub %s %q on %s: %w", c.kind, c.name, addr, err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(c.unknownMethod))
	switch {
	case c.kind == projectorKind && c.legacy:
		eventedpb.RegisterProjectorServer(srv, legacyProjector{c: c})
	case c.kind == projectorKind:
		eventedpb.RegisterProjectorCoordinatorServer(srv, projector{c: c})
	case c.legacy:
		eventedpb.RegisterSagaServer(srv, legacySaga{c: c})
	default:
		eventedpb.RegisterSagaCoordinatorServer(srv, saga{c: c})
	}
	done := make(chan error, 1)
	c.mu.Lock()
	c.addr, c.srv, c.done = lis.Addr().String(), srv, done
	c.mu.Unlock()
	go func() { done <- srv.Serve(lis) }()
	return nil
}

// stop stops serving; the stub can start again on the same address.
func (c *stubConsumer) stop() error {
	c.mu.Lock()
	srv, done := c.srv, c.done
	c.srv, c.done = nil, nil
	c.mu.Unlock()
	if srv == nil {
		return nil
	}
	srv.Stop()
	if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

func (c *stubConsumer) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.srv != nil
}

// close stops the stub and reports the promises evented broke to it.
func (c *stubConsumer) close() error {
	err := c.stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(append(slices.Clone(c.problems), err)...)
}

func (c *stubConsumer) setUnavailable(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unavailable = down
}

// setPoison makes the stub fail every book holding an event of eventType
// ("" for none) and returns the type it failed on before.
func (c *stubConsumer) setPoison(eventType string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.poison
	c.poison = eventType
	return was
}

func (c *stubConsumer) react(eventType string, r reaction) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reactions[eventType] = r
}

func (c *stubConsumer) unknownMethod(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	c.mu.Lock()
	c.unknown = append(c.unknown, method)
	c.mu.Unlock()
	return status.Errorf(codes.Unimplemented, "stub %s %q does not serve %s", c.kind, c.name, method)
}

func coverKey(c *eventedpb.Cover) string {
	return fmt.Sprintf("%s/%x", c.GetDomain(), c.GetRoot().GetValue())
}

// receive is every call's first half: record it, check the promises, and
// decide whether to accept it. The caller must call finish(key) after.
func (c *stubConsumer) receive(ctx context.Context, book *eventedpb.EventBook) (string, error) {
	method, _ := grpc.Method(ctx)
	key := coverKey(book.GetCover())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy[key] {
		c.problems = append(c.problems, fmt.Errorf("%s %q: evented delivered aggregate %v again while a delivery of it was still in progress (%s)", c.kind, c.name, book.GetCover(), method))
	}
	c.busy[key] = true
	for i, p := range book.GetPages() {
		if i > 0 && p.GetNum() != book.GetPages()[i-1].GetNum()+1 {
			c.problems = append(c.problems, fmt.Errorf("%s %q: a book of %v has the sequences %v, not consecutive", c.kind, c.name, book.GetCover(), pageSequences(book.GetPages())))
			break
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	call := delivered{method: method, book: proto.CloneOf(book), replay: slices.Contains(md.Get("evented-replay"), "true")}
	var err error
	switch {
	case c.unavailable:
		err = status.Errorf(codes.Unavailable, "%s %q is down", c.kind, c.name)
	case c.poison != "" && slices.ContainsFunc(book.GetPages(), func(p *eventedpb.EventPage) bool {
		return typeName(p.GetEvent().GetTypeUrl()) == c.poison
	}):
		err = status.Errorf(codes.Internal, "%s %q cannot handle a %s event", c.kind, c.name, c.poison)
	default:
		call.accepted = true
		m := c.model[key]
		if m == nil {
			m = map[uint32]string{}
			c.model[key] = m
		}
		for _, p := range book.GetPages() {
			m[p.GetNum()] = fmt.Sprintf("%s: %s", typeName(p.GetEvent().GetTypeUrl()), p.GetEvent().GetValue())
		}
	}
	c.calls = append(c.calls, call)
	return key, err
}

func (c *stubConsumer) finish(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.busy, key)
}

// projection is the projector's read model of book's aggregate, up to its
// last event.
func (c *stubConsumer) projection(key string, book *eventedpb.EventBook) *eventedpb.Projection {
	c.mu.Lock()
	defer c.mu.Unlock()
	last := uint32(0)
	if n := len(book.GetPages()); n > 0 {
		last = book.GetPages()[n-1].GetNum()
	}
	var lines []string
	for seq := uint32(0); seq <= last; seq++ {
		if line, ok := c.model[key][seq]; ok {
			lines = append(lines, fmt.Sprintf("%d %s", seq, line))
		}
	}
	return &eventedpb.Projection{
		Cover: book.GetCover(), Projector: c.name, Sequence: last,
		Projection: &anypb.Any{TypeUrl: typeURL(readModelType), Value: []byte(strings.Join(lines, "\n"))},
	}
}

// readModelType is the type name of the projections the stub answers.
const readModelType = "ReadModel"

// commands are the saga's answer to book.
func (c *stubConsumer) commands(book *eventedpb.EventBook) []*eventedpb.CommandBook {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*eventedpb.CommandBook
	for _, p := range book.GetPages() {
		if r, ok := c.reactions[typeName(p.GetEvent().GetTypeUrl())]; ok {
			out = append(out, commandBook(r.target, r.command))
		}
	}
	return out
}

// deliveries returns copies of the calls received so far, in order.
func (c *stubConsumer) deliveries() []delivered {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

func (c *stubConsumer) unknownMethods() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.unknown)
}

// accepted lists the sequences of cover's events in the deliveries the
// stub accepted, in the order it accepted them.
func (c *stubConsumer) accepted(cover *eventedpb.Cover) []uint32 {
	var seqs []uint32
	for _, d := range c.deliveries() {
		if d.accepted && proto.Equal(d.book.GetCover(), cover) {
			seqs = append(seqs, pageSequences(d.book.GetPages())...)
		}
	}
	return seqs
}

// acceptedAs lists the sequences of cover's events in the deliveries the
// stub accepted as replays (replay) or live (!replay), in order.
func (c *stubConsumer) acceptedAs(cover *eventedpb.Cover, replay bool) []uint32 {
	var seqs []uint32
	for _, d := range c.deliveries() {
		if d.accepted && d.replay == replay && proto.Equal(d.book.GetCover(), cover) {
			seqs = append(seqs, pageSequences(d.book.GetPages())...)
		}
	}
	return seqs
}

// offered counts the deliveries, accepted or not, that carried the event
// of cover at seq.
func (c *stubConsumer) offered(cover *eventedpb.Cover, seq uint32) int {
	n := 0
	for _, d := range c.deliveries() {
		if proto.Equal(d.book.GetCover(), cover) && slices.Contains(pageSequences(d.book.GetPages()), seq) {
			n++
		}
	}
	return n
}

func (c *stubConsumer) refusals() int {
	n := 0
	for _, d := range c.deliveries() {
		if !d.accepted {
			n++
		}
	}
	return n
}

func pageSequences(pages []*eventedpb.EventPage) []uint32 {
	seqs := make([]uint32, len(pages))
	for i, p := range pages {
		seqs[i] = p.GetNum()
	}
	return seqs
}

// The four services a stub can serve; each is a thin shell over the stub.

type projector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	c *stubConsumer
}

func (p projector) Handle(ctx context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	return p.c.handle(ctx, b)
}

func (p projector) HandleSync(ctx context.Context, b *eventedpb.EventBook) (*eventedpb.Projection, error) {
	return p.c.handleSync(ctx, b)
}

type legacyProjector struct {
	eventedpb.UnimplementedProjectorServer
	c *stubConsumer
}

func (p legacyProjector) Handle(ctx context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	return p.c.handle(ctx, b)
}

func (p legacyProjector) HandleSync(ctx context.Context, b *eventedpb.EventBook) (*eventedpb.Projection, error) {
	return p.c.handleSync(ctx, b)
}

type saga struct {
	eventedpb.UnimplementedSagaCoordinatorServer
	c *stubConsumer
}

func (s saga) Handle(ctx context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	return s.c.handle(ctx, b)
}

func (s saga) HandleSync(ctx context.Context, b *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	return s.c.sagaSync(ctx, b)
}

type legacySaga struct {
	eventedpb.UnimplementedSagaServer
	c *stubConsumer
}

func (s legacySaga) Handle(ctx context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	return s.c.handle(ctx, b)
}

func (s legacySaga) HandleSync(ctx context.Context, b *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	return s.c.sagaSync(ctx, b)
}

func (c *stubConsumer) handle(ctx context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	key, err := c.receive(ctx, b)
	defer c.finish(key)
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (c *stubConsumer) handleSync(ctx context.Context, b *eventedpb.EventBook) (*eventedpb.Projection, error) {
	key, err := c.receive(ctx, b)
	defer c.finish(key)
	if err != nil {
		return nil, err
	}
	return c.projection(key, b), nil
}

func (c *stubConsumer) sagaSync(ctx context.Context, b *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	key, err := c.receive(ctx, b)
	defer c.finish(key)
	if err != nil {
		return nil, err
	}
	return &eventedpb.SynchronousProcessingResponse{Commands: c.commands(b)}, nil
}

// A reserved port held for a moment by someone else is served on once it
// is free, not given up on.
func TestListenAgainWaitsForAPortInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := held.Addr().String()
	time.AfterFunc(200*time.Millisecond, func() { held.Close() })
	lis, err := listenAgain(addr)
	if err != nil {
		t.Fatalf("listen on %s once it was free: %v", addr, err)
	}
	lis.Close()
}
