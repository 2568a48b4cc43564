package console_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
	"github.com/evented/evented/sdk"
)

// TestConsoleAggregateNames: the aggregates listing names a root whose
// first event keeps the name it was derived from, though the console
// never saw that name (the event came through the gRPC port), and leaves
// others unnamed. No browser needed.
func TestConsoleAggregateNames(t *testing.T) {
	cfg := config.Default()
	cfg.Storage.Type = "memory"
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, 0
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })

	cc, err := grpc.NewClient(srv.CommandAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	record := func(id, name string) {
		t.Helper()
		ev, err := anypb.New(&examplespb.CustomerCreated{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		root := sdk.Root(id)
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = eventedpb.NewBusinessCoordinatorClient(cc).Record(rctx, &eventedpb.EventBook{
			Cover: &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.EventPage{{Event: ev}},
		})
		if err != nil {
			t.Fatalf("record %s: %v", id, err)
		}
	}
	record("Named", "Named")
	record("anonymous", "Someone Else")

	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(srv.ConsoleURL() + "api/aggregates?domain=customer")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Aggregates []struct{ Domain, Root, Name string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, a := range got.Aggregates {
		names[a.Root] = a.Name
	}
	if n, ok := names[sdk.Root("Named").String()]; !ok || n != "Named" {
		t.Errorf("root of Named listed as %q (listed: %v)", n, ok)
	}
	if n, ok := names[sdk.Root("anonymous").String()]; !ok || n != "" {
		t.Errorf("root of anonymous listed as %q (listed: %v)", n, ok)
	}
}
