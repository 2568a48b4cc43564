package main

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// State is a transaction as the receipt needs it.
type State struct {
	CustomerID   string
	Items        []*examplespb.LineItem
	Subtotal     int32
	Discount     int32
	DiscountType string
	Completed    *examplespb.TransactionCompleted // nil until completed
}

// New returns the receipt projector: once a transaction is completed, its
// projection is a Receipt with the items, the customer, the amounts, the
// payment, the points earned and a printable text.
//
// The items and the customer are in TransactionCreated, the total in
// TransactionCompleted, so the projector is built WithHistory and evented
// must call it with history: true — every book then holds the whole
// transaction (from its latest snapshot on), and the state folded from it
// is complete. It runs synchronously, so the receipt is in the reply to
// CompleteTransaction.
func New(opts ...sdk.Option) *sdk.Projector[State] {
	p := sdk.NewProjector[State]("receipt", append([]sdk.Option{sdk.WithHistory()}, opts...)...)
	sdk.Apply(p, func(s *State, e *examplespb.TransactionCreated) {
		s.CustomerID, s.Items, s.Subtotal = e.GetCustomerId(), e.GetItems(), e.GetSubtotalCents()
	})
	sdk.Apply(p, func(s *State, e *examplespb.DiscountApplied) {
		s.Discount, s.DiscountType = e.GetDiscountCents(), e.GetDiscountType()
	})
	sdk.Apply(p, func(s *State, e *examplespb.TransactionCompleted) { s.Completed = e })
	sdk.Restore(p, func(s *State, snap *examplespb.TransactionState) {
		s.CustomerID, s.Items, s.Subtotal = snap.GetCustomerId(), snap.GetItems(), snap.GetSubtotalCents()
		s.Discount, s.DiscountType = snap.GetDiscountCents(), snap.GetDiscountType()
	})

	p.Project(func(s *State, last sdk.Event) (proto.Message, error) {
		if s.Completed == nil {
			return nil, nil // no receipt before the transaction is completed
		}
		r := &examplespb.Receipt{
			TransactionId:       last.Cover.Root.String(),
			CustomerId:          s.CustomerID,
			Items:               s.Items,
			SubtotalCents:       s.Subtotal,
			DiscountCents:       s.Discount,
			FinalTotalCents:     s.Completed.GetFinalTotalCents(),
			PaymentMethod:       s.Completed.GetPaymentMethod(),
			LoyaltyPointsEarned: s.Completed.GetLoyaltyPointsEarned(),
			CompletedAt:         s.Completed.GetCompletedAt(),
		}
		r.FormattedText = Format(r)
		return r, nil
	})
	return p
}

// Format prints a receipt; every example language prints the same text:
//
//	Receipt for transaction <transaction_id>
//	Customer: <customer_id>
//	<quantity> x <name> @ $<unit price> = $<quantity × unit price>   (one line per item)
//	Subtotal: $<subtotal>
//	Discount: -$<discount>                                          (only when there is one)
//	Total: $<final total>
//	Payment: <payment method>
//	Loyalty points earned: <points>
//
// Amounts are in units and cents ($45.00); each line ends with a newline.
func Format(r *examplespb.Receipt) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Receipt for transaction %s\n", r.GetTransactionId())
	fmt.Fprintf(&b, "Customer: %s\n", r.GetCustomerId())
	for _, it := range r.GetItems() {
		fmt.Fprintf(&b, "%d x %s @ %s = %s\n", it.GetQuantity(), it.GetName(), money(int64(it.GetUnitPriceCents())),
			money(int64(it.GetQuantity())*int64(it.GetUnitPriceCents())))
	}
	fmt.Fprintf(&b, "Subtotal: %s\n", money(int64(r.GetSubtotalCents())))
	if r.GetDiscountCents() > 0 {
		fmt.Fprintf(&b, "Discount: -%s\n", money(int64(r.GetDiscountCents())))
	}
	fmt.Fprintf(&b, "Total: %s\n", money(int64(r.GetFinalTotalCents())))
	fmt.Fprintf(&b, "Payment: %s\n", r.GetPaymentMethod())
	fmt.Fprintf(&b, "Loyalty points earned: %d\n", r.GetLoyaltyPointsEarned())
	return b.String()
}

func money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
}
