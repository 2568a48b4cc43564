package e2e

import (
	"context"
	"fmt"
	"time"

	"github.com/cucumber/godog"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
)

// registerSnapshots binds the steps of automatic snapshots.
func (w *world) registerSnapshots(sc *godog.ScenarioContext) {
	sc.Step(`^customer "([^"]*)" is given (\d+) loyalty points (\d+) times$`, func(ctx context.Context, c string, points int32, times int) error {
		for i := range times {
			if err := w.send(ctx, "customer", c, &examplespb.AddLoyaltyPoints{Points: points, Reason: "loyal"}); err != nil {
				return fmt.Errorf("time %d of %d: %w", i+1, times, err)
			}
		}
		return nil
	})
	sc.Step(`^eventually customer "([^"]*)" loads from a snapshot evented took of (\d+) events or more$`, w.customerSnapshotted)
}

// customerSnapshotted waits (at most 10 s) until a load of the customer
// (both bounds 0) starts from a snapshot of at least n events, of the
// customer's state type.
func (w *world) customerSnapshotted(ctx context.Context, c string, n uint32) error {
	root := w.root(c)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var snap *eventedpb.Snapshot
		if _, err := w.readBooks(ctx, &eventedpb.Query{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}}, &snap); err != nil {
			return err
		}
		if snap.GetSequence() >= n {
			var s examplespb.CustomerState
			if !snap.GetState().MessageIs(&s) {
				return fmt.Errorf("the snapshot of %q is a %s, want examples.CustomerState", c, snap.GetState().GetTypeUrl())
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 10s, customer %q loads from snapshot %v; want one of %d events or more", c, snap, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
