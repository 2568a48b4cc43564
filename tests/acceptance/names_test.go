package acceptance

import (
	"strings"

	"github.com/google/uuid"

	"github.com/evented/evented/sdk"
)

// aggregateRoot is the root UUID of the aggregate a scenario calls name
// ("order-456"): the documented mapping of sdk.Root, the one the CLI and
// every SDK use, so a name means the same aggregate everywhere.
func aggregateRoot(_, name string) uuid.UUID { return sdk.Root(name) }

// typePrefix is the type URL prefix of the commands, events and states the
// scenarios make up; evented treats them as opaque.
const typePrefix = "type.googleapis.com/acceptance."

// typeURL is the type URL of a command, event or state named in a scenario
// ("CreateOrder", "OrderCreated").
func typeURL(name string) string { return typePrefix + name }

// typeName is the name a scenario uses for a type URL: the part after the
// last '.' or '/'.
func typeName(url string) string {
	if i := strings.LastIndexAny(url, "/."); i >= 0 {
		return url[i+1:]
	}
	return url
}
