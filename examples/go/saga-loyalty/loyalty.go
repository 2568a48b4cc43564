package main

import (
	"fmt"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// State is what the saga knows of a transaction: whose it is.
type State struct {
	CustomerID string
}

// New returns the loyalty saga: when a transaction is completed with
// points earned, it sends AddLoyaltyPoints to the transaction's customer —
// the customer_id of TransactionCreated, not the transaction's own id.
//
// The customer id is in an earlier event than TransactionCompleted, so the
// saga is built WithHistory and evented must deliver it books with
// history (history: true): each book then holds the transaction's
// snapshot, if any, and every event after it, and the saga reacts to the
// newest one. That suits this saga exactly: TransactionCompleted is the
// only event of its command and the last of a transaction.
func New(opts ...sdk.Option) *sdk.Saga[State] {
	saga := sdk.NewSaga[State]("loyalty", append([]sdk.Option{sdk.WithHistory()}, opts...)...)
	sdk.Apply(saga, func(s *State, e *examplespb.TransactionCreated) { s.CustomerID = e.GetCustomerId() })
	sdk.Restore(saga, func(s *State, snap *examplespb.TransactionState) { s.CustomerID = snap.GetCustomerId() })

	sdk.React(saga, func(s *State, e *examplespb.TransactionCompleted, ev sdk.Event) ([]sdk.Command, error) {
		if e.GetLoyaltyPointsEarned() <= 0 {
			return nil, nil
		}
		if s.CustomerID == "" {
			// A bug or a misconfiguration: fail, so evented retries and
			// then parks the event rather than crediting no one.
			return nil, fmt.Errorf("transaction %s has no customer_id in its history", ev.Cover.Root)
		}
		return []sdk.Command{{
			To: sdk.Cover{Domain: "customer", Root: sdk.Root(s.CustomerID)},
			Message: &examplespb.AddLoyaltyPoints{
				Points: e.GetLoyaltyPointsEarned(),
				Reason: "transaction " + ev.Cover.Root.String(),
			},
		}}, nil
	})
	return saga
}
