package sdk_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/internal/certtest"
	"github.com/evented/evented/sdk"
)

// guarded starts a gRPC health server on 127.0.0.1 that requires TLS with
// cert, a client certificate of clientCA (if not nil) and the bearer token
// token, answering as evented's auth will: UNAUTHENTICATED without a valid
// token.
func guarded(t *testing.T, cert certtest.Pair, clientCA *certtest.CA, token string) string {
	t.Helper()
	tc := &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12}
	if clientCA != nil {
		tc.ClientCAs, tc.ClientAuth = clientCA.Pool(), tls.RequireAndVerifyClientCert
	}
	check := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		if got := md.Get(sdk.AuthorizationMetadata); len(got) != 1 || got[0] != "Bearer "+token {
			return nil, status.Errorf(codes.Unauthenticated, "want metadata authorization: Bearer <token>, got %d values", len(got))
		}
		return h(ctx, req)
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(tc)), grpc.UnaryInterceptor(check))
	healthpb.RegisterHealthServer(g, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func check(t *testing.T, addr string, opts ...sdk.DialOption) error {
	t.Helper()
	conn, err := sdk.Dial(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// TestDialWithTLSAndToken: Dial reaches a server that requires TLS, a
// client certificate and a token; without one of them the call fails with
// the code the server or the handshake gives.
func TestDialWithTLSAndToken(t *testing.T) {
	ca := certtest.NewCA(t, "evented")
	clients := certtest.NewCA(t, "clients")
	other := certtest.NewCA(t, "other")
	client := clients.Client(t, "orders-service")
	addr := guarded(t, ca.Server(t, "evented", "127.0.0.1", "evented.internal"), clients, "s3cret")

	if err := check(t, addr, sdk.WithCAFile(ca.CertFile), sdk.WithClientCertificate(client.CertFile, client.KeyFile), sdk.WithToken("s3cret")); err != nil {
		t.Errorf("TLS + client certificate + token: %v", err)
	}
	if err := check(t, addr, sdk.WithCA(ca.PEM), sdk.WithServerName("evented.internal"),
		sdk.WithClientCertificate(client.CertFile, client.KeyFile), sdk.WithToken("s3cret")); err != nil {
		t.Errorf("CA from memory, server name: %v", err)
	}
	for _, tc := range []struct {
		name string
		opts []sdk.DialOption
		code codes.Code
		want string
	}{
		{"no token", []sdk.DialOption{sdk.WithCAFile(ca.CertFile), sdk.WithClientCertificate(client.CertFile, client.KeyFile)},
			codes.Unauthenticated, "authorization"},
		{"wrong token", []sdk.DialOption{sdk.WithCAFile(ca.CertFile), sdk.WithClientCertificate(client.CertFile, client.KeyFile), sdk.WithToken("guess")},
			codes.Unauthenticated, "authorization"},
		{"wrong CA", []sdk.DialOption{sdk.WithCAFile(other.CertFile), sdk.WithClientCertificate(client.CertFile, client.KeyFile), sdk.WithToken("s3cret")},
			codes.Unavailable, "certificate signed by unknown authority"},
		{"wrong server name", []sdk.DialOption{sdk.WithCAFile(ca.CertFile), sdk.WithServerName("elsewhere"), sdk.WithClientCertificate(client.CertFile, client.KeyFile)},
			codes.Unavailable, "elsewhere"},
		{"no client certificate", []sdk.DialOption{sdk.WithCAFile(ca.CertFile), sdk.WithToken("s3cret")}, codes.Unavailable, ""},
		{"plaintext", nil, codes.Unavailable, ""},
	} {
		err := check(t, addr, tc.opts...)
		if st := status.Convert(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.want) {
			t.Errorf("%s: %v; want %v with %q", tc.name, err, tc.code, tc.want)
		}
	}
}

// TestDialRefusesATokenInClear: a token over plaintext goes to this
// machine only; bad files are errors naming them.
func TestDialRefusesATokenInClear(t *testing.T) {
	if _, err := sdk.Dial("evented.example.com:1313", sdk.WithToken("s3cret")); err == nil ||
		!strings.Contains(err.Error(), "a token without TLS would cross the network in clear") {
		t.Errorf("plaintext token to another host: %v", err)
	}
	for _, target := range []string{"localhost:1313", "127.0.0.1:1313", "[::1]:1313", "dns:///localhost:1313"} {
		conn, err := sdk.Dial(target, sdk.WithToken("s3cret"))
		if err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		conn.Close()
	}
	for _, tc := range []struct {
		opt  sdk.DialOption
		want string
	}{
		{sdk.WithCAFile("missing.pem"), "CA file: open missing.pem"},
		{sdk.WithCA([]byte("not PEM")), "no PEM certificate"},
		{sdk.WithClientCertificate("missing.pem", "missing-key.pem"), `client certificate "missing.pem" with key "missing-key.pem"`},
		{sdk.WithToken("two words"), "token: want printable ASCII"},
	} {
		if _, err := sdk.Dial("localhost:1313", tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

// TestServeTLS: business logic served with ServeTLS and a client CA is
// reached with a client certificate, and only with one.
func TestServeTLS(t *testing.T) {
	ca := certtest.NewCA(t, "services")
	clients := certtest.NewCA(t, "clients")
	server := ca.Server(t, "wallet", "127.0.0.1")
	client := clients.Client(t, "evented")
	tc, err := sdk.ServerTLSConfig(server.CertFile, server.KeyFile, clients.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sdk.ServeTLSListener(ctx, lis, tc, newWallet()) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeTLSListener: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the server did not stop")
		}
	}()

	conn, err := sdk.Dial(lis.Addr().String(), sdk.WithCAFile(ca.CertFile), sdk.WithClientCertificate(client.CertFile, client.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	out, err := eventedpb.NewBusinessLogicClient(conn).Handle(t.Context(), command(t, nil, &examplespb.CreateCustomer{Name: "A"}))
	if err != nil || len(out.GetPages()) != 1 {
		t.Errorf("Handle over mTLS: %v %v", out, err)
	}
	if err := check(t, lis.Addr().String(), sdk.WithCAFile(ca.CertFile)); status.Code(err) != codes.Unavailable {
		t.Errorf("without a client certificate: %v, want UNAVAILABLE", err)
	}

	if _, err := sdk.ServerTLSConfig(server.CertFile, client.KeyFile, ""); err == nil || !strings.Contains(err.Error(), "private key does not match") {
		t.Errorf("mismatched key: %v", err)
	}
}
