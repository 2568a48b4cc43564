package main

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
	"github.com/evented/evented/sdk/sdktest"
)

func handle(t *testing.T, prior []*eventedpb.EventPage, cmd *anypb.Any) *eventedpb.EventBook {
	t.Helper()
	root := sdk.Root("txn-1")
	cover := &eventedpb.Cover{Domain: "transaction", Root: &eventedpb.UUID{Value: root[:]}}
	out, err := NewWithTimeout(15*time.Minute, sdk.WithClock(func() time.Time { return sdktest.Now })).Handle(context.Background(),
		&eventedpb.ContextualCommand{Events: &eventedpb.EventBook{Cover: cover, Pages: prior},
			Command: &eventedpb.CommandBook{Cover: cover, Pages: []*eventedpb.CommandPage{{Command: cmd}}}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func must(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// An open transaction is cancelled after its timeout: creating it
// schedules CancelTransaction, completing it cancels that deadline.
func TestOpenTransactionTimesOut(t *testing.T) {
	create := must(t, &examplespb.CreateTransaction{CustomerId: customer, Items: items})
	out := handle(t, nil, create)
	ds := out.GetDeadlines()
	if len(ds) != 1 {
		t.Fatalf("deadlines %v, want one", ds)
	}
	root := sdk.Root("txn-1")
	if want := "transaction/" + root.String() + "/timeout"; ds[0].GetId() != want {
		t.Errorf("deadline id %q, want %q", ds[0].GetId(), want)
	}
	if got := ds[0].GetDue().AsTime(); !got.Equal(sdktest.Now.Add(15 * time.Minute)) {
		t.Errorf("due %v, want 15 minutes after creation", got)
	}
	var cancel examplespb.CancelTransaction
	if err := ds[0].GetCommand().GetPages()[0].GetCommand().UnmarshalTo(&cancel); err != nil || cancel.GetReason() != "timeout" {
		t.Errorf("scheduled command %v (%v), want CancelTransaction{reason: timeout}", ds[0].GetCommand(), err)
	}

	complete := must(t, &examplespb.CompleteTransaction{PaymentMethod: "card"})
	out = handle(t, []*eventedpb.EventPage{{Sequence: &eventedpb.EventPage_Num{Num: 0}, Event: must(t, created)}}, complete)
	if ds := out.GetDeadlines(); len(ds) != 1 || !ds[0].GetCancel() || ds[0].GetId() != "transaction/"+root.String()+"/timeout" {
		t.Errorf("completing: deadlines %v, want the timeout cancelled", ds)
	}
}
