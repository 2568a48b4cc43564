package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
)

// versionedProjector answers inline with a projection naming its version,
// and counts what it is given.
type versionedProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	version string
	events  atomic.Int32
}

func (p *versionedProjector) HandleSync(_ context.Context, b *eventedpb.EventBook) (*eventedpb.Projection, error) {
	p.events.Add(int32(len(b.GetPages())))
	return &eventedpb.Projection{Cover: b.GetCover(), Projection: &anypb.Any{TypeUrl: "Receipt/" + p.version}}, nil
}

func (p *versionedProjector) Handle(ctx context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	_, err := p.HandleSync(ctx, b)
	return &emptypb.Empty{}, err
}

// Two versions of a synchronous projector: only the active one answers
// inline; the new one catches up beside it; after the cut-over the command
// replies carry the new one's projections and the old one gets nothing.
func TestBlueGreenCutOverOfASynchronousProjector(t *testing.T) {
	// The first version written out, or left unversioned beside version 2
	// (it is version 1 then).
	for _, first := range []int{1, 0} {
		t.Run(fmt.Sprintf("version=%d", first), func(t *testing.T) { testBlueGreen(t, first) })
	}
}

func testBlueGreen(t *testing.T, first int) {
	serveVersion := func(p *versionedProjector) string {
		return serve(t, func(g *grpc.Server) { eventedpb.RegisterProjectorCoordinatorServer(g, p) })
	}
	v1, v2 := &versionedProjector{version: "v1"}, &versionedProjector{version: "v2"}
	cfg := config.Default()
	cfg.Delivery.LeaseTTL = 600 * time.Millisecond // 600ms: replicas see a cut-over within 200ms
	cfg.Projectors = []config.Consumer{
		{Name: "receipt", Address: serveVersion(v1), Synchronous: true, Version: first},
		{Name: "receipt", Address: serveVersion(v2), Synchronous: true, Version: 2},
	}
	srv, _ := start(t, cfg)
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	admin := eventedpb.NewDeliveryAdminClient(dial(t, srv.CommandAddr()))
	send := func() []string {
		root := uuid.New()
		resp, err := client.Handle(t.Context(), &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "orders", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "AddItem"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range resp.GetProjections() {
			got = append(got, p.GetProjection().GetTypeUrl())
		}
		return got
	}
	for range 5 {
		if got := send(); len(got) != 1 || got[0] != "Receipt/v1" {
			t.Fatalf("projections %v; want version 1's only", got)
		}
	}
	waitFor(t, "version 2 caught up", func() bool { return v2.events.Load() == 5 })

	_, err := admin.CutOver(t.Context(), &eventedpb.CutOverRequest{Projector: "receipt", Version: 3})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "configured: 1, 2") {
		t.Fatalf("cut over to an unconfigured version: %v", err)
	}
	res, err := admin.CutOver(t.Context(), &eventedpb.CutOverRequest{Projector: "receipt", Version: 2})
	if err != nil || res.GetPrevious() != 1 {
		t.Fatalf("CutOver = %v, %v", res, err)
	}
	waitFor(t, "version 1 retired", func() bool {
		stream, err := admin.ListSubscriptions(t.Context(), &emptypb.Empty{})
		if err != nil {
			return false
		}
		for {
			st, err := stream.Recv()
			if err != nil {
				return false
			}
			if st.GetName() == "receipt" {
				return st.GetState() == "retired" && st.GetVersion() == 1 && st.GetProjector() == "receipt"
			}
		}
	})
	before := v1.events.Load()
	for range 3 {
		if got := send(); len(got) != 1 || got[0] != "Receipt/v2" {
			t.Fatalf("projections after the cut-over %v; want version 2's only", got)
		}
	}
	waitFor(t, "version 2 has every event", func() bool { return v2.events.Load() == 8 })
	if n := v1.events.Load(); n != before {
		t.Fatalf("retired version 1 got %d more events", n-before)
	}
}
