package eventstore_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/evented/evented/internal/bus"
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

// Every domain the rule accepts can be carried by every bus: bus.CheckDomain
// accepts it and its routing key fits AMQP's 255 bytes.
func FuzzDomainRule(f *testing.F) {
	for _, d := range []string{"customer", "a.b", "order-line", "Ünïcode", "a b", "a\x00", "a.>", "*", "a..b", ".", "\xff", strings.Repeat("x", 222)} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d string) {
		p := eventstore.DomainProblem(d, eventstore.MaxDomainLimit)
		if p != "" {
			return
		}
		if err := bus.CheckDomain(d); err != nil {
			t.Errorf("%q accepted by the rule, refused by the bus: %v", d, err)
		}
		if !utf8.ValidString(d) || len(d) == 0 || len(d) > eventstore.MaxDomainLimit {
			t.Errorf("%q accepted: invalid UTF-8 or length %d", d, len(d))
		}
		if k := bus.Key(eventstore.Cover{Domain: d}); len(k) > 255 {
			t.Errorf("%q accepted: routing key of %d bytes", d, len(k))
		}
	})
}
