package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/evented/evented/internal/testenv"
)

// ports are evented's container ports: commands, queries, admin (HTTP).
var ports = []string{"1313", "1314", "1315"}

// TestEventedImage: the evented image runs as a non-root user, serves all
// three ports, and keeps its events in the volume across containers.
func TestEventedImage(t *testing.T) {
	e := newEngine(t)
	image := e.image(t, "evented")
	cli := buildCLI(t)
	volume := e.name("data")
	e.must(t, "volume", "create", volume)
	e.cleanup(t, "volume", "rm", "-f", volume)

	// The image's own files, as an engine that does not chown a new volume
	// to the container's user (docker; podman does) would mount them.
	want := map[string]struct {
		uid  uint32
		mode os.FileMode
	}{
		"data":                              {65532, os.ModeDir | 0o755},
		"tmp":                               {0, os.ModeDir | os.ModeSticky | 0o777},
		"usr/local/bin/evented":             {0, 0o755},
		"etc/passwd":                        {0, 0o644},
		"etc/ssl/certs/ca-certificates.crt": {0, 0o644},
		"config.yaml":                       {0, 0o644},
	}
	paths := slices.Collect(maps.Keys(want))
	if files := e.files(t, image, paths...); files != nil {
		for _, p := range paths {
			fi, ok := files[p]
			if !ok {
				t.Errorf("the image has no /%s", p)
				continue
			}
			if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != want[p].uid || fi.Mode() != want[p].mode {
				t.Errorf("/%s: owner %d, mode %v; want %d, %v", p, uid, fi.Mode(), want[p].uid, want[p].mode)
			}
		}
	}

	run := func() *container {
		return e.run(t, "evented", image, []string{"-v", volume + ":/data", "-e", "EVENTED_SERVER__INSECURE=true"}, ports...)
	}
	c := run()
	if user := e.must(t, "inspect", "--format", "{{.Config.User}}", c.name); user != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532", user)
	}
	if out := e.must(t, "top", c.name, "huser"); !strings.Contains(out, "65532") || strings.Contains(out, "root") {
		t.Errorf("evented runs as %q, want the host user 65532", out)
	}
	waitReady(t, c)

	id := fmt.Sprintf("ctest-%d", time.Now().UnixNano())
	sent := cli.send(t, c, "customer", id, "examples.CreateCustomer", `{"name":"Container","email":"c@example.com"}`)
	if len(sent) != 1 || sent[0].Type != "examples.CustomerCreated" {
		t.Fatalf("send stored %+v, want one examples.CustomerCreated", sent)
	}
	if got := cli.events(t, c, "customer", id); !sameEvents(got, sent) {
		t.Fatalf("events read back %+v, want %+v", got, sent)
	}

	body := get(t, c, "/readyz", http.StatusOK)
	if strings.TrimSpace(body) != "ready" {
		t.Errorf("/readyz says %q, want ready", body)
	}
	// The one command sent, counted.
	metrics := get(t, c, "/metrics", http.StatusOK)
	if !regexp.MustCompile(`(?m)^evented_commands_total\{[^}]*code="OK"[^}]*\} 1$`).MatchString(metrics) {
		t.Errorf("/metrics does not count one command with code OK in evented_commands_total:\n%.3000s", metrics)
	}

	// A clean stop on SIGTERM, then a new container on the same volume: the
	// events are in the volume, not in the container's own layer.
	e.must(t, "stop", "-t", "20", c.name)
	if code := e.must(t, "inspect", "--format", "{{.State.ExitCode}}", c.name); code != "0" {
		t.Errorf("evented exited with %s on podman stop, want 0:\n%s", code, e.logs(c.name))
	}
	e.must(t, "rm", c.name)
	c = run()
	waitReady(t, c)
	if got := cli.events(t, c, "customer", id); !sameEvents(got, sent) {
		t.Fatalf("after a new container on the same volume, events %+v, want %+v", got, sent)
	}
}

