package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/evented/evented/internal/config"
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
