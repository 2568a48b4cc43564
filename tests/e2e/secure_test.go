package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sync/errgroup"

	"github.com/evented/evented/internal/auth"
	"github.com/evented/evented/internal/certtest"
	"github.com/evented/evented/internal/testenv"
	"github.com/evented/evented/tests/internal/proc"
)

// secureEnv is what a client of TestSecureClients is given: evented's
// ports, the CA of its certificate and one that did not sign it, a token
// with the roles command and query and one with query only. Each is also
// an environment variable of the client's process.
type secureEnv struct {
	commandAddr, queryAddr string
	caFile, otherCAFile    string
	token, readerToken     string
	evented                string // the evented binary (the CLI)
}

func (e secureEnv) environ() []string {
	return []string{
		"EVENTED_COMMAND_ADDR=" + e.commandAddr, "EVENTED_QUERY_ADDR=" + e.queryAddr,
		"EVENTED_CA_FILE=" + e.caFile, "EVENTED_OTHER_CA_FILE=" + e.otherCAFile,
		"EVENTED_TOKEN=" + e.token, "EVENTED_READER_TOKEN=" + e.readerToken,
	}
}

// secureClient is one language's client of evented with TLS and tokens.
type secureClient struct {
	// missing says why the client cannot run here, or "" when it can.
	missing func(root string) string
	// build prepares it (bin is a directory for binaries).
	build func(ctx context.Context, root, bin string) error
	// check runs it against evented and returns its output, and an error
	// when a check failed.
	check func(ctx context.Context, root, bin string, env secureEnv) (string, error)
}

var secureClients = map[string]secureClient{
	// Go: the CLI (the Go SDK's Dial is tested against evented in sdk/).
	"go": {
		missing: func(string) string { return "" },
		build:   func(context.Context, string, string) error { return nil },
		check:   checkCLI,
	},
	// Python: tests/e2e/secure/client.py with the SDK of this checkout.
	"python": {
		missing: func(root string) string {
			if _, err := exec.LookPath(python(root)); err != nil {
				return python(root) + " not found"
			}
			if out, err := exec.Command(python(root), "-c", "import grpc, google.protobuf").CombinedOutput(); err != nil {
				return python(root) + " cannot import grpc and protobuf (pip install -r examples/python/requirements.txt): " + strings.TrimSpace(string(out))
			}
			return ""
		},
		build: func(context.Context, string, string) error { return nil },
		check: func(ctx context.Context, root, _ string, env secureEnv) (string, error) {
			cmd := exec.CommandContext(ctx, python(root), filepath.Join(root, "tests", "e2e", "secure", "client.py"))
			cmd.Env = append(os.Environ(), append(env.environ(), "PYTHONPATH="+filepath.Join(root, "sdk", "python", "src"))...)
			out, err := cmd.CombinedOutput()
			return string(out), err
		},
	},
	// Rust: the SDK's example secure_client (sdk/rust/examples).
	"rust": {
		missing: func(string) string {
			if _, err := exec.LookPath("cargo"); err != nil {
				return "cargo is not installed"
			}
			return ""
		},
		build: func(ctx context.Context, root, _ string) error {
			return run(ctx, root, "cargo", "build", "-p", "evented", "--example", "secure_client")
		},
		check: func(ctx context.Context, root, _ string, env secureEnv) (string, error) {
			cmd := exec.CommandContext(ctx, filepath.Join(cargoTarget(root), "debug", "examples", "secure_client"))
			cmd.Env = append(os.Environ(), env.environ()...)
			out, err := cmd.CombinedOutput()
			return string(out), err
		},
	},
}

// python is the interpreter the Python examples run with (launch_test.go).
func python(root string) string {
	if p := os.Getenv("E2E_PYTHON"); p != "" {
		return p
	}
	p := filepath.Join(root, ".venv", "bin", "python")
	if _, err := os.Stat(p); err != nil {
		return "python3"
	}
	return p
}

