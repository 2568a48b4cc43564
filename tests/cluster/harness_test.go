package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/testenv"
	"github.com/evented/evented/tests/internal/proc"
)

// binDir holds the evented binary, built once for the package's tests.
var binDir string

var build struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	testenv.Main(m, func() {
		if binDir != "" {
			_ = os.RemoveAll(binDir)
		}
	})
}

// eventedBinary builds ./cmd/evented the first time it is asked for.
func eventedBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		binDir, build.err = os.MkdirTemp("", "evented-cluster-")
		if build.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		build.path = filepath.Join(binDir, "evented")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", build.path, "./cmd/evented")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/evented: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// segmentEnv passes the settings of segmented delivery to every replica:
// 4 segments and a 5 s lease (a killed replica's segments are taken over
// within it; long enough that a replica slowed by a loaded machine, as CI's
// under -race, does not lose a lease in the runs without faults), or CLUSTER_SEGMENTS / CLUSTER_LEASE_TTL (see the package doc).
func segmentEnv() []string {
	segments := "4"
	if v := os.Getenv("CLUSTER_SEGMENTS"); v != "" {
		segments = v
	}
	return []string{"EVENTED_DELIVERY__SEGMENTS=" + segments, "EVENTED_DELIVERY__LEASE_TTL=" + leaseTTL().String()}
}

// leaseTTL is the replicas' delivery.lease_ttl: 5s, or CLUSTER_LEASE_TTL.
func leaseTTL() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CLUSTER_LEASE_TTL")); err == nil && d > 0 {
		return d
	}
	return 5 * time.Second
}

// Names of the consumers, which are also their subscriptions' names.
const (
	projectorName = "recorder"
	receiptsName  = "receipts" // synchronous, domain order
	sagaName      = "ledger"
)

// storage is the storage section of the shared configuration.
type storage map[string]any

