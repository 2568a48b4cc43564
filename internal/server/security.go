package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/certs"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/console"
	"github.com/evented/evented/internal/grpcapi"
	"github.com/evented/evented/internal/metrics"
)

// security holds what secures the ports: TLS, the authenticator and the
// denial counter. Everything is nil when it is not configured.
type security struct {
	grpcTLS  *tls.Config // both gRPC ports
	adminTLS *tls.Config // the admin port
	authn    *auth.Authenticator
	denials  *metrics.Denials
}

// secure prepares TLS and authentication as cfg says.
func (s *Server) secure(ctx context.Context) error {
	log := s.log.With("component", "auth")
	missing := config.Exposure(s.cfg)
	if len(missing) > 0 && !s.cfg.Server.Insecure {
		// config.Load refuses this too; a Config built in code reaches here.
		return fmt.Errorf("server.host %q is not a loopback address, and the ports would have no %s: set them up, or set server.insecure: true",
			s.cfg.Server.Host, strings.Join(missing, " and no "))
	}
	if t := s.cfg.Server.TLS; t.CertFile != "" {
		files := certs.Files{Cert: t.CertFile, Key: t.KeyFile, ClientCA: t.ClientCAFile}
		g, err := certs.NewServer(files, []string{"h2"}, log)
		if err != nil {
			return err
		}
		a, err := certs.NewServer(files, []string{"http/1.1"}, log)
		if err != nil {
			return err
		}
		s.sec.grpcTLS, s.sec.adminTLS = g.Config(), a.Config()
	}
	authn, err := auth.New(ctx, s.cfg.Auth, log)
	if err != nil {
		return err
	}
	s.sec.authn = authn
	if authn != nil {
		s.sec.denials = s.metrics.NewDenials()
	}
	if len(missing) > 0 {
		s.log.Warn("listening beyond loopback with no "+strings.Join(missing, " and no ")+
			" (server.insecure is true): anyone who reaches the ports can read and write every event",
			"host", s.cfg.Server.Host)
	}
	return nil
}

// grpcOptions are the options that secure a gRPC server: TLS, then the
// guard before every other interceptor.
func (s *Server) securityOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if s.sec.grpcTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.sec.grpcTLS)))
	}
	if s.sec.authn != nil {
		g := &grpcapi.Guard{Auth: s.sec.authn, Log: s.log.With("component", "auth"),
			Denied: func(group auth.Group, reason string) { s.sec.denials.Deny(string(group), reason) }}
		opts = append(opts, g.Options()...)
	}
	return opts
}

// openPaths of the admin port need no credentials: probes carry none, and
// they tell only whether evented is up and ready. The console's static
// pages are open too (they hold no data); its API and /metrics are not.
var openPaths = map[string]bool{"/healthz": true, "/readyz": true}

func openPath(path string) bool {
	return openPaths[path] || (path != "/metrics" && !console.IsAPI(path))
}

// describe sums up the security of the ports for the start-up log.
func (sec *security) describe(cfg config.Config) []any {
	tlsMode := "off"
	if sec.grpcTLS != nil {
		tlsMode = "on"
		if cfg.Server.TLS.ClientCAFile != "" {
			tlsMode = "mutual"
		}
	}
	var sources []string
	if cfg.Auth.TokensFile != "" {
		sources = append(sources, "tokens")
	}
	if cfg.Auth.OIDC.Issuer != "" {
		sources = append(sources, "oidc")
	}
	if len(cfg.Auth.MTLS) > 0 {
		sources = append(sources, "mtls")
	}
	authMode := "off"
	if len(sources) > 0 {
		authMode = strings.Join(sources, ",")
	}
	return []any{"tls", tlsMode, "auth", authMode}
}

// adminAuth lets only admin callers through to h, when authentication is
// on: a bearer token in the Authorization header, or a client certificate.
func (s *Server) adminAuth(h http.Handler) http.Handler {
	if s.sec.authn == nil {
		return h
	}
	log := s.log.With("component", "auth")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openPath(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		deny := func(code int, reason, msg string) {
			s.sec.denials.Deny(string(auth.GroupAdmin), reason)
			log.Warn("admin port request denied", "path", r.URL.Path, "reason", reason, "peer", r.RemoteAddr, "err", msg)
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="evented"`)
			}
			http.Error(w, msg, code)
		}
		var bearer string
		if v := r.Header.Get("Authorization"); v != "" {
			tok, ok := auth.Bearer(v)
			if !ok {
				deny(http.StatusUnauthorized, "malformed", `Authorization header is not "Bearer <token>"`)
				return
			}
			bearer = tok
		}
		var cert *x509.Certificate
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			cert = r.TLS.VerifiedChains[0][0]
		}
		id, err := s.sec.authn.Authenticate(r.Context(), bearer, cert)
		if err != nil {
			deny(http.StatusUnauthorized, auth.Reason(err), fmt.Sprintf("%s needs a caller with role admin: %v", r.URL.Path, err))
			return
		}
		if !id.Has(auth.RoleAdmin) {
			deny(http.StatusForbidden, "missing_role", fmt.Sprintf("%s lacks role admin, which %s needs (it has: %s)", id, r.URL.Path, strings.Join(id.Roles, ", ")))
			return
		}
		h.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), id)))
	})
}
