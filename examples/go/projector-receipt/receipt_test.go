package main

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
	"github.com/evented/evented/sdk/sdktest"
)

const customerID = "bee85a38-babe-5251-8d7d-f8a8ed93ed9c"

var (
	now   = timestamppb.New(sdktest.Now)
	items = []*examplespb.LineItem{
		{ProductId: "sku-1", Name: "Widget", Quantity: 2, UnitPriceCents: 1000},
		{ProductId: "sku-2", Name: "Gadget", Quantity: 1, UnitPriceCents: 2500},
	}
	created = &examplespb.TransactionCreated{CustomerId: customerID, Items: items, SubtotalCents: 4500}
)

// The receipt has what TransactionCreated said (items, customer) and what
// TransactionCompleted said (total, payment, points): the projector folds
// the whole history (a defect of the original example was to see only
// the newest event).
func TestReceiptOfACompletedTransaction(t *testing.T) {
	id := sdk.Root("txn-1").String()
	sdktest.Projector(t, New).For("transaction", "txn-1").
		Given(created).
		When(&examplespb.TransactionCompleted{FinalTotalCents: 4500, PaymentMethod: "card", LoyaltyPointsEarned: 45, CompletedAt: now}).
		ThenProjection(&examplespb.Receipt{
			TransactionId: id, CustomerId: customerID, Items: items,
			SubtotalCents: 4500, FinalTotalCents: 4500, PaymentMethod: "card", LoyaltyPointsEarned: 45, CompletedAt: now,
			FormattedText: "Receipt for transaction " + id + "\n" +
				"Customer: " + customerID + "\n" +
				"2 x Widget @ $10.00 = $20.00\n" +
				"1 x Gadget @ $25.00 = $25.00\n" +
				"Subtotal: $45.00\n" +
				"Total: $45.00\n" +
				"Payment: card\n" +
				"Loyalty points earned: 45\n",
		})
}

func TestReceiptWithADiscount(t *testing.T) {
	id := sdk.Root("txn-2").String()
	sdktest.Projector(t, New).For("transaction", "txn-2").
		Given(created, &examplespb.DiscountApplied{DiscountType: "percentage", Value: 10, DiscountCents: 450}).
		When(&examplespb.TransactionCompleted{FinalTotalCents: 4050, PaymentMethod: "cash", LoyaltyPointsEarned: 40, CompletedAt: now}).
		ThenProjection(&examplespb.Receipt{
			TransactionId: id, CustomerId: customerID, Items: items,
			SubtotalCents: 4500, DiscountCents: 450, FinalTotalCents: 4050, PaymentMethod: "cash", LoyaltyPointsEarned: 40, CompletedAt: now,
			FormattedText: "Receipt for transaction " + id + "\n" +
				"Customer: " + customerID + "\n" +
				"2 x Widget @ $10.00 = $20.00\n" +
				"1 x Gadget @ $25.00 = $25.00\n" +
				"Subtotal: $45.00\n" +
				"Discount: -$4.50\n" +
				"Total: $40.50\n" +
				"Payment: cash\n" +
				"Loyalty points earned: 40\n",
		})
}

// evented may start the history at the transaction's snapshot.
func TestReceiptFromASnapshot(t *testing.T) {
	id := sdk.Root("txn-3").String()
	sdktest.Projector(t, New).For("transaction", "txn-3").
		GivenSnapshot(&examplespb.TransactionState{CustomerId: customerID, Items: items[:1], SubtotalCents: 2000, DiscountCents: 500, DiscountType: "coupon", Status: "pending"}, 2).
		When(&examplespb.TransactionCompleted{FinalTotalCents: 1500, PaymentMethod: "card", LoyaltyPointsEarned: 15}).
		ThenProjection(&examplespb.Receipt{
			TransactionId: id, CustomerId: customerID, Items: items[:1],
			SubtotalCents: 2000, DiscountCents: 500, FinalTotalCents: 1500, PaymentMethod: "card", LoyaltyPointsEarned: 15,
			FormattedText: "Receipt for transaction " + id + "\n" +
				"Customer: " + customerID + "\n" +
				"2 x Widget @ $10.00 = $20.00\n" +
				"Subtotal: $20.00\n" +
				"Discount: -$5.00\n" +
				"Total: $15.00\n" +
				"Payment: card\n" +
				"Loyalty points earned: 15\n",
		})
}

func TestNoReceiptBeforeCompletion(t *testing.T) {
	sdktest.Projector(t, New).For("transaction", "txn-4").When(created).ThenNoProjection()
	sdktest.Projector(t, New).For("transaction", "txn-4").Given(created).
		When(&examplespb.TransactionCancelled{Reason: "changed my mind"}).ThenNoProjection()
}

// A projector built for history refuses a book that cannot be one, naming
// the setting to fix.
func TestMisconfiguredWithoutHistory(t *testing.T) {
	event, err := anypb.New(&examplespb.TransactionCompleted{FinalTotalCents: 1})
	if err != nil {
		t.Fatal(err)
	}
	root := sdk.Root("txn-5")
	newestOnly := &eventedpb.EventBook{
		Cover: &eventedpb.Cover{Domain: "transaction", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.EventPage{{Sequence: &eventedpb.EventPage_Num{Num: 3}, Event: event}},
	}
	_, err = New().HandleSync(t.Context(), newestOnly)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("HandleSync of a book without history: %v, want FailedPrecondition", err)
	}
}
