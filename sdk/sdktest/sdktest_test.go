package sdktest_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
	"github.com/evented/evented/sdk/sdktest"
)

// points is a small aggregate: a customer's balance.
func points(opts ...sdk.Option) *sdk.Aggregate[int32] {
	agg := sdk.NewAggregate[int32]("customer", opts...)
	sdk.Apply(agg, func(s *int32, e *examplespb.LoyaltyPointsAdded) { *s += e.GetPoints() })
	sdk.Apply(agg, func(s *int32, e *examplespb.LoyaltyPointsRedeemed) { *s -= e.GetPoints() })
	sdk.Restore(agg, func(s *int32, snap *examplespb.CustomerState) { *s = snap.GetLoyaltyPoints() })
	sdk.Snapshot(agg, func(s *int32) *examplespb.CustomerState { return &examplespb.CustomerState{LoyaltyPoints: *s} })
	sdk.Handle(agg, func(s *int32, c *examplespb.CreateCustomer) ([]proto.Message, error) {
		return []proto.Message{&examplespb.CustomerCreated{Name: c.GetName(), CreatedAt: timestamppb.New(agg.Now())}}, nil
	})
	sdk.Handle(agg, func(s *int32, c *examplespb.RedeemLoyaltyPoints) ([]proto.Message, error) {
		if c.GetPoints() > *s {
			return nil, sdk.Rejectf("Insufficient points: have %d, need %d", *s, c.GetPoints())
		}
		return []proto.Message{&examplespb.LoyaltyPointsRedeemed{Points: c.GetPoints(), NewBalance: *s - c.GetPoints()}}, nil
	})
	return agg
}

// owner sends every added point on to the customer named in CustomerCreated.
func owner(opts ...sdk.Option) *sdk.Saga[string] {
	s := sdk.NewSaga[string]("owner", opts...)
	sdk.Apply(s, func(o *string, e *examplespb.CustomerCreated) { *o = e.GetName() })
	sdk.React(s, func(o *string, e *examplespb.LoyaltyPointsAdded, _ sdk.Event) ([]sdk.Command, error) {
		return []sdk.Command{{To: sdk.Cover{Domain: "customer", Root: sdk.Root(*o)}, Message: &examplespb.AddLoyaltyPoints{Points: e.GetPoints()}}}, nil
	})
	return s
}

// balance projects the balance.
func balance(opts ...sdk.Option) *sdk.Projector[int32] {
	p := sdk.NewProjector[int32]("balance", opts...)
	sdk.Apply(p, func(s *int32, e *examplespb.LoyaltyPointsAdded) { *s += e.GetPoints() })
	p.Project(func(s *int32, _ sdk.Event) (proto.Message, error) {
		if *s == 0 {
			return nil, nil
		}
		return &examplespb.CustomerState{LoyaltyPoints: *s}, nil
	})
	return p
}

func add(n int32) *examplespb.LoyaltyPointsAdded { return &examplespb.LoyaltyPointsAdded{Points: n} }

func TestKitPasses(t *testing.T) {
	sdktest.Aggregate(t, points).
		When(&examplespb.CreateCustomer{Name: "A"}).
		Then(&examplespb.CustomerCreated{Name: "A", CreatedAt: timestamppb.New(sdktest.Now)})
	sdktest.Aggregate(t, points).
		GivenSnapshot(&examplespb.CustomerState{LoyaltyPoints: 40}, 9).Given(add(5)).
		When(&examplespb.RedeemLoyaltyPoints{Points: 45}).
		Then(&examplespb.LoyaltyPointsRedeemed{Points: 45, NewBalance: 0}).
		ThenSnapshot(&examplespb.CustomerState{})
	sdktest.Aggregate(t, points).Given(add(5)).When(&examplespb.RedeemLoyaltyPoints{Points: 6}).
		ThenRejected(codes.FailedPrecondition, "Insufficient points: have 5, need 6")

	sdktest.Saga(t, owner).For("wallet", "w").Given(&examplespb.CustomerCreated{Name: "bob"}, add(1)).When(add(2), add(3)).
		ThenCommands(
			sdk.Command{To: sdk.Cover{Domain: "customer", Root: sdk.Root("bob")}, Message: &examplespb.AddLoyaltyPoints{Points: 2}},
			sdk.Command{To: sdk.Cover{Domain: "customer", Root: sdk.Root("bob")}, Message: &examplespb.AddLoyaltyPoints{Points: 3}})
	withHistory := func(o ...sdk.Option) *sdk.Saga[string] { return owner(append(o, sdk.WithHistory())...) }
	sdktest.Saga(t, withHistory).Given(&examplespb.CustomerCreated{Name: "bob"}, add(1)).When(add(2), add(3)).
		ThenCommands(sdk.Command{To: sdk.Cover{Domain: "customer", Root: sdk.Root("bob")}, Message: &examplespb.AddLoyaltyPoints{Points: 3}})

	sdktest.Projector(t, balance).Given(add(1)).When(add(2)).ThenProjection(&examplespb.CustomerState{LoyaltyPoints: 3})
	sdktest.Projector(t, balance).When(&examplespb.CustomerCreated{}).ThenNoProjection()
	sdktest.Projector(t, balance).When(add(2)).ThenHandled()
}

