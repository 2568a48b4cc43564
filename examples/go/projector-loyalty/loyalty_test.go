package main

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
	"github.com/evented/evented/sdk/sdktest"
)

var created = &examplespb.CustomerCreated{Name: "Alice", Email: "alice@example.com"}

// The balance counts every point added and redeemed, whether the events
// are new or history: evented delivers the whole book (history: true).
func TestBalanceFoldsTheCustomersHistory(t *testing.T) {
	id := sdk.Root("customer-1").String()
	sdktest.Projector(t, New).For("customer", "customer-1").
		Given(created, &examplespb.LoyaltyPointsAdded{Points: 45, NewBalance: 45, Reason: "transaction t-1"}).
		When(&examplespb.LoyaltyPointsRedeemed{Points: 20, NewBalance: 25, RedemptionType: "voucher"},
			&examplespb.LoyaltyPointsAdded{Points: 10, NewBalance: 35, Reason: "welcome"}).
		ThenProjection(&examplespb.LoyaltyBalance{CustomerId: id, Name: "Alice", Points: 35, LifetimePoints: 55})
}

// A new customer has a balance of nothing, so a client watching it sees
// the customer from the start.
func TestANewCustomersBalance(t *testing.T) {
	id := sdk.Root("customer-2").String()
	sdktest.Projector(t, New).For("customer", "customer-2").When(created).
		ThenProjection(&examplespb.LoyaltyBalance{CustomerId: id, Name: "Alice"})
}

// evented may start the history at the customer's snapshot.
func TestBalanceFromASnapshot(t *testing.T) {
	id := sdk.Root("customer-3").String()
	sdktest.Projector(t, New).For("customer", "customer-3").
		GivenSnapshot(&examplespb.CustomerState{Name: "Bob", Email: "bob@example.com", LoyaltyPoints: 100, LifetimePoints: 120}, 20).
		When(&examplespb.LoyaltyPointsAdded{Points: 5, NewBalance: 105, Reason: "welcome"}).
		ThenProjection(&examplespb.LoyaltyBalance{CustomerId: id, Name: "Bob", Points: 105, LifetimePoints: 125})
}

// A projector built for history refuses a book that cannot be one, naming
// the setting to fix.
func TestMisconfiguredWithoutHistory(t *testing.T) {
	event, err := anypb.New(&examplespb.LoyaltyPointsAdded{Points: 5})
	if err != nil {
		t.Fatal(err)
	}
	root := sdk.Root("customer-4")
	newestOnly := &eventedpb.EventBook{
		Cover: &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.EventPage{{Sequence: &eventedpb.EventPage_Num{Num: 3}, Event: event}},
	}
	_, err = New().HandleSync(t.Context(), newestOnly)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("HandleSync of a book without history: %v, want FailedPrecondition", err)
	}
}
