package docgen_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/evented/evented/internal/docgen"
)

// TestCheckedInPagesMatchTheCode fails when a generated page of docs/ was
// edited by hand, or the code changed (a configuration key, a command, a
// flag) without the pages being made again.
func TestCheckedInPagesMatchTheCode(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := docgen.Files(root)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
		if err != nil {
			t.Errorf("%s: %v: run `%s` and commit the result", path, err, docgen.Command)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the code generates (%s): run `%s` and commit the result",
				path, firstDifference(string(got), string(want)), docgen.Command)
		}
	}
	pages, _ := filepath.Glob(filepath.Join(root, docgen.CLIDir, "*.md"))
	for _, p := range pages {
		rel, _ := filepath.Rel(root, p)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			t.Errorf("%s documents no command of the binary: run `%s` (it removes it) and commit the result", rel, docgen.Command)
		}
	}
	if len(pages) < 20 {
		t.Errorf("%s holds %d pages; want one per command", docgen.CLIDir, len(pages))
	}
}

// firstDifference names the first line where got and want differ.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ": has " + quote(gl) + ", the code makes " + quote(wl)
		}
	}
	return "same lines"
}

func quote(s string) string {
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return "\"" + s + "\""
}

// TestEveryKeyIsDocumented: a key without a doc comment stops the
// generator, so that the reference never has an empty description.
func TestEveryKeyIsDocumented(t *testing.T) {
	files, err := docgen.Files(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	page := string(files[docgen.ConfigPage])
	for _, key := range []string{"`storage.type`", "`server.tls.client_ca_file`", "`business_logic[].snapshots.keep`", "`auth.mtls[].roles`", "`upcasters[].steps[].from_version`"} {
		if !strings.Contains(page, key) {
			t.Errorf("%s lacks %s", docgen.ConfigPage, key)
		}
	}
}
