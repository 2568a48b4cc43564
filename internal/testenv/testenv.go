// Package testenv says what a test run left out. Tests that need something
// this machine may lack (a PostgreSQL server, a broker, Chromium, Python, a
// tool) skip through it, and the package's TestMain prints one line per
// missing thing and how to provide it, once per package run:
//
//	skip	github.com/evented/evented/internal/eventstore/postgres	PostgreSQL: set POSTGRES_TEST_URL (eval "$(bash .ci/services.sh start postgres)")
//
// go test ./... shows a passing package's output only with -v, so without
// -v the lines go to the terminal (/dev/tty) when there is one: a newcomer's
// first go test ./... says what it did not test. A cached result ("ok …
// (cached)") ran nothing and prints nothing; go test -count=1 runs it again.
//
// In CI (CI=true) a missing server fails the test instead: .ci/run starts
// them all, and a missing one must not pass for green.
//
// A package that skips through testenv needs
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// and a skip in a package without it fails the test, saying so.
package testenv

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// A Need is something some tests require, and how to provide it.
type Need struct {
	// Name is what is missing, as people call it: "PostgreSQL".
	Name string
	// Env is the variable that provides it (a server's URL, or a switch
	// set to 1), or "" when it is found otherwise (a program on PATH).
	Env string
	// Enable says how to provide it.
	Enable string
	// Required: when CI=true a test that lacks it fails instead of skipping.
	Required bool
}

// The servers .ci/services.sh starts, and what else some tests need.
var (
	PostgreSQL = Need{Name: "PostgreSQL", Env: "POSTGRES_TEST_URL", Required: true,
		Enable: `eval "$(bash .ci/services.sh start postgres)"`}
	Redis = Need{Name: "Redis", Env: "REDIS_TEST_URL", Required: true,
		Enable: `eval "$(bash .ci/services.sh start redis)"`}
	RabbitMQ = Need{Name: "RabbitMQ", Env: "AMQP_TEST_URL", Required: true,
		Enable: `eval "$(bash .ci/services.sh start rabbitmq)"`}
	NATS = Need{Name: "NATS", Env: "NATS_TEST_URL", Required: true,
		Enable: `eval "$(bash .ci/services.sh start nats)"`}
	// BrokerRestart is what the broker restart tests need: the commands
	// .ci/services.sh start prints. .ci/run runs them alone, after the
	// others, since they stop brokers other packages use.
	BrokerRestart = Need{Name: "broker restart tests", Env: "AMQP_TEST_RESTART or NATS_TEST_RESTART",
		Enable: `eval "$(bash .ci/services.sh start rabbitmq nats)"; go test -p 1 -run 'TestBus/BrokerRestart|TestRelayPublishesEveryCommittedEvent' ./internal/bus/... ./internal/server/`}
	// Python runs the Python example services and SDK from Go tests.
	Python = Need{Name: "Python with grpcio", Env: "E2E_PYTHON",
		Enable: "python3 -m venv .venv && .venv/bin/pip install -r examples/python/requirements.txt (or set E2E_PYTHON to such a python)"}
	// Slow are the tests that build every example service or run the
	// justfile's recipes: minutes, not seconds. CI sets SLOW_TESTS=1.
	Slow = Need{Name: "slow tests (examples built, container images, evented init's projects, the justfile's recipes)", Env: "SLOW_TESTS",
		Enable: "SLOW_TESTS=1 go test ./..."}
)

// Getenv returns the variable of n, or skips t saying how to set it (fails
// it when n is Required and CI=true).
func Getenv(t testing.TB, n Need) string {
	t.Helper()
	v := os.Getenv(n.Env)
	if v == "" {
		if n.Required && os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set and CI=true: the %s tests must run in CI (%s)", n.Env, n.Name, n.Enable)
		}
		Skip(t, n, n.Env+" is not set")
	}
	return v
}

// SlowTest skips t unless SLOW_TESTS=1.
func SlowTest(t testing.TB) {
	t.Helper()
	if os.Getenv(Slow.Env) != "1" {
		Skip(t, Slow, "SLOW_TESTS is not 1")
	}
}

// LookPath returns the program name on PATH, or skips t saying how to
// install it (install is that command, or a sentence).
func LookPath(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, Need{Name: name, Enable: install}, name+" is not on PATH")
	}
	return p
}

// Skip skips t because of why, and notes n for the package's summary.
func Skip(t testing.TB, n Need, why string) {
	t.Helper()
	if !Note(n) {
		t.Fatalf("testenv.Skip(%s) in a package whose TestMain does not call testenv.Main: add func TestMain(m *testing.M) { testenv.Main(m) }", n.Name)
	}
	t.Skipf("%s: %s: to run: %s", n.Name, why, n.Enable)
}

var (
	mu      sync.Mutex
	running bool
	noted   []Need
)

// Note records n for the package's summary, for skips made without a
// testing.T (a godog scenario's step). It reports false when TestMain does
// not call Main, where the summary would be lost.
func Note(n Need) bool {
	mu.Lock()
	defer mu.Unlock()
	if !slices.ContainsFunc(noted, func(m Need) bool { return m.Name == n.Name }) {
		noted = append(noted, n)
	}
	return running
}

// Main runs the package's tests, then cleanups, prints one line per Need
// that made a test skip, and exits with the tests' code.
func Main(m *testing.M, cleanups ...func()) {
	mu.Lock()
	running = true
	mu.Unlock()
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	mu.Lock()
	lines := summary(packagePath(), noted)
	mu.Unlock()
	if lines != "" {
		w, closeW := output()
		_, _ = io.WriteString(w, lines)
		closeW()
	}
	os.Exit(code)
}

// summary is the lines Main prints.
func summary(pkg string, needs []Need) string {
	var b strings.Builder
	for _, n := range needs {
		how := n.Enable
		if n.Env != "" && !strings.Contains(how, n.Env) {
			how = "set " + n.Env + " (" + how + ")"
		}
		fmt.Fprintf(&b, "skip\t%s\t%s: %s\n", pkg, n.Name, how)
	}
	return b.String()
}

// output is where the summary goes: standard output with -v (go test
// shows it), else the terminal, which go test does not capture.
func output() (io.Writer, func()) {
	if !testing.Verbose() {
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			return tty, func() { _ = tty.Close() }
		}
	}
	return os.Stdout, func() {}
}

// packagePath is the import path of the package under test, as go test
// names it on its "ok" line.
func packagePath() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" {
		return strings.TrimSuffix(bi.Path, ".test")
	}
	return "."
}

// Eventually polls cond every millisecond until it holds, and fails t if
// it does not within 10 s; what names the awaited state in the failure.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
