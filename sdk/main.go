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
	var err error
	if cert, key := os.Getenv("TLS_CERT_FILE"), os.Getenv("TLS_KEY_FILE"); cert != "" || key != "" {
		tc, terr := ServerTLSConfig(cert, key, os.Getenv("TLS_CLIENT_CA_FILE"))
		if terr != nil {
			log.Error("TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE", "err", terr)
			stop()
			os.Exit(1)
		}
		log.Info("serving", "addr", addr, "tls", true, "client_certificates", tc.ClientAuth == tls.RequireAndVerifyClientCert)
		err = ServeTLS(ctx, addr, tc, svcs...)
	} else {
		log.Info("serving", "addr", addr)
		err = Serve(ctx, addr, svcs...)
	}
	if err != nil {
		log.Error("stopped", "err", err)
		stop()
		os.Exit(1)
	}
}
