package eventlog_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/examples/go/internal/eventlog"
	"github.com/evented/evented/sdk"
	"github.com/evented/evented/sdk/sdktest"
)

func TestOneLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	out := slog.New(slog.NewJSONHandler(&buf, nil))
	sdktest.Projector(t, func(o ...sdk.Option) *sdk.Projector[struct{}] { return eventlog.New("log-customer", out, o...) }).
		For("customer", "cust-001").
		Given(&examplespb.CustomerCreated{Name: "Alice"}).
		When(&examplespb.LoyaltyPointsAdded{Points: 45, NewBalance: 45}, &examplespb.LoyaltyPointsRedeemed{Points: 5, NewBalance: 40}).
		ThenHandled()

	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines, want one per new event (2):\n%s", len(lines), buf.String())
	}
	for i, want := range []struct {
		typ    string
		seq    float64
		points float64
	}{{"examples.LoyaltyPointsAdded", 1, 45}, {"examples.LoyaltyPointsRedeemed", 2, 5}} {
		l := lines[i]
		if l["msg"] != "event" || l["projector"] != "log-customer" || l["domain"] != "customer" ||
			l["root"] != sdk.Root("cust-001").String() || l["type"] != want.typ || l["sequence"] != want.seq {
			t.Errorf("line %d: %v", i, l)
		}
		if ev, _ := l["event"].(map[string]any); ev["points"] != want.points {
			t.Errorf("line %d: event %v, want points %v", i, l["event"], want.points)
		}
	}
}
