package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// wallet is a small aggregate for the tests: a balance of loyalty points.
type wallet struct {
	open    bool
	balance int32
}

func newWallet(opts ...sdk.Option) *sdk.Aggregate[wallet] {
	agg := sdk.NewAggregate[wallet]("wallet", opts...)
	sdk.Apply(agg, func(w *wallet, _ *examplespb.CustomerCreated) { w.open = true })
	sdk.Apply(agg, func(w *wallet, e *examplespb.LoyaltyPointsAdded) { w.balance += e.GetPoints() })
	sdk.Restore(agg, func(w *wallet, s *examplespb.CustomerState) { w.open, w.balance = true, s.GetLoyaltyPoints() })
	sdk.Snapshot(agg, func(w *wallet) *examplespb.CustomerState {
		return &examplespb.CustomerState{LoyaltyPoints: w.balance}
	})
	sdk.Handle(agg, func(w *wallet, c *examplespb.CreateCustomer) ([]proto.Message, error) {
		return []proto.Message{&examplespb.CustomerCreated{Name: c.GetName()}}, nil
	})
	sdk.Handle(agg, func(w *wallet, c *examplespb.AddLoyaltyPoints) ([]proto.Message, error) {
		switch {
		case c.GetPoints() < 0:
			return nil, sdk.Invalid("negative")
		case !w.open:
			return nil, sdk.Rejectf("no wallet (balance %d)", w.balance)
		case c.GetReason() == "bug":
			return nil, errors.New("something broke")
		case c.GetReason() == "down":
			return nil, status.Error(codes.Unavailable, "the bank is down")
		case c.GetReason() == "nothing":
			return nil, nil
		}
		// Two events per command, so numbering across them shows.
		return []proto.Message{
			&examplespb.LoyaltyPointsAdded{Points: c.GetPoints(), NewBalance: w.balance + c.GetPoints()},
			&examplespb.LoyaltyPointsAdded{Points: 0, NewBalance: w.balance + c.GetPoints()},
		}, nil
	})
	return agg
}

var walletRoot = sdk.Root("w-1")

func cover(domain string) *eventedpb.Cover {
	return &eventedpb.Cover{Domain: domain, Root: &eventedpb.UUID{Value: walletRoot[:]}}
}

