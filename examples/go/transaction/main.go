// Command transaction is the business logic of the example domain transaction
// (evented.BusinessLogic): CreateTransaction, ApplyDiscount,
// CompleteTransaction, CancelTransaction.
//
//	go run ./examples/go/transaction -port 50053
//
// Flags: -host (env LISTEN_HOST; empty: every interface), -port (env PORT,
// default 50053). TRANSACTION_TIMEOUT (seconds, default 1800) is how long a
// transaction may stay pending before a deadline cancels it.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/evented/evented/sdk"
)

func main() {
	timeout := DefaultOpenTimeout
	if v := os.Getenv("TRANSACTION_TIMEOUT"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs <= 0 {
			fmt.Fprintf(os.Stderr, "TRANSACTION_TIMEOUT=%q: want a positive number of seconds such as 1800\n", v)
			os.Exit(2)
		}
		timeout = time.Duration(secs * float64(time.Second))
	}
	sdk.Main("transaction", "50053", NewWithTimeout(timeout))
}
