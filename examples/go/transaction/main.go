// Command transaction is the business logic of the example domain transaction
// (evented.BusinessLogic): CreateTransaction, ApplyDiscount,
// CompleteTransaction, CancelTransaction.
//
//	go run ./examples/go/transaction -port 50053
//
// Flags: -host (env LISTEN_HOST; empty: every interface), -port (env PORT,
// default 50053).
package main

import (
	"github.com/evented/evented/sdk"
)

func main() {
	sdk.Main("transaction", "50053", New())
}
