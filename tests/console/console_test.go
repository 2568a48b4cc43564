// Package console_test drives the web console in a real browser (headless
// Chromium, through chromedp) against an in-process server on SQLite: every
// page loads with data, a parked event is replayed by clicking, a command
// sent from the form shows up in the live tail, the pages work by keyboard
// and fit a narrow window. Screenshots of each page are written to
// $CONSOLE_SCREENSHOTS (else a temporary directory). Without Chromium the
// test skips, unless CONSOLE_REQUIRE=1 (CI), where it fails.
package console_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
	"github.com/evented/evented/internal/testenv"
	"github.com/evented/evented/sdk"
)

// chromium finds the browser, or skips (fails when CONSOLE_REQUIRE=1).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (apt-get install -y chromium): the console's browser tests did not run"
	if os.Getenv("CONSOLE_REQUIRE") == "1" {
		t.Fatal(msg + " and CONSOLE_REQUIRE=1 asks for them")
	}
	testenv.Skip(t, testenv.Need{Name: "Chromium", Enable: "apt-get install -y chromium"}, "no chromium, chromium-browser, google-chrome or chrome on PATH")
	return ""
}

// ledger is a projector that refuses every book until healed.
type ledger struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	healed atomic.Bool
	got    atomic.Int32
}

func (p *ledger) Handle(_ context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	if !p.healed.Load() {
		return nil, status.Error(codes.FailedPrecondition, "ledger table is missing")
	}
	p.got.Add(int32(len(b.GetPages())))
	return &emptypb.Empty{}, nil
}

// balance is a projector that answers every book with a projection: run
// as two versions, with publish_projections, for the version columns and
// the live subscription queries.
type balance struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
}

func (balance) Handle(context.Context, *eventedpb.EventBook) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (balance) HandleSync(_ context.Context, b *eventedpb.EventBook) (*eventedpb.Projection, error) {
	pages := b.GetPages()
	// A receipt with a text of several lines, which the console shows as
	// its lines.
	receipt, err := anypb.New(&examplespb.Receipt{CustomerId: "balance", FormattedText: "RECEIPT\nTotal: 0.00"})
	if err != nil {
		return nil, err
	}
	return &eventedpb.Projection{Cover: b.GetCover(), Projector: "balance", Sequence: pages[len(pages)-1].GetNum(),
		Projection: receipt}, nil
}

func startServer(t *testing.T, proj *ledger, storage func(*config.Config)) *server.Server {
	t.Helper()
	bal, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gb := grpc.NewServer()
	eventedpb.RegisterProjectorCoordinatorServer(gb, balance{})
	go gb.Serve(bal)
	t.Cleanup(gb.Stop)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	eventedpb.RegisterProjectorCoordinatorServer(g, proj)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	// A saga nobody serves: the overview shows it unreachable.
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := down.Addr().String()
	down.Close()

	cfg := config.Default()
	t.Chdir(t.TempDir()) // a short, relative path in the screenshots
	cfg.Storage.Path = "events.db"
	storage(&cfg)
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, 0
	cfg.Projectors = []config.Consumer{{Name: "ledger", Address: lis.Addr().String(), Domains: []string{"ledger"}},
		{Name: "balance", Address: bal.Addr().String(), Domains: []string{"customer"}, PublishProjections: true, Synchronous: true},
		{Name: "balance", Version: 2, Address: bal.Addr().String(), Domains: []string{"customer"}, PublishProjections: true, Synchronous: true}}
	cfg.Sagas = []config.Consumer{{Name: "loyalty", Address: downAddr, Domains: []string{"nothing"}}}
	cfg.Delivery.MaxAttempts, cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = 2, time.Millisecond, 2*time.Millisecond
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler), server.WithConsoleSampling(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv
}

func TestConsoleInBrowser(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { browse(t, "sqlite", func(*config.Config) {}) })
	t.Run("postgres", func(t *testing.T) {
		url := freshSchema(t)
		browse(t, "postgres", func(c *config.Config) { c.Storage.Type, c.Storage.URL = "postgres", url })
	})
}

