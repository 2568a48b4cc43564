package console

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/protoview"
	"github.com/evented/evented/sdk"
)

// TestNameFromEvents: a payload field whose name-based UUID is the root
// names the aggregate; a UUID or an unrelated string does not.
func TestNameFromEvents(t *testing.T) {
	root := sdk.Root("cust-001")
	ev := func(j string) protoview.Event {
		return protoview.Event{Payload: protoview.Payload{JSON: json.RawMessage(j)}}
	}
	if got := nameFromEvents(root, []protoview.Event{ev(`{"name":"Alice"}`), ev(`{"id":"cust-001","points":3}`)}); got != "cust-001" {
		t.Errorf("got %q, want cust-001", got)
	}
	if got := nameFromEvents(root, []protoview.Event{ev(`{"name":"Alice"}`)}); got != "" {
		t.Errorf("got %q from a payload without the name", got)
	}
	if got := nameFromEvents(root, []protoview.Event{ev(`{"id":"` + root.String() + `"}`)}); got != "" {
		t.Errorf("a UUID is not a name: got %q", got)
	}
	n := names{m: map[uuid.UUID]string{}}
	n.add(root.String(), root)
	n.add("cust-001", root)
	if n.get(root) != "cust-001" {
		t.Errorf("names: %v", n.m)
	}
}
