package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/evented/evented/internal/certs"
	"github.com/evented/evented/internal/config"
)

// security is how a client command proves itself and checks the server:
// TLS (--tls, --tls-ca, --tls-cert, --tls-key, --tls-server-name) and a
// bearer token (--token, --token-file, $EVENTED_TOKEN).
type security struct {
	tls        bool
	ca         string
	cert, key  string
	serverName string
	token      string
	tokenFile  string
}

func (s *security) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&s.tls, "tls", false, "connect with TLS, trusting the system's CAs (implied by the other --tls-* flags)")
	f.StringVar(&s.ca, "tls-ca", "", "PEM file of the CA that signed the server's certificate (implies --tls)")
	f.StringVar(&s.cert, "tls-cert", "", "PEM file of a client certificate, for mutual TLS (with --tls-key; implies --tls)")
	f.StringVar(&s.key, "tls-key", "", "PEM file of the client certificate's key")
	f.StringVar(&s.serverName, "tls-server-name", "", "name to check the server's certificate against (default: the host of the address)")
	f.StringVar(&s.token, "token", "", "bearer token sent in the authorization metadata (default $"+config.EnvToken+")")
	f.StringVar(&s.tokenFile, "token-file", "", "file holding the bearer token (its first line)")
	cmd.MarkFlagsMutuallyExclusive("token", "token-file")
	cmd.MarkFlagsRequiredTogether("tls-cert", "tls-key")
	for _, name := range []string{"tls-ca", "tls-cert", "tls-key", "token-file"} {
		cmd.MarkFlagFilename(name)
	}
}

func (s *security) enabled() bool {
	return s.tls || s.ca != "" || s.cert != "" || s.serverName != ""
}

// dialOptions are the transport credentials and the token of a connection.
func (s *security) dialOptions() ([]grpc.DialOption, error) {
	creds := insecure.NewCredentials()
	if s.enabled() {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.serverName}
		if s.ca != "" {
			pool, err := certs.Pool(s.ca)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			cfg.RootCAs = pool
		}
		if s.cert != "" {
			c, err := tls.LoadX509KeyPair(s.cert, s.key)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert %s and --tls-key %s: %w", s.cert, s.key, err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		creds = credentials.NewTLS(cfg)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	tok, err := s.bearer()
	if err != nil {
		return nil, err
	}
	if tok != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(tok)))
	}
	return opts, nil
}

// bearer is the token to send: --token, else --token-file, else
// $EVENTED_TOKEN; "" when none.
func (s *security) bearer() (string, error) {
	switch {
	case s.token != "":
		return s.token, nil
	case s.tokenFile != "":
		b, err := os.ReadFile(s.tokenFile)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if tok := strings.TrimSpace(line); tok != "" {
			return tok, nil
		}
		return "", fmt.Errorf("--token-file %s: the first line is empty; want the token", s.tokenFile)
	}
	return strings.TrimSpace(os.Getenv(config.EnvToken)), nil
}

// bearer sends a token as "authorization: Bearer <token>" on every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: a token may go over plaintext to a
// server on loopback; the server decides what it accepts.
func (bearer) RequireTransportSecurity() bool { return false }

// tlsHint says what to do when the connection failed for TLS reasons: the
// server's certificate is not trusted, or one side speaks TLS and the
// other does not. "" when msg shows no such cause.
func tlsHint(msg string, withTLS bool) string {
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "certificate"):
		return "The server's certificate is not trusted, or it wants a client certificate: pass its CA with --tls-ca, " +
			"--tls-server-name if the address is not a name in the certificate, and --tls-cert/--tls-key for mutual TLS"
	case withTLS && (strings.Contains(msg, "first record does not look like a TLS handshake") || strings.Contains(msg, "tls:")):
		return "The TLS handshake failed: does the server serve TLS (server.tls)? Without it, drop the --tls flags"
	case !withTLS && (strings.Contains(msg, "server preface") || strings.Contains(msg, "EOF") || strings.Contains(msg, "connection reset")):
		return "The server closed the connection: if it serves TLS (server.tls), pass --tls-ca FILE (or --tls for a certificate of a public CA)"
	}
	return ""
}
