package grpcapi

import (
	"context"

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
}

// Handle implements ProjectorCoordinator.Handle.
func (p *Projectors) Handle(ctx context.Context, in *eventedpb.EventBook) (*emptypb.Empty, error) {
	_, err := fanOut(ctx, p.Subscriptions, in, false, nil)
	return &emptypb.Empty{}, err
}

// HandleSync implements ProjectorCoordinator.HandleSync: it returns the
// projection of the first projector (in configuration order) that made one.
func (p *Projectors) HandleSync(ctx context.Context, in *eventedpb.EventBook) (*eventedpb.Projection, error) {
	res, err := fanOut(ctx, p.Subscriptions, in, true, nil)
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
}

// Handle implements SagaCoordinator.Handle.
func (s *Sagas) Handle(ctx context.Context, in *eventedpb.EventBook) (*emptypb.Empty, error) {
	_, err := fanOut(ctx, s.Subscriptions, in, true, s.Coordinator)
	return &emptypb.Empty{}, err
}

// HandleSync implements SagaCoordinator.HandleSync: the reply lists the
// dispatched commands and what they stored.
func (s *Sagas) HandleSync(ctx context.Context, in *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	res, err := fanOut(ctx, s.Subscriptions, in, true, s.Coordinator)
	if err != nil {
		return nil, err
	}
	return response(res), nil
}

// fanOut delivers in to every subscription's consumer that wants its
// domain, executing returned commands when coord is set. Every consumer is
// tried; the first failure is returned.
func fanOut(ctx context.Context, subs []*delivery.Subscription, in *eventedpb.EventBook, inline bool, coord *command.Coordinator) (command.Result, error) {
	book, err := wire.Book(in)
	if err != nil {
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
