package sdk

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
)

// Command is a command a saga sends to another aggregate.
type Command struct {
	To      Cover
	Message proto.Message
}

// Saga reacts to the events of one domain by sending commands to other
// aggregates. It implements evented.SagaCoordinator; serve it with Serve.
// evented asks HandleSync and executes the commands in the answer like a
// client's (a synchronous saga's before the command's reply, which lists
// them).
//
// The state S is folded from each delivered book as a Projector's is (see
// WithHistory and WithEventQuery for what the book holds), and the React
// handlers are called for the new events with the state including them.
//
// Register handlers before serving; a Saga is then safe for concurrent
// use. Delivery is at least once: a book can be delivered again after a
// failure, and its commands sent again.
type Saga[S any] struct {
	eventedpb.UnimplementedSagaCoordinatorServer
	consumer[S]
	react map[protoreflect.FullName]func(*S, *anypb.Any, Event) ([]Command, error)
}

// NewSaga returns the saga called name, with no handlers yet.
func NewSaga[S any](name string, opts ...Option) *Saga[S] {
	return &Saga[S]{
		consumer: newConsumer[S]("saga", name, opts),
		react:    map[protoreflect.FullName]func(*S, *anypb.Any, Event) ([]Command, error){},
	}
}

// React registers the handler of new events of type E: it returns the
// commands to send (none is fine). An error fails the delivery; evented
// retries it, then parks it.
func React[S any, E proto.Message](s *Saga[S], react func(state *S, event E, ev Event) ([]Command, error)) {
	name := nameOf[E]()
	if _, dup := s.react[name]; dup {
		panic(fmt.Sprintf("sdk: React for %s registered twice", name))
	}
	s.react[name] = func(st *S, a *anypb.Any, ev Event) ([]Command, error) {
		e, err := unpack[E](a)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "decode event %s: %v", name, err)
		}
		return react(st, e, ev)
	}
}

// Commands folds book and returns the commands its new events call for,
// in order: what HandleSync answers, for tests and for callers that send
// the commands themselves.
func (s *Saga[S]) Commands(ctx context.Context, book *eventedpb.EventBook) ([]Command, error) {
	var out []Command
	_, _, err := s.replay(ctx, book, func(st *S, p *eventedpb.EventPage, ev Event) error {
		h, ok := s.react[p.GetEvent().MessageName()]
		if !ok {
			return nil
		}
		cmds, err := h(st, p.GetEvent(), ev)
		out = append(out, cmds...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HandleSync implements evented.SagaCoordinator: the answer's commands are
// what the new events call for, one book per command.
func (s *Saga[S]) HandleSync(ctx context.Context, book *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	cmds, err := s.Commands(ctx, book)
	if err != nil {
		return nil, err
	}
	out := &eventedpb.SynchronousProcessingResponse{}
	for i, c := range cmds {
		if c.To.Domain == "" || c.Message == nil {
			return nil, status.Errorf(codes.Internal, "%s: command #%d has no domain or no message", s.where(), i)
		}
		m, err := anypb.New(c.Message)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "%s: encode %T: %v", s.where(), c.Message, err)
		}
		out.Commands = append(out.Commands, &eventedpb.CommandBook{
			Cover: c.To.pb(),
			Pages: []*eventedpb.CommandPage{{Command: m}},
		})
	}
	return out, nil
}

// Handle implements evented.SagaCoordinator's fire-and-forget call, which
// has no way to return commands: it answers UNIMPLEMENTED, and evented
// (which asks HandleSync first anyway) needs nothing else.
func (s *Saga[S]) Handle(context.Context, *eventedpb.EventBook) (*emptypb.Empty, error) {
	return nil, status.Errorf(codes.Unimplemented, "%s answers HandleSync: its commands are in the answer", s.where())
}