// config writes the configuration every replica runs with: one store, the
// test's projectors (one synchronous) and saga, the NATS bus when the test
// watches one, short backoffs, attempts enough never to park during a
// fault, no admin port. Ports come from the environment, per replica.
func config(t *testing.T, dir string, store storage, cons *consumers) string {
	t.Helper()
	cfg := map[string]any{
		"storage": map[string]any(store),
		"server": map[string]any{
			"host":             "127.0.0.1",
			"admin_port":       -1,
			"shutdown_timeout": "5s",
		},
		"command": map[string]any{"max_attempts": 20, "timeout": "5s"},
		"projectors": []any{
			map[string]any{"name": projectorName, "address": cons.projectorAddr},
			map[string]any{"name": receiptsName, "address": cons.receiptsAddr, "synchronous": true, "domains": []any{"order"}},
		},
		"sagas": []any{
			map[string]any{"name": sagaName, "address": cons.sagaAddr, "domains": []any{"order"}},
		},
		"delivery": map[string]any{
			"max_attempts": 1000,
			"backoff_min":  "10ms",
			"backoff_max":  "250ms",
			"timeout":      "5s",
			"workers":      8,
		},
		"log": map[string]any{"level": "info", "format": "json"},
	}
	if cons.bus != nil {
		cfg["bus"] = map[string]any{"type": "nats", "url": cons.bus.url}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("every replica's config.yaml:\n%s", out)
	return path
}

// replica is one evented process; restarting it keeps its ports.
type replica struct {
	name               string
	commandAddr, query string
	env                []string
	mu                 sync.Mutex
	p                  *proc.Process
	commandClient      eventedpb.BusinessCoordinatorClient
	queryClient        eventedpb.EventQueryClient
	health             healthpb.HealthClient
}

// cluster is n replicas of one configuration.
type cluster struct {
	t        *testing.T
	dir, bin string
	config   string
	replicas []*replica
	bus      *busWatch // the bus the replicas relay to, nil without one
}

// startCluster starts n replicas with config and waits until each serves.
func startCluster(t *testing.T, dir, config string, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: dir, bin: eventedBinary(t), config: config}
	ports, err := proc.FreePorts(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	for i := range n {
		r := &replica{
			name:        fmt.Sprintf("evented-%d", i+1),
			commandAddr: "127.0.0.1:" + ports[2*i],
			query:       "127.0.0.1:" + ports[2*i+1],
		}
		r.env = append([]string{
			"EVENTED_SERVER__COMMAND_HANDLER_PORT=" + ports[2*i],
			"EVENTED_SERVER__EVENT_QUERY_PORT=" + ports[2*i+1],
		}, segmentEnv()...)
		cc := dial(t, r.commandAddr)
		r.commandClient = eventedpb.NewBusinessCoordinatorClient(cc)
		r.health = healthpb.NewHealthClient(cc)
		r.queryClient = eventedpb.NewEventQueryClient(dial(t, r.query))
		c.replicas = append(c.replicas, r)
	}
	for _, r := range c.replicas {
		if err := c.start(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range c.replicas {
		if err := c.waitReady(r); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// dial connects to addr, reconnecting quickly after a replica restarts.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func (c *cluster) start(r *replica) error {
	p, err := proc.Start(r.name, exec.Command(c.bin, "serve", "--config", c.config), c.dir, r.env...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.p = p
	r.mu.Unlock()
	return nil
}

// waitReady waits (30 s at most) until r's store is open and it serves.
func (c *cluster) waitReady(r *replica) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := r.process()
	for _, addr := range []string{r.commandAddr, r.query} {
		if err := p.Ready(ctx, addr); err != nil {
			return err
		}
	}
	for {
		h, err := r.health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && h.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not serving after 30s: %v %v\n%s", r.name, h, err, p.Tail())
		case <-p.Exited():
			return fmt.Errorf("%s exited: %v\n%s", r.name, p.ExitErr(), p.Tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *replica) process() *proc.Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p
}

func (r *replica) alive() bool {
	p := r.process()
	if p == nil {
		return false
	}
	select {
	case <-p.Exited():
		return false
	default:
		return true
	}
}

// kill crashes r with SIGKILL (its process group, by id).
func (c *cluster) kill(r *replica) {
	p := r.process()
	p.Kill()
	c.t.Logf("%s: SIGKILL (pid %d)", r.name, p.Cmd.Process.Pid)
}

// restart starts r again after a kill, with the same configuration and
// ports, and waits until it serves. It may run beside the test's goroutine,
// so it fails t with Error, not Fatal.
func (c *cluster) restart(r *replica) {
	err := c.start(r)
	if err == nil {
		err = c.waitReady(r)
	}
	if err != nil {
		c.t.Errorf("restart %s: %v", r.name, err)
		return
	}
	c.t.Logf("%s: restarted (pid %d)", r.name, r.process().Cmd.Process.Pid)
}

// live is a replica that runs, to read the store through.
func (c *cluster) live() *replica {
	for _, r := range c.replicas {
		if r.alive() {
			return r
		}
	}
	c.t.Fatal("no replica is running")
	return nil
}

// stop stops the replicas that run and reports those that died unasked
// (a replica the test killed is not reported).
func (c *cluster) stop() {
	for i := len(c.replicas) - 1; i >= 0; i-- {
		r := c.replicas[i]
		if !r.alive() {
			continue
		}
		if err := r.process().Stop(10 * time.Second); err != nil {
			c.t.Error(err)
		}
	}
}

// logProblems counts the warnings and errors each replica logged, and
// shows the first few: they explain failures.
func (c *cluster) logProblems() {
	for _, r := range c.replicas {
		p := r.process()
		if p == nil {
			continue
		}
		data, err := os.ReadFile(p.Stderr)
		if err != nil {
			continue
		}
		var n int
		var first []string
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
				n++
				if len(first) < 3 {
					first = append(first, line)
				}
			}
		}
		if n > 0 {
			c.t.Logf("%s logged %d warnings/errors; first ones:\n%s", r.name, n, strings.Join(first, "\n"))
		}
	}
}
