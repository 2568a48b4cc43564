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
	port := flag.String("port", envOr("PORT", "50053"), "port to listen on (env PORT)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "transaction")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := net.JoinHostPort(*host, *port)
	log.Info("serving evented.BusinessLogic for domain transaction", "addr", addr)
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
