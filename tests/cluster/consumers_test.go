package cluster

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/evented/evented/api/eventedpb"
)

// agg names one aggregate.
type agg struct {
	domain string
	root   uuid.UUID
}

func (a agg) String() string { return a.domain + "/" + a.root.String() }

func aggOf(c *eventedpb.Cover) agg {
	root, _ := uuid.FromBytes(c.GetRoot().GetValue())
	return agg{domain: c.GetDomain(), root: root}
}

// recorder remembers every event a consumer was handed, per aggregate in
// the order of arrival, and calls for one aggregate that overlapped (two
// replicas delivering it at once).
type recorder struct {
	name string

	mu       sync.Mutex
	got      map[agg][]uint32
	calls    map[agg][]call // who handed each of got's events, and when
	inFlight map[agg]int
	overlaps map[agg]int
	events   int
	last     time.Time // of the latest call
}

func newRecorder(name string) *recorder {
	return &recorder{name: name, got: map[agg][]uint32{}, calls: map[agg][]call{}, inFlight: map[agg]int{}, overlaps: map[agg]int{}}
}

// call is one event handed to a consumer: by which connection (each
// replica has its own), when, and whether the projection was asked for.
type call struct {
	peer string
	at   time.Time
	sync bool
}

// enter records book and returns the function to call when the call ends.
func (r *recorder) enter(ctx context.Context, book *eventedpb.EventBook, sync bool) func() {
	a := aggOf(book.GetCover())
	c := call{at: time.Now(), sync: sync}
	if p, ok := peer.FromContext(ctx); ok {
		c.peer = p.Addr.String()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range book.GetPages() {
		r.got[a] = append(r.got[a], p.GetNum())
		r.calls[a] = append(r.calls[a], c)
	}
	r.events += len(book.GetPages())
	r.last = time.Now()
	r.inFlight[a]++
	if r.inFlight[a] > 1 {
		r.overlaps[a]++
	}
	return func() {
		r.mu.Lock()
		r.inFlight[a]--
		r.mu.Unlock()
	}
}

// callsOf returns who handed a's event seq, each time it was handed.
func (r *recorder) callsOf(a agg, seq uint32) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	calls := r.calls[a] // empty for a recorder filled by hand (tests of the checks)
	for i, s := range r.got[a] {
		if s == seq && i < len(calls) {
			out = append(out, calls[i])
		}
	}
	return out
}

// snapshot copies what was recorded.
func (r *recorder) snapshot() (got map[agg][]uint32, overlaps map[agg]int, events int, last time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	got = make(map[agg][]uint32, len(r.got))
	for a, seqs := range r.got {
		got[a] = append([]uint32(nil), seqs...)
	}
	overlaps = make(map[agg]int, len(r.overlaps))
	for a, n := range r.overlaps {
		overlaps[a] = n
	}
	return got, overlaps, r.events, r.last
}

// projector is an asynchronous projector that records what it is given.
type projector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	*recorder
}

// hold is how long the projector takes over a call: long enough for two
// replicas delivering one aggregate at once to show as overlapping calls.
const hold = 2 * time.Millisecond

func (p *projector) Handle(ctx context.Context, book *eventedpb.EventBook) (*emptypb.Empty, error) {
	defer p.enter(ctx, book, false)()
	time.Sleep(hold)
	return &emptypb.Empty{}, nil
}

func (p *projector) HandleSync(ctx context.Context, book *eventedpb.EventBook) (*eventedpb.Projection, error) {
	defer p.enter(ctx, book, true)()
	time.Sleep(hold)
	var seq uint32
	if n := len(book.GetPages()); n > 0 {
		seq = book.GetPages()[n-1].GetNum()
	}
	// A projection with content: evented passes on only those.
	return &eventedpb.Projection{Cover: book.GetCover(), Projector: p.name, Sequence: seq,
		Projection: &anypb.Any{TypeUrl: "type.googleapis.com/cluster.Receipt"}}, nil
}

// Types of the commands and events of the test's two domains (the
// placeholder business logic names each event after its command).
const (
	addItemType    = "type.googleapis.com/cluster.AddItem" // order
	itemAddedType  = "type.googleapis.com/cluster.ItemAdded"
	addEntryType   = "type.googleapis.com/cluster.AddEntry" // ledger
	entryAddedType = "type.googleapis.com/cluster.EntryAdded"
)

// effectOf names the ledger entry the saga makes of one order event.
func effectOf(root uuid.UUID, seq uint32) string {
	return fmt.Sprintf("order/%s/%d", root, seq)
}

// saga answers every event of domain order with one command to domain
// ledger, same root, whose payload names the event (effectOf): its effects
// are ledger events that can be counted.
type saga struct {
	eventedpb.UnimplementedSagaCoordinatorServer
	*recorder
}

func (s *saga) Handle(ctx context.Context, book *eventedpb.EventBook) (*emptypb.Empty, error) {
	defer s.enter(ctx, book, false)()
	return &emptypb.Empty{}, nil
}

func (s *saga) HandleSync(ctx context.Context, book *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	defer s.enter(ctx, book, true)()
	a := aggOf(book.GetCover())
	resp := &eventedpb.SynchronousProcessingResponse{}
	if a.domain != "order" {
		return resp, nil
	}
	for _, p := range book.GetPages() {
		cmd, err := command(addEntryType, effectOf(a.root, p.GetNum()))
		if err != nil {
			return nil, err
		}
		resp.Commands = append(resp.Commands, &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "ledger", Root: book.GetCover().GetRoot()},
			Pages: []*eventedpb.CommandPage{{Command: cmd}},
		})
	}
	return resp, nil
}

// command is a command of type typeURL whose payload is text.
func command(typeURL, text string) (*anypb.Any, error) {
	value, err := proto.Marshal(wrapperspb.String(text))
	if err != nil {
		return nil, err
	}
	return &anypb.Any{TypeUrl: typeURL, Value: value}, nil
}

// payloadText is the text a command (and so its event) carries.
func payloadText(a *anypb.Any) string {
	var s wrapperspb.StringValue
	if err := proto.Unmarshal(a.GetValue(), &s); err != nil {
		return fmt.Sprintf("<undecodable %x>", a.GetValue())
	}
	return s.GetValue()
}

// consumers are the test's projectors and saga, serving on 127.0.0.1,
// and its watch of the bus the replicas relay to (nil without NATS).
type consumers struct {
	projector, receipts, saga *recorder
	projectorAddr             string
	receiptsAddr              string
	sagaAddr                  string
	bus                       *busWatch
}

func startConsumers(t *testing.T) *consumers {
	t.Helper()
	c := &consumers{projector: newRecorder(projectorName), receipts: newRecorder(receiptsName), saga: newRecorder(sagaName),
		bus: watchBus(t)}
	c.projectorAddr = serve(t, func(s *grpc.Server) {
		eventedpb.RegisterProjectorCoordinatorServer(s, &projector{recorder: c.projector})
	})
	c.receiptsAddr = serve(t, func(s *grpc.Server) {
		eventedpb.RegisterProjectorCoordinatorServer(s, &projector{recorder: c.receipts})
	})
	c.sagaAddr = serve(t, func(s *grpc.Server) {
		eventedpb.RegisterSagaCoordinatorServer(s, &saga{recorder: c.saga})
	})
	return c
}

func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}
