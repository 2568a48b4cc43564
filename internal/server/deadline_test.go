package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
)

// remindSaga answers the first event of an aggregate with a deadline: a
// Remind command for the same aggregate, 200 ms later.
type remindSaga struct {
	eventedpb.UnimplementedSagaCoordinatorServer
}

func (remindSaga) HandleSync(_ context.Context, b *eventedpb.EventBook) (*eventedpb.SynchronousProcessingResponse, error) {
	out := &eventedpb.SynchronousProcessingResponse{}
	for _, p := range b.GetPages() {
		if p.GetNum() == 0 {
			out.Deadlines = append(out.Deadlines, &eventedpb.Deadline{
				Id: fmt.Sprintf("remind/%x", b.GetCover().GetRoot().GetValue()), Due: timestamppb.New(time.Now().Add(200 * time.Millisecond)),
				Command: &eventedpb.CommandBook{Cover: b.GetCover(), Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "Remind"}}}},
			})
		}
	}
	return out, nil
}

// TestSagaSchedulesADeadline: a saga's deadline, synchronous or not, fires
// once: the aggregate gets the Remind command's event and nothing more.
func TestSagaSchedulesADeadline(t *testing.T) {
	for _, synchronous := range []bool{false, true} {
		t.Run(fmt.Sprintf("synchronous=%v", synchronous), func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			g := grpc.NewServer()
			eventedpb.RegisterBusinessLogicServer(g, echoLogic{})
			eventedpb.RegisterSagaCoordinatorServer(g, remindSaga{})
			go g.Serve(lis)
			defer g.Stop()
			cfg := config.Default()
			cfg.BusinessLogic = []config.BusinessLogic{{Domain: "order", Address: lis.Addr().String()}}
			cfg.Sagas = []config.Consumer{{Name: "reminder", Address: lis.Addr().String(), Domains: []string{"order"}, Synchronous: synchronous}}
			cfg.Deadlines.Poll = 20 * time.Millisecond
			srv, _ := start(t, cfg)
			commands := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
			queries := eventedpb.NewEventQueryClient(dial(t, srv.QueryAddr()))
			admin := eventedpb.NewDeliveryAdminClient(dial(t, srv.CommandAddr()))

			root := uuid.New()
			cover := &eventedpb.Cover{Domain: "order", Root: &eventedpb.UUID{Value: root[:]}}
			if _, err := commands.Handle(t.Context(), &eventedpb.CommandBook{Cover: cover,
				Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "Place"}}}}); err != nil {
				t.Fatal(err)
			}
			count := func() int {
				stream, err := queries.GetEvents(t.Context(), &eventedpb.Query{Domain: "order", Root: cover.GetRoot()})
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for {
					b, err := stream.Recv()
					if errors.Is(err, io.EOF) {
						return n
					}
					if err != nil {
						t.Fatal(err)
					}
					n += len(b.GetPages())
				}
			}
			for end := time.Now().Add(10 * time.Second); count() < 2; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(end) {
					t.Fatalf("the saga's deadline did not fire within 10s: %d events", count())
				}
			}
			time.Sleep(500 * time.Millisecond)
			if n := count(); n != 2 {
				t.Fatalf("%d events, want 2: the command and the deadline's, once", n)
			}
			stream, err := admin.ListDeadlines(t.Context(), &eventedpb.DeadlineQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if d, err := stream.Recv(); !errors.Is(err, io.EOF) {
				t.Fatalf("pending after firing: %v, %v", d, err)
			}
			resp, err := http.Get("http://" + srv.AdminAddr() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{
				`evented_deadlines_planned_total{action="scheduled",domain="order"} `,
				`evented_deadlines_fired_total{domain="order",outcome="applied"} 1`,
				`evented_deadline_firing_delay_seconds_count{domain="order"} 1`,
				"evented_deadlines_pending 0",
				"evented_deadlines_due 0",
			} {
				if !strings.Contains(string(body), want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
		})
	}
}

// timeoutLogic answers every command with an event and a deadline an hour
// later: an open transaction that times out.
type timeoutLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
}

func (timeoutLogic) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	cover := in.GetCommand().GetCover()
	return &eventedpb.EventBook{Cover: cover, Pages: []*eventedpb.EventPage{{Event: &anypb.Any{TypeUrl: "Opened"}}},
		Deadlines: []*eventedpb.Deadline{{
			Id: fmt.Sprintf("txn-timeout/%x", cover.GetRoot().GetValue()), Due: timestamppb.New(time.Now().Add(time.Hour)),
			Command: &eventedpb.CommandBook{Cover: cover, Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/shop.Expire"}}}},
		}}}, nil
}

// TestPendingDeadlineInConsoleAndMetrics: a command's deadline, stored with
// its events, is listed by the console's API and counted by the metrics.
func TestPendingDeadlineInConsoleAndMetrics(t *testing.T) {
	cfg := config.Default()
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "order", Address: serve(t, func(g *grpc.Server) { eventedpb.RegisterBusinessLogicServer(g, timeoutLogic{}) })}}
	srv, _ := start(t, cfg)
	commands := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()
	if _, err := commands.Handle(t.Context(), &eventedpb.CommandBook{Cover: &eventedpb.Cover{Domain: "order", Root: &eventedpb.UUID{Value: root[:]}},
		Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "Open"}}}}); err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + srv.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return string(body)
	}
	body := get("/api/deadlines")
	for _, want := range []string{fmt.Sprintf(`"id":"txn-timeout/%x"`, root[:]), `"commands":["shop.Expire"]`, `"root":"` + root.String() + `"`,
		`"overdue":false`, `"pending":1`, `"due":0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/api/deadlines = %s; lacks %s", body, want)
		}
	}
	body = get("/metrics")
	for _, want := range []string{`evented_deadlines_planned_total{action="scheduled",domain="order"} 1`, "evented_deadlines_pending 1", "evented_deadlines_due 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
