// Package placeholder is the business logic evented uses when none is
// configured, so that a new user can send a command and read an event back
// before writing any code.
//
// Each command page becomes one event whose type is named after the command:
// a leading verb is turned into a past-tense suffix (CreateOrder →
// OrderCreated, AddItem → ItemAdded, CancelOrder → OrderCancelled) and any
// other name gets "Processed" (Ship → ShipProcessed). The type URL keeps the
// command's prefix and package (type.googleapis.com/shop.CreateOrder →
// type.googleapis.com/shop.OrderCreated) and the event carries the command's
// payload bytes unchanged. It never rejects and returns no snapshot.
package placeholder

import (
	"context"
	"strings"

	"github.com/evented/evented/internal/business"
)

// verbs maps a leading command verb to the suffix its event gets, longest
// verbs first where one is a prefix of another.
var verbs = []struct{ verb, suffix string }{
	{"Create", "Created"},
	{"Add", "Added"},
	{"Update", "Updated"},
	{"Remove", "Removed"},
	{"Delete", "Deleted"},
	{"Complete", "Completed"},
	{"Cancel", "Cancelled"},
	{"Apply", "Applied"},
	{"Redeem", "Redeemed"},
	{"Register", "Registered"},
	{"Change", "Changed"},
	{"Open", "Opened"},
	{"Close", "Closed"},
	{"Start", "Started"},
	{"Stop", "Stopped"},
}

// Logic is the placeholder business logic; the zero value is ready to use.
type Logic struct{}

// Name implements business.Logic.
func (Logic) Name() string { return "placeholder" }

// Handle implements business.Logic.
func (Logic) Handle(_ context.Context, req business.Request) (business.Decision, error) {
	d := business.Decision{Cover: req.Command.Cover}
	for _, c := range req.Command.Pages {
		d.Events = append(d.Events, business.Event{TypeURL: EventType(c.TypeURL), Payload: c.Payload})
	}
	return d, nil
}

// EventType names the event the placeholder makes of a command type URL.
func EventType(commandType string) string {
	prefix, name := "", commandType
	if i := strings.LastIndexAny(commandType, "/."); i >= 0 {
		prefix, name = commandType[:i+1], commandType[i+1:]
	}
	for _, v := range verbs {
		if rest, ok := strings.CutPrefix(name, v.verb); ok && rest != "" && isUpper(rest[0]) {
			return prefix + rest + v.suffix
		}
	}
	return prefix + name + "Processed"
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }
