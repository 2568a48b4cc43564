package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/certtest"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
	"github.com/evented/evented/sdk"
)

// secureEvented runs evented itself (internal/server) on 127.0.0.1 with TLS
// (a certificate of ca) and static tokens: "writer" has the roles command
// and query, "reader" query only. It returns the command and query
// addresses and each name's token.
func secureEvented(t *testing.T, ca *certtest.CA) (cmdAddr, qryAddr string, tokens map[string]string) {
	t.Helper()
	tokens = map[string]string{"writer": auth.NewToken(), "reader": auth.NewToken()}
	var file strings.Builder
	file.WriteString("tokens:\n")
	for name, roles := range map[string]string{"writer": "command, query", "reader": "query"} {
		fmt.Fprintf(&file, "  - name: %s\n    sha256: %s\n    roles: [%s]\n", name, auth.HashToken(tokens[name]), roles)
	}
	tokensFile := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(tokensFile, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	pair := ca.Server(t, "evented", "127.0.0.1", "localhost")

	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, 0
	cfg.Server.TLS = config.TLS{CertFile: pair.CertFile, KeyFile: pair.KeyFile}
	cfg.Auth.TokensFile = tokensFile
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("evented: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("evented did not stop within 10s")
		}
	})
	return srv.CommandAddr(), srv.QueryAddr(), tokens
}

// TestDialEventedWithTLSAndToken: the Go SDK's Dial against evented itself
// with TLS and tokens: a token with command and query sends a command and
// reads its event back; a query-only token may not send it; without a
// token, or trusting another CA, nothing gets through.
func TestDialEventedWithTLSAndToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts evented")
	}
	ca := certtest.NewCA(t, "evented")
	cmdAddr, qryAddr, tokens := secureEvented(t, ca)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	dial := func(addr string, opts ...sdk.DialOption) (eventedpb.BusinessCoordinatorClient, eventedpb.EventQueryClient) {
		t.Helper()
		conn, err := sdk.Dial(addr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return eventedpb.NewBusinessCoordinatorClient(conn), eventedpb.NewEventQueryClient(conn)
	}
	command := func(root uuid.UUID) *eventedpb.CommandBook {
		return &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/examples.CreateCustomer", Value: []byte{10, 3, 'A', 'd', 'a'}}}},
		}
	}

	// The writer sends a command (placeholder logic: CreateCustomer →
	// CustomerCreated) and reads it back over the query port.
	writer, _ := dial(cmdAddr, sdk.WithCAFile(ca.CertFile), sdk.WithToken(tokens["writer"]))
	_, writerQuery := dial(qryAddr, sdk.WithCA(ca.PEM), sdk.WithToken(tokens["writer"]))
	root := uuid.New()
	reply, err := writer.Handle(ctx, command(root))
	if err != nil {
		t.Fatalf("Handle with the writer's token: %v", err)
	}
	if got := reply.GetBooks()[0].GetPages()[0].GetEvent().GetTypeUrl(); got != "type.googleapis.com/examples.CustomerCreated" {
		t.Errorf("Handle replied with event %q, want examples.CustomerCreated", got)
	}
	pages, err := readEvents(ctx, writerQuery, root)
	if err != nil {
		t.Fatalf("GetEvents with the writer's token: %v", err)
	}
	if len(pages) != 1 || pages[0].GetNum() != 0 || pages[0].GetEvent().GetTypeUrl() != "type.googleapis.com/examples.CustomerCreated" {
		t.Errorf("GetEvents read %v, want the one CustomerCreated at sequence 0", pages)
	}

	// The reader may read, but not send a command.
	reader, _ := dial(cmdAddr, sdk.WithCAFile(ca.CertFile), sdk.WithToken(tokens["reader"]))
	_, err = reader.Handle(ctx, command(uuid.New()))
	wantStatus(t, "Handle with the query-only token", err, codes.PermissionDenied, "token reader", "lacks role command")
	_, readerQuery := dial(qryAddr, sdk.WithCAFile(ca.CertFile), sdk.WithToken(tokens["reader"]))
	if pages, err := readEvents(ctx, readerQuery, root); err != nil || len(pages) != 1 {
		t.Errorf("GetEvents with the query-only token: %d events, %v; want 1", len(pages), err)
	}

	// No token; an unknown one.
	anonymous, _ := dial(cmdAddr, sdk.WithCAFile(ca.CertFile))
	_, err = anonymous.Handle(ctx, command(uuid.New()))
	wantStatus(t, "Handle without a token", err, codes.Unauthenticated, "no bearer token")
	_, anonymousQuery := dial(qryAddr, sdk.WithCAFile(ca.CertFile))
	_, err = readEvents(ctx, anonymousQuery, root)
	wantStatus(t, "GetEvents without a token", err, codes.Unauthenticated, "no bearer token")
	stranger, _ := dial(cmdAddr, sdk.WithCAFile(ca.CertFile), sdk.WithToken(auth.NewToken()))
	_, err = stranger.Handle(ctx, command(uuid.New()))
	wantStatus(t, "Handle with an unknown token", err, codes.Unauthenticated, "token not recognised")

	// Trusting another CA, the handshake fails: the token is never sent.
	other := certtest.NewCA(t, "other")
	misled, _ := dial(cmdAddr, sdk.WithCAFile(other.CertFile), sdk.WithToken(tokens["writer"]))
	_, err = misled.Handle(ctx, command(uuid.New()))
	wantStatus(t, "Handle trusting another CA", err, codes.Unavailable, "certificate")
}

// readEvents reads every event of a customer from sequence 0.
func readEvents(ctx context.Context, q eventedpb.EventQueryClient, root uuid.UUID) ([]*eventedpb.EventPage, error) {
	stream, err := q.GetEvents(ctx, &eventedpb.Query{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}})
	if err != nil {
		return nil, err
	}
	var pages []*eventedpb.EventPage
	for {
		book, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return pages, nil
		}
		if err != nil {
			return pages, err
		}
		pages = append(pages, book.GetPages()...)
	}
}

// wantStatus fails unless err has code and its message holds every part.
func wantStatus(t *testing.T, what string, err error, code codes.Code, parts ...string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Errorf("%s: got %v %q, want %v", what, st.Code(), st.Message(), code)
		return
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Errorf("%s: %v %q does not name %q", what, code, st.Message(), p)
		}
	}
}
