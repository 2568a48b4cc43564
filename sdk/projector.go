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

// Projector builds a read model from events. It implements
// evented.ProjectorCoordinator; serve it with Serve.
//
// For each book evented delivers, the projector folds a new state S from
// it (Restore from the book's snapshot, Apply for each page), calling the
// On handlers for the new events as it goes. Handle (asynchronous delivery)
// stops there; HandleSync (synchronous projectors) then asks Project for
// the projection of the state, which evented puts into the command's reply.
//
// A projector that needs the whole aggregate (a receipt needs the items of
// TransactionCreated when TransactionCompleted arrives) is configured in
// evented with history: true and built WithHistory: the state is folded
// from the aggregate's whole history and the On handlers see the newest
// event. Without history the state holds only what the book (and, with
// WithEventQuery, the events before it) says.
//
// Register handlers before serving; a Projector is then safe for
// concurrent use (every book gets its own state). Delivery is at least
// once: handlers with side effects should be idempotent (an event is
// identified by Event.Cover and Event.Sequence).
type Projector[S any] struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	consumer[S]
	on      map[protoreflect.FullName]func(*S, *anypb.Any, Event) error
	onAny   func(*S, proto.Message, Event) error
	project func(*S, Event) (proto.Message, error)
}

// NewProjector returns the projector called name, with no handlers yet.
func NewProjector[S any](name string, opts ...Option) *Projector[S] {
	return &Projector[S]{
		consumer: newConsumer[S]("projector", name, opts),
		on:       map[protoreflect.FullName]func(*S, *anypb.Any, Event) error{},
	}
}

// On registers the handler of new events of type E, called with the state
// that already includes the event. An error fails the delivery (evented
// retries it, then parks it).
func On[S any, E proto.Message](p *Projector[S], handle func(state *S, event E, ev Event) error) {
	name := nameOf[E]()
	if _, dup := p.on[name]; dup {
		panic(fmt.Sprintf("sdk: On for %s registered twice", name))
	}
	p.on[name] = func(s *S, a *anypb.Any, ev Event) error {
		e, err := unpack[E](a)
		if err != nil {
			return status.Errorf(codes.Internal, "decode event %s: %v", name, err)
		}
		return handle(s, e, ev)
	}
}

// OnAny registers a handler called for every new event, after the typed
// one if any (a log of everything). The event is decoded to its Go type
// when that type is linked into the program, else it is the *anypb.Any.
func (p *Projector[S]) OnAny(handle func(state *S, event proto.Message, ev Event) error) {
	p.onAny = handle
}

// Project registers how the folded state becomes the projection HandleSync
// returns; last describes the book's newest event. Returning nil means no
// projection for this book (the Projection then carries only the cover,
// the projector's name and the sequence).
func (p *Projector[S]) Project(project func(state *S, last Event) (proto.Message, error)) {
	p.project = project
}

func (p *Projector[S]) visit(s *S, page *eventedpb.EventPage, ev Event) error {
	if h, ok := p.on[page.GetEvent().MessageName()]; ok {
		if err := h(s, page.GetEvent(), ev); err != nil {
			return err
		}
	}
	if p.onAny != nil {
		e, err := decodeAny(page.GetEvent())
		if err != nil {
			return err
		}
		return p.onAny(s, e, ev)
	}
	return nil
}

// Handle implements evented.ProjectorCoordinator (asynchronous delivery).
func (p *Projector[S]) Handle(ctx context.Context, book *eventedpb.EventBook) (*emptypb.Empty, error) {
	if _, _, err := p.replay(ctx, book, p.visit); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// HandleSync implements evented.ProjectorCoordinator (synchronous
// delivery): the Projection's sequence is the one after the book's last
// event (the projection reflects the events before it).
func (p *Projector[S]) HandleSync(ctx context.Context, book *eventedpb.EventBook) (*eventedpb.Projection, error) {
	state, last, err := p.replay(ctx, book, p.visit)
	if err != nil {
		return nil, err
	}
	out := &eventedpb.Projection{Cover: book.GetCover(), Projector: p.name, Sequence: next(book)}
	if p.project == nil {
		return out, nil
	}
	m, err := p.project(state, last)
	if err != nil {
		return nil, toStatus(p.where()+": project", err)
	}
	if m == nil || !m.ProtoReflect().IsValid() {
		return out, nil
	}
	if out.Projection, err = anypb.New(m); err != nil {
		return nil, status.Errorf(codes.Internal, "%s: encode %T: %v", p.where(), m, err)
	}
	return out, nil
}
