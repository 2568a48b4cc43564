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

	"go.yaml.in/yaml/v3"

	"github.com/evented/evented/internal/testenv"
	"github.com/evented/evented/tests/internal/proc"
)

// TestInit writes a service of the chosen -lang with `evented init` into a
// directory outside the checkout, builds it the way its README says, runs
// its test, starts it and evented (SQLite in a temporary directory, ports
// chosen free), sends a command through the evented CLI and sees the event
// stored; the same command again is refused by the service's rule.
//
// The project depends on this checkout's SDK as a newcomer's would: Go
// through go.mod's replace, Python through a wheel built from sdk/python
// (pip wheel), Rust through a path dependency on sdk/rust. Cargo builds
// into the workspace's target directory, offline, so the dependencies
// compiled for the workspace are reused.
func TestInit(t *testing.T) {
	if testing.Short() {
		t.Skip("evented init's projects skipped with -short: they build a service")
	}
	if *langFlag == "" && os.Getenv("E2E_LANG") == "" {
		// Asked for by a language, it runs; in go test ./... it is slow.
		testenv.SlowTest(t)
	}
	lang := cmp(*langFlag, cmp(os.Getenv("E2E_LANG"), "go"))
	needs := map[string]string{"go": "go", "python": "python3", "rust": "cargo"}[lang]
	if needs == "" {
		t.Fatalf("unknown language %q: want go, python or rust", lang)
	}
	if _, err := exec.LookPath(needs); err != nil {
		if os.Getenv("E2E_REQUIRE") != "" {
			t.Fatalf("evented init --lang %s with E2E_REQUIRE set: %s is not on PATH", lang, needs)
		}
		t.Skipf("evented init --lang %s: skipped: %s is not on PATH", lang, needs)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if rel, err := filepath.Rel(root, dir); err == nil && !strings.HasPrefix(rel, "..") {
		t.Fatalf("the temporary directory %s is inside the checkout: set TMPDIR elsewhere", dir)
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "bin")
	if err := run(ctx, root, "go", "build", "-ldflags=-s -w", "-o", bin+string(filepath.Separator), "./cmd/evented"); err != nil {
		t.Fatal(err)
	}
	evented := filepath.Join(bin, "evented")
	ports, err := proc.FreePorts(4) // the service, evented's command, query and admin ports
	if err != nil {
		t.Fatal(err)
	}

	const name = "ledger"
	svc := filepath.Join(dir, name)
	out, err := output(ctx, dir, nil, evented, "init", "--lang", lang, "--checkout", root, "--dir", svc, "--port", ports[0], name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Wrote a ") || !strings.Contains(out, name+".binpb") {
		t.Fatalf("evented init said:\n%s", out)
	}

	// Build and test as the project's README says.
	env := os.Environ()
	var start *exec.Cmd
	steps := [][]string{}
	switch lang {
	case "go":
		steps = [][]string{{"go", "mod", "tidy"}, {"go", "vet", "./..."}, {"go", "test", "-count=1", "./..."}, {"go", "build", "-o", name, "."}}
		if out, err := output(ctx, svc, nil, "gofmt", "-l", "."); err != nil || out != "" {
			t.Errorf("the Go project is not gofmt-formatted: %v %s", err, out)
		}
		start = exec.Command(filepath.Join(svc, name))
	case "python":
		py := filepath.Join(svc, ".venv", "bin", "python")
		steps = [][]string{
			{"python3", "-m", "venv", ".venv"},
			{py, "-m", "pip", "wheel", "-q", "--no-deps", "-w", "wheels", filepath.Join(root, "sdk", "python")},
			{py, "-m", "pip", "install", "-q", "-r", "requirements.txt"},
			{py, "-m", "grpc_tools.protoc", "-I", "proto", "--python_out=.", "--pyi_out=.", "proto/" + name + ".proto"},
			{py, "-m", "pytest", "-q", "-p", "no:cacheprovider"},
		}
		start = exec.Command(py, filepath.Join(svc, "main.py"))
	case "rust":
		env = append(env, "CARGO_TARGET_DIR="+cargoTarget(root), "CARGO_NET_OFFLINE=true")
		// cargo fmt --check: the templates are formatted as rustfmt would.
		steps = [][]string{{"cargo", "fmt", "--check"}, {"cargo", "test", "-q"}, {"cargo", "build", "-q"}}
		start = exec.Command(filepath.Join(cargoTarget(root), "debug", name))
	}
	for _, s := range steps {
		stepBegan := time.Now()
		out, err := output(ctx, svc, env, s[0], s[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s: %v\n%s", filepath.Base(s[0]), strings.Join(s[1:], " "), time.Since(stepBegan).Round(100*time.Millisecond), strings.TrimSpace(out))
	}
	built := time.Now()

	// The service, and evented with the generated evented.yaml: only the
	// database path and evented's ports moved.
	start.Dir = svc
	if lang == "rust" {
		start.Env = env
	}
	var procs []*proc.Process
	t.Cleanup(func() { proc.StopAll(t, procs) })
	sp, err := proc.Start(name, start, dir, "PORT="+ports[0], "LISTEN_HOST=127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	procs = append(procs, sp)
	config := filepath.Join(dir, "evented.yaml")
	if err := moveConfig(filepath.Join(svc, "evented.yaml"), config, filepath.Join(dir, "events.db"), name, ports); err != nil {
		t.Fatal(err)
	}
	ev, err := proc.Start("evented", execIn(svc, evented, "serve", "--config", config), dir)
	if err != nil {
		t.Fatal(err)
	}
	procs = append(procs, ev)
	ready, cancelReady := context.WithTimeout(ctx, 60*time.Second)
	defer cancelReady()
	if err := sp.Ready(ready, "127.0.0.1:"+ports[0]); err != nil {
		t.Fatal(err)
	}
	if err := ev.Ready(ready, "127.0.0.1:"+ports[1]); err != nil {
		t.Fatal(err)
	}

	send := func(id, body string) (string, error) {
		return output(ctx, svc, nil, evented, "send", name, id, name+".Create", body,
			"--descriptor-set", name+".binpb", "--command-addr", "127.0.0.1:"+ports[1])
	}
	out, err = send("ledger-001", `{"name":"first ledger"}`)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, sp.Tail(), ev.Tail())
	}
	if !strings.Contains(out, name+".Created") || !strings.Contains(out, `{"name":"first ledger"}`) || !strings.Contains(out, "\n0 ") {
		t.Errorf("evented send printed no event %s {\"name\":\"first ledger\"} at sequence 0:\n%s", name+".Created", out)
	}
	out, err = send("ledger-001", `{"name":"again"}`)
	if err == nil || !strings.Contains(out, "FAILED_PRECONDITION: already created, as first ledger") {
		t.Errorf("creating ledger-001 again: want the service's refusal, got %v:\n%s", err, out)
	}
	t.Logf("evented init --lang %s: built and tested in %v, answered commands %v later", lang, built.Sub(began).Round(time.Second), time.Since(built).Round(100*time.Millisecond))
}

// output runs a program in dir and returns its standard output and error.
func output(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// moveConfig writes the evented.yaml evented init wrote with the database
// at db and evented's ports moved to ports[1:], after checking that it
// routes the domain to the service's port, ports[0].
func moveConfig(from, to, db, domain string, ports []string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	bl, _ := cfg["business_logic"].([]any)
	if len(bl) != 1 {
		return fmt.Errorf("%s: want one business_logic entry, got %v", from, cfg["business_logic"])
	}
	entry, _ := bl[0].(map[string]any)
	if entry["domain"] != domain || entry["address"] != "127.0.0.1:"+ports[0] {
		return fmt.Errorf("%s: business_logic routes %v to %v, want %s to 127.0.0.1:%s", from, entry["domain"], entry["address"], domain, ports[0])
	}
	cfg["storage"] = map[string]any{"type": "sqlite", "path": db}
	server := map[string]any{"host": "127.0.0.1"}
	for i, key := range []string{"command_handler_port", "event_query_port", "admin_port"} {
		p, err := strconv.Atoi(ports[1+i])
		if err != nil {
			return err
		}
		server[key] = p
	}
	cfg["server"] = server
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(to, out, 0o644)
}
