package cli_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/evented/evented/internal/certs/certstest"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

// tlsServer runs a server with TLS and the tokens `evented token new`
// made: writer (command), reader (query) and ops (admin).
type tlsServer struct {
	srv    *server.Server
	ca     *certstest.CA
	tokens map[string]string
}

var tokenLine = regexp.MustCompile(`(?m)^#\s+(evt_\S+)$`)

func startTLS(t *testing.T) tlsServer {
	t.Helper()
	dir := t.TempDir()
	ca := certstest.NewCA(t, "cli-test")
	pair := ca.Server(t, dir, "evented")
	file := "tokens:\n"
	toks := map[string]string{}
	for name, role := range map[string]string{"writer": "command", "reader": "query", "ops": "admin"} {
		out := ok(t, "token", "new", name, "--role", role)
		m := tokenLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("evented token new printed no token:\n%s", out)
		}
		toks[name] = m[1]
		_, entry, found := strings.Cut(out, "tokens:\n")
		if !found {
			t.Fatalf("evented token new printed no entry:\n%s", out)
		}
		file += entry
	}
	tokensFile := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokensFile, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, -1
	cfg.Server.TLS = config.TLS{CertFile: pair.CertFile, KeyFile: pair.KeyFile}
	cfg.Auth.TokensFile = tokensFile
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10s")
		}
	})
	return tlsServer{srv: srv, ca: ca, tokens: toks}
}

func TestClientCommandsSpeakTLSAndTokens(t *testing.T) {
	s := startTLS(t)
	cmd, qry := "--command-addr="+s.srv.CommandAddr(), "--query-addr="+s.srv.QueryAddr()
	ca := "--tls-ca=" + s.ca.File
	send := []string{"send", "customer", "cust-001", "examples.CreateCustomer", `{"name":"Alice"}`, cmd, ca}

	// TLS and the right token.
	out := ok(t, append(send, "--token="+s.tokens["writer"])...)
	contains(t, "send over TLS", out, "examples.CustomerCreated")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(s.tokens["reader"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	contains(t, "events with --token-file", ok(t, "events", "customer", "cust-001", qry, ca, "--token-file="+tokenFile), "examples.CustomerCreated")
	t.Setenv(config.EnvToken, s.tokens["reader"])
	contains(t, "aggregates with $EVENTED_TOKEN", ok(t, "aggregates", qry, ca), "customer")
	t.Setenv(config.EnvToken, s.tokens["ops"])
	ok(t, "subscriptions", cmd, ca)
	t.Setenv(config.EnvToken, "")

	// No token, the wrong role.
	contains(t, "send without a token", fails(t, send...),
		"UNAUTHENTICATED", "no bearer token", "--token, --token-file or $EVENTED_TOKEN")
	contains(t, "send with a wrong token", fails(t, append(send, "--token=evt_wrong")...),
		"UNAUTHENTICATED", "token not recognised", "The server refused the token")
	contains(t, "send with a query token", fails(t, append(send, "--token="+s.tokens["reader"])...),
		"PERMISSION_DENIED", "token reader lacks role command")
	contains(t, "subscriptions with a command token", fails(t, "subscriptions", cmd, ca, "--token="+s.tokens["writer"]),
		"PERMISSION_DENIED", "lacks role admin")

	// TLS trouble says what to pass.
	contains(t, "send without the CA", fails(t, "send", "customer", "cust-001", "examples.CreateCustomer", "{}", cmd, "--tls", "--token="+s.tokens["writer"]),
		"certificate", "--tls-ca")
	contains(t, "send in plaintext to a TLS port", fails(t, "send", "customer", "cust-001", "examples.CreateCustomer", "{}", cmd, "--token="+s.tokens["writer"]),
		"if it serves TLS (server.tls), pass --tls-ca")
}

func TestTokenCommands(t *testing.T) {
	contains(t, "token new without a role", fails(t, "token", "new", "billing"), "no --role", "command, record, query, admin")
	contains(t, "token new with a bad role", fails(t, "token", "new", "billing", "--role", "write"), `--role "write"`)
	contains(t, "token new admin with a domain", fails(t, "token", "new", "ops", "--role", "admin", "--domain", "customer"), "--role admin with --domain")
	if got := strings.TrimSpace(ok(t, "token", "hash", "abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("token hash abc = %s, want SHA-256 of abc", got)
	}
}

func TestServeRefusesToListenBeyondLoopbackUnprotected(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EVENTED_STORAGE__TYPE", "memory")
	t.Setenv("EVENTED_SERVER__HOST", "0.0.0.0")
	for _, args := range [][]string{{"serve"}, {"config", "validate"}} {
		contains(t, "evented "+strings.Join(args, " ")+" on 0.0.0.0", fails(t, append(args, "--config", empty)...),
			`env EVENTED_SERVER__HOST: server.host: "0.0.0.0" is not a loopback address`, "no TLS and no authentication", "server.insecure: true")
	}
}
