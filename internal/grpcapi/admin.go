package grpcapi

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/wire"
)

// Admin serves evented.DeliveryAdmin: subscriber progress, parked events
// and their replay.
type Admin struct {
	eventedpb.UnimplementedDeliveryAdminServer
	Hub *delivery.Hub
	Log eventstore.Log
	// Deadlines lists the pending deadlines (ListDeadlines); nil: none kept.
	Deadlines eventstore.Deadlines
	// Snapshots lists an aggregate's kept snapshots (ListSnapshots); nil:
	// none kept.
	Snapshots eventstore.SnapshotRetention
	// Projections serves the subscription queries ListLiveQueries lists;
	// nil: none. Replica names this process in the list.
	Projections *delivery.Projections
	Replica     string
}

// ListLiveQueries implements DeliveryAdmin.ListLiveQueries.
func (a *Admin) ListLiveQueries(_ *emptypb.Empty, stream grpc.ServerStreamingServer[eventedpb.LiveQuery]) error {
	if a.Projections == nil {
		return nil
	}
	for _, w := range a.Projections.Live() {
		if err := stream.Send(&eventedpb.LiveQuery{Projector: w.Projector, Key: w.Key, Client: w.Client,
			Since: timestamppb.New(w.Since), Version: w.Version, Updates: w.Updates, Replica: a.Replica}); err != nil {
			return err
		}
	}
	return nil
}

// ListSubscriptions implements DeliveryAdmin.ListSubscriptions.
func (a *Admin) ListSubscriptions(_ *emptypb.Empty, stream grpc.ServerStreamingServer[eventedpb.SubscriptionStatus]) error {
	head, err := a.Log.Head(stream.Context())
	if err != nil {
		return err
	}
	for _, sub := range a.Hub.Subscriptions() {
		st := sub.Status()
		msg := &eventedpb.SubscriptionStatus{
			Name: st.Name, Checkpoint: st.Checkpoint, Read: st.Read, Delivered: st.Delivered, Retries: st.Retries,
			Parked: uint64(st.Parked), Pending: uint64(st.Pending), LastError: st.LastError,
			Synchronous: st.Synchronous, Head: head, Replica: st.Replica, ReplayUntil: st.ReplayUntil,
			Projector: st.Projector, Version: uint32(st.Version), State: st.State, Rate: st.Rate,
		}
		msg.LagSeconds, msg.EtaSeconds = delivery.CatchUp(st, head, time.Now())
		for _, seg := range st.Segments {
			s := &eventedpb.SegmentStatus{
				Index: uint32(seg.Index), Of: uint32(seg.Of), Owner: seg.Owner, Token: seg.Token, Position: seg.Position,
			}
			if !seg.Expires.IsZero() {
				s.Expires = timestamppb.New(seg.Expires)
			}
			if head > seg.Position {
				s.Lag = head - seg.Position
			}
			msg.Segments = append(msg.Segments, s)
		}
		err := stream.Send(msg)
		if err != nil {
			return err
		}
	}
	return nil
}

