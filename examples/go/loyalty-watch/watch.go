package main

import (
	"context"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// run follows the customer's projection by projector on evented's query
// port at addr, printing each update to out, until ctx ends.
func run(ctx context.Context, addr, projector, customer string, after uint64, out io.Writer) error {
	conn, err := sdk.Dial(addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	root, err := uuid.Parse(customer)
	if err != nil {
		root = sdk.Root(customer) // a name stands for its name-based UUID
	}
	cover := &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}}
	return sdk.WatchProjection(ctx, conn, sdk.Watch{Projector: projector, Cover: cover, AfterVersion: after},
		func(u *eventedpb.ProjectionUpdate) error {
			_, err := fmt.Fprintln(out, Line(u))
			return err
		})
}

// Line is how an update is printed: its version, the sequence of the
// customer's newest event it reflects, and the balance —
//
//	version=15 sequence=1 customer=<uuid> name="Alice" points=45 lifetime=45
//
// or, for a projection that is not a LoyaltyBalance, its type.
func Line(u *eventedpb.ProjectionUpdate) string {
	p := u.GetProjection()
	head := fmt.Sprintf("version=%d sequence=%d", u.GetVersion(), p.GetSequence())
	var b examplespb.LoyaltyBalance
	if !p.GetProjection().MessageIs(&b) || p.GetProjection().UnmarshalTo(&b) != nil {
		return fmt.Sprintf("%s projection=%s", head, p.GetProjection().GetTypeUrl())
	}
	return fmt.Sprintf("%s customer=%s name=%q points=%d lifetime=%d", head, b.GetCustomerId(), b.GetName(), b.GetPoints(), b.GetLifetimePoints())
}
