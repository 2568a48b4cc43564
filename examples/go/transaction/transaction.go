package main

import (
	"math"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// Statuses of a transaction.
const (
	Pending   = "pending"
	Completed = "completed"
	Cancelled = "cancelled"
)

// CouponCents is what any coupon takes off.
const CouponCents = 500

// DefaultOpenTimeout is how long a transaction may stay pending: then a
// deadline cancels it (reason "timeout"), unless it completed or was
// cancelled before. The service's TRANSACTION_TIMEOUT overrides it.
const DefaultOpenTimeout = 30 * time.Minute

// timeoutDeadline names the deadline within the transaction.
const timeoutDeadline = "timeout"

// State is a transaction as its business logic sees it.
type State struct {
	Status       string // "" while the transaction does not exist
	CustomerID   string
	Items        []*examplespb.LineItem
	Subtotal     int32
	Discount     int32
	DiscountType string
}

// New returns the business logic of domain transaction.
func New(opts ...sdk.Option) *sdk.Aggregate[State] {
	return NewWithTimeout(DefaultOpenTimeout, opts...)
}

// NewWithTimeout is New with the time a transaction may stay pending.
func NewWithTimeout(openTimeout time.Duration, opts ...sdk.Option) *sdk.Aggregate[State] {
	agg := sdk.NewAggregate[State]("transaction", opts...)

	sdk.Apply(agg, func(s *State, e *examplespb.TransactionCreated) {
		s.Status, s.CustomerID, s.Items, s.Subtotal = Pending, e.GetCustomerId(), e.GetItems(), e.GetSubtotalCents()
	})
	sdk.Apply(agg, func(s *State, e *examplespb.DiscountApplied) {
		s.Discount, s.DiscountType = e.GetDiscountCents(), e.GetDiscountType()
	})
	sdk.Apply(agg, func(s *State, _ *examplespb.TransactionCompleted) { s.Status = Completed })
	sdk.Apply(agg, func(s *State, _ *examplespb.TransactionCancelled) { s.Status = Cancelled })

	sdk.Snapshot(agg, func(s *State) *examplespb.TransactionState {
		return &examplespb.TransactionState{
			CustomerId: s.CustomerID, Items: s.Items, SubtotalCents: s.Subtotal,
			DiscountCents: s.Discount, DiscountType: s.DiscountType, Status: s.Status,
		}
	})
	sdk.Restore(agg, func(s *State, snap *examplespb.TransactionState) {
		*s = State{
			Status: snap.GetStatus(), CustomerID: snap.GetCustomerId(), Items: snap.GetItems(),
			Subtotal: snap.GetSubtotalCents(), Discount: snap.GetDiscountCents(), DiscountType: snap.GetDiscountType(),
		}
	})

	sdk.Handle(agg, func(s *State, c *examplespb.CreateTransaction) ([]proto.Message, error) {
		if c.GetCustomerId() == "" {
			return nil, sdk.Invalid("customer_id is required")
		}
		if len(c.GetItems()) == 0 {
			return nil, sdk.Invalid("at least one item is required")
		}
		var subtotal int64
		for i, it := range c.GetItems() {
			if it.GetQuantity() <= 0 {
				return nil, sdk.Invalidf("items[%d]: quantity must be positive, got %d", i, it.GetQuantity())
			}
			if it.GetUnitPriceCents() < 0 {
				return nil, sdk.Invalidf("items[%d]: unit_price_cents must not be negative, got %d", i, it.GetUnitPriceCents())
			}
			subtotal += int64(it.GetQuantity()) * int64(it.GetUnitPriceCents())
		}
		if subtotal > math.MaxInt32 {
			return nil, sdk.Invalidf("subtotal %d cents is too large", subtotal)
		}
		if s.Status != "" {
			return nil, sdk.Reject("transaction already exists")
		}
		return []proto.Message{&examplespb.TransactionCreated{
			CustomerId: c.GetCustomerId(), Items: c.GetItems(), SubtotalCents: int32(subtotal),
			CreatedAt: timestamppb.New(agg.Now()),
		}, sdk.At(timeoutDeadline, agg.Now().Add(openTimeout), &examplespb.CancelTransaction{Reason: "timeout"})}, nil
	})
	sdk.Handle(agg, func(s *State, c *examplespb.ApplyDiscount) ([]proto.Message, error) {
		var discount int64
		switch c.GetDiscountType() {
		case "percentage":
			if c.GetValue() < 0 || c.GetValue() > 100 {
				return nil, sdk.Invalidf("percentage must be between 0 and 100, got %d", c.GetValue())
			}
			discount = int64(s.Subtotal) * int64(c.GetValue()) / 100
		case "fixed":
			if c.GetValue() < 0 {
				return nil, sdk.Invalidf("fixed discount must not be negative, got %d", c.GetValue())
			}
			discount = min(int64(c.GetValue()), int64(s.Subtotal))
		case "coupon":
			if c.GetCouponCode() == "" {
				return nil, sdk.Invalid("coupon_code is required for a coupon")
			}
			discount = CouponCents
		default:
			return nil, sdk.Invalidf("discount_type must be percentage, fixed or coupon, got %q", c.GetDiscountType())
		}
		if err := pending(s); err != nil {
			return nil, err
		}
		if s.DiscountType != "" {
			return nil, sdk.Rejectf("a %s discount is already applied", s.DiscountType)
		}
		return []proto.Message{&examplespb.DiscountApplied{
			DiscountType: c.GetDiscountType(), Value: c.GetValue(), DiscountCents: int32(discount), CouponCode: c.GetCouponCode(),
		}}, nil
	})
	sdk.Handle(agg, func(s *State, c *examplespb.CompleteTransaction) ([]proto.Message, error) {
		if err := pending(s); err != nil {
			return nil, err
		}
		final := max(0, s.Subtotal-s.Discount)
		return []proto.Message{&examplespb.TransactionCompleted{
			FinalTotalCents: final, PaymentMethod: c.GetPaymentMethod(), LoyaltyPointsEarned: final / 100,
			CompletedAt: timestamppb.New(agg.Now()),
		}, sdk.Cancel(timeoutDeadline)}, nil
	})
	sdk.Handle(agg, func(s *State, c *examplespb.CancelTransaction) ([]proto.Message, error) {
		if err := pending(s); err != nil {
			return nil, err
		}
		return []proto.Message{&examplespb.TransactionCancelled{Reason: c.GetReason(), CancelledAt: timestamppb.New(agg.Now())},
			sdk.Cancel(timeoutDeadline)}, nil
	})
	return agg
}

// pending refuses any change to a transaction that is not pending.
func pending(s *State) error {
	switch s.Status {
	case Pending:
		return nil
	case "":
		return sdk.Reject("transaction does not exist")
	default:
		return sdk.Rejectf("transaction is %s, not pending", s.Status)
	}
}