// ListParked implements DeliveryAdmin.ListParked.
func (a *Admin) ListParked(q *eventedpb.ParkedQuery, stream grpc.ServerStreamingServer[eventedpb.ParkedEvent]) error {
	sub, covers, err := a.subscriber(q)
	if err != nil {
		return err
	}
	parked, err := sub.Parked(stream.Context())
	if err != nil {
		return err
	}
	for _, p := range parked {
		if len(covers) > 0 && !slices.Contains(covers, p.Cover) {
			continue
		}
		err := stream.Send(&eventedpb.ParkedEvent{
			Subscriber: sub.Name(), Position: p.Position, Cover: wire.PBCover(p.Cover),
			Page:   wire.PBEvents([]eventstore.Event{p.Event})[0],
			Reason: p.Reason, Attempts: uint32(p.Attempts), ParkedAt: timestamppb.New(p.ParkedAt),
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ReplayParked implements DeliveryAdmin.ReplayParked.
func (a *Admin) ReplayParked(ctx context.Context, q *eventedpb.ParkedQuery) (*eventedpb.ReplayResult, error) {
	sub, covers, err := a.subscriber(q)
	if err != nil {
		return nil, err
	}
	res, err := sub.Replay(ctx, covers...)
	if err != nil {
		return nil, err
	}
	out := &eventedpb.ReplayResult{Replayed: uint64(res.Replayed)}
	for _, f := range res.Failed {
		out.Failed = append(out.Failed, &eventedpb.ReplayFailure{Cover: wire.PBCover(f.Cover), Error: f.Err.Error()})
	}
	return out, nil
}

// CutOver implements DeliveryAdmin.CutOver.
func (a *Admin) CutOver(ctx context.Context, in *eventedpb.CutOverRequest) (*eventedpb.CutOverResult, error) {
	if in.GetProjector() == "" {
		return nil, eventstore.Invalid("projector", "is required: the name of a configured projector")
	}
	if in.GetVersion() < 1 {
		return nil, eventstore.Invalid("version", "is required: the version to make active, 1 or more")
	}
	name := delivery.VersionName(in.GetProjector(), int(in.GetVersion()))
	sub := a.Hub.Subscription(name)
	if sub == nil {
		var versions []string
		for _, s := range a.Hub.Subscriptions() {
			if st := s.Status(); st.Projector == in.GetProjector() {
				versions = append(versions, strconv.Itoa(st.Version))
			}
		}
		if len(versions) == 0 {
			return nil, eventstore.Invalid("projector", "%q is not a configured projector", in.GetProjector())
		}
		return nil, eventstore.Invalid("version", "%s has no version %d configured; configured: %s", in.GetProjector(), in.GetVersion(), strings.Join(versions, ", "))
	}
	previous, err := sub.ActiveVersion(ctx)
	if err != nil {
		return nil, err
	}
	if st := sub.Status(); st.Checkpoint < st.ReplayUntil && !in.GetForce() {
		return nil, status.Errorf(codes.FailedPrecondition,
			"%s is still catching up: at %d of %d; cut over when it has caught up (evented subscriptions shows it), or force it", name, st.Checkpoint, st.ReplayUntil)
	}
	if err := sub.CutOver(ctx); err != nil {
		return nil, err
	}
	return &eventedpb.CutOverResult{Projector: in.GetProjector(), Version: in.GetVersion(), Previous: uint32(previous)}, nil
}

// ResetSubscription implements DeliveryAdmin.ResetSubscription.
func (a *Admin) ResetSubscription(ctx context.Context, in *eventedpb.ResetRequest) (*eventedpb.ResetResult, error) {
	sub, _, err := a.subscriber(&eventedpb.ParkedQuery{Subscriber: in.GetSubscriber()})
	if err != nil {
		return nil, err
	}
	to := delivery.ResetTo{SagaCommands: in.GetSagaCommands()}
	switch t := in.GetTo().(type) {
	case *eventedpb.ResetRequest_AfterPosition:
		to.Position = t.AfterPosition
	case *eventedpb.ResetRequest_Time:
		if err := t.Time.CheckValid(); err != nil {
			return nil, eventstore.Invalid("time", "%v", err)
		}
		to.Time = t.Time.AsTime()
	}
	res, err := sub.Reset(ctx, to)
	if err != nil {
		return nil, err
	}
	return &eventedpb.ResetResult{Position: res.Position, ReplayUntil: res.Until, Segments: uint32(res.Segments)}, nil
}

// DiscardParked implements DeliveryAdmin.DiscardParked: refused unless
// confirmed; the caller (auth identity, else the peer) is logged with what
// was dropped.
func (a *Admin) DiscardParked(ctx context.Context, in *eventedpb.DiscardRequest) (*eventedpb.DiscardResult, error) {
	sub, covers, err := a.subscriber(&eventedpb.ParkedQuery{Subscriber: in.GetSubscriber(), Covers: in.GetCovers()})
	if err != nil {
		return nil, err
	}
	if !in.GetConfirm() {
		return nil, eventstore.Invalid("confirm", "must be true: a discard drops parked events for good (they are never delivered to %s)", sub.Name())
	}
	res, err := sub.Discard(ctx, Caller(ctx), covers...)
	if err != nil {
		return nil, err
	}
	out := &eventedpb.DiscardResult{Discarded: uint64(res.Discarded)}
	for _, c := range res.Covers {
		out.Covers = append(out.Covers, wire.PBCover(c))
	}
	return out, nil
}

// Caller names who made a call, for the log: the authenticated identity,
// else the peer's address, else "anonymous".
func Caller(ctx context.Context) string {
	if id := auth.FromContext(ctx); id != nil {
		return id.String()
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return "unauthenticated " + p.Addr.String()
	}
	return "anonymous"
}

func (a *Admin) subscriber(q *eventedpb.ParkedQuery) (*delivery.Subscription, []eventstore.Cover, error) {
	if q.GetSubscriber() == "" {
		return nil, nil, eventstore.Invalid("subscriber", "is required: the name of a configured projector or saga, or the bus relay")
	}
	sub := a.Hub.Subscription(q.GetSubscriber())
	if sub == nil {
		var names []string
		for _, s := range a.Hub.Subscriptions() {
			names = append(names, s.Name())
		}
		return nil, nil, &delivery.UnknownSubscriberError{Name: q.GetSubscriber(), Known: names}
	}
	var covers []eventstore.Cover
	for i, c := range q.GetCovers() {
		cover, err := wire.Cover(c, fmt.Sprintf("covers[%d]", i))
		if err != nil {
			return nil, nil, err
		}
		covers = append(covers, cover)
	}
	return sub, covers, nil
}
