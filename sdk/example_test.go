package sdk_test

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// An aggregate handles one command the way evented calls it: with the
// prior events, answering the new events numbered after them.
func ExampleAggregate() {
	type counter struct{ points int32 }
	agg := sdk.NewAggregate[counter]("customer")
	sdk.Apply(agg, func(s *counter, e *examplespb.LoyaltyPointsAdded) { s.points += e.GetPoints() })
	sdk.Handle(agg, func(s *counter, c *examplespb.AddLoyaltyPoints) ([]proto.Message, error) {
		if c.GetPoints() <= 0 {
			return nil, sdk.Invalid("points must be positive")
		}
		return []proto.Message{&examplespb.LoyaltyPointsAdded{Points: c.GetPoints(), NewBalance: s.points + c.GetPoints()}}, nil
	})

	root := sdk.Root("cust-001")
	cover := &eventedpb.Cover{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}}
	prior, _ := anypb.New(&examplespb.LoyaltyPointsAdded{Points: 10, NewBalance: 10})
	cmd, _ := anypb.New(&examplespb.AddLoyaltyPoints{Points: 5})
	out, err := agg.Handle(context.Background(), &eventedpb.ContextualCommand{
		Events:  &eventedpb.EventBook{Cover: cover, Pages: []*eventedpb.EventPage{{Sequence: &eventedpb.EventPage_Num{Num: 0}, Event: prior}}},
		Command: &eventedpb.CommandBook{Cover: cover, Pages: []*eventedpb.CommandPage{{Command: cmd}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range out.GetPages() {
		var e examplespb.LoyaltyPointsAdded
		_ = p.GetEvent().UnmarshalTo(&e)
		fmt.Printf("%d %s: +%d, balance %d\n", p.GetNum(), p.GetEvent().MessageName(), e.GetPoints(), e.GetNewBalance())
	}
	// Output: 1 examples.LoyaltyPointsAdded: +5, balance 15
}
