package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// services are the example services, in the order they are started; port
// is the one examples/config.yaml gives each.
var services = []struct {
	name string
	port string
}{
	{"customer", "50052"},
	{"transaction", "50053"},
	{"saga-loyalty", "50054"},
	{"projector-receipt", "50055"},
	{"projector-log-customer", "50056"},
	{"projector-log-transaction", "50057"},
}

// language builds and starts one language's example services.
type language struct {
	// missing says why the examples cannot run, or "" when they can.
	missing func(root string) string
	// build prepares the services (bin is a directory for binaries).
	build func(ctx context.Context, root, bin string) error
	// command starts one service.
	command func(root, bin, service string) *exec.Cmd
}

var languages = map[string]language{
	"go": {
		missing: func(root string) string {
			return missingFiles(root, "examples/go/%s/main.go")
		},
		build: func(ctx context.Context, root, bin string) error {
			args := []string{"build", "-ldflags=-s -w", "-o", bin + string(filepath.Separator)}
			for _, s := range services {
				args = append(args, "./examples/go/"+s.name)
			}
			return run(ctx, root, "go", args...)
		},
		command: func(_, bin, service string) *exec.Cmd {
			return exec.Command(filepath.Join(bin, service))
		},
	},
	"python": {
		missing: func(root string) string {
			return missingFiles(root, "examples/python/%s/main.py")
		},
		build: func(context.Context, string, string) error { return nil },
		command: func(root, _, service string) *exec.Cmd {
			python := os.Getenv("E2E_PYTHON")
			if python == "" {
				// The virtualenv of examples/python/requirements.txt, when there is one.
				python = filepath.Join(root, ".venv", "bin", "python")
				if _, err := os.Stat(python); err != nil {
					python = "python3"
				}
			}
			return exec.Command(python, filepath.Join(root, "examples", "python", service, "main.py"))
		},
	},
	"rust": {
		missing: func(root string) string {
			if why := missingFiles(root, "examples/rust/%s/Cargo.toml"); why != "" {
				return why
			}
			if _, err := exec.LookPath("cargo"); err != nil {
				return "cargo is not installed"
			}
			return ""
		},
		// The Cargo workspace at the repository root, default profile: the
		// build cargo test makes, so CI compiles the dependencies once.
		build: func(ctx context.Context, root, _ string) error {
			return run(ctx, root, "cargo", "build", "--bins")
		},
		command: func(root, _, service string) *exec.Cmd {
			return exec.Command(filepath.Join(cargoTarget(root), "debug", service))
		},
	},
}

// cargoTarget is cargo's target directory: $CARGO_TARGET_DIR, else target/
// at the workspace root.
func cargoTarget(root string) string {
	if d := os.Getenv("CARGO_TARGET_DIR"); d != "" {
		if filepath.IsAbs(d) {
			return d
		}
		return filepath.Join(root, d)
	}
	return filepath.Join(root, "target")
}

// launchOverride is E2E_LAUNCH: a shell command per service.
func launchOverride(root, template, service string) *exec.Cmd {
	line := strings.NewReplacer("{service}", service, "{module}", strings.ReplaceAll(service, "-", "_")).Replace(template)
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = root
	return cmd
}

func missingFiles(root, pattern string) string {
	var missing []string
	for _, s := range services {
		if _, err := os.Stat(filepath.Join(root, fmt.Sprintf(pattern, s.name))); err != nil {
			missing = append(missing, fmt.Sprintf(pattern, s.name))
		}
	}
	switch {
	case len(missing) == len(services):
		return fmt.Sprintf(pattern, "<service>") + ": none of the six services is in this checkout yet"
	case len(missing) > 0:
		return strings.Join(missing, ", ") + " not in this checkout yet"
	}
	return ""
}

func cmp(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// execIn is exec.Command run in dir.
func execIn(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	return cmd
}

// run runs a build command, its output in the error.
func run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// freePorts reserves n distinct free ports of 127.0.0.1 and releases them
// for the processes to take.
func freePorts(n int) ([]string, error) {
	var ports []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		_, port, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, port)
	}
	return ports, nil
}

// process is one started program, its output kept in files.
type process struct {
	name     string
	cmd      *exec.Cmd
	out, err string // paths of standard output and error
	exited   chan struct{}
	mu       sync.Mutex
	waitErr  error
}

// start starts cmd with env added, writing its output under dir.
func start(name string, cmd *exec.Cmd, dir string, env ...string) (*process, error) {
	p := &process{name: name, cmd: cmd, out: filepath.Join(dir, name+".out"), err: filepath.Join(dir, name+".err"), exited: make(chan struct{})}
	stdout, err := os.Create(p.out)
	if err != nil {
		return nil, err
	}
	stderr, err := os.Create(p.err)
	if err != nil {
		_ = stdout.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = stdout.Close()
		_ = stderr.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		err := cmd.Wait()
		_ = stdout.Close()
		_ = stderr.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// ready waits until addr accepts connections, failing early when the
// process exits.
func (p *process) ready(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before listening on %s: %v\n%s", p.name, addr, p.exitErr(), p.tail())
		case <-ctx.Done():
			return fmt.Errorf("%s did not listen on %s in time\n%s", p.name, addr, p.tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// stop ends the process (and what it started: its process group) with
// SIGTERM, then SIGKILL after grace. It reports a process that had already
// died.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s had exited during the suite: %v\n%s", p.name, p.exitErr(), p.tail())
	default:
	}
	terminate(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	terminate(p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
	return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.name, grace)
}

// tail is the end of the process's output, for failure messages.
func (p *process) tail() string {
	var b strings.Builder
	for _, f := range []string{p.err, p.out} {
		data, _ := os.ReadFile(f)
		if len(data) > 4000 {
			data = append([]byte("…"), data[len(data)-4000:]...)
		}
		if len(bytes.TrimSpace(data)) > 0 {
			fmt.Fprintf(&b, "--- %s (%s):\n%s\n", p.name, filepath.Base(f), data)
		}
	}
	return b.String()
}

// stopAll stops processes in reverse order of start.
func stopAll(t testing.TB, ps []*process) {
	var errs []error
	for i := len(ps) - 1; i >= 0; i-- {
		errs = append(errs, ps[i].stop(10*time.Second))
	}
	if err := errors.Join(errs...); err != nil {
		t.Error(err)
	}
}
