package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/eventstore/sqlite"
	"github.com/evented/evented/internal/server"
	"github.com/evented/evented/internal/testenv"
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
	big := newCommand("customer")
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

// switchProxy forwards TCP connections to target until Down, which cuts
// every connection and refuses new ones (as a stopped server does) until
// Up.
type switchProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() { ln.Close(); p.Down(); p.wg.Wait() })
	return p
}

func (p *switchProxy) Addr() string { return p.ln.Addr().String() }

func (p *switchProxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			down.Close()
			up.Close()
			continue
		}
		p.conns[down], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(up, down); up.Close(); down.Close() })
		p.wg.Go(func() { io.Copy(down, up); up.Close(); down.Close() })
	}
}

// Down cuts every connection and refuses new ones.
func (p *switchProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Up forwards new connections again.
func (p *switchProxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// withHost is url with its host:port replaced.
func withHost(t *testing.T, url, host string) string {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = host
	return u.String()
}

// A store that stops answering (PostgreSQL or Redis behind a proxy that
// cuts every connection) makes commands and queries UNAVAILABLE, never
// INTERNAL, and readiness not ready; once it answers again, readiness
// comes back by itself and commands succeed.
func TestStoreDownIsUnavailableAndNotReady(t *testing.T) {
	for _, tc := range []struct {
		typ string
		url func(t *testing.T) string
	}{
		{"postgres", postgresSchema},
		{"redis", redisPrefix},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			url := tc.url(t)
			u, err := neturl.Parse(url)
			if err != nil {
				t.Fatal(err)
			}
			proxy := newSwitchProxy(t, u.Host)
			cfg := config.Default()
			cfg.Storage.Type, cfg.Storage.URL = tc.typ, withHost(t, url, proxy.Addr())
			srv := startWith(t, cfg)
			cmd := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
			qry := eventedpb.NewEventQueryClient(dial(t, srv.QueryAddr()))
			call := func() (error, error) {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				book := newCommand("customer")
				_, herr := cmd.Handle(ctx, book)
				var qerr error
				s, err := qry.GetEvents(ctx, &eventedpb.Query{Domain: "customer", Root: book.GetCover().GetRoot()})
				if err == nil {
					_, err = s.Recv()
				}
				if err != io.EOF {
					qerr = err
				}
				return herr, qerr
			}
			if herr, qerr := call(); herr != nil || qerr != nil {
				t.Fatalf("before the store goes down: Handle %v, GetEvents %v", herr, qerr)
			}
			awaitReadiness(t, srv, http.StatusOK)

			proxy.Down()
			for i := range 3 {
				herr, qerr := call()
				for what, err := range map[string]error{"Handle": herr, "GetEvents": qerr} {
					if st := status.Convert(err); st.Code() != codes.Unavailable {
						t.Fatalf("%s #%d while the store is down: %v; want UNAVAILABLE", what, i, err)
					}
				}
				if i == 0 {
					t.Logf("Handle: %v; GetEvents: %v", herr, qerr)
				}
			}
			awaitReadiness(t, srv, http.StatusServiceUnavailable)

			proxy.Up()
			awaitReadiness(t, srv, http.StatusOK)
			deadline := time.Now().Add(15 * time.Second)
			for {
				herr, qerr := call()
				if herr == nil && qerr == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("15s after the store came back: Handle %v, GetEvents %v", herr, qerr)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

// postgresSchema is POSTGRES_TEST_URL with a schema of the test's own,
// dropped when it ends.
func postgresSchema(t *testing.T) string {
	t.Helper()
	base := testURL(t, "POSTGRES_TEST_URL")
	conn, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	schema := "evented_test_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		conn.Close(ctx)
	})
	u, err := neturl.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// redisPrefix is REDIS_TEST_URL with a key prefix of the test's own, whose
// keys are deleted when it ends.
func redisPrefix(t *testing.T) string {
	t.Helper()
	base := testURL(t, "REDIS_TEST_URL")
	prefix := "evented_test_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "") + ":"
	o, err := goredis.ParseURL(base)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(o)
	t.Cleanup(func() {
		defer c.Close()
		ctx := context.Background()
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = c.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("delete %s*: %v", prefix, err)
		}
	})
	u, err := neturl.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("prefix", prefix)
	u.RawQuery = q.Encode()
	return u.String()
}

// testURL is the test server's URL from the variable; without it the test
// skips, except in CI.
func testURL(t *testing.T, variable string) string {
	t.Helper()
	for _, n := range []testenv.Need{testenv.PostgreSQL, testenv.Redis} {
		if n.Env == variable {
			return testenv.Getenv(t, n)
		}
	}
	t.Fatalf("testURL(%s): no server of that variable", variable)
	return ""
}
