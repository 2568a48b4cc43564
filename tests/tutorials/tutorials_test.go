// Package tutorials runs the commands of the tutorials docs/tutorials/*.md
// word by word, as a newcomer would: in an empty home directory outside
// the checkout, against a real evented server, so the tutorials cannot
// drift from what works.
//
//	RUN_TUTORIALS=1 go test ./tests/tutorials/ -v              # all three
//	RUN_TUTORIALS=1 go test ./tests/tutorials/ -run 'TestTutorials/python'
//
// Without RUN_TUTORIALS the test is skipped (saying so): the tutorials
// use the fixed ports they name (evented's 1313-1315, the service's 50061),
// which a developer's own evented may hold. CI's "tutorials" step sets it.
// A missing toolchain (python3, cargo) skips its tutorial, or fails it when
// E2E_REQUIRE is set, as in tests/e2e.
//
// # What the tutorials mark
//
// An HTML comment right before a fenced block says what to do with it;
// blocks without one are only shown:
//
//	<!-- tutorial: run -->               run the block with bash (set -euo pipefail)
//	<!-- tutorial: run fails -->         the same, and it must exit non-zero
//	<!-- tutorial: background ADDR -->   start it and wait until ADDR accepts connections;
//	                                     it is stopped (SIGTERM) when the tutorial ends
//	<!-- tutorial: output -->            the output of the block run before it
//	<!-- tutorial: file PATH -->         write the block to PATH ("create PATH with:")
//	<!-- tutorial: same-as PATH -->      the block is PATH's content (code shown as written
//	                                     by evented init; … for any text, as in outputs)
//	<!-- tutorial: part-of PATH -->      the block is a part of PATH's content, verbatim
//
// Blocks run one after another, each in the directory and with the exported
// variables the one before left. Outputs compare line by line with runs
// of blanks as one space, timestamps as any timestamp, and … in the
// expected text standing for any text.
//
// # The newcomer's machine
//
// HOME is a new temporary directory holding evented, a symbolic link to
// this checkout (the tutorials' `git clone` is the one block not run).
// Caches and Go's settings stay where they are, so nothing is downloaded
// or compiled twice: GOENV, GOPATH, GOMODCACHE, GOCACHE, CARGO_HOME, RUSTUP_HOME, PIP_CACHE_DIR. GOBIN, on
// PATH, is one directory for the three tutorials. Cargo builds into the checkout's target directory
// (CARGO_TARGET_DIR, as tests/e2e), offline (CARGO_NET_OFFLINE: the crates
// the workspace already fetched, so the dependencies compiled for it are
// reused).
package tutorials

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/evented/evented/internal/testenv"
	"github.com/evented/evented/tests/internal/proc"
)

// tutorials are the languages, each with what it needs on PATH.
var tutorials = []struct {
	lang  string
	needs []string
}{
	{"go", []string{"go"}},
	{"python", []string{"go", "python3"}},
	{"rust", []string{"go", "cargo"}},
}

func TestTutorials(t *testing.T) {
	if os.Getenv("RUN_TUTORIALS") == "" {
		testenv.Skip(t, testenv.Need{Name: "tutorials (docs/tutorials/*.md run word by word)", Env: "RUN_TUTORIALS",
			Enable: "RUN_TUTORIALS=1 go test -run TestTutorials ./tests/tutorials/; they use the fixed ports 1313-1315 and 50061, as written (CI's tutorials step sets it)"},
			"RUN_TUTORIALS is not set")
	}
	if testing.Short() {
		t.Skip("tutorials skipped with -short: they build a service in each language")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// One GOBIN for the three, as on one newcomer's machine: the second
	// `go install ./cmd/evented` finds the binary up to date.
	gobin := t.TempDir()
	for _, tu := range tutorials {
		t.Run(tu.lang, func(t *testing.T) {
			for _, n := range tu.needs {
				if _, err := exec.LookPath(n); err != nil {
					if os.Getenv("E2E_REQUIRE") != "" {
						t.Fatalf("the %s tutorial needs %s, not on PATH (E2E_REQUIRE is set)", tu.lang, n)
					}
					t.Skipf("the %s tutorial skipped: %s is not on PATH", tu.lang, n)
				}
			}
			began := time.Now()
			runTutorial(t, root, gobin, filepath.Join(root, "docs", "tutorials", tu.lang+".md"))
			t.Logf("%s tutorial: %v", tu.lang, time.Since(began).Round(time.Second))
		})
	}
}

// block is one fenced block of a tutorial with its directive.
type block struct {
	line      int    // of the opening fence, 1-based
	directive string // "run", "run fails", "background ADDR", "output", "file PATH", "same-as PATH"
	text      string
}

var directiveRE = regexp.MustCompile(`^<!--\s*tutorial:\s*(.*?)\s*-->$`)

// parse returns the blocks of a tutorial that carry a directive.
func parse(data []byte) ([]block, error) {
	var blocks []block
	var pending string
	pendingLine := 0
	s := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for s.Scan() {
		n++
		line := s.Text()
		if m := directiveRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			if pending != "" {
				return nil, fmt.Errorf("line %d: directive %q is not followed by a fenced block", pendingLine, pending)
			}
			pending, pendingLine = m[1], n
			continue
		}
		if !strings.HasPrefix(line, "```") {
			if pending != "" && strings.TrimSpace(line) != "" {
				return nil, fmt.Errorf("line %d: directive %q is not followed by a fenced block", pendingLine, pending)
			}
			continue
		}
		start := n
		var body []string
		closed := false
		for s.Scan() {
			n++
			if strings.HasPrefix(s.Text(), "```") {
				closed = true
				break
			}
			body = append(body, s.Text())
		}
		if !closed {
			return nil, fmt.Errorf("line %d: fenced block never closed", start)
		}
		if pending != "" {
			blocks = append(blocks, block{line: start, directive: pending, text: strings.Join(body, "\n") + "\n"})
			pending = ""
		}
	}
	if pending != "" {
		return nil, fmt.Errorf("line %d: directive %q is not followed by a fenced block", pendingLine, pending)
	}
	return blocks, s.Err()
}

