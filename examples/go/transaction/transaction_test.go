package main

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk/sdktest"
)

const customer = "bee85a38-babe-5251-8d7d-f8a8ed93ed9c"

var (
	now   = timestamppb.New(sdktest.Now)
	items = []*examplespb.LineItem{
		{ProductId: "sku-1", Name: "Widget", Quantity: 2, UnitPriceCents: 1000},
		{ProductId: "sku-2", Name: "Gadget", Quantity: 1, UnitPriceCents: 2500},
	}
	created = &examplespb.TransactionCreated{CustomerId: customer, Items: items, SubtotalCents: 4500, CreatedAt: now}
)

func TestCreateTransactionSumsTheItems(t *testing.T) {
	sdktest.Aggregate(t, New).
		When(&examplespb.CreateTransaction{CustomerId: customer, Items: items}).
		Then(created).
		ThenSnapshot(&examplespb.TransactionState{CustomerId: customer, Items: items, SubtotalCents: 4500, Status: "pending"})
}

func TestCreateTransactionValidates(t *testing.T) {
	for _, tc := range []struct {
		cmd  *examplespb.CreateTransaction
		code codes.Code
		msg  string
	}{
		{&examplespb.CreateTransaction{Items: items}, codes.InvalidArgument, "customer_id is required"},
		{&examplespb.CreateTransaction{CustomerId: customer}, codes.InvalidArgument, "at least one item is required"},
		{&examplespb.CreateTransaction{CustomerId: customer, Items: []*examplespb.LineItem{{Name: "x", Quantity: 0, UnitPriceCents: 1}}},
			codes.InvalidArgument, "items[0]: quantity must be positive, got 0"},
		{&examplespb.CreateTransaction{CustomerId: customer, Items: []*examplespb.LineItem{items[0], {Name: "x", Quantity: 1, UnitPriceCents: -1}}},
			codes.InvalidArgument, "items[1]: unit_price_cents must not be negative, got -1"},
		{&examplespb.CreateTransaction{CustomerId: customer, Items: []*examplespb.LineItem{{Name: "x", Quantity: 1 << 20, UnitPriceCents: 1 << 20}}},
			codes.InvalidArgument, "subtotal 1099511627776 cents is too large"},
	} {
		sdktest.Aggregate(t, New).When(tc.cmd).ThenRejected(tc.code, tc.msg)
	}
	sdktest.Aggregate(t, New).Given(created).
		When(&examplespb.CreateTransaction{CustomerId: customer, Items: items}).
		ThenRejected(codes.FailedPrecondition, "transaction already exists")
}

func TestDiscounts(t *testing.T) {
	for _, tc := range []struct {
		cmd   *examplespb.ApplyDiscount
		cents int32
	}{
		{&examplespb.ApplyDiscount{DiscountType: "percentage", Value: 10}, 450},
		{&examplespb.ApplyDiscount{DiscountType: "percentage", Value: 0}, 0},
		{&examplespb.ApplyDiscount{DiscountType: "percentage", Value: 100}, 4500},
		{&examplespb.ApplyDiscount{DiscountType: "fixed", Value: 700}, 700},
		{&examplespb.ApplyDiscount{DiscountType: "fixed", Value: 9000}, 4500}, // capped at the subtotal
		{&examplespb.ApplyDiscount{DiscountType: "coupon", CouponCode: "WELCOME"}, 500},
	} {
		sdktest.Aggregate(t, New).Given(created).When(tc.cmd).
			Then(&examplespb.DiscountApplied{DiscountType: tc.cmd.GetDiscountType(), Value: tc.cmd.GetValue(), DiscountCents: tc.cents, CouponCode: tc.cmd.GetCouponCode()})
	}
}

func TestDiscountsValidate(t *testing.T) {
	for _, tc := range []struct {
		cmd *examplespb.ApplyDiscount
		msg string
	}{
		{&examplespb.ApplyDiscount{DiscountType: "percentage", Value: 101}, "percentage must be between 0 and 100, got 101"},
		{&examplespb.ApplyDiscount{DiscountType: "percentage", Value: -1}, "percentage must be between 0 and 100, got -1"},
		{&examplespb.ApplyDiscount{DiscountType: "fixed", Value: -5}, "fixed discount must not be negative, got -5"},
		{&examplespb.ApplyDiscount{DiscountType: "coupon"}, "coupon_code is required for a coupon"},
		{&examplespb.ApplyDiscount{DiscountType: "bogof"}, `discount_type must be percentage, fixed or coupon, got "bogof"`},
	} {
		sdktest.Aggregate(t, New).Given(created).When(tc.cmd).ThenRejected(codes.InvalidArgument, tc.msg)
	}
	pct := &examplespb.ApplyDiscount{DiscountType: "percentage", Value: 10}
	sdktest.Aggregate(t, New).When(pct).ThenRejected(codes.FailedPrecondition, "transaction does not exist")
	sdktest.Aggregate(t, New).Given(created, &examplespb.DiscountApplied{DiscountType: "fixed", Value: 100, DiscountCents: 100}).
		When(pct).ThenRejected(codes.FailedPrecondition, "a fixed discount is already applied")
	sdktest.Aggregate(t, New).Given(created, &examplespb.TransactionCancelled{}).
		When(pct).ThenRejected(codes.FailedPrecondition, "transaction is cancelled, not pending")
}