// TestExampleImages: each language's customer example, in its image, is
// the business logic of an evented container on the same network.
func TestExampleImages(t *testing.T) {
	e := newEngine(t)
	image := e.image(t, "evented")
	cli := buildCLI(t)
	network := e.name("net")
	e.must(t, "network", "create", network)
	e.cleanup(t, "network", "rm", "-f", network)

	langs := []string{"go", "rust", "python"}
	for _, lang := range langs {
		if missing(lang) == "" {
			e.startImage(nil, lang, "customer") // all at once: the builds wait on different things
		}
	}
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			if why := missing(lang); why != "" {
				if os.Getenv("CONTAINER_REQUIRE") == "1" {
					t.Fatalf("%s example image with CONTAINER_REQUIRE=1: %s", lang, why)
				}
				t.Skipf("%s example image skipped: %s", lang, why)
			}
			example := e.image(t, lang, "customer")
			if user := e.must(t, "image", "inspect", "--format", "{{.Config.User}}", example); user != "65532:65532" {
				t.Errorf("image user %q, want 65532:65532", user)
			}
			customer := e.run(t, "customer-"+lang, example, []string{"--network", network})
			logic := fmt.Sprintf(`[{domain: customer, address: "%s:50052"}]`, customer.name)
			c := e.run(t, "evented-"+lang, image, []string{"--network", network,
				"-e", "EVENTED_SERVER__INSECURE=true", "-e", "EVENTED_BUSINESS_LOGIC=" + logic}, ports...)
			waitReady(t, c)

			id := fmt.Sprintf("ctest-%s-%d", lang, time.Now().UnixNano())
			cmd := `{"name":"Container","email":"c@example.com"}`
			// The example may still be starting: evented retries an
			// unreachable business logic only so long.
			var sent []event
			var err error
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
				if sent, err = cli.trySend(c, "customer", id, "examples.CreateCustomer", cmd); err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "UNAVAILABLE") {
					break
				}
				if e.must(t, "inspect", "--format", "{{.State.Running}}", customer.name) != "true" {
					break // it exited: its log says why
				}
			}
			if err != nil {
				t.Fatalf("%v\nexample's log:\n%s", err, e.logs(customer.name))
			}
			if len(sent) != 1 || sent[0].Type != "examples.CustomerCreated" || sent[0].Payload["created_at"] == nil {
				t.Fatalf("send stored %+v, want one examples.CustomerCreated with the example's created_at", sent)
			}
			if _, err := cli.trySend(c, "customer", id, "examples.CreateCustomer", cmd); err == nil || !strings.Contains(err.Error(), "customer already exists") {
				t.Fatalf("a second CreateCustomer: %v, want the example's rejection \"customer already exists\"", err)
			}
			if got := cli.events(t, c, "customer", id); !sameEvents(got, sent) {
				t.Fatalf("events read back %+v, want %+v", got, sent)
			}
		})
	}
}

// missing says why lang's example image cannot be built here, or "".
func missing(lang string) string {
	switch lang {
	case "rust":
		if _, err := exec.LookPath("cargo"); err != nil {
			return "cargo is not installed"
		}
	case "python":
		py := python()
		if err := exec.Command(py, "-c", "import grpc, grpc_health, google.protobuf").Run(); err != nil {
			return fmt.Sprintf("%s cannot import grpc, grpc_health and google.protobuf (%v): make the virtualenv (just python-venv) or set PYTHON", py, err)
		}
	}
	return ""
}

// python is the interpreter deploy/image-local.sh copies: $PYTHON, else
// the virtualenv .venv of the repository.
func python() string {
	if p := os.Getenv("PYTHON"); p != "" {
		return p
	}
	return filepath.Join(repoRoot(), ".venv", "bin", "python")
}

func repoRoot() string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return root
}

// engine runs podman (or $CONTAINER_ENGINE) with names of this test run.
type engine struct {
	argv   []string
	prefix string
}

func newEngine(t *testing.T) *engine {
	t.Helper()
	if testing.Short() {
		t.Skip("container tests skipped with -short: they build images and run containers")
	}
	if os.Getenv("CONTAINER_SKIP") == "1" {
		t.Skip("container tests skipped: CONTAINER_SKIP=1")
	}
	if os.Getenv("CONTAINER_REQUIRE") != "1" {
		testenv.SlowTest(t) // images built, containers run: minutes
	}
	argv := strings.Fields(os.Getenv("CONTAINER_ENGINE"))
	if len(argv) == 0 {
		argv = []string{"podman"}
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		if os.Getenv("CONTAINER_REQUIRE") == "1" {
			t.Fatalf("%s not found and CONTAINER_REQUIRE=1: install podman and runc (apt-get install podman runc)", argv[0])
		}
		testenv.Skip(t, testenv.Need{Name: "podman (the container tests)", Enable: "apt-get install podman runc, or set CONTAINER_ENGINE; CI sets CONTAINER_REQUIRE=1"},
			argv[0]+" not found")
	}
	return &engine{argv: argv, prefix: fmt.Sprintf("evented-ctest-%d", os.Getpid())}
}

