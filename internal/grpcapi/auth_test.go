package grpcapi

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/config"
)

// An RPC the policy does not map is denied, even to a caller with every
// role; a mapped one goes through.
func TestGuardDeniesUnmappedRPCs(t *testing.T) {
	tok := auth.NewToken()
	p := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(p, []byte("tokens:\n  - name: root\n    sha256: "+auth.HashToken(tok)+"\n    roles: [command, record, query, admin]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(t.Context(), config.Auth{TokensFile: p}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var denied []string
	g := &Guard{Auth: a, Log: slog.New(slog.DiscardHandler), Denied: func(group auth.Group, reason string) {
		denied = append(denied, string(group)+"/"+reason)
	}}
	ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer "+tok))
	call := func(method string) (bool, error) {
		called := false
		_, err := g.Unary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) {
			called = true
			return nil, nil
		})
		return called, err
	}
	called, err := call("/evented.DeliveryAdmin/Purge")
	if st := status.Convert(err); called || st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), "not in evented's authorization policy") {
		t.Errorf("an unmapped RPC: called %v, %v; want PERMISSION_DENIED naming the policy", called, err)
	}
	if !slices.Equal(denied, []string{"unmapped/unmapped"}) {
		t.Errorf("denials counted: %v", denied)
	}
	if called, err := call("/evented.DeliveryAdmin/ReplayParked"); !called || err != nil {
		t.Errorf("a mapped RPC: called %v, %v", called, err)
	}
}
