package grpcapi

import (
	"bytes"
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/command"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/wire"
)

// Projectors serves evented.ProjectorCoordinator: a book sent to evented is
// handed to every configured projector that listens to its domain.
type Projectors struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	Subscriptions []*delivery.Subscription
	// Store is where the book's events must be, as sent.
	Store eventstore.Store
}

// Handle implements ProjectorCoordinator.Handle.
func (p *Projectors) Handle(ctx context.Context, in *eventedpb.EventBook) (*emptypb.Empty, error) {
	_, err := fanOut(ctx, p.Store, p.Subscriptions, in, false, nil)
	return &emptypb.Empty{}, err
}

// HandleSync implements ProjectorCoordinator.HandleSync: it returns the
// projection of the first projector (in configuration order) that made one.
func (p *Projectors) HandleSync(ctx context.Context, in *eventedpb.EventBook) (*eventedpb.Projection, error) {
	res, err := fanOut(ctx, p.Store, p.Subscriptions, in, true, nil)
	if err != nil {
		return nil, err
	}
	if len(res.Projections) == 0 {
		return &eventedpb.Projection{Cover: in.GetCover()}, nil
	}
	return response(res).GetProjections()[0], nil
}

// Sagas serves evented.SagaCoordinator: a book sent to evented is handed to
// every configured saga that listens to its domain, and the commands they
// return are executed.
type Sagas struct {
	eventedpb.UnimplementedSagaCoordinatorServer
	Subscriptions []*delivery.Subscription
	Coordinator   *command.Coordinator
	// Store is where the book's events must be, as sent.
	Store eventstore.Store
}

// Handle implements SagaCoordinator.Handle.
func (s *Sagas) Handle(ctx context.Context, in *eventedpb.EventBook) (*emptypb.Empty, error) {
	_, err := fanOut(ctx, s.Store, s.Subscriptions, in, true, s.Coordinator)
	return &emptypb.Empty{}, err
}

// HandleSync implements SagaCoordinator.HandleSync: the reply lists the
// dispatched commands and what they stored.
func (s *Sagas) HandleSync(ctx context.Context, in *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	res, err := fanOut(ctx, s.Store, s.Subscriptions, in, true, s.Coordinator)
	if err != nil {
		return nil, err
	}
	return response(res), nil
}

// fanOut delivers in to every subscription's consumer that wants its
// domain, executing returned commands when coord is set. Every consumer is
// tried; the first failure is returned. Only events that are in the store,
// as they are stored, are delivered: a book made up by a caller is refused
// before any projector or saga sees it.
func fanOut(ctx context.Context, store eventstore.Store, subs []*delivery.Subscription, in *eventedpb.EventBook, inline bool, coord *command.Coordinator) (command.Result, error) {
	book, err := wire.Book(in)
	if err != nil {
		return command.Result{}, err
	}
	if err := stored(ctx, store, book); err != nil {
		return command.Result{}, err
	}
	var res command.Result
	var errs []error
	for _, sub := range subs {
		if !sub.Wants(book.Cover.Domain) {
			continue
		}
		out, err := sub.Consumer().Deliver(ctx, book, inline)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if out.Projection != nil {
			res.Projections = append(res.Projections, *out.Projection)
		}
		for _, cmd := range out.Commands {
			if n := len(book.Events); n > 0 {
				cmd.Cause = eventstore.Following(book.Cover, book.Events[n-1])
			}
			r, err := coord.Handle(ctx, cmd)
			if err != nil {
				errs = append(errs, err)
				break
			}
			res.Commands = append(res.Commands, cmd)
			res.Books = append(res.Books, r.Books...)
			res.Projections = append(res.Projections, r.Projections...)
		}
	}
	if len(errs) > 0 {
		return res, errs[0]
	}
	return res, nil
}

// stored checks that book has events and that each is in store with the
// same sequence, type and payload.
func stored(ctx context.Context, store eventstore.Store, book eventstore.Book) error {
	if len(book.Events) == 0 {
		return eventstore.Invalid("pages", "a book to deliver needs at least one event")
	}
	first, last := book.Events[0].Sequence, book.Events[len(book.Events)-1].Sequence
	if last < first || last-first+1 != uint32(len(book.Events)) {
		return eventstore.Invalid("pages", "sequences %d..%d are not consecutive", first, last)
	}
	have, err := store.Read(ctx, book.Cover, first, last+1)
	if err != nil {
		return err
	}
	for i, e := range book.Events {
		if i >= len(have) || have[i].Sequence != e.Sequence || have[i].TypeURL != e.TypeURL || !bytes.Equal(have[i].Payload, e.Payload) {
			return status.Errorf(codes.FailedPrecondition,
				"pages[%d]: %s event %d is not in the store as sent; evented delivers only stored events (send the command instead)", i, book.Cover, e.Sequence)
		}
	}
	return nil
}