// shell runs the tutorial's blocks in one home directory.
type shell struct {
	t     *testing.T
	home  string
	state string // cwd and env files
	env   []string
	procs []*proc.Process
}

func runTutorial(t *testing.T, root, gobin, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parse(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(blocks) == 0 {
		t.Fatalf("%s: no block marked <!-- tutorial: run -->", path)
	}
	tmp := t.TempDir()
	sh := &shell{t: t, home: filepath.Join(tmp, "home"), state: filepath.Join(tmp, "state")}
	for _, d := range []string{sh.home, sh.state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(root, filepath.Join(sh.home, "evented")); err != nil {
		t.Fatal(err)
	}
	sh.env = newcomerEnv(t, root, sh.home, gobin)
	if err := os.WriteFile(filepath.Join(sh.state, "cwd"), []byte(sh.home), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sh.state, "env"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.StopAll(t, sh.procs) })

	name := filepath.Base(path)
	var last *block
	var lastOut string
	for i := range blocks {
		b := &blocks[i]
		where := fmt.Sprintf("%s:%d", name, b.line)
		verb, arg, _ := strings.Cut(b.directive, " ")
		switch verb {
		case "run":
			began := time.Now()
			out, err := sh.run(b.text)
			fails := arg == "fails"
			switch {
			case err != nil && !fails:
				t.Fatalf("%s: the block failed: %v\n%s\noutput:\n%s%s", where, err, b.text, out, sh.tails())
			case err == nil && fails:
				t.Fatalf("%s: the block should fail and did not:\n%s\noutput:\n%s", where, b.text, out)
			}
			t.Logf("%s: ran in %v: %s", where, time.Since(began).Round(100*time.Millisecond), firstLine(b.text))
			last, lastOut = b, out
		case "background":
			if arg == "" {
				t.Fatalf("%s: background needs the address to wait for", where)
			}
			sh.background(where, b.text, arg)
			last = nil
		case "output":
			if last == nil {
				t.Fatalf("%s: output follows no run block", where)
			}
			if diff := compare(b.text, lastOut); diff != "" {
				t.Errorf("%s: the output of %s:%d differs from the tutorial's:\n%s", where, name, last.line, diff)
			}
		case "file":
			p := filepath.Join(sh.cwd(), arg)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(b.text), 0o644); err != nil {
				t.Fatal(err)
			}
		case "same-as", "part-of":
			got, err := os.ReadFile(filepath.Join(sh.cwd(), arg))
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			switch {
			case verb == "part-of":
				if !strings.Contains(string(got), b.text) {
					t.Errorf("%s: the block is not part of %s as written; the file:\n%s", where, arg, got)
				}
			case strings.Contains(b.text, "…"):
				if diff := compare(b.text, string(got)); diff != "" {
					t.Errorf("%s: the block is not %s as written:\n%s", where, arg, diff)
				}
			case string(got) != b.text:
				t.Errorf("%s: the block is not %s as written:\n%s", where, arg, lineDiff(b.text, string(got)))
			}
		default:
			t.Fatalf("%s: unknown directive %q", where, b.directive)
		}
	}
}

