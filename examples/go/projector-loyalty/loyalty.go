package main

import (
	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// State is a customer as the balance needs it.
type State struct {
	Name           string
	Points         int32 // to spend now
	LifetimePoints int32 // every point ever added
}

// New returns the loyalty-balance projector: its projection of a customer
// is a LoyaltyBalance with the customer's name and points.
//
// It keeps no storage of its own: evented calls it with history: true, so
// every book holds the customer's events from the latest snapshot on, and
// the balance is folded from them. It runs asynchronously, never slowing a
// command down, with publish_projections: true: evented then asks it
// HandleSync on every delivery and keeps the balance it returns, which
// clients read once a command has waited for it (evented-wait-for:
// loyalty-balance) and watch with a subscription query.
//
// It is not called loyalty: that is the saga's name, and projectors and
// sagas share one namespace of subscriber names.
func New(opts ...sdk.Option) *sdk.Projector[State] {
	p := sdk.NewProjector[State]("loyalty-balance", append([]sdk.Option{sdk.WithHistory()}, opts...)...)
	sdk.Apply(p, func(s *State, e *examplespb.CustomerCreated) { s.Name = e.GetName() })
	sdk.Apply(p, func(s *State, e *examplespb.LoyaltyPointsAdded) {
		s.Points += e.GetPoints()
		s.LifetimePoints += e.GetPoints()
	})
	sdk.Apply(p, func(s *State, e *examplespb.LoyaltyPointsRedeemed) { s.Points -= e.GetPoints() })
	sdk.Restore(p, func(s *State, snap *examplespb.CustomerState) {
		*s = State{Name: snap.GetName(), Points: snap.GetLoyaltyPoints(), LifetimePoints: snap.GetLifetimePoints()}
	})
	p.Project(func(s *State, last sdk.Event) (proto.Message, error) {
		return &examplespb.LoyaltyBalance{
			CustomerId: last.Cover.Root.String(), Name: s.Name, Points: s.Points, LifetimePoints: s.LifetimePoints,
		}, nil
	})
	return p
}
