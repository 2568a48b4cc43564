package main

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
	"github.com/evented/evented/sdk/sdktest"
)

const customerID = "bee85a38-babe-5251-8d7d-f8a8ed93ed9c" // sdk.Root("cust-001")

var (
	created   = &examplespb.TransactionCreated{CustomerId: customerID, SubtotalCents: 4500}
	completed = &examplespb.TransactionCompleted{FinalTotalCents: 4500, PaymentMethod: "card", LoyaltyPointsEarned: 45}
)

// The points go to the customer of TransactionCreated, not to the
// transaction's own id (a defect of the original example).
func TestCompletedTransactionCreditsItsCustomer(t *testing.T) {
	sdktest.Saga(t, New).For("transaction", "txn-1").
		Given(created).
		When(completed).
		ThenCommands(sdk.Command{
			To:      sdk.Cover{Domain: "customer", Root: sdk.Root("cust-001")},
			Message: &examplespb.AddLoyaltyPoints{Points: 45, Reason: "transaction " + sdk.Root("txn-1").String()},
		})
}

func TestCustomerFromTheTransactionSnapshot(t *testing.T) {
	sdktest.Saga(t, New).For("transaction", "txn-2").
		GivenSnapshot(&examplespb.TransactionState{CustomerId: customerID, SubtotalCents: 4500, Status: "pending"}, 3).
		When(completed).
		ThenCommands(sdk.Command{
			To:      sdk.Cover{Domain: "customer", Root: sdk.Root(customerID)},
			Message: &examplespb.AddLoyaltyPoints{Points: 45, Reason: "transaction " + sdk.Root("txn-2").String()},
		})
}

func TestNoPointsNoCommand(t *testing.T) {
	sdktest.Saga(t, New).For("transaction", "txn-3").
		Given(created).
		When(&examplespb.TransactionCompleted{FinalTotalCents: 99, LoyaltyPointsEarned: 0}).
		ThenCommands()
}

// Only the newest event of a history book is reacted to: the other events
// of the transaction send nothing.
func TestOtherEventsSendNothing(t *testing.T) {
	sdktest.Saga(t, New).For("transaction", "txn-4").When(created).ThenCommands()
	sdktest.Saga(t, New).For("transaction", "txn-4").Given(created).
		When(&examplespb.TransactionCancelled{Reason: "changed my mind"}).ThenCommands()
	sdktest.Saga(t, New).For("transaction", "txn-4").Given(created, completed).
		When(&examplespb.DiscountApplied{DiscountCents: 1}).ThenCommands() // cannot happen; must not credit twice
}

func TestTransactionWithoutCustomerFails(t *testing.T) {
	sdktest.Saga(t, New).For("transaction", "txn-5").
		Given(&examplespb.TransactionCreated{SubtotalCents: 4500}).
		When(completed).
		ThenFails(codes.Internal, "has no customer_id in its history")
}