func anyOf(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func page(t testing.TB, seq *uint32, m proto.Message) *eventedpb.EventPage {
	t.Helper()
	p := &eventedpb.EventPage{Event: anyOf(t, m)}
	if seq != nil {
		p.Sequence = &eventedpb.EventPage_Num{Num: *seq}
	} else {
		p.Sequence = &eventedpb.EventPage_Force{Force: true}
	}
	return p
}

func num(n uint32) *uint32 { return &n }

func command(t testing.TB, prior *eventedpb.EventBook, cmds ...proto.Message) *eventedpb.ContextualCommand {
	t.Helper()
	cb := &eventedpb.CommandBook{Cover: cover("wallet")}
	for _, c := range cmds {
		cb.Pages = append(cb.Pages, &eventedpb.CommandPage{Command: anyOf(t, c)})
	}
	return &eventedpb.ContextualCommand{Events: prior, Command: cb}
}

func nums(b *eventedpb.EventBook) []uint32 {
	var out []uint32
	for _, p := range b.GetPages() {
		out = append(out, p.GetNum())
	}
	return out
}

// The returned events continue the aggregate's sequence — never 0 for all
// (the defect of the original examples) — and so does the snapshot.
func TestAggregateNumbersEventsFromTheNextSequence(t *testing.T) {
	add := &examplespb.AddLoyaltyPoints{Points: 5}
	for _, tc := range []struct {
		name  string
		prior *eventedpb.EventBook
		want  []uint32
	}{
		{"new aggregate", nil, nil},
		{"events 0 and 1", &eventedpb.EventBook{Cover: cover("wallet"), Pages: []*eventedpb.EventPage{
			page(t, num(0), &examplespb.CustomerCreated{}), page(t, num(1), &examplespb.LoyaltyPointsAdded{Points: 1})}}, []uint32{2, 3}},
		{"snapshot at 5, events 5 and 6", &eventedpb.EventBook{Cover: cover("wallet"),
			Snapshot: &eventedpb.Snapshot{Sequence: 5, State: anyOf(t, &examplespb.CustomerState{LoyaltyPoints: 10})},
			Pages:    []*eventedpb.EventPage{page(t, num(5), &examplespb.LoyaltyPointsAdded{Points: 1}), page(t, num(6), &examplespb.LoyaltyPointsAdded{Points: 1})}},
			[]uint32{7, 8}},
		{"snapshot at 4 only", &eventedpb.EventBook{Cover: cover("wallet"),
			Snapshot: &eventedpb.Snapshot{Sequence: 4, State: anyOf(t, &examplespb.CustomerState{LoyaltyPoints: 10})}}, []uint32{4, 5}},
		{"unnumbered pages after a snapshot", &eventedpb.EventBook{Cover: cover("wallet"),
			Snapshot: &eventedpb.Snapshot{Sequence: 2, State: anyOf(t, &examplespb.CustomerState{})},
			Pages:    []*eventedpb.EventPage{page(t, nil, &examplespb.LoyaltyPointsAdded{}), page(t, nil, &examplespb.LoyaltyPointsAdded{})}},
			[]uint32{4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := newWallet().Handle(context.Background(), command(t, tc.prior, add))
			if tc.want == nil {
				if status.Code(err) != codes.FailedPrecondition {
					t.Fatalf("a wallet that does not exist: %v, want FailedPrecondition", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := nums(out); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("events numbered %v, want %v", got, tc.want)
			}
			if s := out.GetSnapshot().GetSequence(); s != tc.want[len(tc.want)-1]+1 {
				t.Errorf("snapshot sequence %d, want %d", s, tc.want[len(tc.want)-1]+1)
			}
			if !proto.Equal(out.GetCover(), cover("wallet")) {
				t.Errorf("cover %v, want the command's", out.GetCover())
			}
		})
	}
}

// Commands of one book see each other's events; the snapshot is the state
// after all of them.
func TestAggregateFoldsItsOwnEventsBetweenCommands(t *testing.T) {
	out, err := newWallet().Handle(context.Background(), command(t, nil,
		&examplespb.CreateCustomer{Name: "A"}, &examplespb.AddLoyaltyPoints{Points: 3}, &examplespb.AddLoyaltyPoints{Points: 4}))
	if err != nil {
		t.Fatal(err)
	}
	if got := nums(out); fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Errorf("numbered %v", got)
	}
	var last examplespb.LoyaltyPointsAdded
	if err := out.GetPages()[4].GetEvent().UnmarshalTo(&last); err != nil || last.GetNewBalance() != 7 {
		t.Errorf("last event %v (%v), want new balance 7", &last, err)
	}
	var snap examplespb.CustomerState
	if err := out.GetSnapshot().GetState().UnmarshalTo(&snap); err != nil || snap.GetLoyaltyPoints() != 7 || out.GetSnapshot().GetSequence() != 5 {
		t.Errorf("snapshot %v at %d (%v), want 7 points at 5", &snap, out.GetSnapshot().GetSequence(), err)
	}
}

func TestAggregateErrorsBecomeStatusCodes(t *testing.T) {
	open := &eventedpb.EventBook{Cover: cover("wallet"), Pages: []*eventedpb.EventPage{page(t, num(0), &examplespb.CustomerCreated{})}}
	for _, tc := range []struct {
		name  string
		in    *eventedpb.ContextualCommand
		code  codes.Code
		msgIs string
	}{
		{"Reject", command(t, nil, &examplespb.AddLoyaltyPoints{Points: 1}), codes.FailedPrecondition, "no wallet (balance 0)"},
		{"Invalid", command(t, open, &examplespb.AddLoyaltyPoints{Points: -1}), codes.InvalidArgument, "negative"},
		{"a status passes through", command(t, open, &examplespb.AddLoyaltyPoints{Reason: "down"}), codes.Unavailable, "the bank is down"},
		{"another error is a bug", command(t, open, &examplespb.AddLoyaltyPoints{Reason: "bug"}), codes.Internal, "wallet: examples.AddLoyaltyPoints: something broke"},
		{"unknown command", command(t, open, &examplespb.RedeemLoyaltyPoints{}), codes.InvalidArgument,
			`wallet: command.pages[0]: no handler for "type.googleapis.com/examples.RedeemLoyaltyPoints" (handles [examples.AddLoyaltyPoints examples.CreateCustomer])`},
		{"no cover", &eventedpb.ContextualCommand{Command: &eventedpb.CommandBook{}}, codes.InvalidArgument, "command.cover: missing"},
		{"short root", &eventedpb.ContextualCommand{Command: &eventedpb.CommandBook{Cover: &eventedpb.Cover{Domain: "wallet", Root: &eventedpb.UUID{Value: []byte{1, 2, 3}}}}},
			codes.InvalidArgument, "command.cover.root.value: must be exactly 16 bytes, got 3"},
		{"no pages", &eventedpb.ContextualCommand{Command: &eventedpb.CommandBook{Cover: cover("wallet")}}, codes.InvalidArgument, "command.pages: must hold at least one command"},
		{"another domain", &eventedpb.ContextualCommand{Command: &eventedpb.CommandBook{Cover: cover("purse"), Pages: []*eventedpb.CommandPage{{}}}},
			codes.NotFound, `this service handles domain "wallet", not "purse"`},
		{"a snapshot it cannot restore", command(t, &eventedpb.EventBook{Snapshot: &eventedpb.Snapshot{State: anyOf(t, &examplespb.TransactionState{})}}, &examplespb.AddLoyaltyPoints{}),
			codes.FailedPrecondition, "wallet: received a snapshot of type examples.TransactionState and has no Restore for it (known: [examples.CustomerState])"},
		{"an event it cannot decode", command(t, &eventedpb.EventBook{Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "type.googleapis.com/examples.LoyaltyPointsAdded", Value: []byte{0xff}}}}}, &examplespb.AddLoyaltyPoints{}),
			codes.Internal, "wallet: decode event examples.LoyaltyPointsAdded at sequence 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newWallet().Handle(context.Background(), tc.in)
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.HasPrefix(st.Message(), tc.msgIs) {
				t.Errorf("got %v %q, want %v %q", st.Code(), st.Message(), tc.code, tc.msgIs)
			}
		})
	}
}

