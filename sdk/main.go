package sdk

import (
	"context"
	"crypto/tls"
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
// With TLS_CERT_FILE and TLS_KEY_FILE set it serves TLS (ServeTLS), and
// with TLS_CLIENT_CA_FILE too it requires client certificates of that CA.
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
	var tc *tls.Config
	if cert, key := os.Getenv("TLS_CERT_FILE"), os.Getenv("TLS_KEY_FILE"); cert != "" || key != "" {
		var err error
		if tc, err = ServerTLSConfig(cert, key, os.Getenv("TLS_CLIENT_CA_FILE")); err != nil {
			log.Error("TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE", "err", err)
			stop()
			os.Exit(1)
		}
	}
	if err := listenAndServe(ctx, log, addr, tc, svcs); err != nil {
		log.Error("stopped", "err", err)
		stop()
		os.Exit(1)
	}
}

// listenAndServe listens on addr, then logs "serving" with the address it
// is bound to (the port picked for :0), then serves: a line that says
// serving is never followed by a failure to listen.
func listenAndServe(ctx context.Context, log *slog.Logger, addr string, tc *tls.Config, svcs []Service) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if tc != nil {
		log.Info("serving", "addr", lis.Addr().String(), "tls", true, "client_certificates", tc.ClientAuth == tls.RequireAndVerifyClientCert)
	} else {
		log.Info("serving", "addr", lis.Addr().String())
	}
	return serveListener(ctx, lis, tc, svcs)
}
