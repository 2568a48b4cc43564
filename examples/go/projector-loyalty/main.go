// Command projector-loyalty is the example projector loyalty-balance
// (evented.ProjectorCoordinator): each customer's loyalty balance, a read
// model that clients wait for (read-your-writes) and watch (subscription
// queries). Configure it in evented as asynchronous, for domain customer,
// with history: true and publish_projections: true (see New).
//
//	go run ./examples/go/projector-loyalty -port 50058
//
// Flags: -host (env LISTEN_HOST; empty: every interface), -port (env PORT,
// default 50058).
package main

import (
	"github.com/evented/evented/sdk"
)

func main() {
	sdk.Main("projector-loyalty", "50058", New())
}
