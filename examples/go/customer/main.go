// Command customer is the business logic of the example domain customer
// (evented.BusinessLogic): CreateCustomer, AddLoyaltyPoints,
// RedeemLoyaltyPoints; and its upcaster (evented.Upcaster), which turns
// the first version's CustomerSignedUp into CustomerCreated.
//
//	go run ./examples/go/customer -port 50052
//
// Flags: -host (env LISTEN_HOST; empty: every interface), -port (env PORT,
// default 50052).
package main

import (
	"github.com/evented/evented/sdk"
)

func main() {
	sdk.Main("customer", "50052", New(), NewUpcaster())
}
