// Package proc starts and stops the real processes of the suites under
// tests/ (evented, example services): each in its own process group, its
// output in files, stopped by its id only.
package proc

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

// FreePorts reserves n distinct free ports of 127.0.0.1 and releases them
// for the processes to take.
func FreePorts(n int) ([]string, error) {
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

// Process is one started program, its output kept in files.
type Process struct {
	Name   string
	Cmd    *exec.Cmd
	Stdout string // path of the file holding standard output
	Stderr string // path of the file holding standard error
	exited chan struct{}
	mu     sync.Mutex
	err    error
}

// Start starts cmd with env added, writing its output under dir as
// name.out and name.err (appended to, so a restarted process keeps the
// earlier output).
func Start(name string, cmd *exec.Cmd, dir string, env ...string) (*Process, error) {
	p := &Process{Name: name, Cmd: cmd, Stdout: filepath.Join(dir, name+".out"), Stderr: filepath.Join(dir, name+".err"), exited: make(chan struct{})}
	stdout, err := os.OpenFile(p.Stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	stderr, err := os.OpenFile(p.Stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
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
		p.err = err
		p.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr is what waiting for the process returned, once it has exited.
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Ready waits until addr accepts connections, failing early when the
// process exits.
func (p *Process) Ready(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before listening on %s: %v\n%s", p.Name, addr, p.ExitErr(), p.Tail())
		case <-ctx.Done():
			return fmt.Errorf("%s did not listen on %s in time\n%s", p.Name, addr, p.Tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the process (and what it started: its process group) with
// SIGTERM, then SIGKILL after grace. It reports a process that had already
// died.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s had exited during the suite: %v\n%s", p.Name, p.ExitErr(), p.Tail())
	default:
	}
	terminate(p.Cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	terminate(p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
	return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.Name, grace)
}

// Kill ends the process group at once with SIGKILL (a crash) and waits for
// the process to be gone. Killing a process that has exited does nothing.
func (p *Process) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	terminate(p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// Tail is the end of the process's output, for failure messages.
func (p *Process) Tail() string {
	var b strings.Builder
	for _, f := range []string{p.Stderr, p.Stdout} {
		data, _ := os.ReadFile(f)
		if len(data) > 4000 {
			data = append([]byte("…"), data[len(data)-4000:]...)
		}
		if len(bytes.TrimSpace(data)) > 0 {
			fmt.Fprintf(&b, "--- %s (%s):\n%s\n", p.Name, filepath.Base(f), data)
		}
	}
	return b.String()
}

// StopAll stops processes in reverse order of start.
func StopAll(t testing.TB, ps []*Process) {
	var errs []error
	for i := len(ps) - 1; i >= 0; i-- {
		errs = append(errs, ps[i].Stop(10*time.Second))
	}
	if err := errors.Join(errs...); err != nil {
		t.Error(err)
	}
}
