// Package auth decides who a caller is and what it may call.
//
// An Authenticator turns what a call carries — a bearer token, a verified
// client certificate — into an Identity: a name, roles and optionally the
// domains it is limited to. Three sources are accepted, each optional:
//
//   - static tokens from a file (auth.tokens_file), stored as their SHA-256
//     so that the file reveals no token (HashToken, NewToken);
//   - JWTs from an OpenID Connect issuer (auth.oidc), verified with the
//     issuer's published keys (github.com/coreos/go-oidc);
//   - client certificates of mutual TLS (auth.mtls), by common name or DNS
//     name.
//
// The policy (GroupOf) maps every RPC evented serves to the Group, and so
// the role, it needs; an RPC missing from it is denied. The gRPC edge
// (internal/grpcapi) applies both to every call; the admin HTTP port does
// the same with the admin role.
//
// Errors are sentinel errors (ErrNoCredentials, ErrUnknownToken,
// ErrExpired, ErrInvalidToken, ErrUnknownCertificate) wrapped with what
// was wrong; Reason names each with a bounded word for metrics.
package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/evented/evented/internal/config"
)

// Roles; each allows one Group of RPCs.
const (
	RoleCommand = "command"
	RoleRecord  = "record"
	RoleQuery   = "query"
	RoleAdmin   = "admin"
)

// Identity is an authenticated caller.
type Identity struct {
	// Name is the token's name, the JWT's subject or the certificate's
	// name as configured.
	Name string
	// Source is "token", "oidc" or "mtls".
	Source string
	Roles  []string
	// Domains limits the identity to these domains; empty means all.
	Domains []string
}

// Has reports whether the identity holds role.
func (id *Identity) Has(role string) bool { return slices.Contains(id.Roles, role) }

// Allows reports whether the identity may touch domain.
func (id *Identity) Allows(domain string) bool {
	return len(id.Domains) == 0 || slices.Contains(id.Domains, domain)
}

// String names the identity for logs: "token billing".
func (id *Identity) String() string { return id.Source + " " + id.Name }

// Why a caller is not authenticated.
var (
	ErrNoCredentials      = errors.New("no credentials")
	ErrUnknownToken       = errors.New("token not recognised")
	ErrExpired            = errors.New("token expired")
	ErrInvalidToken       = errors.New("token not accepted")
	ErrUnknownCertificate = errors.New("client certificate not recognised")
)

// Reason is a bounded word for why an authentication failed, for a metric
// label: no_credentials, unknown_token, expired, invalid_token,
// unknown_certificate.
func Reason(err error) string {
	for _, r := range []struct {
		err  error
		word string
	}{
		{ErrNoCredentials, "no_credentials"},
		{ErrUnknownToken, "unknown_token"},
		{ErrExpired, "expired"},
		{ErrInvalidToken, "invalid_token"},
		{ErrUnknownCertificate, "unknown_certificate"},
	} {
		if errors.Is(err, r.err) {
			return r.word
		}
	}
	return "invalid_token"
}

// Authenticator authenticates callers; safe for concurrent use.
type Authenticator struct {
	tokens *tokenFile    // nil without auth.tokens_file
	oidc   *oidcVerifier // nil without auth.oidc
	mtls   map[string]config.MTLSIdentity
}

// New prepares the sources cfg configures: it reads the tokens file and,
// without auth.oidc.jwks_url, fetches the issuer's discovery document. It
// returns nil, nil when cfg configures none (authentication is off).
func New(ctx context.Context, cfg config.Auth, log *slog.Logger) (*Authenticator, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	a := &Authenticator{mtls: map[string]config.MTLSIdentity{}}
	if cfg.TokensFile != "" {
		t, err := openTokens(cfg.TokensFile, log)
		if err != nil {
			return nil, err
		}
		a.tokens = t
	}
	if cfg.OIDC.Issuer != "" {
		v, err := newOIDC(ctx, cfg.OIDC)
		if err != nil {
			return nil, err
		}
		a.oidc = v
	}
	for _, m := range cfg.MTLS {
		a.mtls[m.Name] = m
	}
	return a, nil
}

// Authenticate returns the identity of a caller that presented bearer (""
// when none) and cert (the verified client certificate, nil when none). A
// bearer token, when present, decides: a wrong one is refused even with a
// good certificate.
func (a *Authenticator) Authenticate(ctx context.Context, bearer string, cert *x509.Certificate) (*Identity, error) {
	if bearer != "" {
		return a.token(ctx, bearer)
	}
	if cert != nil && len(a.mtls) > 0 {
		for _, name := range certNames(cert) {
			if m, ok := a.mtls[name]; ok {
				return &Identity{Name: m.Name, Source: "mtls", Roles: m.Roles, Domains: m.Domains}, nil
			}
		}
		return nil, fmt.Errorf("%w: %s is not in auth.mtls", ErrUnknownCertificate, describeCert(cert))
	}
	if cert != nil {
		return nil, fmt.Errorf("%w: no bearer token (the client certificate gives no roles: auth.mtls is empty)", ErrNoCredentials)
	}
	return nil, fmt.Errorf("%w: no bearer token; send the metadata \"authorization: Bearer <token>\"", ErrNoCredentials)
}

func (a *Authenticator) token(ctx context.Context, bearer string) (*Identity, error) {
	if a.tokens != nil {
		if id := a.tokens.lookup(bearer); id != nil {
			return id, nil
		}
	}
	if a.oidc != nil && strings.Count(bearer, ".") == 2 {
		return a.oidc.verify(ctx, bearer)
	}
	if a.tokens == nil {
		return nil, fmt.Errorf("%w: not a JWT, and no static tokens are configured (auth.tokens_file)", ErrUnknownToken)
	}
	return nil, ErrUnknownToken
}

// certNames are the names a certificate may be configured by: its subject
// common name, then its DNS names.
func certNames(c *x509.Certificate) []string {
	var names []string
	if c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	return append(names, c.DNSNames...)
}

func describeCert(c *x509.Certificate) string {
	s := "certificate CN=" + fmt.Sprintf("%q", c.Subject.CommonName)
	if len(c.DNSNames) > 0 {
		s += " DNS=" + strings.Join(c.DNSNames, ",")
	}
	return s
}

// Bearer extracts the token of an "authorization" value: "Bearer <token>"
// (the scheme in any case). ok is false for any other form.
func Bearer(value string) (token string, ok bool) {
	scheme, token, found := strings.Cut(strings.TrimSpace(value), " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

type identityKey struct{}

// NewContext returns ctx carrying id, the caller authenticated for it.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the caller NewContext put in ctx, or nil.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}
