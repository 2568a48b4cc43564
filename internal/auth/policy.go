package auth

import (
	"github.com/evented/evented/api/eventedpb"
)

// Group is a group of RPCs that one role allows.
type Group string

// The groups. GroupOpen needs no identity; GroupAuthenticated needs one,
// with any role; the others need the role of the same name.
const (
	GroupOpen          Group = "open"
	GroupAuthenticated Group = "authenticated"
	GroupCommand       Group = RoleCommand
	GroupRecord        Group = RoleRecord
	GroupQuery         Group = RoleQuery
	GroupAdmin         Group = RoleAdmin
	// GroupUnmapped is reported for an RPC missing from the policy: it is
	// denied to everyone.
	GroupUnmapped Group = "unmapped"
)

// Role is the role a group needs, "" for open and authenticated.
func (g Group) Role() string {
	switch g {
	case GroupCommand, GroupRecord, GroupQuery, GroupAdmin:
		return string(g)
	}
	return ""
}

// policy maps every RPC evented serves, by full method name, to its group.
// A test walks the servers' registered services and fails on any RPC
// missing here; at run time a missing one is denied.
var policy = map[string]Group{
	// Command port.
	eventedpb.BusinessCoordinator_Handle_FullMethodName: GroupCommand,
	// Record appends events that no business logic checked.
	eventedpb.BusinessCoordinator_Record_FullMethodName: GroupRecord,
	// Parked payloads and their replay, subscriptions' progress.
	eventedpb.DeliveryAdmin_ListSubscriptions_FullMethodName: GroupAdmin,
	eventedpb.DeliveryAdmin_ListParked_FullMethodName:        GroupAdmin,
	eventedpb.DeliveryAdmin_ReplayParked_FullMethodName:      GroupAdmin,
	// A reset delivers a subscriber's history again.
	eventedpb.DeliveryAdmin_ResetSubscription_FullMethodName: GroupAdmin,
	eventedpb.DeliveryAdmin_CutOver_FullMethodName:           GroupAdmin,
	eventedpb.DeliveryAdmin_DiscardParked_FullMethodName:     GroupAdmin,
	// Pending deadlines: their commands, payloads included.
	eventedpb.DeliveryAdmin_ListDeadlines_FullMethodName: GroupAdmin,
	// An aggregate's kept snapshots: sequences, types and times.
	eventedpb.DeliveryAdmin_ListSnapshots_FullMethodName:   GroupAdmin,
	eventedpb.DeliveryAdmin_ListLiveQueries_FullMethodName: GroupAdmin,
	// The fan-out services hand any book to the configured consumers,
	// and a saga's commands are executed: evented's own, admin only.
	eventedpb.ProjectorCoordinator_Handle_FullMethodName:     GroupAdmin,
	eventedpb.ProjectorCoordinator_HandleSync_FullMethodName: GroupAdmin,
	eventedpb.SagaCoordinator_Handle_FullMethodName:          GroupAdmin,
	eventedpb.SagaCoordinator_HandleSync_FullMethodName:      GroupAdmin,

	// Query port.
	eventedpb.EventQuery_GetEvents_FullMethodName:         GroupQuery,
	eventedpb.EventQuery_Synchronize_FullMethodName:       GroupQuery,
	eventedpb.EventQuery_GetAggregateRoots_FullMethodName: GroupQuery,
	// Read-your-writes: waits on subscribers' progress, reads no event.
	eventedpb.EventQuery_WaitFor_FullMethodName: GroupQuery,
	// Subscription queries: projections, read as queries are.
	eventedpb.ProjectionQuery_Subscribe_FullMethodName: GroupQuery,

	// Both ports. Health stays open: probes carry no credentials, and it
	// tells nothing but up or down.
	"/grpc.health.v1.Health/Check": GroupOpen,
	"/grpc.health.v1.Health/Watch": GroupOpen,
	"/grpc.health.v1.Health/List":  GroupOpen,
	// Reflection describes the API, which is public (proto/), and grpcurl
	// needs it whatever the caller's role: any identity.
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      GroupAuthenticated,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": GroupAuthenticated,
}

// GroupOf returns the group of an RPC by full method name
// ("/evented.BusinessCoordinator/Handle"); ok is false for an RPC the
// policy does not know.
func GroupOf(fullMethod string) (g Group, ok bool) {
	g, ok = policy[fullMethod]
	return g, ok
}
