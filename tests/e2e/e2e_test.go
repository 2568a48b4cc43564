package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cucumber/godog"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/testenv"
	"github.com/evented/evented/tests/internal/proc"
)

var (
	langFlag = flag.String("lang", "", "the example language: go, python or rust (default $E2E_LANG, else go)")
	tags     = flag.String("godog.tags", "", "run only the scenarios matching this godog tag expression, e.g. @receipt")
)

// TestE2E runs features/*.feature against evented and one language's
// example services, all real processes.
func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end suite skipped with -short: it builds and starts evented and seven example services")
	}
	if *langFlag == "" && os.Getenv("E2E_LANG") == "" {
		// Asked for by a language, it runs; in go test ./... it is slow.
		testenv.SlowTest(t)
	}
	lang := cmp(*langFlag, cmp(os.Getenv("E2E_LANG"), "go"))
	l, ok := languages[lang]
	if !ok {
		t.Fatalf("unknown example language %q: want go, python or rust", lang)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	launch := os.Getenv("E2E_LAUNCH")
	if launch == "" {
		if why := l.missing(root); why != "" {
			if os.Getenv("E2E_REQUIRE") != "" {
				t.Fatalf("E2E_LANG=%s with E2E_REQUIRE set: %s", lang, why)
			}
			t.Skipf("E2E_LANG=%s: skipped: %s", lang, why)
		}
	}
	s := open(t, root, lang, l, launch)

	suite := godog.TestSuite{
		Name: "examples-" + lang,
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			w := &world{shop: s}
			w.register(sc)
			sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
				if stopErr := w.stopWatching(); err == nil && stopErr != nil {
					return ctx, stopErr
				}
				if err == nil && w.lastErr != nil {
					return ctx, fmt.Errorf("a command failed and no step checked it: %v", w.lastErr)
				}
				return ctx, nil
			})
		},
		Options: &godog.Options{
			Format:   "pretty",
			Paths:    []string{"features"},
			Tags:     *tags,
			TestingT: t,
			Strict:   true,
		},
	}
	if suite.Run() != 0 {
		t.Errorf("end-to-end scenarios failed with the %s examples; evented's log:\n%s", lang, s.evented.Tail())
	}
	s.checkEventedLog(t)
}

// shop is evented and the example services, running.
type shop struct {
	lang     string
	dir      string
	evented  *proc.Process
	services map[string]*proc.Process
	command  eventedpb.BusinessCoordinatorClient
	query    eventedpb.EventQueryClient
	// projections serves subscription queries; queryAddr is its address.
	projections eventedpb.ProjectionQueryClient
	queryAddr   string
	// consoleURL is the console on evented's admin port ("http://…/").
	consoleURL string
	// watcher is the Go example client loyalty-watch, built for every
	// language: a subscription query needs no service of its own.
	watcher string
}

