package protoview

import (
	"encoding/json"
	"testing"

	"github.com/evented/evented/sdk"
)

// TestNameFromEvents: a payload field whose name-based UUID is the root
// names the aggregate; a UUID or an unrelated string does not.
func TestNameFromEvents(t *testing.T) {
	root := sdk.Root("cust-001")
	ev := func(j string) Event {
		return Event{Payload: Payload{JSON: json.RawMessage(j)}}
	}
	if got := NameFromEvents(root, []Event{ev(`{"name":"Alice"}`), ev(`{"id":"cust-001","points":3}`)}); got != "cust-001" {
		t.Errorf("got %q, want cust-001", got)
	}
	if got := NameFromEvents(root, []Event{ev(`{"name":"Alice"}`)}); got != "" {
		t.Errorf("got %q from a payload without the name", got)
	}
	if got := NameFromEvents(root, []Event{ev(`{"id":"` + root.String() + `"}`)}); got != "" {
		t.Errorf("a UUID is not a name: got %q", got)
	}
	var n Names
	n.Add(root.String(), root)
	n.Add("cust-001", root)
	if n.Get(root) != "cust-001" {
		t.Errorf("names: %v", n.m)
	}
	other := sdk.Root("cust-002")
	if _, known := n.Lookup(other); known {
		t.Errorf("cust-002 known before it was looked at")
	}
	n.NoName(other)
	if name, known := n.Lookup(other); !known || name != "" {
		t.Errorf("after NoName: %q, %v", name, known)
	}
	n.NoName(root)
	n.Add("cust-002", other)
	if n.Get(root) != "cust-001" || n.Get(other) != "cust-002" {
		t.Errorf("a name is kept over NoName, and replaces it: %v", n.m)
	}
}
