// Command projector-log-customer is the example projector log-customer
// (evented.ProjectorCoordinator): one JSON line per customer event on
// standard output (see package eventlog for the line). Configure it in
// evented as asynchronous, without history, for domain customer.
//
//	go run ./examples/go/projector-log-customer -port 50056
//
// Flags: -host (env LISTEN_HOST; empty: every interface), -port (env PORT,
// default 50056). The service's own messages go to standard error.
package main

import (
	"log/slog"
	"os"

	"github.com/evented/evented/examples/go/internal/eventlog"
	"github.com/evented/evented/sdk"
)

// New returns the projector, logging events to out.
func New(out *slog.Logger, opts ...sdk.Option) *sdk.Projector[struct{}] {
	return eventlog.New("log-customer", out, opts...)
}

func main() {
	events := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	sdk.Main("projector-log-customer", "50056", New(events))
}