// An empty answer is "nothing happened": no events and no snapshot.
func TestAggregateNothingHappened(t *testing.T) {
	open := &eventedpb.EventBook{Cover: cover("wallet"), Pages: []*eventedpb.EventPage{page(t, num(0), &examplespb.CustomerCreated{})}}
	out, err := newWallet().Handle(context.Background(), command(t, open, &examplespb.AddLoyaltyPoints{Reason: "nothing"}))
	if err != nil || len(out.GetPages()) != 0 || out.GetSnapshot() != nil {
		t.Errorf("got %v, %v; want an empty book", out, err)
	}
}

// Events of types without Apply leave the state alone: history written by
// a newer version does not break an older one.
func TestAggregateIgnoresEventsItDoesNotApply(t *testing.T) {
	prior := &eventedpb.EventBook{Cover: cover("wallet"), Pages: []*eventedpb.EventPage{
		page(t, num(0), &examplespb.CustomerCreated{}),
		{Sequence: &eventedpb.EventPage_Num{Num: 1}, Event: &anypb.Any{TypeUrl: "type.googleapis.com/future.Thing", Value: []byte{1}}},
	}}
	out, err := newWallet().Handle(context.Background(), command(t, prior, &examplespb.AddLoyaltyPoints{Points: 2}))
	if err != nil || fmt.Sprint(nums(out)) != "[2 3]" {
		t.Errorf("got %v, %v", nums(out), err)
	}
}

func TestRegisteringTwiceIsABug(t *testing.T) {
	for name, register := range map[string]func(*sdk.Aggregate[wallet]){
		"Handle": func(a *sdk.Aggregate[wallet]) {
			sdk.Handle(a, func(*wallet, *examplespb.CreateCustomer) ([]proto.Message, error) { return nil, nil })
		},
		"Apply":   func(a *sdk.Aggregate[wallet]) { sdk.Apply(a, func(*wallet, *examplespb.CustomerCreated) {}) },
		"Restore": func(a *sdk.Aggregate[wallet]) { sdk.Restore(a, func(*wallet, *examplespb.CustomerState) {}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "registered twice") {
					t.Errorf("recovered %v, want a panic saying registered twice", r)
				}
			}()
			register(newWallet())
		})
	}
}

func TestErrorsCarryTheirCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
		msg  string
	}{
		{sdk.Reject("no"), codes.FailedPrecondition, "no"},
		{sdk.Rejectf("have %d, need %d", 1, 2), codes.FailedPrecondition, "have 1, need 2"},
		{sdk.Invalid("bad"), codes.InvalidArgument, "bad"},
		{sdk.Invalidf("bad %q", "x"), codes.InvalidArgument, `bad "x"`},
	} {
		if st := status.Convert(tc.err); st.Code() != tc.code || st.Message() != tc.msg {
			t.Errorf("%v: %v %q, want %v %q", tc.err, st.Code(), st.Message(), tc.code, tc.msg)
		}
	}
}

// Snapshot answers evented's automatic snapshots: the state after the
// book's snapshot and events, without a command.
func TestAggregateSnapshotFoldsTheBook(t *testing.T) {
	book := &eventedpb.EventBook{Cover: cover("wallet"),
		Snapshot: &eventedpb.Snapshot{Sequence: 5, State: anyOf(t, &examplespb.CustomerState{LoyaltyPoints: 10})},
		Pages:    []*eventedpb.EventPage{page(t, num(5), &examplespb.LoyaltyPointsAdded{Points: 2}), page(t, num(6), &examplespb.LoyaltyPointsAdded{Points: 3})}}
	snap, err := newWallet().Snapshot(context.Background(), book)
	if err != nil {
		t.Fatal(err)
	}
	var s examplespb.CustomerState
	if err := snap.GetState().UnmarshalTo(&s); err != nil || snap.GetSequence() != 7 || s.GetLoyaltyPoints() != 15 {
		t.Errorf("snapshot %v (%v); want 15 points at sequence 7", snap, err)
	}
	// Without a snapshot function: UNIMPLEMENTED, and evented stops asking.
	_, err = sdk.NewAggregate[wallet]("wallet").Snapshot(context.Background(), book)
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("without sdk.Snapshot: %v, want Unimplemented", err)
	}
}
