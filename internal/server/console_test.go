package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

// consoleDo calls the console on the secured server's admin port.
func consoleDo(t *testing.T, s secured, method, path, token, body string) (int, string) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(s.ca.Cert)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), method, "https://"+s.srv.AdminAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestConsoleNeedsAdmin: with authentication on, the console's pages are
// served to anyone (they hold no data) and every API call needs a caller
// with role admin.
func TestConsoleNeedsAdmin(t *testing.T) {
	s := startSecured(t, nil)
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		if code, body := consoleDo(t, s, http.MethodGet, p, "", ""); code != http.StatusOK || body == "" {
			t.Errorf("GET %s without a token: %d, want 200 (the static console)", p, code)
		}
	}
	calls := []struct{ method, path, body string }{
		{"GET", "/api/overview", ""}, {"GET", "/api/aggregates", ""}, {"GET", "/api/log", ""},
		{"GET", "/api/tail?after=0", ""}, {"GET", "/api/subscriptions", ""}, {"GET", "/api/parked", ""},
		{"GET", "/api/config", ""}, {"GET", "/api/types", ""}, {"GET", "/api/aggregates/customer/cust-1", ""},
		{"GET", "/api/deadlines", ""}, {"GET", "/api/snapshots", ""},
		{"POST", "/api/send", `{"domain":"customer","id":"c1","type":"examples.CreateCustomer","payload":{}}`},
		{"POST", "/api/parked/x/replay", `{}`}, {"POST", "/api/parked/x/discard", `{"confirm":true}`},
		{"POST", "/api/subscriptions/x/reset", `{"confirm":true}`}, {"POST", "/api/cutover", `{}`},
	}
	for _, c := range calls {
		if code, body := consoleDo(t, s, c.method, c.path, "", c.body); code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d %q, want 401", c.method, c.path, code, body)
		}
		if code, body := consoleDo(t, s, c.method, c.path, s.tokens["commander"], c.body); code != http.StatusForbidden || !strings.Contains(body, "lacks role admin") {
			t.Errorf("%s %s as commander: %d %q, want 403 naming the role", c.method, c.path, code, body)
		}
	}
	for _, p := range []string{"/api/overview", "/api/config", "/api/log", "/api/parked"} {
		if code, body := consoleDo(t, s, http.MethodGet, p, s.tokens["operator"], ""); code != http.StatusOK {
			t.Errorf("GET %s as operator: %d %q, want 200", p, code, body)
		}
	}
	code, body := consoleDo(t, s, http.MethodPost, "/api/send", s.tokens["operator"],
		`{"domain":"customer","id":"cust-1","type":"examples.CreateCustomer","payload":{"name":"Ann"}}`)
	if code != http.StatusOK || !strings.Contains(body, "examples.CustomerCreated") {
		t.Fatalf("send as operator: %d %s", code, body)
	}
}

// TestConsoleConfigHidesSecrets: the configuration page names token files
// by path, never shows their content, and hides URL passwords.
func TestConsoleConfigHidesSecrets(t *testing.T) {
	s := startSecured(t, func(c *config.Config) {
		c.Bus = config.Bus{Type: "nats", URL: "nats://evented:hunter2@127.0.0.1:1"}
	})
	code, body := consoleDo(t, s, http.MethodGet, "/api/config", s.tokens["operator"], "")
	if code != http.StatusOK {
		t.Fatalf("config: %d %s", code, body)
	}
	var c struct{ YAML string }
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatal(err)
	}
	tokensPath := ""
	for _, line := range strings.Split(c.YAML, "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "tokens_file: "); ok {
			tokensPath, _, _ = strings.Cut(p, " #")
		}
	}
	raw, err := os.ReadFile(tokensPath)
	if err != nil {
		t.Fatalf("the tokens file's path is not shown (%q): %v\n%s", tokensPath, err, c.YAML)
	}
	if strings.Contains(body, "hunter2") {
		t.Errorf("the bus URL's password is shown:\n%s", c.YAML)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimSpace(line), "sha256: "); ok && strings.Contains(body, h) {
			t.Errorf("the tokens file's content is shown")
		}
	}
	for _, tok := range s.tokens {
		if strings.Contains(body, tok) {
			t.Errorf("a token is shown")
		}
	}
}

// TestConsoleDiscardNeedsConfirmation: a discard from the console (or
// DeliveryAdmin.DiscardParked) without confirm is refused, naming it.
func TestConsoleDiscardNeedsConfirmation(t *testing.T) {
	s := startSecured(t, func(c *config.Config) {
		c.Projectors = []config.Consumer{{Name: "ledger", Address: "127.0.0.1:1"}}
	})
	code, body := consoleDo(t, s, http.MethodPost, "/api/parked/ledger/discard", s.tokens["operator"], `{"aggregates":[]}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "confirm") {
		t.Errorf("discard without confirm: %d %s, want 400 naming confirm", code, body)
	}
	code, body = consoleDo(t, s, http.MethodPost, "/api/parked/ledger/discard", s.tokens["operator"], `{"confirm":true}`)
	if code != http.StatusOK || !strings.Contains(body, `"discarded":0`) {
		t.Errorf("discard with confirm: %d %s", code, body)
	}
}

// TestStartupLogNamesEverything: the start-up line names the config file,
// the store, every port and the console's URL.
func TestStartupLogNamesEverything(t *testing.T) {
	var logs syncBuffer
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, 0
	srv, err := server.New(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), server.WithSources(config.Sources{"storage.type": "file evented.yaml"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "evented serving"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no start-up line")
		}
	}
	line := logs.String()
	for _, want := range []string{"config=evented.yaml", "storage=memory", "command_port=" + srv.CommandAddr(), "query_port=" + srv.QueryAddr(),
		"admin_port=" + srv.AdminAddr(), "console=http://" + srv.AdminAddr() + "/"} {
		if !strings.Contains(line, want) {
			t.Errorf("the start-up log lacks %s:\n%s", want, line)
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
