package cluster

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
)

// timeoutLogic is business logic of domain "txn": Open stores Opened and
// schedules Expire for the same transaction after delay; Expire stores
// Expired (every time: only the deadline's idempotency key keeps a
// repeated firing from applying twice).
type timeoutLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
	delay time.Duration
}

func (l *timeoutLogic) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	cover := in.GetCommand().GetCover()
	typ := in.GetCommand().GetPages()[0].GetCommand().GetTypeUrl()
	out := &eventedpb.EventBook{Cover: cover}
	switch typ {
	case "type.googleapis.com/test.Open":
		out.Pages = []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "type.googleapis.com/test.Opened"}}}
		out.Deadlines = []*eventedpb.Deadline{{
			Id:  "txn-timeout/" + uuid.UUID(cover.GetRoot().GetValue()).String(),
			Due: timestamppb.New(time.Now().Add(l.delay)),
			Command: &eventedpb.CommandBook{Cover: cover, Pages: []*eventedpb.CommandPage{
				{Command: &anypb.Any{TypeUrl: "type.googleapis.com/test.Expire"}}}},
		}}
	case "type.googleapis.com/test.Expire":
		out.Pages = []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "type.googleapis.com/test.Expired"}}}
	}
	return out, nil
}

// TestDeadlinesSurviveKill schedules deadlines through one of two
// replicas on one SQLite file, SIGKILLs it before they are due, and
// checks that the other fires every one of them, once.
func TestDeadlinesSurviveKill(t *testing.T) {
	dir := t.TempDir()
	logicAddr := serve(t, func(s *grpc.Server) {
		eventedpb.RegisterBusinessLogicServer(s, &timeoutLogic{delay: 2 * time.Second})
	})
	cfg := map[string]any{
		"storage":        map[string]any{"type": "sqlite", "path": filepath.Join(dir, "events.db"), "sync": "normal"},
		"server":         map[string]any{"host": "127.0.0.1", "admin_port": -1, "shutdown_timeout": "5s"},
		"command":        map[string]any{"max_attempts": 20, "timeout": "5s"},
		"business_logic": []any{map[string]any{"domain": "txn", "address": logicAddr}},
		"deadlines":      map[string]any{"segments": 4, "poll": "50ms"},
		"log":            map[string]any{"level": "info", "format": "json"},
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, dir, path, 2)
	first, second := c.replicas[0], c.replicas[1]

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var covers []*eventedpb.Cover
	for range 20 {
		root := uuid.New()
		cover := &eventedpb.Cover{Domain: "txn", Root: &eventedpb.UUID{Value: root[:]}}
		covers = append(covers, cover)
		if _, err := first.commandClient.Handle(ctx, &eventedpb.CommandBook{Cover: cover, Pages: []*eventedpb.CommandPage{
			{Command: &anypb.Any{TypeUrl: "type.googleapis.com/test.Open"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Whatever share of the deadline segments the first replica holds
	// (all four, or two once balanced), it dies with them.
	c.kill(first)
	admin := eventedpb.NewDeliveryAdminClient(dial(t, second.commandAddr))
	if n := pendingDeadlines(t, ctx, admin); n == 0 {
		t.Log("every deadline already fired before the kill (a slow machine); the check below still holds")
	}
	// The second replica takes the lapsed leases (lease_ttl 5s) and fires
	// every deadline; bounded by the context.
	for {
		missing := 0
		for _, cover := range covers {
			types := eventTypes(t, ctx, second, cover)
			switch n := countOf(types, "type.googleapis.com/test.Expired"); {
			case n > 1:
				t.Fatalf("%x: Expired stored %d times: %v (applied once?)", cover.GetRoot().GetValue(), n, types)
			case n == 0:
				missing++
			}
		}
		if missing == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d deadlines not fired by the surviving replica\n%s", missing, len(covers), second.process().Tail())
		case <-time.After(250 * time.Millisecond):
		}
	}
	// A firing whose transaction did not remove its deadline (one the
	// killed replica had applied, answered again from its key) leaves the
	// removal to the firer's next batch (every poll/2): the list drains
	// shortly after the events show, not necessarily before.
	for wait := time.Now().Add(10 * time.Second); ; {
		n := pendingDeadlines(t, ctx, admin)
		if n == 0 {
			break
		}
		if time.Now().After(wait) {
			t.Fatalf("%d deadlines still pending 10s after every one fired\n%s", n, second.process().Tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pendingDeadlines(t *testing.T, ctx context.Context, admin eventedpb.DeliveryAdminClient) int {
	t.Helper()
	stream, err := admin.ListDeadlines(ctx, &eventedpb.DeadlineQuery{Domain: "txn"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

func eventTypes(t *testing.T, ctx context.Context, r *replica, cover *eventedpb.Cover) []string {
	t.Helper()
	books, err := r.queryClient.GetEvents(ctx, &eventedpb.Query{Domain: cover.GetDomain(), Root: cover.GetRoot()})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		b, err := books.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range b.GetPages() {
			out = append(out, p.GetEvent().GetTypeUrl())
		}
	}
}

func countOf(s []string, v string) int {
	n := 0
	for i := range s {
		if s[i] == v {
			n++
		}
	}
	return n
}
