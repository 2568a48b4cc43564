package main

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// State is a customer as its business logic sees it, rebuilt for every
// command from the latest snapshot and the events after it.
type State struct {
	Exists         bool
	Name, Email    string
	Points         int32 // the balance
	LifetimePoints int32 // every point ever added
}

// New returns the business logic of domain customer.
func New(opts ...sdk.Option) *sdk.Aggregate[State] {
	agg := sdk.NewAggregate[State]("customer", opts...)

	// How events change the state.
	sdk.Apply(agg, func(s *State, e *examplespb.CustomerCreated) {
		s.Exists, s.Name, s.Email = true, e.GetName(), e.GetEmail()
	})
	sdk.Apply(agg, func(s *State, e *examplespb.LoyaltyPointsAdded) {
		s.Points += e.GetPoints()
		s.LifetimePoints += e.GetPoints()
	})
	sdk.Apply(agg, func(s *State, e *examplespb.LoyaltyPointsRedeemed) {
		s.Points -= e.GetPoints()
	})

	// Snapshots: evented stores the state returned after each command and
	// sends it back instead of the events it folds.
	sdk.Snapshot(agg, func(s *State) *examplespb.CustomerState {
		return &examplespb.CustomerState{Name: s.Name, Email: s.Email, LoyaltyPoints: s.Points, LifetimePoints: s.LifetimePoints}
	})
	sdk.Restore(agg, func(s *State, snap *examplespb.CustomerState) {
		*s = State{Exists: true, Name: snap.GetName(), Email: snap.GetEmail(), Points: snap.GetLoyaltyPoints(), LifetimePoints: snap.GetLifetimePoints()}
	})

	// What commands mean. The command is checked first (INVALID_ARGUMENT),
	// then against the state (FAILED_PRECONDITION).
	sdk.Handle(agg, func(s *State, c *examplespb.CreateCustomer) ([]proto.Message, error) {
		switch {
		case c.GetName() == "":
			return nil, sdk.Invalid("name is required")
		case c.GetEmail() == "":
			return nil, sdk.Invalid("email is required")
		case s.Exists:
			return nil, sdk.Reject("customer already exists")
		}
		return []proto.Message{&examplespb.CustomerCreated{
			Name: c.GetName(), Email: c.GetEmail(), CreatedAt: timestamppb.New(agg.Now()),
		}}, nil
	})
	sdk.Handle(agg, func(s *State, c *examplespb.AddLoyaltyPoints) ([]proto.Message, error) {
		switch {
		case c.GetPoints() <= 0:
			return nil, sdk.Invalidf("points must be positive, got %d", c.GetPoints())
		case !s.Exists:
			return nil, sdk.Reject("customer does not exist")
		}
		return []proto.Message{&examplespb.LoyaltyPointsAdded{
			Points: c.GetPoints(), NewBalance: s.Points + c.GetPoints(), Reason: c.GetReason(),
		}}, nil
	})
	sdk.Handle(agg, func(s *State, c *examplespb.RedeemLoyaltyPoints) ([]proto.Message, error) {
		switch {
		case c.GetPoints() <= 0:
			return nil, sdk.Invalidf("points must be positive, got %d", c.GetPoints())
		case !s.Exists:
			return nil, sdk.Reject("customer does not exist")
		case c.GetPoints() > s.Points:
			return nil, sdk.Rejectf("Insufficient points: have %d, need %d", s.Points, c.GetPoints())
		}
		return []proto.Message{&examplespb.LoyaltyPointsRedeemed{
			Points: c.GetPoints(), NewBalance: s.Points - c.GetPoints(), RedemptionType: c.GetRedemptionType(),
		}}, nil
	})
	return agg
}
