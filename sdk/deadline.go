package sdk

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
)

// At schedules cmd for the same aggregate at due, under id: return it from
// a Handle handler among the events (it is sent as a deadline, not an
// event). evented keeps it in the store once the events are committed and
// dispatches cmd at due, once; scheduling id again replaces it, and
// Cancel(id) removes it. The id names the deadline within the aggregate
// (the SDK prefixes it with "<domain>/<root>/"), e.g. "timeout".
//
//	return []proto.Message{&examplespb.TransactionCreated{…},
//		sdk.After("timeout", 30*time.Minute, &examplespb.CancelTransaction{Reason: "timeout"})}, nil
func At(id string, due time.Time, cmd proto.Message) *eventedpb.Deadline {
	c, err := anypb.New(cmd)
	if err != nil {
		panic(fmt.Sprintf("sdk: encode the command %T of deadline %q: %v", cmd, id, err))
	}
	return &eventedpb.Deadline{Id: id, Due: timestamppb.New(due),
		Command: &eventedpb.CommandBook{Pages: []*eventedpb.CommandPage{{Command: c}}}}
}

// After is At(id, now + d, cmd).
func After(id string, d time.Duration, cmd proto.Message) *eventedpb.Deadline {
	return At(id, time.Now().Add(d), cmd)
}

// Cancel cancels the pending deadline id: return it from a Handle handler
// among the events. A deadline cancelled before it is due never fires;
// cancelling one that is not pending does nothing.
func Cancel(id string) *eventedpb.Deadline { return &eventedpb.Deadline{Id: id, Cancel: true} }
