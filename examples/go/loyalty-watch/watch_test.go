package main

import (
	"testing"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
)

func update(t *testing.T, version uint64, sequence uint32, projection *anypb.Any) *eventedpb.ProjectionUpdate {
	t.Helper()
	return &eventedpb.ProjectionUpdate{Version: version, Key: "customer/x", Projection: &eventedpb.Projection{
		Projector: "loyalty-balance", Sequence: sequence, Projection: projection,
	}}
}

func TestLine(t *testing.T) {
	balance, err := anypb.New(&examplespb.LoyaltyBalance{CustomerId: "bee85a38-babe-5251-8d7d-f8a8ed93ed9c", Name: "Alice Smith", Points: 45, LifetimePoints: 60})
	if err != nil {
		t.Fatal(err)
	}
	other, err := anypb.New(&examplespb.Receipt{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		u    *eventedpb.ProjectionUpdate
		want string
	}{
		{update(t, 15, 3, balance), `version=15 sequence=3 customer=bee85a38-babe-5251-8d7d-f8a8ed93ed9c name="Alice Smith" points=45 lifetime=60`},
		{update(t, 16, 4, other), `version=16 sequence=4 projection=type.googleapis.com/examples.Receipt`},
		{update(t, 17, 5, nil), `version=17 sequence=5 projection=`},
	} {
		if got := Line(c.u); got != c.want {
			t.Errorf("Line:\n got  %s\n want %s", got, c.want)
		}
	}
}
