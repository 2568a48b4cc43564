package grpcapi

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/wire"
)

// ListSnapshots implements DeliveryAdmin.ListSnapshots: the snapshots kept
// of an aggregate, newest first, without their states.
func (a *Admin) ListSnapshots(c *eventedpb.Cover, stream grpc.ServerStreamingServer[eventedpb.KeptSnapshot]) error {
	if a.Snapshots == nil {
		return status.Error(codes.Unimplemented, "this event store keeps no snapshot history")
	}
	cover, err := wire.Cover(c, "cover")
	if err != nil {
		return err
	}
	h, err := a.Snapshots.SnapshotHistory(stream.Context(), cover)
	if err != nil {
		return err
	}
	for _, s := range h {
		if err := stream.Send(&eventedpb.KeptSnapshot{Sequence: s.Sequence, TypeUrl: s.TypeURL,
			StateBytes: uint32(len(s.State)), CreatedAt: timestamppb.New(s.CreatedAt)}); err != nil {
			return err
		}
	}
	return nil
}
