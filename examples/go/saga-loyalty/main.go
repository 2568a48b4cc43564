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
	"context"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/evented/evented/sdk"
)

func main() {
	host := flag.String("host", os.Getenv("LISTEN_HOST"), "interface to listen on (env LISTEN_HOST; empty: every interface)")
	port := flag.String("port", envOr("PORT", "50054"), "port to listen on (env PORT)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "saga-loyalty")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := net.JoinHostPort(*host, *port)
	log.Info("serving evented.SagaCoordinator: saga loyalty", "addr", addr)
	if err := sdk.Serve(ctx, addr, New()); err != nil {
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
