package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evented/evented/internal/cli"
)

// evented init says what it wrote, and a second run into the same
// directory is refused, naming it, with nothing changed.
func TestInitWritesOnceAndSaysWhat(t *testing.T) {
	checkout, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "orders")
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := cli.Main(t.Context(), args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, out, errOut := run("init", "--lang", "rust", "--checkout", checkout, "--dir", dir, "orders")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Wrote a Rust service for the domain orders into ", "\n  Cargo.toml\n", "\n  src/lib.rs\n", "\n  orders.binpb\n", "Next: cd " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	cargo, _ := os.ReadFile(filepath.Join(dir, "Cargo.toml"))
	if !strings.Contains(string(cargo), `evented = { path = "`+filepath.Join(checkout, "sdk", "rust")+`" }`) {
		t.Errorf("Cargo.toml does not depend on the checkout's SDK:\n%s", cargo)
	}

	before, _ := os.ReadFile(filepath.Join(dir, "src", "lib.rs"))
	code, _, errOut = run("init", "--lang", "go", "--checkout", checkout, "--dir", dir, "orders")
	if code == 0 || !strings.Contains(errOut, dir+" is not empty") {
		t.Errorf("a second init into %s: exit %d, %s", dir, code, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "src", "lib.rs")); !bytes.Equal(before, after) {
		t.Error("src/lib.rs changed")
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		t.Error("the refused init wrote go.mod")
	}

	for _, c := range []struct{ args, want string }{
		{"init --lang go Orders", `NAME "Orders": want lower-case letters`},
		{"init orders", "--lang is required"},
		{"init --lang cobol --dir " + dir + "-x orders", `--lang "cobol": want one of go, python, rust`},
		{"init --lang go --checkout " + t.TempDir() + " orders", "not an evented checkout"},
	} {
		if code, _, errOut := run(strings.Fields(c.args)...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("evented %s: exit %d, %q; want %q", c.args, code, errOut, c.want)
		}
	}
}