// name is a name for an object of this test run.
func (e *engine) name(what string) string { return e.prefix + "-" + what }

func (e *engine) cmd(args ...string) *exec.Cmd {
	return exec.Command(e.argv[0], append(e.argv[1:len(e.argv):len(e.argv)], args...)...)
}

// must runs the engine and returns its standard output, trimmed.
func (e *engine) must(t *testing.T, args ...string) string {
	t.Helper()
	cmd := e.cmd(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		hint := ""
		if msg := stderr.String(); strings.Contains(msg, "rlimit") || strings.Contains(msg, "cgroup") {
			hint = "\n(the OCI runtime refused the container's limits or cgroups: the settings CI uses are in .ci/containers.conf: CONTAINERS_CONF=$PWD/.ci/containers.conf; docs/howto/container.md)"
		}
		t.Fatalf("%s: %v\n%s%s%s", strings.Join(cmd.Args, " "), err, out, stderr.String(), hint)
	}
	return strings.TrimSpace(string(out))
}

// cleanup runs the engine at the end of the test, whatever happened.
func (e *engine) cleanup(t *testing.T, args ...string) {
	t.Cleanup(func() {
		if out, err := e.cmd(args...).CombinedOutput(); err != nil {
			t.Logf("cleanup %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
}

// files reports the owner and mode of files of image, by path without the
// leading slash (podman image mount; as root only: nil, and a log line,
// when it cannot mount the image).
func (e *engine) files(t *testing.T, image string, paths ...string) map[string]os.FileInfo {
	t.Helper()
	out, err := e.cmd("image", "mount", image).Output()
	if err != nil {
		t.Logf("the image's files are not checked: podman image mount: %v", err)
		return nil
	}
	defer func() { _ = e.cmd("image", "unmount", image).Run() }()
	dir := strings.TrimSpace(string(out))
	files := map[string]os.FileInfo{}
	for _, p := range paths {
		if fi, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			files[p] = fi
		}
	}
	return files
}

func (e *engine) logs(name string) string {
	out, _ := e.cmd("logs", "--tail", "40", name).CombinedOutput()
	return string(out)
}

var (
	images  sync.Map // kind/name → *imageBuild: each image built once per run
	builtMu sync.Mutex
	built   []*exec.Cmd // what removes them, when the tests are done (TestMain)
)

type imageBuild struct {
	done chan struct{} // closed when built, or failed
	ref  string
	took time.Duration
	err  error
}

// image builds an image with deploy/image-local.sh (evented, or LANG NAME),
// or waits for the build startImage began.
func (e *engine) image(t *testing.T, args ...string) string {
	t.Helper()
	var env []string
	if args[0] == "evented" {
		// The binary the CLI is: built once, static, as the script would.
		env = []string{"EVENTED_BIN=" + string(buildCLI(t))}
	}
	b := e.startImage(env, args...)
	<-b.done
	if b.err != nil {
		t.Fatal(b.err)
	}
	t.Logf("%s built in %s", b.ref, b.took)
	return b.ref
}

// startImage starts building an image unless it is built or being built:
// each once per test run, tagged after the run, and removed at the end
// (TestMain). env is added to the script's environment.
func (e *engine) startImage(env []string, args ...string) *imageBuild {
	v, loaded := images.LoadOrStore(strings.Join(args, "/"), &imageBuild{done: make(chan struct{})})
	b := v.(*imageBuild)
	if loaded {
		return b
	}
	tag := strings.TrimPrefix(e.prefix, "evented-")
	cmd := exec.Command("bash", append(append([]string{"deploy/image-local.sh"}, args...), tag)...)
	cmd.Dir = repoRoot()
	cmd.Env = append(append(os.Environ(), "CONTAINER_ENGINE="+strings.Join(e.argv, " "), "PYTHON="+python()), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	go func() {
		defer close(b.done)
		start := time.Now()
		out, err := cmd.Output()
		if err != nil {
			b.err = fmt.Errorf("deploy/image-local.sh %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			return
		}
		b.ref, b.took = strings.TrimSpace(string(out)), time.Since(start).Round(time.Millisecond)
		builtMu.Lock()
		built = append(built, e.cmd("rmi", "-f", b.ref))
		builtMu.Unlock()
	}()
	return b
}

// container is a running container and its published ports on 127.0.0.1.
type container struct {
	name string
	addr map[string]string // container port → host address
}

// run starts image detached as container NAME-what with the extra engine
// flags, publishing each port on a free port of 127.0.0.1, and removes it
// at the end of the test (its log goes to the test's when the test failed).
func (e *engine) run(t *testing.T, what, image string, flags []string, publish ...string) *container {
	t.Helper()
	c := &container{name: e.name(what), addr: map[string]string{}}
	args := []string{"run", "-d", "--name", c.name}
	for _, p := range publish {
		args = append(args, "-p", "127.0.0.1::"+p)
	}
	args = append(append(args, flags...), image)
	e.must(t, args...)
	t.Cleanup(func() {
		if out, err := e.cmd("logs", "--tail", "40", c.name).CombinedOutput(); t.Failed() && err == nil {
			t.Logf("log of %s:\n%s", c.name, out)
		}
		_ = e.cmd("rm", "-f", "-v", "-t", "0", c.name).Run() // -v: and its anonymous /data volume
	})
	for _, p := range publish {
		// "127.0.0.1:41993"
		c.addr[p] = e.must(t, "port", c.name, p+"/tcp")
	}
	return c
}

// waitReady waits until the admin port's /readyz answers 200.
func waitReady(t *testing.T, c *container) {
	t.Helper()
	url := "http://" + c.addr["1315"] + "/readyz"
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			last = err.Error()
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		last = resp.Status
	}
	t.Fatalf("%s not ready after 60s: %s", url, last)
}

// get GETs path on the admin port and wants status.
func get(t *testing.T, c *container, path string, status int) string {
	t.Helper()
	resp, err := http.Get("http://" + c.addr["1315"] + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %s, want %d: %s", path, resp.Status, status, body)
	}
	return string(body)
}

// cli is the evented CLI built on the host, talking to the published
// ports; the same static binary goes into evented's image.
type cli string

var cliBuild struct {
	once sync.Once
	path string
	err  error
	dir  string
}

// buildCLI builds the evented CLI once per test run (static, as in the image).
func buildCLI(t *testing.T) cli {
	t.Helper()
	cliBuild.once.Do(func() {
		cliBuild.dir, cliBuild.err = os.MkdirTemp("", "evented-ctest-cli")
		if cliBuild.err != nil {
			return
		}
		cliBuild.path = filepath.Join(cliBuild.dir, "evented")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", cliBuild.path, "./cmd/evented")
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			cliBuild.err = fmt.Errorf("CGO_ENABLED=0 go build ./cmd/evented: %v\n%s", err, out)
		}
	})
	if cliBuild.err != nil {
		t.Fatal(cliBuild.err)
	}
	return cli(cliBuild.path)
}

func TestMain(m *testing.M) {
	testenv.Main(m, func() {
		for _, rmi := range built {
			_ = rmi.Run()
		}
		if cliBuild.dir != "" {
			_ = os.RemoveAll(cliBuild.dir)
		}
	})
}

type event struct {
	Sequence uint64
	Type     string
	Payload  map[string]any
}

func sameEvents(a, b []event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, _ := json.Marshal(a[i])
		y, _ := json.Marshal(b[i])
		if string(x) != string(y) {
			return false
		}
	}
	return true
}

func (c cli) run(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, string(c), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("evented %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// trySend sends a command through the container's command port and
// returns the events it stored.
func (c cli) trySend(ctr *container, domain, id, typ, body string) ([]event, error) {
	out, err := c.run("send", domain, id, typ, body, "--command-addr", ctr.addr["1313"], "-o", "json")
	if err != nil {
		return nil, err
	}
	var reply struct{ Books []struct{ Events []event } }
	if err := json.Unmarshal(out, &reply); err != nil {
		return nil, fmt.Errorf("evented send -o json: %v\n%s", err, out)
	}
	var evs []event
	for _, b := range reply.Books {
		evs = append(evs, b.Events...)
	}
	return evs, nil
}

func (c cli) send(t *testing.T, ctr *container, domain, id, typ, body string) []event {
	t.Helper()
	evs, err := c.trySend(ctr, domain, id, typ, body)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// events reads an aggregate's events through the container's query port.
func (c cli) events(t *testing.T, ctr *container, domain, id string) []event {
	t.Helper()
	out, err := c.run("events", domain, id, "--query-addr", ctr.addr["1314"], "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var book struct{ Events []event }
	if err := json.Unmarshal(out, &book); err != nil {
		t.Fatalf("evented events -o json: %v\n%s", err, out)
	}
	return book.Events
}
