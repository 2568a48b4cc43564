// Command customer is the business logic of the example domain customer
// (evented.BusinessLogic): CreateCustomer, AddLoyaltyPoints,
// RedeemLoyaltyPoints.
//
//	go run ./examples/go/customer -port 50052
//
// Flags: -host (env LISTEN_HOST; empty: every interface), -port (env PORT,
// default 50052).
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
	port := flag.String("port", envOr("PORT", "50052"), "port to listen on (env PORT)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "customer")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := net.JoinHostPort(*host, *port)
	log.Info("serving evented.BusinessLogic for domain customer", "addr", addr)
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
