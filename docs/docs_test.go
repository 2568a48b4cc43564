package docs_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// root is the repository's top directory, seen from this package.
const root = ".."

// markdownFiles lists the repository's Markdown files, as paths relative to
// root with slashes.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "target", ".venv", "data", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".md") {
			rel, _ := filepath.Rel(root, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var (
	fence      = regexp.MustCompile("(?ms)^ *```.*?^ *```[^\n]*$")
	inlineCode = regexp.MustCompile("`[^`\n]*`")
	link       = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading    = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *#*$`)
	htmlAnchor = regexp.MustCompile(`<a (?:id|name)="([^"]+)"`)
)

// prose is a Markdown text without its code: links in code are not links.
func prose(md string) string {
	return inlineCode.ReplaceAllString(fence.ReplaceAllString(md, ""), "")
}

// anchors are the fragment ids a forge gives the headings of md (GitHub's
// rule: lower case, punctuation dropped, spaces to hyphens, a repeated one
// suffixed -1, -2, …).
func anchors(md string) map[string]bool {
	ids := map[string]bool{}
	seen := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(md, ""), -1) {
		id := slug(m[1])
		if n := seen[id]; n > 0 {
			ids[id+"-"+strconv.Itoa(n)] = true
		} else {
			ids[id] = true
		}
		seen[id]++
	}
	for _, m := range htmlAnchor.FindAllStringSubmatch(md, -1) {
		ids[m[1]] = true
	}
	return ids
}

func slug(h string) string {
	h = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(h, "$1") // a link's text
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// pending are pages other work adds: a link to one passes while the page
// is absent, and is checked like any other once it exists.
var pending = map[string]bool{}

// TestLinks: every relative link of every Markdown file of the repository
// points to a file that exists and, with a #fragment, to a heading of it.
func TestLinks(t *testing.T) {
	files := markdownFiles(t)
	if len(files) < 20 {
		t.Fatalf("found %d Markdown files; want the docs", len(files))
	}
	checked := 0
	for _, file := range files {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		md := string(b)
		for _, m := range link.FindAllStringSubmatch(prose(md), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, frag, _ := strings.Cut(target, "#")
			targetFile := file
			if path != "" {
				targetFile = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(file), path)))
			}
			tb, err := os.ReadFile(filepath.Join(root, targetFile))
			if err != nil {
				if fi, serr := os.Stat(filepath.Join(root, targetFile)); serr == nil && fi.IsDir() && frag == "" {
					continue
				}
				if pending[targetFile] {
					continue
				}
				t.Errorf("%s: link %q: %s does not exist", file, target, targetFile)
				continue
			}
			if frag != "" && strings.HasSuffix(targetFile, ".md") && !anchors(string(tb))[frag] {
				t.Errorf("%s: link %q: %s has no heading with the id %q", file, target, targetFile, frag)
			}
		}
	}
	if checked < 100 {
		t.Errorf("checked %d links; the link pattern broke?", checked)
	}
}

// A doctest marker, an HTML comment no forge shows, precedes a code block
// that TestDocCommands runs:
//
//	<!-- doctest: run -->             a console block: each "$ " line is run,
//	                                  and the lines after it are its output
//	                                  (times and runs of spaces compared
//	                                  loosely); an sh block: run, must succeed
//	<!-- doctest: serve -->           an sh block whose "evented serve" line
//	                                  starts the server the file's later
//	                                  blocks use; its other lines are not run
//	<!-- doctest: run needs=jq -->    skipped (and said so) without jq
//
// "go run ./cmd/evented" in a block is run as the evented binary built from
// this checkout. Each file gets a fresh server (SQLite in a temporary working
// directory) on free ports, which the CLI finds through EVENTED_SERVER__*
// variables; its blocks run in order, so a block sees what earlier ones
// stored.
var marker = regexp.MustCompile("(?m)^<!-- doctest: ([^>]*?) -->\n+```(\\w*)\n((?s:.*?))```")

type block struct {
	args  []string
	lang  string
	body  string
	line  int
	needs []string
}

