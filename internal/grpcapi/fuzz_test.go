package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/business/placeholder"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore/memory"
	"github.com/evented/evented/internal/query"
)

// anyDomain routes every domain to the placeholder business logic.
type anyDomain struct{}

func (anyDomain) Route(string) (business.Logic, error) { return placeholder.Logic{}, nil }

// sink is a server stream that takes what is sent, up to a bound.
type sink[T any] struct {
	grpc.ServerStream
	ctx  context.Context
	sent int
}

func (s *sink[T]) Send(*T) error {
	if s.sent++; s.sent > 100_000 {
		return errors.New("sink: too many messages")
	}
	return nil
}

func (s *sink[T]) Context() context.Context { return s.ctx }

// rpc decodes data as one RPC's request, the way the server's codec does,
// and serves it; it returns the method's name and the error the client
// would get.
type rpc struct {
	method string
	new    func() proto.Message
	serve  func(ctx context.Context, req proto.Message) error
}

func rpcs() []rpc {
	store := memory.New()
	coord := command.New(store, store, anyDomain{}, command.Options{}, slog.New(slog.DiscardHandler))
	cmds := &Commands{Coordinator: coord}
	qs := &Queries{Service: query.New(store, store)}
	admin := &Admin{Hub: delivery.NewHub(), Log: store}
	projectors, sagas := &Projectors{Store: store}, &Sagas{Coordinator: coord, Store: store}
	return []rpc{
		{"/evented.BusinessCoordinator/Handle", func() proto.Message { return new(eventedpb.CommandBook) }, func(ctx context.Context, m proto.Message) error {
			_, err := cmds.Handle(ctx, m.(*eventedpb.CommandBook))
			return err
		}},
		{"/evented.BusinessCoordinator/Record", func() proto.Message { return new(eventedpb.EventBook) }, func(ctx context.Context, m proto.Message) error {
			_, err := cmds.Record(ctx, m.(*eventedpb.EventBook))
			return err
		}},
		{"/evented.EventQuery/GetEvents", func() proto.Message { return new(eventedpb.Query) }, func(ctx context.Context, m proto.Message) error {
			return qs.GetEvents(m.(*eventedpb.Query), &sink[eventedpb.EventBook]{ctx: ctx})
		}},
		{"/evented.EventQuery/GetAggregateRoots", func() proto.Message { return new(emptypb.Empty) }, func(ctx context.Context, m proto.Message) error {
			return qs.GetAggregateRoots(m.(*emptypb.Empty), &sink[eventedpb.AggregateRoot]{ctx: ctx})
		}},
		{"/evented.DeliveryAdmin/ListSubscriptions", func() proto.Message { return new(emptypb.Empty) }, func(ctx context.Context, m proto.Message) error {
			return admin.ListSubscriptions(m.(*emptypb.Empty), &sink[eventedpb.SubscriptionStatus]{ctx: ctx})
		}},
		{"/evented.DeliveryAdmin/ListParked", func() proto.Message { return new(eventedpb.ParkedQuery) }, func(ctx context.Context, m proto.Message) error {
			return admin.ListParked(m.(*eventedpb.ParkedQuery), &sink[eventedpb.ParkedEvent]{ctx: ctx})
		}},
		{"/evented.DeliveryAdmin/ReplayParked", func() proto.Message { return new(eventedpb.ParkedQuery) }, func(ctx context.Context, m proto.Message) error {
			_, err := admin.ReplayParked(ctx, m.(*eventedpb.ParkedQuery))
			return err
		}},
		{"/evented.ProjectorCoordinator/HandleSync", func() proto.Message { return new(eventedpb.EventBook) }, func(ctx context.Context, m proto.Message) error {
			_, err := projectors.HandleSync(ctx, m.(*eventedpb.EventBook))
			return err
		}},
		{"/evented.SagaCoordinator/HandleSync", func() proto.Message { return new(eventedpb.EventBook) }, func(ctx context.Context, m proto.Message) error {
			_, err := sagas.HandleSync(ctx, m.(*eventedpb.EventBook))
			return err
		}},
	}
}

// FuzzRequest sends arbitrary bytes as the request of an RPC (method picks
// which), decoded by the server's codec and served by the real handlers
// over a memory store with the placeholder business logic. Whatever the
// bytes, nothing panics, the codec never fails the call (gRPC would make
// that INTERNAL), and the client's code is never INTERNAL or UNKNOWN: bad
// input is INVALID_ARGUMENT (or NOT_FOUND for a subscriber no one
// configured), with a message.
func FuzzRequest(f *testing.F) {
	book := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	root := make([]byte, 16)
	root[0] = 1
	cover := &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root}}
	cmd := book(&eventedpb.CommandBook{Cover: cover, Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/examples.CreateCustomer", Value: []byte{10, 1, 'A'}}}}})
	events := book(&eventedpb.EventBook{Cover: cover, Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "t", Value: []byte("x")}}}})
	q := book(&eventedpb.Query{Domain: "customer", Root: &eventedpb.UUID{Value: root}, UpperBound: 3})
	for i, seed := range [][]byte{cmd, events, q, nil, {}, book(&eventedpb.ParkedQuery{Subscriber: "x", Covers: []*eventedpb.Cover{cover}}),
		events, events, {0x0a, 0x7f, 0x01}, {0xff, 0xff}, book(&eventedpb.CommandBook{Cover: &eventedpb.Cover{Domain: "d", Root: &eventedpb.UUID{Value: []byte{1, 2}}}})} {
		f.Add(uint8(i), seed)
	}
	all := rpcs()
	c := newCodec()
	f.Fuzz(func(t *testing.T, method uint8, data []byte) {
		r := all[int(method)%len(all)]
		req := r.new()
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, req); err != nil {
			t.Fatalf("%s: the codec failed (gRPC makes that INTERNAL): %v", r.method, err)
		}
		var err error
		if err = decodeError(req); err == nil {
			if perr := proto.Unmarshal(data, r.new()); perr != nil {
				t.Fatalf("%s: %q does not decode (%v) but the codec did not mark it", r.method, data, perr)
			}
			ctx, cancel := context.WithCancel(context.Background())
			err = toStatus(ctx, slog.New(slog.DiscardHandler), r.method, r.serve(ctx, req))
			cancel()
		}
		st := status.Convert(err)
		switch st.Code() {
		case codes.OK:
		case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.OutOfRange:
			if st.Message() == "" {
				t.Fatalf("%s(%q): %s without a message", r.method, data, st.Code())
			}
		default:
			t.Fatalf("%s(%q): %s %q; want OK or a client error", r.method, data, st.Code(), st.Message())
		}
	})
}
