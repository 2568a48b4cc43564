package server

import (
	"log/slog"
	"testing"

	"google.golang.org/grpc"

	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/config"
)

// TestEveryRPCIsInThePolicy walks the services both gRPC servers register:
// an RPC the authorization policy does not map is denied to everyone, so a
// new one must be given its group.
func TestEveryRPCIsInThePolicy(t *testing.T) {
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, -1
	s, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	n := 0
	for port, g := range map[string]*grpc.Server{"command": s.cmdGRPC, "query": s.qryGRPC} {
		for svc, info := range g.GetServiceInfo() {
			for _, m := range info.Methods {
				n++
				full := "/" + svc + "/" + m.Name
				group, ok := auth.GroupOf(full)
				if !ok {
					t.Errorf("the %s port serves %s, which the authorization policy (internal/auth/policy.go) does not map", port, full)
				}
				t.Logf("%s port: %s → %s", port, full, group)
			}
		}
	}
	if n < 15 {
		t.Errorf("walked %d RPCs; the servers register fewer services than expected", n)
	}
}