func doctests(md string) []block {
	var blocks []block
	for _, m := range marker.FindAllStringSubmatchIndex(md, -1) {
		b := block{lang: md[m[4]:m[5]], body: md[m[6]:m[7]], line: strings.Count(md[:m[0]], "\n") + 1}
		for _, a := range strings.Fields(strings.ReplaceAll(md[m[2]:m[3]], ",", " ")) {
			if tools, ok := strings.CutPrefix(a, "needs="); ok {
				b.needs = strings.Split(tools, ",")
			} else {
				b.args = append(b.args, a)
			}
		}
		blocks = append(blocks, b)
	}
	return blocks
}

func (b block) is(arg string) bool {
	for _, a := range b.args {
		if a == arg {
			return true
		}
	}
	return false
}

// TestDocCommands runs the marked blocks of every Markdown file against a
// real server, as a reader would type them.
func TestDocCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the documentation's commands are not run")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "evented"), "./cmd/evented")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/evented: %v\n%s", err, out)
	}
	total := 0
	for _, file := range markdownFiles(t) {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		blocks := doctests(string(b))
		if len(blocks) == 0 {
			continue
		}
		total += len(blocks)
		t.Run(strings.ReplaceAll(file, "/", "_"), func(t *testing.T) { runFile(t, bin, file, blocks) })
	}
	if total < 8 {
		t.Errorf("ran %d marked blocks; want at least the README's and the how-tos'", total)
	}
	for _, file := range []string{"README.md"} {
		b, _ := os.ReadFile(filepath.Join(root, file))
		var serve, run bool
		for _, bl := range doctests(string(b)) {
			serve = serve || bl.is("serve")
			run = run || bl.is("run")
		}
		if !serve || !run {
			t.Errorf("%s: its set-up (doctest: serve) and first command (doctest: run) must be run by this test", file)
		}
	}
}

// env is a file's server: its working directory and the variables that
// point the server and the CLI at its ports.
type env struct {
	dir  string
	vars []string
	bin  string
}

func (e env) command(ctx context.Context, script string) *exec.Cmd {
	c := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	c.Dir = e.dir
	c.Env = append(os.Environ(), e.vars...)
	c.Env = append(c.Env, "PATH="+e.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return c
}

func runFile(t *testing.T, bin, file string, blocks []block) {
	ports := freePorts(t, 3)
	e := env{
		dir: t.TempDir(),
		bin: bin,
		vars: []string{
			"EVENTED_SERVER__COMMAND_HANDLER_PORT=" + ports[0],
			"EVENTED_SERVER__EVENT_QUERY_PORT=" + ports[1],
			"EVENTED_SERVER__ADMIN_PORT=" + ports[2],
			"EVENTED_LOG__FORMAT=json",
		},
	}
	serveLine := "evented serve"
	for _, b := range blocks {
		if b.is("serve") {
			found := false
			for l := range strings.Lines(b.body) {
				cmd, _, _ := strings.Cut(l, "#")
				if cmd = local(strings.TrimSpace(cmd)); strings.Contains(cmd, "evented serve") {
					serveLine, found = cmd, true
				} else if cmd != "" {
					t.Logf("%s:%d: not run here: %s", file, b.line, cmd)
				}
			}
			if !found {
				t.Fatalf("%s:%d: a doctest: serve block without an evented serve line", file, b.line)
			}
		}
	}
	startServer(t, e, serveLine, ports[2])
	for _, b := range blocks {
		if b.is("serve") {
			continue
		}
		if missing := missingTools(b.needs); missing != "" {
			t.Logf("%s:%d: skipped: %s is not installed", file, b.line, missing)
			continue
		}
		switch b.lang {
		case "console":
			runConsole(t, e, file, b)
		case "sh", "bash":
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			out, err := e.command(ctx, local(b.body)).CombinedOutput()
			cancel()
			if err != nil {
				t.Errorf("%s:%d: the block fails: %v\n%s\nblock:\n%s", file, b.line, err, out, b.body)
			}
		default:
			t.Errorf("%s:%d: doctest on a ```%s block: want console or sh", file, b.line, b.lang)
		}
	}
	if file == "README.md" {
		// The set-up's promise: SQLite at ./data/events.db.
		if _, err := os.Stat(filepath.Join(e.dir, "data", "events.db")); err != nil {
			t.Errorf("README.md: after its commands, the server's working directory has no data/events.db: %v", err)
		}
	}
}

// local runs go run ./cmd/evented as the binary built for the test.
func local(s string) string { return strings.ReplaceAll(s, "go run ./cmd/evented", "evented") }

func missingTools(tools []string) string {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return tool
		}
	}
	return ""
}

