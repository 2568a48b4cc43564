// Command projector-log-transaction is the example projector log-transaction
// (evented.ProjectorCoordinator): one JSON line per transaction event on
// standard output (see package eventlog for the line). Configure it in
// evented as asynchronous, without history, for domain transaction.
//
//	go run ./examples/go/projector-log-transaction -port 50057
//
// Flags: -host (env LISTEN_HOST; empty: every interface), -port (env PORT,
// default 50057). The service's own messages go to standard error.
package main

import (
	"log/slog"
	"os"

	"github.com/evented/evented/examples/go/internal/eventlog"
	"github.com/evented/evented/sdk"
)

// New returns the projector, logging events to out.
func New(out *slog.Logger, opts ...sdk.Option) *sdk.Projector[struct{}] {
	return eventlog.New("log-transaction", out, opts...)
}

func main() {
	events := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	sdk.Main("projector-log-transaction", "50057", New(events))
}
