package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/eventstore/sqlite"
	"github.com/evented/evented/internal/server"
)

// startWith runs a server as start does, with options.
func startWith(t *testing.T, cfg config.Config, opts ...server.Option) *server.Server {
	t.Helper()
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, 0
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10s")
		}
	})
	t.Cleanup(stop)
	return srv
}

// readiness is /readyz's status code and body.
func readiness(t *testing.T, srv *server.Server) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + srv.AdminAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// awaitReadiness polls /readyz until it answers code, for at most 15s.
func awaitReadiness(t *testing.T, srv *server.Server, code int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, body := readiness(t, srv)
		if got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %q after 15s; want %d", got, body, code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func recordBook(root uuid.UUID, size int) *eventedpb.EventBook {
	return &eventedpb.EventBook{
		Cover: &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "Big", Value: make([]byte, size)}}},
	}
}

// A full database (SQLITE_FULL, from max_page_count as from a full disk)
// answers appends RESOURCE_EXHAUSTED saying so, still serves reads, and is
// not ready until space is back; then it is ready again by itself and
// appends succeed.
func TestFullStoreIsResourceExhaustedAndNotReadyUntilSpaceIsBack(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := startWith(t, config.Default(), server.WithStorage(store))
	cmd := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	qry := eventedpb.NewEventQueryClient(dial(t, srv.QueryAddr()))
	stored := uuid.New()
	if _, err := cmd.Record(t.Context(), recordBook(stored, 10)); err != nil {
		t.Fatal(err)
	}
	awaitReadiness(t, srv, http.StatusOK)

	// Not one page more than the file has now (SQLite clamps to its size).
	if err := store.SetMaxPages(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	_, err = cmd.Record(t.Context(), recordBook(uuid.New(), 256<<10))
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "full") {
		t.Fatalf("Record into a full store: %v; want RESOURCE_EXHAUSTED saying the store is full", err)
	}
	t.Logf("Record: %v", err)
	big := newCommand(t)
	big.Pages[0].Command.Value = make([]byte, 256<<10) // the placeholder stores it as the event
	_, err = cmd.Handle(t.Context(), big)
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted {
		t.Fatalf("Handle into a full store: %v; want RESOURCE_EXHAUSTED", err)
	}
	awaitReadiness(t, srv, http.StatusServiceUnavailable)
	// Reads need no space.
	s, err := qry.GetEvents(t.Context(), &eventedpb.Query{Domain: "customer", Root: &eventedpb.UUID{Value: stored[:]}})
	if err != nil {
		t.Fatal(err)
	}
	if book, err := s.Recv(); err != nil || len(book.GetPages()) != 1 {
		t.Fatalf("GetEvents of a full store: %v, %v", book, err)
	}
	// Still not ready a while later: the probe finds no room.
	time.Sleep(3 * time.Second)
	if code, body := readiness(t, srv); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d %q while still full; want 503", code, body)
	}

	if err := store.SetMaxPages(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	awaitReadiness(t, srv, http.StatusOK)
	if _, err := cmd.Record(t.Context(), recordBook(uuid.New(), 256<<10)); err != nil {
		t.Fatalf("Record once space is back: %v", err)
	}
}
