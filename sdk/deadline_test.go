package sdk_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// A handler returns deadlines among its events: they go out as the reply's
// deadlines, for the command's aggregate, and are not numbered as events.
func TestAggregateSchedulesAndCancelsDeadlines(t *testing.T) {
	agg := sdk.NewAggregate[wallet]("wallet")
	due := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	sdk.Handle(agg, func(w *wallet, c *examplespb.CreateCustomer) ([]proto.Message, error) {
		return []proto.Message{&examplespb.CustomerCreated{Name: c.GetName()},
			sdk.At("welcome", due, &examplespb.AddLoyaltyPoints{Points: 10}),
			sdk.Cancel("old")}, nil
	})
	out, err := agg.Handle(context.Background(), command(t, nil, &examplespb.CreateCustomer{Name: "A"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.GetPages()) != 1 {
		t.Fatalf("%d events, want 1 (deadlines are not events)", len(out.GetPages()))
	}
	ds := out.GetDeadlines()
	if len(ds) != 2 {
		t.Fatalf("deadlines %v, want 2", ds)
	}
	if ds[0].GetId() != "wallet/"+walletRoot.String()+"/welcome" || !ds[0].GetDue().AsTime().Equal(due) || !proto.Equal(ds[0].GetCommand().GetCover(), cover("wallet")) ||
		ds[0].GetCommand().GetPages()[0].GetCommand().MessageName() != "examples.AddLoyaltyPoints" {
		t.Errorf("scheduled %v, want wallet/<root>/welcome at %v for the command's aggregate", ds[0], due)
	}
	if ds[1].GetId() != "wallet/"+walletRoot.String()+"/old" || !ds[1].GetCancel() {
		t.Errorf("cancelled %v, want old", ds[1])
	}
}
