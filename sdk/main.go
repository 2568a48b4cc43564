package sdk

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// Main is the whole main function of a service: it reads -host (env
// LISTEN_HOST; empty: every interface) and -port (env PORT, else
// defaultPort), serves svcs until SIGINT or SIGTERM, logs as JSON on
// standard error under the name service, and exits 1 when serving fails.
//
//	func main() { sdk.Main("customer", "50052", customer.New()) }
func Main(service, defaultPort string, svcs ...Service) {
	port := os.Getenv("PORT")
	if port == "" {
		port = defaultPort
	}
	host := flag.String("host", os.Getenv("LISTEN_HOST"), "interface to listen on (env LISTEN_HOST; empty: every interface)")
	flag.StringVar(&port, "port", port, "port to listen on (env PORT)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", service)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := net.JoinHostPort(*host, port)
	log.Info("serving", "addr", addr)
	if err := Serve(ctx, addr, svcs...); err != nil {
		log.Error("stopped", "err", err)
		stop()
		os.Exit(1)
	}
}
