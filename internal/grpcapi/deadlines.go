package grpcapi

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/deadline"
	"github.com/evented/evented/internal/wire"
)

// DefaultDeadlineLimit is how many pending deadlines ListDeadlines sends
// when the query does not say.
const DefaultDeadlineLimit = 1000

// ListDeadlines implements DeliveryAdmin.ListDeadlines: the pending
// deadlines, earliest first.
func (a *Admin) ListDeadlines(q *eventedpb.DeadlineQuery, stream grpc.ServerStreamingServer[eventedpb.PendingDeadline]) error {
	if a.Deadlines == nil {
		return status.Error(codes.Unimplemented, "this event store keeps no deadlines")
	}
	limit := int(q.GetLimit())
	if limit == 0 {
		limit = DefaultDeadlineLimit
	}
	ds, err := a.Deadlines.PendingDeadlines(stream.Context(), q.GetDomain(), limit)
	if err != nil {
		return err
	}
	for _, d := range ds {
		cmd, err := deadline.Decode(d)
		if err != nil {
			return err
		}
		if err := stream.Send(wire.PBDeadline(d, cmd)); err != nil {
			return err
		}
	}
	return nil
}
