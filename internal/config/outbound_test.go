package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evented/evented/internal/certtest"
)

// TestServiceTLSValidation: every mistake in a service's tls block or
// token_file is reported naming the key, the value and what is allowed.
func TestServiceTLSValidation(t *testing.T) {
	ca := certtest.NewCA(t, "services")
	pair := ca.Client(t, "evented")
	other := ca.Client(t, "other")
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	token := file("token", "s3cret\n")
	missing := filepath.Join(dir, "missing.pem")
	notPEM := file("not.pem", "hello")
	tests := []struct {
		name  string
		tls   ServiceTLS
		token string
		addr  string // default remote.internal:50052
		want  string // "" means valid
	}{
		{"none", ServiceTLS{}, "", "", ""},
		{"system roots", ServiceTLS{Enabled: true}, "", "", ""},
		{"everything", ServiceTLS{CAFile: ca.CertFile, CertFile: pair.CertFile, KeyFile: pair.KeyFile, ServerName: "logic.internal"}, token, "", ""},
		{"missing CA file", ServiceTLS{CAFile: missing}, "", "",
			`business_logic[0].tls.ca_file: cannot read "` + missing + `": no such file or directory: want the PEM file of the service's CA`},
		{"CA file without a certificate", ServiceTLS{CAFile: notPEM}, "", "",
			`business_logic[0].tls.ca_file: "` + notPEM + `" holds no PEM certificate`},
		{"certificate without key", ServiceTLS{CertFile: pair.CertFile}, "", "",
			"business_logic[0].tls.key_file: empty while tls.cert_file is set"},
		{"key without certificate", ServiceTLS{KeyFile: pair.KeyFile}, "", "",
			"business_logic[0].tls.cert_file: empty while tls.key_file is set"},
		{"missing key file", ServiceTLS{CertFile: pair.CertFile, KeyFile: missing}, "", "",
			`business_logic[0].tls.key_file: cannot read "` + missing + `"`},
		{"key of another certificate", ServiceTLS{CertFile: pair.CertFile, KeyFile: other.KeyFile}, "", "",
			`business_logic[0].tls.cert_file: "` + pair.CertFile + `" with tls.key_file "` + other.KeyFile + `": tls: private key does not match public key`},
		{"server name with a port", ServiceTLS{Enabled: true, ServerName: "logic:443"}, "", "",
			`business_logic[0].tls.server_name: invalid value "logic:443": want a host name`},
		{"token in clear over the network", ServiceTLS{}, token, "",
			`business_logic[0].token_file: set while the connection to "remote.internal:50052" is plaintext`},
		{"token in clear to localhost", ServiceTLS{}, token, "localhost:50052", ""},
		{"token in clear to 127.0.0.1", ServiceTLS{}, token, "127.0.0.1:50052", ""},
		{"token in clear to ::1", ServiceTLS{}, token, "[::1]:50052", ""},
		{"missing token file", ServiceTLS{Enabled: true}, missing, "",
			`business_logic[0].token_file: cannot read "` + missing + `": no such file or directory: want a file holding the bearer token`},
		{"empty token file", ServiceTLS{Enabled: true}, file("empty", "\n"), "", "business_logic[0].token_file: "},
		{"token with a space", ServiceTLS{Enabled: true}, file("spaced", "two words"), "",
			"the token holds a space, a line break or a byte that is not printable ASCII"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr
			if addr == "" {
				addr = "remote.internal:50052"
			}
			c := Default()
			c.BusinessLogic = []BusinessLogic{{Domain: "customer", Address: addr, TLS: tc.tls, TokenFile: tc.token}}
			c.Projectors = []Consumer{{Name: "receipts", Address: addr, TLS: tc.tls, TokenFile: tc.token}}
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %q", err, tc.want)
			}
			// The same check holds for projectors and sagas.
			if p := strings.Replace(tc.want, "business_logic[0]", "projectors[0]", 1); !strings.Contains(err.Error(), p) {
				t.Errorf("projectors[0] not reported: %v", err)
			}
		})
	}
}

// TestServiceTLSFromFile: the keys load from YAML, unknown ones are named,
// and Print leaves them out of entries that do not set them.
func TestServiceTLSFromFile(t *testing.T) {
	ca := certtest.NewCA(t, "services")
	path := filepath.Join(t.TempDir(), "config.yaml")
	yaml := "business_logic:\n  - domain: customer\n    address: logic.internal:50052\n    tls:\n      ca_file: " + ca.CertFile +
		"\n      server_name: logic.internal\nsagas:\n  - name: fulfil\n    address: saga.internal:50053\n    tls:\n      ca_fil: x\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), "sagas[0].tls.ca_fil (line 11): unknown key; known keys: enabled, ca_file, cert_file, key_file, server_name") {
		t.Fatalf("got %v", err)
	}
	if got := cfg.BusinessLogic[0].TLS; got.CAFile != ca.CertFile || got.ServerName != "logic.internal" || !got.On() {
		t.Errorf("business_logic[0].tls = %+v", got)
	}
	if cfg.Sagas[0].TLS.On() {
		t.Errorf("sagas[0].tls = %+v, want off", cfg.Sagas[0].TLS)
	}
}

// TestREADMEServiceTLS: the security guide's example of the tls keys
// loads; the only complaints are the files it names, which this machine
// lacks.
func TestREADMEServiceTLS(t *testing.T) {
	b, err := os.ReadFile("../../docs/howto/security.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## TLS to business logic, projectors and sagas\n")
	if !ok {
		t.Fatal("docs/howto/security.md has no section TLS to business logic, projectors and sagas")
	}
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	block, _, _ := strings.Cut(rest, "```")
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Load(path, nil)
	for _, e := range unjoin(err) {
		if e != nil && !strings.Contains(e.Error(), "cannot read") {
			t.Errorf("README example: %v", e)
		}
	}
	if !cfg.BusinessLogic[0].TLS.On() || cfg.BusinessLogic[0].TokenFile == "" || !cfg.Sagas[0].TLS.Enabled {
		t.Errorf("README example loaded as %+v, %+v", cfg.BusinessLogic, cfg.Sagas)
	}
}
