package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/evented/evented/internal/config"
)

// oidcVerifier verifies JWTs of one OpenID Connect issuer.
type oidcVerifier struct {
	verifier *oidc.IDTokenVerifier
	cfg      config.OIDC
}

// oidcTimeout bounds the discovery at start and each fetch of the keys.
const oidcTimeout = 10 * time.Second

// signingAlgs are the JWT signature algorithms accepted with
// auth.oidc.jwks_url (discovery lists the issuer's own).
var signingAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

func newOIDC(ctx context.Context, cfg config.OIDC) (*oidcVerifier, error) {
	// The keys are fetched later too, with this client: not with ctx,
	// which only bounds the start.
	client := &http.Client{Timeout: oidcTimeout}
	keysCtx := oidc.ClientContext(context.Background(), client)
	vcfg := &oidc.Config{ClientID: cfg.Audience}
	if cfg.JWKSURL != "" {
		vcfg.SupportedSigningAlgs = signingAlgs
		keys := oidc.NewRemoteKeySet(keysCtx, cfg.JWKSURL)
		return &oidcVerifier{verifier: oidc.NewVerifier(cfg.Issuer, keys, vcfg), cfg: cfg}, nil
	}
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, client), oidcTimeout)
	defer cancel()
	p, err := oidc.NewProvider(dctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("auth.oidc.issuer %q: discovery (%s/.well-known/openid-configuration) failed: %w; "+
			"check the URL, or set auth.oidc.jwks_url to skip discovery", cfg.Issuer, strings.TrimSuffix(cfg.Issuer, "/"), err)
	}
	return &oidcVerifier{verifier: p.VerifierContext(keysCtx, vcfg), cfg: cfg}, nil
}

func (v *oidcVerifier) verify(ctx context.Context, raw string) (*Identity, error) {
	tok, err := v.verifier.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return nil, fmt.Errorf("%w at %s", ErrExpired, expired.Expiry.UTC().Format(time.RFC3339))
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, strings.TrimPrefix(err.Error(), "oidc: "))
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	id := &Identity{Name: tok.Subject, Source: "oidc"}
	if id.Name == "" {
		id.Name = "(no sub)"
	}
	id.Roles = words(claim(claims, v.cfg.RolesClaim))
	if v.cfg.DomainsClaim != "" {
		id.Domains = words(claim(claims, v.cfg.DomainsClaim))
	}
	return id, nil
}

// claim follows a dotted path into the claims: "realm_access.roles".
func claim(claims map[string]any, path string) any {
	var cur any = claims
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// words reads a claim that lists words: a JSON list of strings, or one
// string of space-separated words (as OAuth's scope).
func words(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
