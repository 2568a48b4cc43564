package main

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk/sdktest"
)

var created = &examplespb.CustomerCreated{Name: "Alice", Email: "alice@example.com", CreatedAt: timestamppb.New(sdktest.Now)}

func TestCreateCustomer(t *testing.T) {
	sdktest.Aggregate(t, New).
		When(&examplespb.CreateCustomer{Name: "Alice", Email: "alice@example.com"}).
		Then(created).
		ThenSnapshot(&examplespb.CustomerState{Name: "Alice", Email: "alice@example.com"})
}

func TestCreateCustomerNeedsNameEmailAndANewCustomer(t *testing.T) {
	sdktest.Aggregate(t, New).When(&examplespb.CreateCustomer{Email: "alice@example.com"}).
		ThenRejected(codes.InvalidArgument, "name is required")
	sdktest.Aggregate(t, New).When(&examplespb.CreateCustomer{Name: "Alice"}).
		ThenRejected(codes.InvalidArgument, "email is required")
	sdktest.Aggregate(t, New).Given(created).
		When(&examplespb.CreateCustomer{Name: "Alice", Email: "alice@example.com"}).
		ThenRejected(codes.FailedPrecondition, "customer already exists")
}

func TestAddLoyaltyPoints(t *testing.T) {
	sdktest.Aggregate(t, New).
		Given(created, &examplespb.LoyaltyPointsAdded{Points: 10, NewBalance: 10}).
		When(&examplespb.AddLoyaltyPoints{Points: 45, Reason: "transaction t-1"}).
		Then(&examplespb.LoyaltyPointsAdded{Points: 45, NewBalance: 55, Reason: "transaction t-1"}).
		ThenSnapshot(&examplespb.CustomerState{Name: "Alice", Email: "alice@example.com", LoyaltyPoints: 55, LifetimePoints: 55})
}

func TestAddLoyaltyPointsNeedsACustomerAndPositivePoints(t *testing.T) {
	sdktest.Aggregate(t, New).When(&examplespb.AddLoyaltyPoints{Points: 5}).
		ThenRejected(codes.FailedPrecondition, "customer does not exist")
	sdktest.Aggregate(t, New).Given(created).When(&examplespb.AddLoyaltyPoints{Points: 0}).
		ThenRejected(codes.InvalidArgument, "points must be positive, got 0")
	sdktest.Aggregate(t, New).Given(created).When(&examplespb.AddLoyaltyPoints{Points: -3}).
		ThenRejected(codes.InvalidArgument, "points must be positive, got -3")
}

func TestRedeemLoyaltyPoints(t *testing.T) {
	sdktest.Aggregate(t, New).
		Given(created, &examplespb.LoyaltyPointsAdded{Points: 45, NewBalance: 45}).
		When(&examplespb.RedeemLoyaltyPoints{Points: 45, RedemptionType: "voucher"}).
		Then(&examplespb.LoyaltyPointsRedeemed{Points: 45, NewBalance: 0, RedemptionType: "voucher"}).
		ThenSnapshot(&examplespb.CustomerState{Name: "Alice", Email: "alice@example.com", LoyaltyPoints: 0, LifetimePoints: 45})
}

func TestRedeemMoreThanTheBalanceIsRejected(t *testing.T) {
	sdktest.Aggregate(t, New).
		Given(created, &examplespb.LoyaltyPointsAdded{Points: 45, NewBalance: 45},
			&examplespb.LoyaltyPointsRedeemed{Points: 20, NewBalance: 25}).
		When(&examplespb.RedeemLoyaltyPoints{Points: 26}).
		ThenRejected(codes.FailedPrecondition, "Insufficient points: have 25, need 26")
	sdktest.Aggregate(t, New).When(&examplespb.RedeemLoyaltyPoints{Points: 1}).
		ThenRejected(codes.FailedPrecondition, "customer does not exist")
}

// The state comes from the snapshot evented sends, then the events after it.
func TestStateFromSnapshotAndLaterEvents(t *testing.T) {
	sdktest.Aggregate(t, New).
		GivenSnapshot(&examplespb.CustomerState{Name: "Alice", Email: "alice@example.com", LoyaltyPoints: 30, LifetimePoints: 50}, 7).
		Given(&examplespb.LoyaltyPointsAdded{Points: 5, NewBalance: 35}).
		When(&examplespb.RedeemLoyaltyPoints{Points: 36}).
		ThenRejected(codes.FailedPrecondition, "Insufficient points: have 35, need 36")
	sdktest.Aggregate(t, New).
		GivenSnapshot(&examplespb.CustomerState{Name: "Alice", Email: "alice@example.com", LoyaltyPoints: 30, LifetimePoints: 50}, 7).
		Given(&examplespb.LoyaltyPointsAdded{Points: 5, NewBalance: 35}).
		When(&examplespb.RedeemLoyaltyPoints{Points: 35}).
		Then(&examplespb.LoyaltyPointsRedeemed{Points: 35, NewBalance: 0}).
		ThenSnapshot(&examplespb.CustomerState{Name: "Alice", Email: "alice@example.com", LoyaltyPoints: 0, LifetimePoints: 55})
}

// Two commands in one book: the second sees the first's events, and the
// events are numbered one after the other.
func TestCommandsOfOneBookSeeEachOther(t *testing.T) {
	sdktest.Aggregate(t, New).
		When(&examplespb.CreateCustomer{Name: "Alice", Email: "alice@example.com"},
			&examplespb.AddLoyaltyPoints{Points: 7}).
		Then(created, &examplespb.LoyaltyPointsAdded{Points: 7, NewBalance: 7})
}

func TestUpcasterSplitsTheContactLine(t *testing.T) {
	old, _ := anypb.New(&examplespb.CustomerSignedUp{Contact: "Olga Petrova <olga@example.com>"})
	resp, err := NewUpcaster().Upcast(t.Context(), &eventedpb.UpcastRequest{Events: []*eventedpb.UpcastEvent{{Event: old}}})
	if err != nil {
		t.Fatal(err)
	}
	var got examplespb.CustomerCreated
	if e := resp.GetEvents()[0]; e.GetSchemaVersion() != 2 || e.GetEvent().UnmarshalTo(&got) != nil ||
		got.GetName() != "Olga Petrova" || got.GetEmail() != "olga@example.com" {
		t.Errorf("CustomerSignedUp v1 became %v", e)
	}
	if name, email := SplitContact("Cher"); name != "Cher" || email != "" {
		t.Errorf("SplitContact(Cher) = %q, %q", name, email)
	}
}
