// Package justfile tests the repository's justfile: every recipe of the
// evented-rs README is there and parses, and the recipes that can run
// without containers or a cluster do. It skips, saying so, when just is not
// installed (npm install -g rust-just); CI installs it.
package justfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/evented/evented/internal/testenv"
)

// readme lists the recipes of the evented-rs README's CLI reference.
var readme = []string{
	"build", "build-release", "test", "acceptance-test", "run", "check", "fmt", "lint",
	"proto-generate", "proto-rust", "proto-go", "proto-python", "proto-clean",
	"examples-build", "examples-test", "examples-rust", "examples-go", "examples-python",
	"kind-create", "kind-delete", "deploy", "redeploy", "undeploy", "k8s-logs", "k8s-port-forward",
	"integration-test", "integration-test-only",
}

const root = "../.."

func just(t *testing.T, args ...string) string {
	t.Helper()
	path := testenv.LookPath(t, "just", "npm install -g rust-just")
	cmd := exec.Command(path, args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("just %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestRecipes(t *testing.T) {
	recipes := strings.Fields(just(t, "--summary"))
	for _, r := range readme {
		if !slices.Contains(recipes, r) {
			t.Errorf("the justfile has no recipe %s (of the evented-rs README)", r)
		}
	}
	// just with no arguments lists them, with their descriptions.
	list := just(t)
	if list != just(t, "--list", "--unsorted") {
		t.Errorf("just with no arguments does not list the recipes:\n%s", list)
	}
	for _, r := range recipes {
		if r == "default" {
			continue
		}
		described := false
		for line := range strings.Lines(list) {
			if f := strings.Fields(line); len(f) > 0 && f[0] == r {
				described = strings.Contains(line, " # ")
			}
		}
		if !described {
			t.Errorf("just --list lacks %s with a description:\n%s", r, list)
		}
	}
}

// TestRecipesDryRun: every recipe and its dependencies evaluate and print
// their commands. One just per recipe is half a second each.
func TestRecipesDryRun(t *testing.T) {
	testenv.SlowTest(t)
	for _, r := range strings.Fields(just(t, "--summary")) {
		just(t, "--dry-run", r)
	}
}

// TestRunnableRecipes runs the recipes that need no container engine, no
// cluster and no network beyond the Go module proxy.
func TestRunnableRecipes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the module several times; skipped with -short")
	}
	testenv.SlowTest(t)
	out := t.TempDir()
	for _, r := range []string{"build", "build-release"} {
		just(t, "--set", "out", out, r)
		v, err := exec.Command(filepath.Join(out, "evented"), "version").Output()
		if err != nil || !strings.HasPrefix(string(v), "evented ") {
			t.Errorf("just %s: bin/evented version: %q %v", r, v, err)
		}
		os.Remove(filepath.Join(out, "evented"))
	}
	just(t, "check")
	if got := just(t, "fmt-check"); !strings.Contains(got, "all Go files are gofmt-formatted") {
		t.Errorf("just fmt-check: %s", got)
	}
	// Recipes for examples in languages whose code may not exist yet run
	// what exists and say so.
	just(t, "--set", "out", out, "examples-build")
	for _, name := range []string{"customer", "transaction", "saga-loyalty", "projector-receipt", "projector-log-customer", "projector-log-transaction", "projector-loyalty", "loyalty-watch"} {
		if _, err := os.Stat(filepath.Join(root, "examples/go", name)); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, "examples", name)); err != nil {
			t.Errorf("just examples-build did not build examples/go/%s: %v", name, err)
		}
	}
	just(t, "proto-rust")
}
