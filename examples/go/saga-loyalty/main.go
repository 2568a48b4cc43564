// Command saga-loyalty is the example loyalty saga (evented.SagaCoordinator):
// a completed transaction earns its customer loyalty points. Configure it
// in evented with history: true (see New).
//
//	go run ./examples/go/saga-loyalty -port 50054
//
// Flags: -host (env LISTEN_HOST; empty: every interface), -port (env PORT,
// default 50054).
package main

import (
	"github.com/evented/evented/sdk"
)

func main() {
	sdk.Main("saga-loyalty", "50054", New())
}
