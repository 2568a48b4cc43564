package protoview

import (
	"encoding/json"
	"sync"

	"github.com/google/uuid"

	"github.com/evented/evented/sdk"
)

// A root is often the name-based UUID of a name (sdk.Root("cust-001")),
// which cannot be turned back into it. The console and the CLI show the
// name where they can tell it: from a payload that kept it, or from having
// been asked about the aggregate by its name.

// NameEvents is how many of an aggregate's first events NameFromEvents
// looks at: a name is kept, if at all, by the event that created it.
const NameEvents = 3

// NameFromEvents finds a string in the first NameEvents events' payloads
// whose name-based UUID is root: the name the aggregate was addressed by,
// when the business logic kept it in its events. It returns "" when there
// is none (a UUID is not a name).
func NameFromEvents(root uuid.UUID, events []Event) string {
	for _, e := range events[:min(len(events), NameEvents)] {
		var fields map[string]any
		if json.Unmarshal(e.JSON, &fields) != nil {
			continue
		}
		for _, v := range fields {
			if s, ok := v.(string); ok && s != "" && sdk.Root(s) == root {
				if _, err := uuid.Parse(s); err != nil {
					return s
				}
			}
		}
	}
	return ""
}

// Names remembers the names aggregates were addressed by, root by root. The
// zero value is ready; it is safe for concurrent use and holds at most
// maxNames names.
type Names struct {
	mu sync.Mutex
	m  map[uuid.UUID]string
}

const maxNames = 100_000

// Add remembers id as root's name, unless id is a UUID.
func (n *Names) Add(id string, root uuid.UUID) {
	if _, err := uuid.Parse(id); err == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[uuid.UUID]string{}
	}
	if len(n.m) < maxNames {
		n.m[root] = id
	}
}

// NoName remembers that root has no name its events tell (its first
// NameEvents events were looked at), unless a name is known.
func (n *Names) NoName(root uuid.UUID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[uuid.UUID]string{}
	}
	if _, ok := n.m[root]; !ok && len(n.m) < maxNames {
		n.m[root] = ""
	}
}

// Get is root's name, or "".
func (n *Names) Get(root uuid.UUID) (name string) {
	name, _ = n.Lookup(root)
	return name
}

// Lookup is root's name and whether it is known (a name, or NoName).
func (n *Names) Lookup(root uuid.UUID) (name string, known bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	name, known = n.m[root]
	return name, known
}
