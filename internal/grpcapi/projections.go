package grpcapi

import (
	"context"
	"fmt"

	"google.golang.org/grpc/peer"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/wire"
)

// ProjectionQuery serves evented.ProjectionQuery: subscription queries.
type ProjectionQuery struct {
	eventedpb.UnimplementedProjectionQueryServer
	Projections *delivery.Projections
	// Projectors are the configured projectors, in configuration order.
	Projectors []Projector
}

// Projector is a configured projector as subscription queries see it.
type Projector struct {
	Name string
	// Key is its configuration entry ("projectors[0]"), for messages.
	Key string
	// Publishes: synchronous, or publish_projections; its projections are
	// kept.
	Publishes bool
}

// Subscribe implements eventedpb.ProjectionQueryServer.
func (q *ProjectionQuery) Subscribe(req *eventedpb.ProjectionSubscription, stream eventedpb.ProjectionQuery_SubscribeServer) error {
	ctx := stream.Context()
	var proj *Projector
	names := make([]string, 0, len(q.Projectors))
	for i := range q.Projectors {
		names = append(names, q.Projectors[i].Name)
		if q.Projectors[i].Name == req.GetProjector() {
			proj = &q.Projectors[i]
		}
	}
	if proj == nil {
		return status.Errorf(codes.InvalidArgument, "projector: %q is not configured; configured projectors: %v", req.GetProjector(), names)
	}
	if !proj.Publishes {
		return status.Errorf(codes.FailedPrecondition,
			"projector %q keeps no projections: set publish_projections: true on %s (evented then asks it HandleSync on every delivery) or make it synchronous: true",
			proj.Name, proj.Key)
	}
	key := req.GetKey()
	switch {
	case req.GetCover() != nil && key != "":
		return status.Error(codes.InvalidArgument, "set either cover or key, not both")
	case req.GetCover() != nil:
		cover, err := wire.Cover(req.GetCover(), "cover")
		if err != nil {
			return err
		}
		key = cover.String()
	default:
		if err := eventstore.CheckProjectionKey(key); err != nil {
			return fmt.Errorf("%w (or set cover)", err)
		}
	}
	last := req.GetAfterVersion()
	send := func(p eventstore.Projection) error {
		if err := stream.Send(update(p)); err != nil {
			return err
		}
		last = p.Version
		return nil
	}
	w, err := q.Projections.Watch(delivery.WithWatcher(ctx, watcher(ctx)), proj.Name, key, last, send)
	if err != nil {
		return err
	}
	defer w.Close()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case p := <-w.Updates():
			if err := send(p); err != nil {
				return err
			}
		case <-w.Dropped():
			return status.Errorf(codes.ResourceExhausted, "too slow, resume with after_version %d", last)
		case <-q.Projections.Stopped():
			return status.Errorf(codes.Unavailable, "evented is shutting down; resume with after_version %d", last)
		}
	}
}

func update(p eventstore.Projection) *eventedpb.ProjectionUpdate {
	return &eventedpb.ProjectionUpdate{Version: p.Version, Key: p.Key, Projection: &eventedpb.Projection{
		Cover: wire.PBCover(p.Cover), Projector: p.Projector, Sequence: p.Sequence,
		Projection: &anypb.Any{TypeUrl: p.TypeURL, Value: p.Payload},
	}}
}

// watcher names a subscription query's client for ListLiveQueries: its
// authenticated identity, else its address.
func watcher(ctx context.Context) string {
	if id := auth.FromContext(ctx); id != nil {
		return id.String()
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return "unknown"
}
