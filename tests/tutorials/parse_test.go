package tutorials

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every tutorial parses, and runs something: this part needs no toolchain
// and runs with go test ./... (TestTutorials runs the blocks).
func TestTutorialsParse(t *testing.T) {
	for _, tu := range tutorials {
		data, err := os.ReadFile(filepath.Join("..", "..", "docs", "tutorials", tu.lang+".md"))
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := parse(data)
		if err != nil {
			t.Fatalf("%s.md: %v", tu.lang, err)
		}
		var runs, outputs, backgrounds int
		for _, b := range blocks {
			switch verb, _, _ := strings.Cut(b.directive, " "); verb {
			case "run":
				runs++
			case "output":
				outputs++
			case "background":
				backgrounds++
			}
		}
		if runs < 5 || outputs < 5 || backgrounds != 2 {
			t.Errorf("%s.md: %d run blocks, %d outputs, %d background: want at least 5, 5 and the service and evented", tu.lang, runs, outputs, backgrounds)
		}
	}
}

func TestParseRefusesADanglingDirective(t *testing.T) {
	for _, doc := range []string{
		"<!-- tutorial: run -->\ntext\n```sh\nls\n```\n",
		"<!-- tutorial: run -->\n",
		"<!-- tutorial: run -->\n```sh\nls\n",
	} {
		if _, err := parse([]byte(doc)); err == nil {
			t.Errorf("parsed %q", doc)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		want, got string
		same      bool
	}{
		{"a  b\n", "a b", true},
		{"ok\tinventory\t…\n", "ok  \tinventory\t0.012s\n", true},
		{"0 2026-12-03T18:30:41.165Z x", "0 2027-01-01T00:00:00Z x", true},
		{"a\nb", "a", false},
		{"already created, as A", "already created, as B", false},
	} {
		if got := compare(c.want, c.got) == ""; got != c.same {
			t.Errorf("compare(%q, %q): same %v, want %v", c.want, c.got, got, c.same)
		}
	}
}
