package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
)

// recordingProjector counts every (root, sequence) it is handed.
type recordingProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	mu  sync.Mutex
	got map[string][]uint32
	n   int
}

func (p *recordingProjector) Handle(_ context.Context, b *eventedpb.EventBook) (*emptypb.Empty, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	root := uuid.UUID(b.GetCover().GetRoot().GetValue()).String()
	for _, pg := range b.GetPages() {
		p.got[root] = append(p.got[root], pg.GetNum())
		p.n++
	}
	return &emptypb.Empty{}, nil
}

func (p *recordingProjector) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// Two servers on one SQLite file, commands sent to both: the projector gets
// every event exactly once, in order, and the two share its segments.
func TestTwoServersOnOneFileDeliverEachEventOnce(t *testing.T) {
	proj := &recordingProjector{got: map[string][]uint32{}}
	lis := listen(t)
	g := grpc.NewServer()
	eventedpb.RegisterProjectorCoordinatorServer(g, proj)
	go g.Serve(lis)
	t.Cleanup(g.Stop)

	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	cfg.Projectors = []config.Consumer{{Name: "ledger", Address: lis.Addr().String()}}
	cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = time.Millisecond, 10*time.Millisecond
	// Long enough that a loaded machine renews every lease in time: a
	// lapsed lease means a delivery in flight is repeated (at least once),
	// which this test, about handing segments over, does not allow.
	cfg.Delivery.LeaseTTL = 2 * time.Second
	lapses := &leaseLosses{}
	a, _ := startLogging(t, cfg, slog.New(lapses))
	b, _ := startLogging(t, cfg, slog.New(lapses))
	waitShared(t, a, "ledger")
	clients := []eventedpb.BusinessCoordinatorClient{
		eventedpb.NewBusinessCoordinatorClient(dial(t, a.CommandAddr())),
		eventedpb.NewBusinessCoordinatorClient(dial(t, b.CommandAddr())),
	}
	roots := make([]uuid.UUID, 10)
	for i := range roots {
		roots[i] = uuid.New()
	}
	const commands = 200
	for i := range commands {
		root := roots[i%len(roots)]
		typ := "AddEntry"
		if i < len(roots) {
			typ = "CreateEntry"
		}
		_, err := clients[i%2].Handle(t.Context(), &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "ledger", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: typ}}},
		})
		if err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for proj.total() < commands && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	proj.mu.Lock()
	var repeated []string
	for _, root := range roots {
		got := proj.got[root.String()]
		want := make([]uint32, commands/len(roots))
		for i := range want {
			want[i] = uint32(i)
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			continue
		}
		// A lease that lapsed (a replica starved of CPU past its TTL)
		// makes the next owner deliver again from the last checkpoint:
		// at least once, each event's first delivery in order. Without a
		// lapse, anything but exactly once is a fault of the handover.
		if first := firstDeliveries(got); fmt.Sprint(first) != fmt.Sprint(want) {
			t.Errorf("%s: received %v, want %v (each at least once, in order)", root, got, want)
		} else {
			repeated = append(repeated, fmt.Sprintf("%s: %v", root, got))
		}
	}
	proj.mu.Unlock()
	if len(repeated) > 0 {
		if lapses.n.Load() == 0 {
			t.Errorf("events delivered more than once with no lease lost: %v; want each once", repeated)
		} else {
			t.Logf("%d lease(s) lapsed on this loaded machine; events delivered again after the takeover: %v", lapses.n.Load(), repeated)
		}
	}

	admin := eventedpb.NewDeliveryAdminClient(dial(t, a.CommandAddr()))
	var last string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		owners := map[string]int{}
		stream, err := admin.ListSubscriptions(t.Context(), &emptypb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, seg := range st.GetSegments() {
			owners[seg.GetOwner()]++
		}
		if len(st.GetSegments()) == 4 && len(owners) == 2 && st.GetCheckpoint() == commands {
			break
		}
		last = fmt.Sprintf("segments %v, owners %v, checkpoint %d", st.GetSegments(), owners, st.GetCheckpoint())
		if time.Now().After(deadline) {
			t.Fatalf("%s; want 4 segments shared by 2 replicas, checkpoint %d", last, commands)
		}
	}

	// Each replica's metrics say which segments it holds, 4 in all, and
	// that every segment has caught up (a replica sees the others'
	// positions as of its last look at the leases: wait for it).
	waitFor(t, "both replicas' metrics to show the 4 segments caught up", func() bool {
		owned := 0
		for _, srv := range []interface{ AdminAddr() string }{a, b} {
			resp, err := http.Get("http://" + srv.AdminAddr() + "/metrics")
			if err != nil {
				return false
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(line, "evented_segment_owned{") && strings.HasSuffix(line, " 1") {
					owned++
				}
			}
			for _, want := range []string{`evented_segment_behind_events{segment="0/4",subscriber="ledger"} 0`, "evented_segment_token{"} {
				if !strings.Contains(string(body), want) {
					return false
				}
			}
		}
		return owned == 4
	})
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// firstDeliveries is got without the repeats: each sequence at its first
// delivery, when the deliveries after a takeover begin again from an
// earlier one.
func firstDeliveries(got []uint32) []uint32 {
	var out []uint32
	for _, n := range got {
		if len(out) == 0 || n > out[len(out)-1] {
			out = append(out, n)
		} else if n != out[len(out)-1] && !slices.Contains(out, n) {
			out = append(out, n) // out of order: kept, so the comparison fails
		}
	}
	return out
}

// leaseLosses is a log handler counting the "segment lease lost" warnings
// of the servers logging to it.
type leaseLosses struct{ n atomic.Int64 }

func (l *leaseLosses) Enabled(context.Context, slog.Level) bool { return true }
func (l *leaseLosses) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "lease lost") {
		l.n.Add(1)
	}
	return nil
}
func (l *leaseLosses) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *leaseLosses) WithGroup(string) slog.Handler      { return l }
