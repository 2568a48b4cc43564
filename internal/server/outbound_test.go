package server_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/certtest"
	"github.com/evented/evented/internal/config"
)

// tlsService serves echoLogic and syncProjector over TLS on 127.0.0.1,
// optionally requiring a client certificate signed by clientCA and a
// bearer token. It records who called.
type tlsService struct {
	addr  string
	mu    sync.Mutex
	calls []string // "<method> cn=<client CN> token=<token>"
}

func startTLSService(t *testing.T, cert certtest.Pair, clientCA *certtest.CA, token string) *tlsService {
	t.Helper()
	tc := &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12}
	if clientCA != nil {
		tc.ClientCAs, tc.ClientAuth = clientCA.Pool(), tls.RequireAndVerifyClientCert
	}
	s := &tlsService{}
	check := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		cn := ""
		if p, ok := peer.FromContext(ctx); ok {
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
				cn = ti.State.PeerCertificates[0].Subject.CommonName
			}
		}
		md, _ := metadata.FromIncomingContext(ctx)
		got := strings.Join(md.Get("authorization"), ",")
		s.mu.Lock()
		s.calls = append(s.calls, info.FullMethod+" cn="+cn+" token="+got)
		s.mu.Unlock()
		if token != "" && got != "Bearer "+token {
			return nil, status.Errorf(codes.Unauthenticated, "no valid bearer token")
		}
		return h(ctx, req)
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(tc)), grpc.UnaryInterceptor(check))
	eventedpb.RegisterBusinessLogicServer(g, echoLogic{})
	eventedpb.RegisterProjectorCoordinatorServer(g, syncProjector{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	s.addr = lis.Addr().String()
	return s
}

func (s *tlsService) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func handleOrder(t *testing.T, addr string) (*eventedpb.SynchronousProcessingResponse, error) {
	t.Helper()
	root := uuid.New()
	return eventedpb.NewBusinessCoordinatorClient(dial(t, addr)).Handle(t.Context(), &eventedpb.CommandBook{
		Cover: &eventedpb.Cover{Domain: "orders", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "Do"}}},
	})
}

// TestServicesOverTLS: evented reaches business logic and a synchronous
// projector over TLS, with its client certificate (mTLS) and a bearer
// token read from a file, each checked by the service.
func TestServicesOverTLS(t *testing.T) {
	ca := certtest.NewCA(t, "services")
	clients := certtest.NewCA(t, "clients")
	svc := startTLSService(t, ca.Server(t, "logic", "logic.internal"), clients, "s3cret")
	client := clients.Client(t, "evented")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sec := config.ServiceTLS{CAFile: ca.CertFile, CertFile: client.CertFile, KeyFile: client.KeyFile, ServerName: "logic.internal"}

	cfg := config.Default()
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "orders", Address: svc.addr, TLS: sec, TokenFile: tokenFile}}
	cfg.Projectors = []config.Consumer{{Name: "totals", Address: svc.addr, Synchronous: true, TLS: sec, TokenFile: tokenFile}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, _ := start(t, cfg)
	resp, err := handleOrder(t, srv.CommandAddr())
	if err != nil || len(resp.GetProjections()) != 1 {
		t.Fatalf("Handle over TLS: %v, %v", resp, err)
	}
	want := map[string]bool{
		"/evented.BusinessLogic/Handle cn=evented token=Bearer s3cret":            false,
		"/evented.ProjectorCoordinator/HandleSync cn=evented token=Bearer s3cret": false,
	}
	for _, c := range svc.seen() {
		if _, ok := want[c]; ok {
			want[c] = true
		}
	}
	for c, ok := range want {
		if !ok {
			t.Errorf("the service saw no call %q; it saw %q", c, svc.seen())
		}
	}
}

// TestServiceTLSFailures: a service whose certificate evented cannot
// verify, or that requires a client certificate evented lacks, is
// UNAVAILABLE with a message naming the service; nothing is stored.
func TestServiceTLSFailures(t *testing.T) {
	ca := certtest.NewCA(t, "services")
	other := certtest.NewCA(t, "other")
	clients := certtest.NewCA(t, "clients")
	stranger := other.Client(t, "stranger")
	cases := []struct {
		name     string
		clientCA *certtest.CA
		sec      config.ServiceTLS
		want     string
	}{
		{"wrong CA", nil, config.ServiceTLS{CAFile: other.CertFile}, "certificate"},
		{"wrong server name", nil, config.ServiceTLS{CAFile: ca.CertFile, ServerName: "elsewhere.internal"}, "elsewhere.internal"},
		{"plaintext to a TLS service", nil, config.ServiceTLS{}, ""},
		{"no client certificate for mTLS", clients, config.ServiceTLS{CAFile: ca.CertFile}, ""},
		{"client certificate of another CA", clients, config.ServiceTLS{CAFile: ca.CertFile,
			CertFile: stranger.CertFile, KeyFile: stranger.KeyFile}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := startTLSService(t, ca.Server(t, "logic", "127.0.0.1"), tc.clientCA, "")
			cfg := config.Default()
			cfg.BusinessLogic = []config.BusinessLogic{{Domain: "orders", Address: svc.addr, TLS: tc.sec}}
			srv, _ := start(t, cfg)
			_, err := handleOrder(t, srv.CommandAddr())
			st := status.Convert(err)
			if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), `business logic of domain "orders" at `+svc.addr) ||
				!strings.Contains(st.Message(), tc.want) {
				t.Fatalf("Handle: %v %q; want UNAVAILABLE naming the service and %q", st.Code(), st.Message(), tc.want)
			}
			t.Logf("%v: %s", st.Code(), st.Message())
			for _, c := range svc.seen() {
				t.Errorf("the service was called: %s", c)
			}
		})
	}
}
