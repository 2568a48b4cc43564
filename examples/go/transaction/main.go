// Command transaction is the business logic of the example domain transaction
// (evented.BusinessLogic): CreateTransaction, ApplyDiscount,
// CompleteTransaction, CancelTransaction.
//
//	go run ./examples/go/transaction -port 50053
//
// Flags: -host (env LISTEN_HOST; empty: every interface), -port (env PORT,
// default 50053). TRANSACTION_TIMEOUT (a Go duration, default 30m) is how
// long a transaction may stay pending before a deadline cancels it.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/evented/evented/sdk"
)

func main() {
	timeout := DefaultOpenTimeout
	if v := os.Getenv("TRANSACTION_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "TRANSACTION_TIMEOUT=%q: want a positive duration such as 30m\n", v)
			os.Exit(2)
		}
		timeout = d
	}
	sdk.Main("transaction", "50053", NewWithTimeout(timeout))
}