func TestCompleteTransaction(t *testing.T) {
	sdktest.Aggregate(t, New).Given(created).
		When(&examplespb.CompleteTransaction{PaymentMethod: "card"}).
		Then(&examplespb.TransactionCompleted{FinalTotalCents: 4500, PaymentMethod: "card", LoyaltyPointsEarned: 45, CompletedAt: now}).
		ThenSnapshot(&examplespb.TransactionState{CustomerId: customer, Items: items, SubtotalCents: 4500, Status: "completed"})
	// 10% off 4500 is 4050: 40 points (one per 100 cents, rounded down).
	sdktest.Aggregate(t, New).Given(created, &examplespb.DiscountApplied{DiscountType: "percentage", Value: 10, DiscountCents: 450}).
		When(&examplespb.CompleteTransaction{PaymentMethod: "cash"}).
		Then(&examplespb.TransactionCompleted{FinalTotalCents: 4050, PaymentMethod: "cash", LoyaltyPointsEarned: 40, CompletedAt: now})
	// A coupon worth more than a small transaction: total 0, no points.
	small := &examplespb.TransactionCreated{CustomerId: customer, Items: items[:1], SubtotalCents: 300}
	sdktest.Aggregate(t, New).Given(small, &examplespb.DiscountApplied{DiscountType: "coupon", DiscountCents: 500, CouponCode: "X"}).
		When(&examplespb.CompleteTransaction{PaymentMethod: "card"}).
		Then(&examplespb.TransactionCompleted{FinalTotalCents: 0, PaymentMethod: "card", LoyaltyPointsEarned: 0, CompletedAt: now})
}

func TestCompleteOrCancelOnlyPendingTransactions(t *testing.T) {
	complete, cancel := &examplespb.CompleteTransaction{PaymentMethod: "card"}, &examplespb.CancelTransaction{Reason: "changed my mind"}
	sdktest.Aggregate(t, New).When(complete).ThenRejected(codes.FailedPrecondition, "transaction does not exist")
	sdktest.Aggregate(t, New).When(cancel).ThenRejected(codes.FailedPrecondition, "transaction does not exist")
	done := &examplespb.TransactionCompleted{FinalTotalCents: 4500, LoyaltyPointsEarned: 45}
	sdktest.Aggregate(t, New).Given(created, done).When(complete).ThenRejected(codes.FailedPrecondition, "transaction is completed, not pending")
	sdktest.Aggregate(t, New).Given(created, done).When(cancel).ThenRejected(codes.FailedPrecondition, "transaction is completed, not pending")
	sdktest.Aggregate(t, New).Given(created, &examplespb.TransactionCancelled{}).When(complete).
		ThenRejected(codes.FailedPrecondition, "transaction is cancelled, not pending")
}

func TestCancelTransaction(t *testing.T) {
	sdktest.Aggregate(t, New).Given(created).
		When(&examplespb.CancelTransaction{Reason: "changed my mind"}).
		Then(&examplespb.TransactionCancelled{Reason: "changed my mind", CancelledAt: now}).
		ThenSnapshot(&examplespb.TransactionState{CustomerId: customer, Items: items, SubtotalCents: 4500, Status: "cancelled"})
}

func TestStateFromSnapshot(t *testing.T) {
	sdktest.Aggregate(t, New).
		GivenSnapshot(&examplespb.TransactionState{CustomerId: customer, Items: items, SubtotalCents: 4500, DiscountCents: 500, DiscountType: "coupon", Status: "pending"}, 2).
		When(&examplespb.CompleteTransaction{PaymentMethod: "card"}).
		Then(&examplespb.TransactionCompleted{FinalTotalCents: 4000, PaymentMethod: "card", LoyaltyPointsEarned: 40, CompletedAt: now})
}
