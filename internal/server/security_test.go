package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/auth/authtest"
	"github.com/evented/evented/internal/certs/certstest"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

// tokens writes a tokens file with one token per entry ("name": roles,
// domains) and returns the file and each name's token.
func tokens(t *testing.T, entries map[string][2][]string) (string, map[string]string) {
	t.Helper()
	var f auth.TokensFile
	plain := map[string]string{}
	for name, e := range entries {
		tok := auth.NewToken()
		plain[name] = tok
		f.Tokens = append(f.Tokens, auth.TokenEntry{Name: name, SHA256: auth.HashToken(tok), Roles: e[0], Domains: e[1]})
	}
	var b bytes.Buffer
	b.WriteString("tokens:\n")
	for _, e := range f.Tokens {
		fmt.Fprintf(&b, "  - name: %s\n    sha256: %s\n    roles: [%s]\n", e.Name, e.SHA256, strings.Join(e.Roles, ", "))
		if len(e.Domains) > 0 {
			fmt.Fprintf(&b, "    domains: [%s]\n", strings.Join(e.Domains, ", "))
		}
	}
	p := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, plain
}

// dialTLS connects to addr trusting ca, presenting cert when not nil.
func dialTLS(t *testing.T, addr string, ca *certstest.CA, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func withToken(ctx context.Context, tok string) context.Context {
	if tok == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func newCommand(domain string) *eventedpb.CommandBook {
	root := uuid.New()
	return &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: domain, Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/examples.CreateCustomer", Value: []byte{10, 1, 'A'}}}},
	}
}

func forgedBook(domain string) *eventedpb.EventBook {
	root := uuid.New()
	return &eventedpb.EventBook{
		Cover: &eventedpb.Cover{Domain: domain, Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.EventPage{{Sequence: &eventedpb.EventPage_Num{Num: 0}, Event: &anypb.Any{TypeUrl: "type.googleapis.com/x.Forged"}}},
	}
}

// wantCode fails unless err has code and its message contains every part.
func wantCode(t *testing.T, what string, err error, code codes.Code, parts ...string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Errorf("%s: got %v %q, want %v", what, st.Code(), st.Message(), code)
		return
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Errorf("%s: %v message %q does not name %q", what, code, st.Message(), p)
		}
	}
}

// secured is a server with TLS and static tokens.
type secured struct {
	srv    *server.Server
	ca     *certstest.CA
	tokens map[string]string
}

func startSecured(t *testing.T, change func(*config.Config)) secured {
	t.Helper()
	ca := certstest.NewCA(t, "evented-test")
	pair := ca.Server(t, t.TempDir(), "evented")
	file, toks := tokens(t, map[string][2][]string{
		"commander": {{"command"}},
		"reader":    {{"query"}},
		"recorder":  {{"record"}},
		"operator":  {{"admin"}},
		"customers": {{"command", "query"}, {"customer"}},
	})
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.Server.TLS = config.TLS{CertFile: pair.CertFile, KeyFile: pair.KeyFile}
	cfg.Auth.TokensFile = file
	if change != nil {
		change(&cfg)
	}
	srv, _ := start(t, cfg)
	return secured{srv: srv, ca: ca, tokens: toks}
}

