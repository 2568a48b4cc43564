// Command projector-receipt is the example receipt projector
// (evented.ProjectorCoordinator): a Receipt for each completed transaction.
// Configure it in evented as synchronous, with history: true (see New).
//
//	go run ./examples/go/projector-receipt -port 50055
//
// Flags: -host (env LISTEN_HOST; empty: every interface), -port (env PORT,
// default 50055).
package main

import (
	"github.com/evented/evented/sdk"
)

func main() {
	sdk.Main("projector-receipt", "50055", New())
}
