package main

import (
	"strings"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// NewUpcaster returns the customer domain's upcaster: the first version of
// the shop stored sign-ups as CustomerSignedUp, name and email in one
// contact line; evented reads them as CustomerCreated (schema version 2)
// through this step, so the aggregate and every projector only know
// CustomerCreated. Stored events are not rewritten.
func NewUpcaster() *sdk.Upcaster {
	up := sdk.NewUpcaster("customer")
	sdk.UpcastStep(up, 1, func(old *examplespb.CustomerSignedUp) (*examplespb.CustomerCreated, error) {
		name, email := SplitContact(old.GetContact())
		return &examplespb.CustomerCreated{Name: name, Email: email, CreatedAt: old.GetSignedUpAt()}, nil
	})
	return up
}

// SplitContact splits "Alice <alice@example.com>" into its name and email;
// a contact without <…> is a name alone.
func SplitContact(contact string) (name, email string) {
	name, rest, ok := strings.Cut(contact, "<")
	if !ok {
		return strings.TrimSpace(contact), ""
	}
	email, _, _ = strings.Cut(rest, ">")
	return strings.TrimSpace(name), strings.TrimSpace(email)
}