func TestAuthRolesPerRPCGroup(t *testing.T) {
	s := startSecured(t, nil)
	cmd := dialTLS(t, s.srv.CommandAddr(), s.ca, nil)
	qry := dialTLS(t, s.srv.QueryAddr(), s.ca, nil)
	bc := eventedpb.NewBusinessCoordinatorClient(cmd)
	ctx := t.Context()
	as := func(name string) context.Context { return withToken(ctx, s.tokens[name]) }

	// No token, a wrong one, a malformed header.
	_, err := bc.Handle(ctx, newCommand("customer"))
	wantCode(t, "Handle without a token", err, codes.Unauthenticated, "no bearer token", "role command")
	_, err = bc.Handle(withToken(ctx, "evt_not-a-token"), newCommand("customer"))
	wantCode(t, "Handle with an unknown token", err, codes.Unauthenticated, "token not recognised")
	_, err = bc.Handle(metadata.AppendToOutgoingContext(ctx, "authorization", "Basic abc"), newCommand("customer"))
	wantCode(t, "Handle with Basic", err, codes.Unauthenticated, `"Bearer <token>"`)

	// Each role its group.
	if _, err := bc.Handle(as("commander"), newCommand("customer")); err != nil {
		t.Errorf("Handle as commander: %v", err)
	}
	_, err = bc.Record(as("commander"), forgedBook("customer"))
	wantCode(t, "Record as commander", err, codes.PermissionDenied, "token commander", "lacks role record")
	if _, err := bc.Record(as("recorder"), forgedBook("customer")); err != nil {
		t.Errorf("Record as recorder: %v", err)
	}

	// A query-only token can neither Handle nor Record.
	_, err = bc.Handle(as("reader"), newCommand("customer"))
	wantCode(t, "Handle as reader", err, codes.PermissionDenied, "token reader", "lacks role command", "/evented.BusinessCoordinator/Handle")
	_, err = bc.Record(as("reader"), forgedBook("customer"))
	wantCode(t, "Record as reader", err, codes.PermissionDenied, "lacks role record")
	eq := eventedpb.NewEventQueryClient(qry)
	if _, err := receiveAll(eq.GetAggregateRoots(as("reader"), &emptypb.Empty{})); err != nil {
		t.Errorf("GetAggregateRoots as reader: %v", err)
	}
	_, err = receiveAll(eq.GetAggregateRoots(as("commander"), &emptypb.Empty{}))
	wantCode(t, "GetAggregateRoots as commander", err, codes.PermissionDenied, "lacks role query")
	_, err = receiveAll(eq.GetAggregateRoots(ctx, &emptypb.Empty{}))
	wantCode(t, "GetAggregateRoots without a token", err, codes.Unauthenticated, "no bearer token")

	// Admin: DeliveryAdmin and the coordinator fan-out services.
	da := eventedpb.NewDeliveryAdminClient(cmd)
	_, err = receiveAll(da.ListSubscriptions(as("commander"), &emptypb.Empty{}))
	wantCode(t, "ListSubscriptions as commander", err, codes.PermissionDenied, "lacks role admin")
	_, err = da.ReplayParked(as("reader"), &eventedpb.ParkedQuery{Subscriber: "x"})
	wantCode(t, "ReplayParked as reader", err, codes.PermissionDenied, "lacks role admin")
	if _, err := receiveAll(da.ListSubscriptions(as("operator"), &emptypb.Empty{})); err != nil {
		t.Errorf("ListSubscriptions as operator: %v", err)
	}
	sc := eventedpb.NewSagaCoordinatorClient(cmd)
	pc := eventedpb.NewProjectorCoordinatorClient(cmd)
	for _, who := range []string{"commander", "recorder", "customers"} {
		_, err = sc.HandleSync(as(who), forgedBook("customer"))
		wantCode(t, "SagaCoordinator.HandleSync as "+who, err, codes.PermissionDenied, "lacks role admin")
		_, err = pc.Handle(as(who), forgedBook("customer"))
		wantCode(t, "ProjectorCoordinator.Handle as "+who, err, codes.PermissionDenied, "lacks role admin")
	}
	_, err = sc.Handle(ctx, forgedBook("customer"))
	wantCode(t, "SagaCoordinator.Handle without a token", err, codes.Unauthenticated)
	// An admin passes the guard; the book, not in the store, is refused
	// by the coordinator itself.
	_, err = sc.HandleSync(as("operator"), forgedBook("customer"))
	wantCode(t, "SagaCoordinator.HandleSync as operator", err, codes.FailedPrecondition, "not in the store")

	// Health stays open; reflection needs any identity.
	if h, err := healthpb.NewHealthClient(cmd).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without a token: %v %v", h, err)
	}
}

func TestAuthDomains(t *testing.T) {
	s := startSecured(t, nil)
	bc := eventedpb.NewBusinessCoordinatorClient(dialTLS(t, s.srv.CommandAddr(), s.ca, nil))
	eq := eventedpb.NewEventQueryClient(dialTLS(t, s.srv.QueryAddr(), s.ca, nil))
	ctx := t.Context()
	customers := withToken(ctx, s.tokens["customers"])
	if _, err := bc.Handle(withToken(ctx, s.tokens["commander"]), newCommand("order")); err != nil {
		t.Fatalf("Handle order as commander: %v", err)
	}
	c := newCommand("customer")
	if _, err := bc.Handle(customers, c); err != nil {
		t.Fatalf("Handle customer as customers: %v", err)
	}
	_, err := bc.Handle(customers, newCommand("order"))
	wantCode(t, "Handle order as customers", err, codes.PermissionDenied, "token customers", `domain "order"`, "it may: customer")

	if _, err := receiveAll(eq.GetEvents(customers, &eventedpb.Query{Domain: "customer", Root: c.GetCover().GetRoot()})); err != nil {
		t.Errorf("GetEvents customer as customers: %v", err)
	}
	_, err = receiveAll(eq.GetEvents(customers, &eventedpb.Query{Domain: "order", Root: c.GetCover().GetRoot()}))
	wantCode(t, "GetEvents order as customers", err, codes.PermissionDenied, `domain "order"`)

	// Synchronize checks every query of the stream.
	sync, err := eq.Synchronize(customers)
	if err != nil {
		t.Fatal(err)
	}
	if err := sync.Send(&eventedpb.Query{Domain: "order", Root: c.GetCover().GetRoot()}); err != nil {
		t.Fatal(err)
	}
	_, err = sync.Recv()
	wantCode(t, "Synchronize order as customers", err, codes.PermissionDenied, `domain "order"`)

	// The roots of other domains are left out.
	roots, err := receiveAll(eq.GetAggregateRoots(customers, &emptypb.Empty{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || roots[0].GetDomain() != "customer" {
		t.Errorf("GetAggregateRoots as customers: %v, want the customer root only", roots)
	}
	all, err := receiveAll(eq.GetAggregateRoots(withToken(ctx, s.tokens["reader"]), &emptypb.Empty{}))
	if err != nil || len(all) != 2 {
		t.Errorf("GetAggregateRoots as reader: %v %v, want both roots", all, err)
	}
}

// receive reads a server stream to its end.
func receiveAll[T any](stream grpc.ServerStreamingClient[T], err error) ([]*T, error) {
	if err != nil {
		return nil, err
	}
	var all []*T
	for range 10000 {
		m, err := stream.Recv()
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return all, err
		}
		all = append(all, m)
	}
	return all, fmt.Errorf("more than 10000 messages")
}

// adminGet fetches path from the admin port over TLS with token.
func adminGet(t *testing.T, s secured, path, token string, cert *tls.Certificate) (int, string) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(s.ca.Cert)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+s.srv.AdminAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestAdminPortNeedsAdmin(t *testing.T) {
	s := startSecured(t, nil)
	if code, body := adminGet(t, s, "/metrics", "", nil); code != http.StatusUnauthorized || !strings.Contains(body, "no bearer token") {
		t.Errorf("/metrics without a token: %d %q, want 401 naming the missing token", code, body)
	}
	if code, body := adminGet(t, s, "/metrics", s.tokens["reader"], nil); code != http.StatusForbidden || !strings.Contains(body, "lacks role admin") {
		t.Errorf("/metrics as reader: %d %q, want 403 naming the role", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := adminGet(t, s, p, "", nil); code != http.StatusOK {
			t.Errorf("%s without a token: %d, want 200 (probes carry no credentials)", p, code)
		}
	}
	// Denials are counted by group and reason.
	bc := eventedpb.NewBusinessCoordinatorClient(dialTLS(t, s.srv.CommandAddr(), s.ca, nil))
	_, err := bc.Handle(withToken(t.Context(), s.tokens["reader"]), newCommand("customer"))
	wantCode(t, "Handle as reader", err, codes.PermissionDenied)
	code, body := adminGet(t, s, "/metrics", s.tokens["operator"], nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics as operator: %d %q", code, body)
	}
	for _, want := range []string{
		`evented_auth_denials_total{group="admin",reason="no_credentials"} 1`,
		`evented_auth_denials_total{group="admin",reason="missing_role"} 1`,
		`evented_auth_denials_total{group="command",reason="missing_role"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestTLSWrongCAFailsHandshake(t *testing.T) {
	s := startSecured(t, nil)
	other := certstest.NewCA(t, "other")
	h := healthpb.NewHealthClient(dialTLS(t, s.srv.CommandAddr(), other, nil))
	_, err := h.Check(t.Context(), &healthpb.HealthCheckRequest{})
	wantCode(t, "health through a client that trusts another CA", err, codes.Unavailable, "certificate signed by unknown authority")
	// And a plaintext client gets nothing.
	_, err = healthpb.NewHealthClient(dial(t, s.srv.CommandAddr())).Check(t.Context(), &healthpb.HealthCheckRequest{})
	wantCode(t, "health through a plaintext client", err, codes.Unavailable)
}

func TestMutualTLS(t *testing.T) {
	clients := certstest.NewCA(t, "clients")
	dir := t.TempDir()
	billing := clients.Client(t, dir, "billing")
	ops := clients.Client(t, dir, "ops-1", "ops.example.com")
	stranger := clients.Client(t, dir, "stranger")
	rogue := certstest.NewCA(t, "rogue").Client(t, dir, "billing-rogue", "billing")
	s := startSecured(t, func(c *config.Config) {
		c.Server.TLS.ClientCAFile = clients.File
		c.Auth.MTLS = []config.MTLSIdentity{
			{Name: "billing", Roles: []string{"command"}},
			{Name: "ops.example.com", Roles: []string{"admin", "query"}}, // by DNS name
		}
	})
	ctx := t.Context()
	cert := func(p certstest.Pair) *tls.Certificate { c := p.TLS(t); return &c }

	// No client certificate, or one of another CA: no handshake.
	_, err := healthpb.NewHealthClient(dialTLS(t, s.srv.CommandAddr(), s.ca, nil)).Check(ctx, &healthpb.HealthCheckRequest{})
	wantCode(t, "health without a client certificate", err, codes.Unavailable)
	_, err = healthpb.NewHealthClient(dialTLS(t, s.srv.CommandAddr(), s.ca, cert(rogue))).Check(ctx, &healthpb.HealthCheckRequest{})
	wantCode(t, "health with a certificate of another CA", err, codes.Unavailable)

	// The certificate's identity gets its roles.
	bc := eventedpb.NewBusinessCoordinatorClient(dialTLS(t, s.srv.CommandAddr(), s.ca, cert(billing)))
	if _, err := bc.Handle(ctx, newCommand("customer")); err != nil {
		t.Errorf("Handle as billing's certificate: %v", err)
	}
	_, err = bc.Record(ctx, forgedBook("customer"))
	wantCode(t, "Record as billing's certificate", err, codes.PermissionDenied, "mtls billing", "lacks role record")
	da := eventedpb.NewDeliveryAdminClient(dialTLS(t, s.srv.CommandAddr(), s.ca, cert(ops)))
	if _, err := receiveAll(da.ListSubscriptions(ctx, &emptypb.Empty{})); err != nil {
		t.Errorf("ListSubscriptions as ops's certificate: %v", err)
	}
	_, err = eventedpb.NewBusinessCoordinatorClient(dialTLS(t, s.srv.CommandAddr(), s.ca, cert(stranger))).Handle(ctx, newCommand("customer"))
	wantCode(t, "Handle as a valid certificate not in auth.mtls", err, codes.Unauthenticated, `CN="stranger" is not in auth.mtls`)
	// A token still works beside certificates, and decides when sent.
	if _, err := bc.Record(withToken(ctx, s.tokens["recorder"]), forgedBook("customer")); err != nil {
		t.Errorf("Record with billing's certificate and the recorder token: %v", err)
	}
	// The admin port takes the certificate too.
	if code, body := adminGet(t, s, "/metrics", "", cert(ops)); code != http.StatusOK {
		t.Errorf("/metrics with ops's certificate: %d %q", code, body)
	}
	if code, _ := adminGet(t, s, "/metrics", "", cert(billing)); code != http.StatusForbidden {
		t.Errorf("/metrics with billing's certificate: %d, want 403", code)
	}
}

func TestCertificateReload(t *testing.T) {
	ca := certstest.NewCA(t, "reload")
	dir := t.TempDir()
	first := ca.Server(t, dir, "first")
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.Server.TLS = config.TLS{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	install := func(p certstest.Pair, mtime time.Time) {
		for from, to := range map[string]string{p.CertFile: cfg.Server.TLS.CertFile, p.KeyFile: cfg.Server.TLS.KeyFile} {
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to+".tmp", b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(to+".tmp", mtime, mtime); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(to+".tmp", to); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(first, time.Now().Add(-time.Minute))
	srv, _ := start(t, cfg)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	served := func(addr string) string {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("handshake with %s: %v", addr, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	for _, addr := range []string{srv.CommandAddr(), srv.QueryAddr(), srv.AdminAddr()} {
		if got := served(addr); got != "first" {
			t.Errorf("%s serves %q, want first", addr, got)
		}
	}
	install(ca.Server(t, dir, "second"), time.Now())
	for _, addr := range []string{srv.CommandAddr(), srv.QueryAddr(), srv.AdminAddr()} {
		if got := served(addr); got != "second" {
			t.Errorf("after the files changed, %s serves %q, want second", addr, got)
		}
	}
	// Files that do not load leave the last good certificate in use.
	if err := os.WriteFile(cfg.Server.TLS.CertFile, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := served(srv.CommandAddr()); got != "second" {
		t.Errorf("with a broken certificate file, serves %q, want second still", got)
	}
}

func TestBeyondLoopbackNeedsTLSAndAuth(t *testing.T) {
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.Server.Host = "0.0.0.0"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, -1
	_, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `server.host "0.0.0.0" is not a loopback address`) ||
		!strings.Contains(err.Error(), "no TLS and no authentication") || !strings.Contains(err.Error(), "server.insecure") {
		t.Fatalf("New on 0.0.0.0 without TLS or auth: %v, want a refusal naming what is missing", err)
	}
	if err := cfg.Validate(); err == nil {
		t.Error("Validate accepts 0.0.0.0 without TLS or auth")
	}

	cfg.Server.Insecure = true
	var logged bytes.Buffer
	srv, err := server.New(t.Context(), cfg, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatalf("New on 0.0.0.0 with server.insecure: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_ = srv.Run(ctx)
	if out := logged.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "no TLS and no authentication") {
		t.Errorf("server.insecure on 0.0.0.0 logged no warning naming what is missing:\n%s", out)
	}
}

func TestOIDCTokensOverGRPC(t *testing.T) {
	iss := authtest.NewIssuer(t)
	s := startSecured(t, func(c *config.Config) {
		c.Auth.TokensFile = ""
		c.Auth.OIDC = config.OIDC{Issuer: iss.URL, Audience: "evented", RolesClaim: "roles"}
	})
	bc := eventedpb.NewBusinessCoordinatorClient(dialTLS(t, s.srv.CommandAddr(), s.ca, nil))
	ctx := t.Context()
	if _, err := bc.Handle(withToken(ctx, iss.Token(t, map[string]any{"roles": []string{"command"}})), newCommand("customer")); err != nil {
		t.Errorf("Handle with a JWT holding role command: %v", err)
	}
	_, err := bc.Record(withToken(ctx, iss.Token(t, map[string]any{"sub": "svc-a", "roles": []string{"command"}})), forgedBook("customer"))
	wantCode(t, "Record with a JWT holding role command", err, codes.PermissionDenied, "oidc svc-a", "lacks role record")
	_, err = bc.Handle(withToken(ctx, iss.Token(t, map[string]any{"roles": []string{"command"}, "aud": "other"})), newCommand("customer"))
	wantCode(t, "Handle with a JWT for another audience", err, codes.Unauthenticated, "token not accepted", "audience")
	_, err = bc.Handle(withToken(ctx, iss.Token(t, map[string]any{"roles": []string{"command"}, "exp": time.Now().Add(-time.Minute).Unix()})), newCommand("customer"))
	wantCode(t, "Handle with an expired JWT", err, codes.Unauthenticated, "token expired")
}

// An anonymous call is refused before its request is read: garbage that
// would fail to decode gets UNAUTHENTICATED, not a decoding error.
func TestAnonymousRequestsAreNotDecoded(t *testing.T) {
	s := startSecured(t, nil)
	conn := dialTLS(t, s.srv.CommandAddr(), s.ca, nil)
	garbage := bytes.Repeat([]byte{0xff}, 1<<20)
	var reply []byte
	err := conn.Invoke(t.Context(), eventedpb.BusinessCoordinator_Handle_FullMethodName, &garbage, &reply, grpc.ForceCodec(rawCodec{}))
	wantCode(t, "anonymous garbage", err, codes.Unauthenticated, "no bearer token")
	// With a token, the same bytes are decoded (and refused as such).
	err = conn.Invoke(withToken(t.Context(), s.tokens["commander"]), eventedpb.BusinessCoordinator_Handle_FullMethodName, &garbage, &reply, grpc.ForceCodec(rawCodec{}))
	if status.Code(err) == codes.Unauthenticated || status.Code(err) == codes.OK {
		t.Errorf("garbage with a token: %v, want a decoding error", err)
	}
}
