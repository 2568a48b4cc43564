package sdk_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// serve starts svcs on a free port of 127.0.0.1 and returns a client
// connection; the server stops with the test, and must stop cleanly.
func serve(t *testing.T, svcs ...sdk.Service) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sdk.ServeListener(ctx, lis, svcs...) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeListener: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the server did not stop")
		}
	})
	return conn
}

func TestServeOverGRPC(t *testing.T) {
	purse := sdk.NewAggregate[wallet]("purse")
	sdk.Handle(purse, func(*wallet, *examplespb.CreateCustomer) ([]proto.Message, error) { return nil, nil })
	conn := serve(t, newWallet(), purse, newTally(), newLoyalty(sdk.WithHistory()))
	ctx := context.Background()

	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health: %v %v", h, err)
	}

	// Aggregates are routed by domain; their statuses cross the wire.
	logic := eventedpb.NewBusinessLogicClient(conn)
	out, err := logic.Handle(ctx, command(t, nil, &examplespb.CreateCustomer{Name: "A"}, &examplespb.AddLoyaltyPoints{Points: 2}))
	if err != nil || len(out.GetPages()) != 3 || out.GetPages()[2].GetNum() != 2 {
		t.Errorf("wallet: %v %v", out, err)
	}
	_, err = logic.Handle(ctx, command(t, nil, &examplespb.AddLoyaltyPoints{Points: 2}))
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != "no wallet (balance 0)" {
		t.Errorf("rejection over gRPC: %v", err)
	}
	in := command(t, nil, &examplespb.CreateCustomer{})
	in.Command.Cover.Domain = "sock"
	_, err = logic.Handle(ctx, in)
	if st := status.Convert(err); st.Code() != codes.NotFound || !strings.Contains(st.Message(), `["purse" "wallet"]`) {
		t.Errorf("unknown domain: %v", err)
	}

	// The coordinator names are served; the legacy ones are not.
	p, err := eventedpb.NewProjectorCoordinatorClient(conn).HandleSync(ctx, book(t, nil, 0, added(4)))
	if err != nil || p.GetProjector() != "tally" || p.GetSequence() != 1 {
		t.Errorf("projector: %v %v", p, err)
	}
	r, err := eventedpb.NewSagaCoordinatorClient(conn).HandleSync(ctx, book(t, nil, 0, &examplespb.CustomerCreated{Name: "bob"}, added(4)))
	if err != nil || len(r.GetCommands()) != 1 {
		t.Errorf("saga: %v %v", r, err)
	}
	if _, err := eventedpb.NewProjectorClient(conn).HandleSync(ctx, book(t, nil, 0, added(4))); status.Code(err) != codes.Unimplemented {
		t.Errorf("legacy Projector: %v, want Unimplemented", err)
	}
}

// A history book can be larger than gRPC's default 4 MiB.
func TestServeAcceptsLargeBooks(t *testing.T) {
	conn := serve(t, newTally())
	big := &examplespb.LoyaltyPointsAdded{Points: 1, Reason: strings.Repeat("x", 6<<20)}
	p, err := eventedpb.NewProjectorCoordinatorClient(conn).HandleSync(context.Background(), book(t, nil, 0, big, added(2)))
	if err != nil || p.GetSequence() != 2 {
		t.Errorf("a 6 MiB book: %v %v", p.GetSequence(), err)
	}
}

func TestRegisterRefusesWhatEventedCannotCall(t *testing.T) {
	for name, svcs := range map[string][]sdk.Service{
		"two projectors":             {newTally(), newTally()},
		"two sagas":                  {newLoyalty(), newLoyalty()},
		"two aggregates, one domain": {newWallet(), newWallet()},
		"nil":                        {nil},
	} {
		if err := sdk.Register(grpc.NewServer(), svcs...); err == nil {
			t.Errorf("%s: registered", name)
		}
	}
}

func TestServeFailsOnABusyAddress(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lis.Close() }()
	if err := sdk.Serve(context.Background(), lis.Addr().String(), newWallet()); err == nil {
		t.Error("served on an address in use")
	}
}