// startServer runs line (evented serve …) in e until the test ends, and
// waits until it is ready.
func startServer(t *testing.T, e env, line, adminPort string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := e.command(ctx, "exec "+line)
	var log bytes.Buffer
	srv.Stdout, srv.Stderr = &log, &log
	srv.Cancel = func() error { return srv.Process.Signal(os.Interrupt) }
	srv.WaitDelay = 10 * time.Second
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + adminPort + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not ready after 30s:\n%s", line, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runConsole runs each "$ " line of a console block and compares its
// output with the lines under it.
func runConsole(t *testing.T, e env, file string, b block) {
	type step struct {
		cmd  string
		want []string
	}
	var steps []step
	sc := bufio.NewScanner(strings.NewReader(b.body))
	for sc.Scan() {
		l := sc.Text()
		if cmd, ok := strings.CutPrefix(l, "$ "); ok {
			steps = append(steps, step{cmd: cmd})
		} else if len(steps) > 0 {
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, l)
		}
	}
	if len(steps) == 0 {
		t.Errorf("%s:%d: a console block with no $ line", file, b.line)
	}
	for _, s := range steps {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		out, err := e.command(ctx, local(s.cmd)).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("%s:%d: %s: %v\n%s", file, b.line, s.cmd, err, out)
			continue
		}
		got, want := loose(string(out)), loose(strings.Join(s.want, "\n"))
		if got != want {
			t.Errorf("%s:%d: %s\nprints:\n%s\nthe page shows:\n%s", file, b.line, s.cmd, out, strings.Join(s.want, "\n"))
		}
	}
}

var (
	timestamp = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	spaces    = regexp.MustCompile(`[ \t]+`)
)

// loose drops what differs between runs: times, column widths, blank lines.
func loose(s string) string {
	var lines []string
	for l := range strings.Lines(s) {
		l = spaces.ReplaceAllString(timestamp.ReplaceAllString(strings.TrimSpace(l), "TIME"), " ")
		if l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// TestMetricsReference: the metrics page lists every metric internal/metrics
// registers, and none that it does not.
func TestMetricsReference(t *testing.T) {
	inCode := map[string]bool{}
	sources, _ := filepath.Glob(filepath.Join(root, "internal", "metrics", "*.go"))
	for _, path := range sources {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"(evented_[a-z_]+)"`).FindAllStringSubmatch(string(b), -1) {
			inCode[m[1]] = true
		}
	}
	if len(inCode) < 20 {
		t.Fatalf("found %d metric names in internal/metrics; the pattern broke?", len(inCode))
	}
	b, err := os.ReadFile(filepath.Join(root, "docs", "reference", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	onPage := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| (`evented_[a-z_]+`(?:, `evented_[a-z_]+`)*) \\|").FindAllStringSubmatch(string(b), -1) {
		for _, name := range regexp.MustCompile("`(evented_[a-z_]+)`").FindAllStringSubmatch(m[1], -1) {
			onPage[name[1]] = true
		}
	}
	for name := range inCode {
		if !onPage[name] {
			t.Errorf("docs/reference/metrics.md has no row for %s, which internal/metrics registers", name)
		}
	}
	for name := range onPage {
		if !inCode[name] {
			t.Errorf("docs/reference/metrics.md lists %s, which internal/metrics does not register", name)
		}
	}
}
