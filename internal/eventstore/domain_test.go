package eventstore_test

import (
	"strings"
	"testing"

	"github.com/evented/evented/internal/eventstore"
)

func TestDomainProblem(t *testing.T) {
	for _, ok := range []string{"customer", "order-line", "x_1", "a.b", "Ünïcode", "orders", "d", strings.Repeat("a", 64)} {
		if p := eventstore.DomainProblem(ok, 64); p != "" {
			t.Errorf("%q: %s", ok, p)
		}
	}
	for _, bad := range []string{"", "a b", "a\x00", "a*", "a>", "a.>", "a#", "*", ".", "a.", ".a", "a..b",
		"\xff", "a\u00a0b", "a/b", "a:b", strings.Repeat("a", 65)} {
		p := eventstore.DomainProblem(bad, 64)
		if p == "" {
			t.Errorf("%q accepted", bad)
		}
		if !strings.Contains(p, "want") {
			t.Errorf("%q: %q does not say what is allowed", bad, p)
		}
	}
}
