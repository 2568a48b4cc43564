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
	"context"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/evented/evented/examples/go/internal/eventlog"
	"github.com/evented/evented/sdk"
)

// New returns the projector, logging events to out.
func New(out *slog.Logger, opts ...sdk.Option) *sdk.Projector[struct{}] {
	return eventlog.New("log-customer", out, opts...)
}

func main() {
	host := flag.String("host", os.Getenv("LISTEN_HOST"), "interface to listen on (env LISTEN_HOST; empty: every interface)")
	port := flag.String("port", envOr("PORT", "50056"), "port to listen on (env PORT)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "projector-log-customer")
	events := slog.New(slog.NewJSONHandler(os.Stdout, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := net.JoinHostPort(*host, *port)
	log.Info("serving evented.ProjectorCoordinator: projector log-customer", "addr", addr)
	if err := sdk.Serve(ctx, addr, New(events)); err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