// failures runs f against a recording testing.TB and returns what it
// reported.
func failures(f func(tb testing.TB)) string {
	r := &recorder{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // Fatalf ends this goroutine as it ends a test's
		defer wg.Done()
		f(r)
	}()
	wg.Wait()
	return strings.Join(r.msgs, "\n")
}

type recorder struct {
	testing.TB
	msgs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// The kit must fail the tests it should fail, saying why.
func TestKitFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(tb testing.TB)
		want string
	}{
		{"another event", func(tb testing.TB) {
			sdktest.Aggregate(tb, points).When(&examplespb.CreateCustomer{Name: "A"}).Then(&examplespb.CustomerCreated{Name: "B"})
		}, "event #0:\n got  examples.CustomerCreated{"},
		{"more events", func(tb testing.TB) {
			sdktest.Aggregate(tb, points).When(&examplespb.CreateCustomer{Name: "A"}).Then()
		}, "1 events, want 0"},
		{"a rejection expected", func(tb testing.TB) {
			sdktest.Aggregate(tb, points).When(&examplespb.CreateCustomer{}).ThenRejected(codes.FailedPrecondition, "no")
		}, "succeeded with events [examples.CustomerCreated{"},
		{"another rejection", func(tb testing.TB) {
			sdktest.Aggregate(tb, points).When(&examplespb.RedeemLoyaltyPoints{Points: 1}).ThenRejected(codes.FailedPrecondition, "Insufficient points")
		}, `failed with FailedPrecondition "Insufficient points: have 0, need 1", want FailedPrecondition "Insufficient points"`},
		{"events expected", func(tb testing.TB) {
			sdktest.Aggregate(tb, points).When(&examplespb.RedeemLoyaltyPoints{Points: 1}).Then()
		}, "the commands failed: rpc error: code = FailedPrecondition"},
		{"another snapshot", func(tb testing.TB) {
			sdktest.Aggregate(tb, points).Given(add(3)).When(&examplespb.RedeemLoyaltyPoints{Points: 1}).ThenSnapshot(&examplespb.CustomerState{LoyaltyPoints: 3})
		}, "snapshot:\n got  examples.CustomerState{loyalty_points:2}"},
		{"no command", func(tb testing.TB) { sdktest.Aggregate(tb, points).Then() }, "no command: call When"},
		{"another command", func(tb testing.TB) {
			sdktest.Saga(tb, owner).Given(&examplespb.CustomerCreated{Name: "bob"}).When(add(2)).
				ThenCommands(sdk.Command{To: sdk.Cover{Domain: "customer", Root: sdk.Root("alice")}, Message: &examplespb.AddLoyaltyPoints{Points: 2}})
		}, "command #0 is for"},
		{"fewer commands", func(tb testing.TB) {
			sdktest.Saga(tb, owner).Given(&examplespb.CustomerCreated{Name: "bob"}).When(add(2)).ThenCommands()
		}, "1 commands, want 0"},
		{"another projection", func(tb testing.TB) {
			sdktest.Projector(tb, balance).Given(add(1)).When(add(2)).ThenProjection(&examplespb.CustomerState{LoyaltyPoints: 2})
		}, "projection:\n got  examples.CustomerState{loyalty_points:3}"},
		{"a projection", func(tb testing.TB) {
			sdktest.Projector(tb, balance).When(add(2)).ThenNoProjection()
		}, "projection examples.CustomerState{loyalty_points:2}, want none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := failures(tc.f)
			// prototext may put one or two spaces between fields: compare loosely.
			if !strings.Contains(strings.Join(strings.Fields(got), " "), strings.Join(strings.Fields(tc.want), " ")) {
				t.Errorf("the kit reported %q, want it to contain %q", got, tc.want)
			}
		})
	}
}