// open builds and starts everything; it is stopped when the test ends.
func open(t *testing.T, root, lang string, l language, launch string) *shop {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	s := &shop{lang: lang, dir: dir, services: map[string]*proc.Process{}, watcher: filepath.Join(bin, "loyalty-watch")}

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return run(gctx, root, "go", "build", "-ldflags=-s -w", "-o", bin+string(filepath.Separator), "./cmd/evented", "./examples/go/loyalty-watch")
	})
	if launch == "" {
		g.Go(func() error { return l.build(gctx, root, bin) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("build: %v", err)
	}
	built := time.Now()

	ports, err := proc.FreePorts(3 + len(services)) // command, query, admin, services
	if err != nil {
		t.Fatal(err)
	}
	commandAddr, queryAddr := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	// An open transaction is cancelled by a deadline after this many
	// seconds (every other scenario completes or cancels its transactions
	// at once).
	const transactionTimeout = "3"
	servicePort := map[string]string{} // the config's port → the one chosen
	var procs []*proc.Process
	t.Cleanup(func() { proc.StopAll(t, procs) })

	for i, svc := range services {
		port := ports[3+i]
		servicePort[svc.port] = port
		cmd := l.command(root, bin, svc.name)
		if launch != "" {
			cmd = launchOverride(root, launch, svc.name)
		}
		p, err := proc.Start(svc.name, cmd, dir, "PORT="+port, "LISTEN_HOST=127.0.0.1",
			"EVENTED_COMMAND_ADDR="+commandAddr, "EVENTED_QUERY_ADDR="+queryAddr,
			"TRANSACTION_TIMEOUT="+transactionTimeout)
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
		s.services[svc.name] = p
	}
	config := filepath.Join(dir, "config.yaml")
	if err := writeConfig(filepath.Join(root, "examples", "config.yaml"), config, filepath.Join(dir, "events.db"), ports[:3], servicePort); err != nil {
		t.Fatal(err)
	}
	ev, err := proc.Start("evented", execIn(dir, filepath.Join(bin, "evented"), "serve", "--config", config), dir)
	if err != nil {
		t.Fatal(err)
	}
	procs = append(procs, ev)
	s.evented = ev

	ready, cancelReady := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelReady()
	for i, svc := range services {
		if err := s.services[svc.name].Ready(ready, "127.0.0.1:"+ports[3+i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, addr := range []string{commandAddr, queryAddr, "127.0.0.1:" + ports[2]} {
		if err := ev.Ready(ready, addr); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s examples: built in %v, all running in %v more", lang, built.Sub(began).Round(time.Millisecond), time.Since(built).Round(time.Millisecond))
	cmdConn := dial(t, commandAddr)
	if h, err := healthpb.NewHealthClient(cmdConn).Check(ready, &healthpb.HealthCheckRequest{}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("evented's health: %v %v\n%s", h, err, ev.Tail())
	}
	s.command = eventedpb.NewBusinessCoordinatorClient(cmdConn)
	queryConn := dial(t, queryAddr)
	s.query = eventedpb.NewEventQueryClient(queryConn)
	s.projections = eventedpb.NewProjectionQueryClient(queryConn)
	s.queryAddr = queryAddr
	s.consoleURL = "http://127.0.0.1:" + ports[2] + "/"
	return s
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// writeConfig writes examples/config.yaml with the database at db,
// evented's ports (command, query, admin) and every service's address moved
// to its chosen port.
func writeConfig(from, to, db string, ports []string, servicePort map[string]string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	cfg["storage"] = map[string]any{"type": "sqlite", "path": db}
	server, _ := cfg["server"].(map[string]any)
	if server == nil {
		server = map[string]any{}
		cfg["server"] = server
	}
	server["host"] = "127.0.0.1"
	for i, key := range []string{"command_handler_port", "event_query_port", "admin_port"} {
		p, err := strconv.Atoi(ports[i])
		if err != nil {
			return err
		}
		server[key] = p
	}
	cfg["log"] = map[string]any{"level": "info", "format": "json"}
	for _, key := range []string{"business_logic", "projectors", "sagas", "upcasters"} {
		list, _ := cfg[key].([]any)
		for _, item := range list {
			m, _ := item.(map[string]any)
			_, port, err := net.SplitHostPort(fmt.Sprint(m["address"]))
			if err != nil || servicePort[port] == "" {
				return fmt.Errorf("%s: %s: address %v is not one of the example services' ports", from, key, m["address"])
			}
			m["address"] = "127.0.0.1:" + servicePort[port]
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(to, out, 0o600)
}

// checkEventedLog fails on warnings and errors evented logged: a clean run
// has none (the examples number their events right, no consumer failed).
func (s *shop) checkEventedLog(t *testing.T) {
	f, err := os.Open(s.evented.Stderr)
	if err != nil {
		t.Error(err)
		return
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct{ Level string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && (line.Level == "WARN" || line.Level == "ERROR") {
			t.Errorf("evented logged: %s", strings.TrimSpace(sc.Text()))
		}
	}
}
