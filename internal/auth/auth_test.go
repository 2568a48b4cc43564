package auth_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/auth/authtest"
	"github.com/evented/evented/internal/config"
)

func oidcConfig(iss *authtest.Issuer) config.Auth {
	return config.Auth{OIDC: config.OIDC{Issuer: iss.URL, Audience: "evented", RolesClaim: "roles", DomainsClaim: "domains"}}
}

func TestOIDC(t *testing.T) {
	iss := authtest.NewIssuer(t)
	other := authtest.NewIssuer(t)
	for _, mode := range []string{"discovery", "jwks_url"} {
		t.Run(mode, func(t *testing.T) {
			cfg := oidcConfig(iss)
			if mode == "jwks_url" {
				cfg.OIDC.JWKSURL = iss.JWKS
			}
			a, err := auth.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			id, err := a.Authenticate(t.Context(), iss.Token(t, map[string]any{"sub": "billing", "roles": []string{"command", "query"}, "domains": "invoice"}), nil)
			if err != nil {
				t.Fatalf("a good token: %v", err)
			}
			if id.Name != "billing" || id.Source != "oidc" || !slices.Equal(id.Roles, []string{"command", "query"}) || !slices.Equal(id.Domains, []string{"invoice"}) {
				t.Errorf("identity %+v", id)
			}
			for _, tt := range []struct {
				name  string
				token string
				want  error
				text  string
			}{
				{"wrong audience", iss.Token(t, map[string]any{"aud": "someone-else"}), auth.ErrInvalidToken, "audience"},
				{"wrong issuer", other.Token(t, map[string]any{"iss": iss.URL}), auth.ErrInvalidToken, "signature"},
				{"issuer claim of another", iss.Token(t, map[string]any{"iss": other.URL}), auth.ErrInvalidToken, "issued by a different provider"},
				{"expired", iss.Token(t, map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}), auth.ErrExpired, "expired"},
				{"garbage", "a.b.c", auth.ErrInvalidToken, "malformed"},
			} {
				_, err := a.Authenticate(t.Context(), tt.token, nil)
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
					t.Errorf("%s: got %v, want %v naming %q", tt.name, err, tt.want, tt.text)
				}
			}
		})
	}
}

func TestOIDCNestedRolesClaim(t *testing.T) {
	iss := authtest.NewIssuer(t)
	cfg := oidcConfig(iss)
	cfg.OIDC.RolesClaim = "realm_access.roles"
	a, err := auth.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Authenticate(t.Context(), iss.Token(t, map[string]any{"realm_access": map[string]any{"roles": []string{"admin"}}}), nil)
	if err != nil || !id.Has("admin") {
		t.Fatalf("got %+v %v, want role admin from realm_access.roles", id, err)
	}
}

func TestOIDCDiscoveryFailsClearly(t *testing.T) {
	_, err := auth.New(t.Context(), config.Auth{OIDC: config.OIDC{Issuer: "http://127.0.0.1:1", Audience: "evented", RolesClaim: "roles"}}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `auth.oidc.issuer "http://127.0.0.1:1": discovery`) {
		t.Fatalf("got %v, want a discovery error naming auth.oidc.issuer", err)
	}
}

func writeTokens(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokensFile(t *testing.T) {
	tok := auth.NewToken()
	if !strings.HasPrefix(tok, "evt_") || len(tok) < 40 || tok == auth.NewToken() {
		t.Fatalf("NewToken gave %q", tok)
	}
	p := writeTokens(t, "tokens:\n  - name: billing\n    sha256: "+auth.HashToken(tok)+"\n    roles: [command]\n")
	a, err := auth.New(t.Context(), config.Auth{TokensFile: p}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Authenticate(t.Context(), tok, nil)
	if err != nil || id.Name != "billing" || !id.Has("command") || id.Has("admin") {
		t.Fatalf("got %+v %v", id, err)
	}
	if _, err := a.Authenticate(t.Context(), auth.HashToken(tok), nil); !errors.Is(err, auth.ErrUnknownToken) {
		t.Errorf("the hash itself as a token: %v, want ErrUnknownToken", err)
	}
	if _, err := a.Authenticate(t.Context(), "", nil); !errors.Is(err, auth.ErrNoCredentials) {
		t.Errorf("no token: %v, want ErrNoCredentials", err)
	}
}

func TestTokensFileErrors(t *testing.T) {
	for _, tt := range []struct{ file, want string }{
		{"tokens:\n  - name: a\n    sha256: secret\n    roles: [command]\n", "tokens[0].sha256: want the token's SHA-256 as 64 hex digits"},
		{"tokens:\n  - name: a\n    sha256: " + auth.HashToken("x") + "\n    roles: [write]\n", `tokens[0].roles[0]: invalid value "write": want one of command, record, query, admin`},
		{"tokens:\n  - name: a\n    sha256: " + auth.HashToken("x") + "\n    roles: [admin]\n    domains: [customer]\n", "tokens[0].domains: set with role admin"},
		{"tokens:\n  - sha256: " + auth.HashToken("x") + "\n    roles: [query]\n", "tokens[0].name: empty"},
		{"tokens:\n  - name: a\n    token: x\n", "field token not found"},
	} {
		_, err := auth.New(t.Context(), config.Auth{TokensFile: writeTokens(t, tt.file)}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "auth.tokens_file") {
			t.Errorf("%q: got %v, want auth.tokens_file … %s", tt.file, err, tt.want)
		}
	}
}

func TestTokensFileReloads(t *testing.T) {
	old, next := auth.NewToken(), auth.NewToken()
	p := writeTokens(t, "tokens:\n  - name: old\n    sha256: "+auth.HashToken(old)+"\n    roles: [query]\n")
	a, err := auth.New(t.Context(), config.Auth{TokensFile: p}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("tokens:\n  - name: next\n    sha256: "+auth.HashToken(next)+"\n    roles: [query]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, errNext := a.Authenticate(t.Context(), next, nil)
		_, errOld := a.Authenticate(t.Context(), old, nil)
		if errNext == nil && errors.Is(errOld, auth.ErrUnknownToken) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("5s after the file changed: new token %v, old token %v", errNext, errOld)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestBearer(t *testing.T) {
	for in, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer": "", "abc": "", "Bearer ": ""} {
		got, ok := auth.Bearer(in)
		if got != want || ok != (want != "") {
			t.Errorf("Bearer(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