// TestSecureClients starts the evented binary with TLS (a CA and a server
// certificate made here) and static tokens (auth.tokens_file), and runs
// one language's client against it: it sends a command with a token of the
// roles command and query and reads its event back, and is refused with a
// query-only token (PERMISSION_DENIED), without a token (UNAUTHENTICATED)
// and when it trusts another CA. -lang chooses the language as for TestE2E:
// go runs the CLI, python and rust their SDK's client.
func TestSecureClients(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and starts evented")
	}
	if *langFlag == "" && os.Getenv("E2E_LANG") == "" {
		// Asked for by a language, it runs; in go test ./... it is slow.
		testenv.SlowTest(t)
	}
	lang := cmp(*langFlag, cmp(os.Getenv("E2E_LANG"), "go"))
	client, ok := secureClients[lang]
	if !ok {
		t.Fatalf("unknown language %q: want go, python or rust", lang)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if why := client.missing(root); why != "" {
		if os.Getenv("E2E_REQUIRE") != "" {
			t.Fatalf("E2E_LANG=%s with E2E_REQUIRE set: %s", lang, why)
		}
		t.Skipf("E2E_LANG=%s: skipped: %s", lang, why)
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return run(gctx, root, "go", "build", "-ldflags=-s -w", "-o", filepath.Join(bin, "evented"), "./cmd/evented")
	})
	g.Go(func() error { return client.build(gctx, root, bin) })
	if err := g.Wait(); err != nil {
		t.Fatalf("build: %v", err)
	}

	ca := certtest.NewCA(t, "evented")
	pair := ca.Server(t, "evented", "127.0.0.1", "localhost")
	env := secureEnv{
		caFile: ca.CertFile, otherCAFile: certtest.NewCA(t, "other").CertFile,
		token: auth.NewToken(), readerToken: auth.NewToken(),
		evented: filepath.Join(bin, "evented"),
	}
	tokensFile := filepath.Join(dir, "tokens.yaml")
	tokens := fmt.Sprintf("tokens:\n"+
		"  - name: writer\n    sha256: %s\n    roles: [command, query]\n"+
		"  - name: reader\n    sha256: %s\n    roles: [query]\n", auth.HashToken(env.token), auth.HashToken(env.readerToken))
	if err := os.WriteFile(tokensFile, []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	ports, err := proc.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	env.commandAddr, env.queryAddr = "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	server := map[string]any{
		"host": "127.0.0.1",
		"tls":  map[string]any{"cert_file": pair.CertFile, "key_file": pair.KeyFile},
	}
	for i, key := range []string{"command_handler_port", "event_query_port", "admin_port"} {
		server[key], _ = strconv.Atoi(ports[i])
	}
	// No business_logic: evented's placeholder turns CreateCustomer into
	// CustomerCreated.
	cfg, err := yaml.Marshal(map[string]any{
		"server":  server,
		"auth":    map[string]any{"tokens_file": tokensFile},
		"storage": map[string]any{"type": "sqlite", "path": filepath.Join(dir, "events.db")},
		"log":     map[string]any{"level": "info", "format": "json"},
	})
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	ev, err := proc.Start("evented", execIn(dir, env.evented, "serve", "--config", config), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.StopAll(t, []*proc.Process{ev}) })
	ready, cancelReady := context.WithTimeout(ctx, 60*time.Second)
	defer cancelReady()
	for _, addr := range []string{env.commandAddr, env.queryAddr} {
		if err := ev.Ready(ready, addr); err != nil {
			t.Fatal(err)
		}
	}

	checkCtx, cancelCheck := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelCheck()
	out, err := client.check(checkCtx, root, bin, env)
	t.Logf("%s client against evented with TLS and tokens:\n%s", lang, out)
	if err != nil {
		t.Errorf("%s client: %v (its output above)\nevented's log:\n%s", lang, err, ev.Tail())
	}
}

// checkCLI runs the evented CLI against the server: send and events with
// the writer's token, send with the reader's (refused), without a token
// and trusting another CA.
func checkCLI(ctx context.Context, _, _ string, env secureEnv) (string, error) {
	var log strings.Builder
	cli := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, env.evented, args...)
		cmd.Env = append(os.Environ(), "EVENTED_TOKEN=") // only the flags give a token
		out, err := cmd.CombinedOutput()
		fmt.Fprintf(&log, "$ evented %s\n%s", strings.Join(args, " "), out)
		return string(out), err
	}
	id := "secure-cli-" + uuid.NewString()
	send := func(more ...string) []string {
		return append([]string{"send", "customer", id, "examples.CreateCustomer", `{"name":"Ada"}`, "--command-addr", env.commandAddr}, more...)
	}
	if out, err := cli(send("--tls-ca", env.caFile, "--token", env.token)...); err != nil || !strings.Contains(out, "examples.CustomerCreated") {
		return log.String(), fmt.Errorf("send with the command+query token: %v, want examples.CustomerCreated in the output", err)
	}
	out, err := cli("events", "customer", id, "-o", "json", "--query-addr", env.queryAddr, "--tls-ca", env.caFile, "--token", env.token)
	if err != nil || !strings.Contains(out, "examples.CustomerCreated") {
		return log.String(), fmt.Errorf("events with the command+query token: %v, want the CustomerCreated", err)
	}
	for _, c := range []struct {
		what string
		args []string
		want string
	}{
		{"send with the query-only token", send("--tls-ca", env.caFile, "--token", env.readerToken), "lacks role command"},
		{"send without a token", send("--tls-ca", env.caFile), "no bearer token"},
		{"send trusting another CA", send("--tls-ca", env.otherCAFile, "--token", env.token), "certificate"},
	} {
		out, err := cli(c.args...)
		if err == nil || !strings.Contains(out, c.want) {
			return log.String(), fmt.Errorf("%s: %v, want it refused naming %q", c.what, err, c.want)
		}
	}
	return log.String(), nil
}