// freshSchema is POSTGRES_TEST_URL with a schema of its own, dropped when
// the test ends; the test skips without it, except in CI.
func freshSchema(t *testing.T) string {
	t.Helper()
	base := testenv.Getenv(t, testenv.PostgreSQL)
	var b [6]byte
	rand.Read(b[:])
	schema := "evented_console_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
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

// browse clicks through the console of a server on storage; screenshots
// of the SQLite run are written.
func browse(t *testing.T, store string, storage func(*config.Config)) {
	exe := chromium(t)
	shots := os.Getenv("CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	if store != "sqlite" {
		shots = filepath.Join(shots, store)
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	proj := &ledger{}
	srv := startServer(t, proj, storage)
	base := srv.ConsoleURL()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 800))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	messages := chromedp.Console(ctx)

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			html, _ := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("%s: %v\npage: %s", what, err, html)
		}
	}
	eval := func(expr string) any {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ""`, sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	waitText := func(what, sel, part string) {
		t.Helper()
		var last string
		for deadline := time.Now().Add(15 * time.Second); !strings.Contains(last, part); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s never showed %q; it shows:\n%s", what, sel, part, last)
			}
			last = text(sel)
		}
	}
	wantText := func(where, sel string, parts ...string) {
		t.Helper()
		got := text(sel)
		for _, p := range parts {
			if !strings.Contains(got, p) {
				t.Errorf("%s lacks %q:\n%s", where, p, got)
			}
		}
	}
	shot := func(name string) {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	page := func(name, hash string) {
		t.Helper()
		do("open "+hash, chromedp.Navigate(base+"#/"+hash), chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main[data-page=%q]`, name))))
	}
	send := func(domain, id, typ, payload string) {
		t.Helper()
		do("fill the form", chromedp.SendKeys(chromedp.CSS("#s-domain"), domain), chromedp.SendKeys(chromedp.CSS("#s-id"), id),
			chromedp.SendKeys(chromedp.CSS("#s-type"), typ), chromedp.SetValue(chromedp.CSS("#s-payload"), payload),
			chromedp.Click(chromedp.CSS(`#send-form button[type=submit]`)))
		waitText("the reply", "#reply", "1 event(s) stored")
	}

	// Data: an entry of the ledger, which the projector refuses: it is
	// parked.
	page("send", "send")
	send("ledger", "entry-1", "examples.CreateCustomer", `{"name":"Ann","email":"ann@example.com"}`)

	// More data, through the API: a few customers.
	for i, name := range []string{"Alice", "Bob", "Carol", "Dan"} {
		body := fmt.Sprintf(`{"domain":"customer","id":"cust-%03d","type":"examples.CreateCustomer","payload":{"name":%q,"email":"%s@example.com"}}`, i+1, name, strings.ToLower(name))
		resp, err := http.Post(base+"api/send", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /api/send: %s", resp.Status)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// Overview: version, storage, the charts and the services.
	time.Sleep(time.Second) // a few samples
	page("overview", "overview")
	waitText("the saga unreachable", "main", "unreachable")
	shot("overview")
	wantText("overview", "main", "Version", store, "Event rate", "Command latency", "loyalty", "ledger", "unreachable", "reachable", "last ")
	if n := eval(`document.querySelectorAll('.chart polyline').length`); n != float64(2) {
		t.Errorf("overview has %v charts, want 2", n)
	}

	page("subscriptions", "subscriptions")
	waitText("the subscriptions", "main", "ledger")
	wantText("subscriptions", "main", "ledger", "projector", "loyalty", "saga", "Reset", "Retries")
	// The ledger refused the entry twice (delivery.max_attempts 2).
	retries := eval(`(() => {
		const t = document.querySelector('main table');
		const col = [...t.querySelectorAll('thead th')].findIndex((th) => th.innerText.trim() === 'Retries');
		const row = [...t.querySelectorAll('tbody tr')].find((r) => r.cells[0].innerText.trim() === 'ledger');
		return row && col >= 0 ? row.cells[col].innerText.trim() : 'no ledger row or no Retries column';
	})()`)
	if retries != "2" {
		t.Errorf("the ledger's retries on the subscriptions page: %v, want 2", retries)
	}
	// Both versions of balance, each with its state; a client watching
	// cust-001's balance is listed.
	wantText("subscriptions", "main", "balance@v2", "v1", "v2")
	watcher := watchBalance(t, srv, "cust-001")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "api/subscriptions")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), sdk.Root("cust-001").String()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watch of cust-001 is not among the live queries within 15s: %s", body)
		}
	}
	page("overview", "overview") // leave the page, so that opening it again loads it anew
	page("subscriptions", "subscriptions")
	waitText("the live query", "main", sdk.Root("cust-001").String())
	wantText("the live queries", "#live-queries", "balance", "127.0.0.1:")
	states := eval(`[...document.querySelectorAll('main table')[0].querySelectorAll('tbody tr')].filter((r) => r.cells[0].innerText.startsWith('balance')).map((r) => r.cells[0].innerText.trim() + ' ' + r.cells[2].innerText.trim()).join('; ')`)
	if s, _ := states.(string); !strings.Contains(s, "balance active v1") || !strings.Contains(s, "balance@v2") || !strings.Contains(s, "v2") {
		t.Errorf("the balance versions on the subscriptions page: %v; want v1 active and v2 beside it", states)
	}
	shot("subscriptions")
	watcher()

	// Parked: the entry is parked; heal the projector and replay it by
	// clicking.
	page("parked", "parked")
	waitText("the parked event", "main", "ledger table is missing")
	shot("parked")
	wantText("parked", "main", "ledger: 1 parked", "entry-1", "examples.CustomerCreated", "Replay", "Discard")
	proj.healed.Store(true)
	do("replay by clicking", chromedp.Click(chromedp.Search(`//tbody//button[normalize-space()="Replay"]`)))
	waitText("the replay's result", "main", "1 event(s) delivered and unparked")
	if proj.got.Load() != 1 {
		t.Errorf("the projector got %d events after the replay, want 1", proj.got.Load())
	}
	wantText("parked after the replay", "main", "Nothing is parked")

	// Events: domains, aggregates with the name, the events with their cause.
	page("events", "events?domain=ledger&agg=entry-1")
	waitText("the event", "main", "CustomerCreated")
	shot("events")
	wantText("events", "main", "ledger (1)", "entry-1", "examples.CustomerCreated", "ann@example.com", "correlation", "No snapshot")

	// Send: a command from the form appears in the live tail.
	page("send", "send")
	waitText("the tail connected", "#tail-title", "live")
	send("customer", "cust-042", "examples.CreateCustomer", `{"name":"Bea","email":"bea@example.com"}`)
	waitText("the live tail", "#tail", "bea@example.com")
	// The reply's projections: a receipt's formatted text as its lines.
	waitText("the reply's projections", "#reply", "Total: 0.00")
	if receiptText := strings.TrimSpace(text("#reply .text-field pre")); receiptText != "RECEIPT\nTotal: 0.00" {
		t.Errorf("the receipt's formatted_text shows as %q, want its two lines", receiptText)
	}
	shot("send")
	wantText("the tail", "#tail", "customer/cust-042", "examples.CustomerCreated")

	// Deadlines: none is pending here; the page says so, with the counts.
	page("deadlines", "deadlines")
	waitText("the deadlines", "main", "No deadline is pending")
	wantText("deadlines", "main", "0 pending, 0 due")

	page("config", "config")
	waitText("the yaml", "main", "storage:")
	shot("config")
	wantText("config", "main", "type: "+store, "projectors:", "name: ledger")

	// Keyboard: the skip link first, then the pages' links; focus shows;
	// Enter follows a link.
	page("overview", "overview")
	eval(`document.activeElement.blur()`)
	do("Tab", chromedp.KeyEvent(kb.Tab))
	if f := eval(`document.activeElement.textContent`); f != "Skip to content" {
		t.Errorf("the first Tab focuses %q, want the skip link", f)
	}
	do("Tab Tab", chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab))
	if f, o := eval(`document.activeElement.textContent`), eval(`getComputedStyle(document.activeElement).outlineStyle`); f != "Events" || o != "solid" {
		t.Errorf("the third Tab focuses %q with outline %q, want the Events link with the console's solid focus outline", f, o)
	}
	do("Enter", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS(`main[data-page="events"]`)))
	if n := eval(`document.querySelectorAll('[onclick], div[tabindex], span[tabindex], td[tabindex]').length`); n != float64(0) {
		t.Errorf("%v clickable elements are not buttons or links", n)
	}

	// A narrow window: nothing is wider than the window.
	do("narrow", chromedp.EmulateViewport(420, 800))
	for _, name := range []string{"overview", "events", "subscriptions", "parked", "deadlines", "send", "config"} {
		page(name, name)
		time.Sleep(200 * time.Millisecond)
		if w := eval(`document.documentElement.scrollWidth`); w.(float64) > 420 {
			t.Errorf("%s at 420 px is %v px wide", name, w)
		}
		if name == "overview" || name == "parked" {
			shot(name + "-narrow")
		}
	}
	cancel()
	for m, err := range messages {
		if err != nil {
			break
		}
		if m.IsException() || m.Type == "error" {
			t.Errorf("browser console: %s", m)
		}
	}
	t.Logf("screenshots in %s", shots)
}

// watchBalance subscribes to balance's projection of the customer id (as
// the CLI maps ids to roots) until the returned stop is called.
func watchBalance(t *testing.T, srv *server.Server, id string) (stop func()) {
	t.Helper()
	conn, err := grpc.NewClient(srv.QueryAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	root := sdk.Root(id)
	stream, err := eventedpb.NewProjectionQueryClient(conn).Subscribe(ctx, &eventedpb.ProjectionSubscription{Projector: "balance",
		Cover: &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				if ctx.Err() == nil {
					t.Errorf("watching balance of %s: %v", id, err)
				}
				return
			}
		}
	}()
	return func() { cancel(); conn.Close() }
}