// newcomerEnv is the environment of a newcomer's shell: a fresh HOME,
// the caches kept.
func newcomerEnv(t *testing.T, root, home, gobin string) []string {
	goEnv := func(key string) string {
		out, err := exec.Command("go", "env", key).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", key, err)
		}
		return strings.TrimSpace(string(out))
	}
	realHome, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	keep := func(key, def string) string {
		if v := os.Getenv(key); v != "" {
			return key + "=" + v
		}
		return key + "=" + def
	}
	pipCache := filepath.Join(realHome, ".cache", "pip")
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		pipCache = filepath.Join(x, "pip")
	}
	target := os.Getenv("CARGO_TARGET_DIR")
	if target == "" {
		target = filepath.Join(root, "target")
	} else if !filepath.IsAbs(target) {
		target = filepath.Join(root, target)
	}
	return []string{
		"HOME=" + home,
		"PATH=" + gobin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"GOBIN=" + gobin,
		"GOPATH=" + goEnv("GOPATH"),
		"GOMODCACHE=" + goEnv("GOMODCACHE"),
		"GOCACHE=" + goEnv("GOCACHE"),
		"GOENV=" + goEnv("GOENV"), // the machine's go env settings (GOFLAGS, GOTOOLCHAIN)
		keep("CARGO_HOME", filepath.Join(realHome, ".cargo")),
		keep("RUSTUP_HOME", filepath.Join(realHome, ".rustup")),
		keep("PIP_CACHE_DIR", pipCache),
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"CARGO_TARGET_DIR=" + target,
		"CARGO_NET_OFFLINE=true",
		"PWD=" + home,
	}
}

func (sh *shell) cwd() string {
	b, err := os.ReadFile(filepath.Join(sh.state, "cwd"))
	if err != nil {
		sh.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// script wraps a block: into the directory and with the variables the
// previous block left, then saving them.
func (sh *shell) script(text string, save bool) string {
	cwd, env := filepath.Join(sh.state, "cwd"), filepath.Join(sh.state, "env")
	// A newcomer has no EVENTED_* variables (evented refuses unknown ones).
	// cd resolves symbolic links (set -P): in the checkout through
	// ~/evented, go sees the checkout's own path and reuses its build cache.
	s := fmt.Sprintf("set -euo pipefail -P\nunset $(compgen -e | grep '^EVENTED_' || true)\ncd %q\nsource %q\n%s", sh.cwd(), env, text)
	if save {
		s += fmt.Sprintf("\npwd > %q\ndeclare -px | grep '^declare -x ' > %q || true\n", cwd, env)
	}
	return s
}

// run runs a block and returns its output (standard output and error).
func (sh *shell) run(text string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", sh.script(text, true))
	cmd.Dir = sh.home
	cmd.Env = append(os.Environ(), sh.env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (timed out)", err)
	}
	return out.String(), err
}

// background starts a block that keeps running and waits until addr
// accepts connections.
func (sh *shell) background(where, text, addr string) {
	sh.t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c.Close()
		sh.t.Fatalf("%s: %s is taken before the block started: stop what listens there", where, addr)
	}
	cmd := exec.Command("bash", "-c", sh.script(text, false))
	cmd.Dir = sh.home
	name := fmt.Sprintf("block%d", len(sh.procs)+1)
	p, err := proc.Start(name, cmd, sh.state, sh.env...)
	if err != nil {
		sh.t.Fatal(err)
	}
	sh.procs = append(sh.procs, p)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	if err := p.Ready(ctx, addr); err != nil {
		sh.t.Fatalf("%s: %v", where, err)
	}
	sh.t.Logf("%s: listening on %s after %v: %s", where, addr, time.Since(began).Round(100*time.Millisecond), firstLine(text))
}

func (sh *shell) tails() string {
	var b strings.Builder
	for _, p := range sh.procs {
		b.WriteString(p.Tail())
	}
	return b.String()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

var (
	timestampRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	blanksRE    = regexp.MustCompile(`[ \t]+`)
)

// normalize makes lines comparable: blanks as one space, timestamps as
// one word.
func normalize(s string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		l = timestampRE.ReplaceAllString(l, "<timestamp>")
		lines = append(lines, strings.TrimSpace(blanksRE.ReplaceAllString(l, " ")))
	}
	return lines
}

// compare says how got differs from want ("" when it does not); … in want
// matches any text.
func compare(want, got string) string {
	w, g := normalize(want), normalize(got)
	ok := len(w) == len(g)
	for i := 0; ok && i < len(w); i++ {
		parts := strings.Split(w[i], "…")
		for j := range parts {
			parts[j] = regexp.QuoteMeta(parts[j])
		}
		ok = regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(g[i])
	}
	if ok {
		return ""
	}
	return "want:\n" + strings.Join(w, "\n") + "\ngot:\n" + strings.Join(g, "\n")
}

// lineDiff shows the first line where want and got part.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d: tutorial %q, file %q", i+1, wl, gl)
		}
	}
	return ""
}
