package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/server"
)

// counterLogic is business logic whose state is the number of events: each
// command adds one event, no command returns a snapshot, and Snapshot
// (unless noSnapshot) folds the book into a count of state type wide
// (UInt64Value) or narrow (UInt32Value).
type counterLogic struct {
	eventedpb.UnimplementedBusinessLogicServer
	noSnapshot, narrow bool

	mu    sync.Mutex
	calls []uint32 // the sequence of each snapshot asked for
	pages []int    // the events of each Snapshot book
}

func (l *counterLogic) Handle(_ context.Context, in *eventedpb.ContextualCommand) (*eventedpb.EventBook, error) {
	prior := in.GetEvents()
	next := prior.GetSnapshot().GetSequence()
	if n := len(prior.GetPages()); n > 0 {
		next = prior.GetPages()[n-1].GetNum() + 1
	}
	return &eventedpb.EventBook{Cover: in.GetCommand().GetCover(), Pages: []*eventedpb.EventPage{{
		Sequence: &eventedpb.EventPage_Num{Num: next}, Event: &anypb.Any{TypeUrl: "type.googleapis.com/test.Counted"},
	}}}, nil
}

func (l *counterLogic) Snapshot(ctx context.Context, in *eventedpb.EventBook) (*eventedpb.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, 0)
	if l.noSnapshot {
		return l.UnimplementedBusinessLogicServer.Snapshot(ctx, in)
	}
	var count uint64
	if st := in.GetSnapshot().GetState(); st != nil {
		switch st.GetTypeUrl() {
		case "type.googleapis.com/google.protobuf.UInt64Value":
			var v wrapperspb.UInt64Value
			if err := st.UnmarshalTo(&v); err != nil {
				return nil, err
			}
			count = v.GetValue()
		default:
			return nil, fmt.Errorf("snapshot of unknown type %s", st.GetTypeUrl())
		}
	}
	count += uint64(len(in.GetPages()))
	l.calls[len(l.calls)-1] = uint32(count)
	l.pages = append(l.pages, len(in.GetPages()))
	var state proto.Message = wrapperspb.UInt64(count)
	if l.narrow {
		state = wrapperspb.UInt32(uint32(count))
	}
	a, err := anypb.New(state)
	return &eventedpb.Snapshot{State: a}, err
}

func (l *counterLogic) snapshotCalls() []uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

func serveLogic(t *testing.T, l eventedpb.BusinessLogicServer) string {
	t.Helper()
	lis := listen(t)
	g := grpc.NewServer()
	eventedpb.RegisterBusinessLogicServer(g, l)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func counterConfig(t *testing.T, address string, policy config.SnapshotPolicy) config.Config {
	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	cfg.BusinessLogic = []config.BusinessLogic{{Domain: "counter", Address: address, Snapshots: policy}}
	cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = time.Millisecond, 10*time.Millisecond
	cfg.Delivery.LeaseTTL = 600 * time.Millisecond
	return cfg
}

func count(t *testing.T, c eventedpb.BusinessCoordinatorClient, root uuid.UUID, n int) {
	t.Helper()
	for i := range n {
		if _, err := c.Handle(t.Context(), &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "counter", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "type.googleapis.com/test.Count"}}},
		}); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
}

// loaded is what a load of the aggregate reads: its latest snapshot (nil
// when none) and the number of events after it.
func loaded(t *testing.T, addr string, root uuid.UUID) (*eventedpb.Snapshot, int) {
	t.Helper()
	stream, err := eventedpb.NewEventQueryClient(dial(t, addr)).GetEvents(t.Context(), &eventedpb.Query{Domain: "counter", Root: &eventedpb.UUID{Value: root[:]}})
	if err != nil {
		t.Fatal(err)
	}
	var snap *eventedpb.Snapshot
	events := 0
	for {
		b, err := stream.Recv()
		if err == io.EOF {
			return snap, events
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.GetSnapshot() != nil {
			snap = b.GetSnapshot()
		}
		events += len(b.GetPages())
	}
}

// waitSnapshot waits (at most 10 s) until a load reads a snapshot at or
// after seq.
func waitSnapshot(t *testing.T, addr string, root uuid.UUID, seq uint32) (*eventedpb.Snapshot, int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap, n := loaded(t, addr, root)
		if snap.GetSequence() >= seq || time.Now().After(deadline) {
			return snap, n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two servers on one SQLite file, commands to one aggregate through both:
// the aggregate gets a snapshot every 10 events without any command
// returning one, and each snapshot is asked for once, by one replica.
func TestAutomaticSnapshotsAreTakenOnceAcrossReplicas(t *testing.T) {
	logic := &counterLogic{}
	cfg := counterConfig(t, serveLogic(t, logic), config.SnapshotPolicy{Every: 10})
	a, _ := start(t, cfg)
	b, _ := start(t, cfg)
	clients := []eventedpb.BusinessCoordinatorClient{
		eventedpb.NewBusinessCoordinatorClient(dial(t, a.CommandAddr())),
		eventedpb.NewBusinessCoordinatorClient(dial(t, b.CommandAddr())),
	}
	root := uuid.New()
	for i := range 25 {
		count(t, clients[i%2], root, 1)
	}
	// The policy's promise: once the worker caught up, a load reads fewer
	// than 10 events after the latest snapshot. Where the snapshots fall
	// depends on how the worker's deliveries were batched (a book of
	// events 11-16 gives one at 16, and the next is due at 26).
	var (
		snap  *eventedpb.Snapshot
		after int
	)
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if snap, after = loaded(t, a.QueryAddr(), root); snap.GetSequence() >= 10 && after < 10 || time.Now().After(end) {
			break
		}
	}
	time.Sleep(300 * time.Millisecond) // a second replica's snapshot would be asked for now
	if snap.GetSequence() < 16 || after != 25-int(snap.GetSequence()) || after >= 10 {
		t.Fatalf("a load reads snapshot %v and %d events; want a snapshot at 16 or later and fewer than 10 events after it", snap, after)
	}
	var v wrapperspb.UInt64Value
	if err := snap.GetState().UnmarshalTo(&v); err != nil || v.GetValue() != uint64(snap.GetSequence()) {
		t.Errorf("snapshot state %v (%v); want the count of the events folded in, %d", &v, err, snap.GetSequence())
	}
	calls := logic.snapshotCalls()
	seen := map[uint32]bool{}
	for _, c := range calls {
		if seen[c] {
			t.Errorf("the snapshot at %d was asked for twice (calls %v): more than one replica took it", c, calls)
		}
		seen[c] = true
	}
	if len(calls) > 3 {
		t.Errorf("Snapshot was called %d times (%v) for 25 events at every 10; want at most 3", len(calls), calls)
	}

	// The replicas' metrics count the snapshots taken: one per call, in all.
	taken := 0.0
	for _, srv := range []*server.Server{a, b} {
		resp, err := http.Get("http://" + srv.AdminAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			var n float64
			if _, err := fmt.Sscanf(line, `evented_snapshots_taken_total{domain="counter",reason="every"} %g`, &n); err == nil {
				taken += n
			}
		}
		if !strings.Contains(string(body), `evented_aggregate_load_seconds_count{domain="counter"}`) {
			t.Errorf("/metrics lacks the load time histogram of domain counter")
		}
	}
	if int(taken) != len(calls) {
		t.Errorf("the replicas' metrics count %v snapshots taken; want %d, one per Snapshot call", taken, len(calls))
	}
}

// Business logic without the Snapshot RPC keeps working: evented asks it
// once, stores nothing, and does not ask again.
func TestAutomaticSnapshotsWithoutTheRPCAskOnce(t *testing.T) {
	logic := &counterLogic{noSnapshot: true}
	cfg := counterConfig(t, serveLogic(t, logic), config.SnapshotPolicy{Every: 3})
	srv, _ := start(t, cfg)
	c := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	root := uuid.New()
	count(t, c, root, 4)
	deadline := time.Now().Add(10 * time.Second)
	for len(logic.snapshotCalls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	count(t, c, root, 8) // two more triggers at every 3
	time.Sleep(500 * time.Millisecond)
	if calls := logic.snapshotCalls(); len(calls) != 1 {
		t.Errorf("Snapshot was called %d times; want once (UNIMPLEMENTED: not asked again)", len(calls))
	}
	if snap, n := loaded(t, srv.QueryAddr(), root); snap != nil || n != 12 {
		t.Errorf("a load reads snapshot %v and %d events; want no snapshot and all 12 events", snap, n)
	}
}

// A new state shape (snapshots.state_type) makes the old snapshots
// invisible to loads until a snapshot of the new type replaces them.
func TestSnapshotOfAnOldStateTypeIsIgnoredAndReplaced(t *testing.T) {
	logic := &counterLogic{}
	addr := serveLogic(t, logic)
	cfg := counterConfig(t, addr, config.SnapshotPolicy{Every: 5, StateType: "type.googleapis.com/google.protobuf.UInt64Value"})
	srv, stop := start(t, cfg)
	root := uuid.New()
	count(t, eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr())), root, 7)
	if snap, _ := waitSnapshot(t, srv.QueryAddr(), root, 5); snap.GetSequence() < 5 {
		t.Fatalf("no snapshot of the first shape: %v", snap)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Version 2 of the service: a narrower state, declared in the config.
	logic2 := &counterLogic{narrow: true}
	cfg.BusinessLogic[0].Address = serveLogic(t, logic2)
	cfg.BusinessLogic[0].Snapshots.StateType = "type.googleapis.com/google.protobuf.UInt32Value"
	srv, _ = start(t, cfg)
	if snap, n := loaded(t, srv.QueryAddr(), root); snap != nil || n != 7 {
		t.Fatalf("after the state type changed, a load reads snapshot %v and %d events; want no snapshot and all 7 events", snap, n)
	}
	count(t, eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr())), root, 1)
	snap, n := waitSnapshot(t, srv.QueryAddr(), root, 8)
	if snap.GetSequence() != 8 || snap.GetState().GetTypeUrl() != "type.googleapis.com/google.protobuf.UInt32Value" || n != 0 {
		t.Fatalf("a load reads snapshot %v and %d events; want a UInt32Value snapshot at 8 and no event after it", snap, n)
	}
}

// The console lists an aggregate's kept snapshots (snapshots.keep), newest
// first with their sequences and times, and each domain's policy and what
// its automatic snapshots did.
func TestConsoleShowsKeptSnapshotsAndDomainFigures(t *testing.T) {
	logic := &counterLogic{}
	cfg := counterConfig(t, serveLogic(t, logic), config.SnapshotPolicy{Every: 5, Keep: 3})
	srv, _ := start(t, cfg)
	root := uuid.New()
	c := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	for i := range 4 {
		count(t, c, root, 5)
		waitSnapshot(t, srv.QueryAddr(), root, uint32(5*(i+1)))
	}
	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get("http://" + srv.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var agg struct {
		Snapshots []struct {
			Sequence  uint32 `json:"sequence"`
			CreatedAt string `json:"created_at"`
		} `json:"snapshots"`
	}
	get("/api/aggregates/counter/"+root.String(), &agg)
	var seqs []uint32
	for _, s := range agg.Snapshots {
		if _, err := time.Parse(time.RFC3339Nano, s.CreatedAt); err != nil {
			t.Errorf("snapshot %d: created_at %q: %v", s.Sequence, s.CreatedAt, err)
		}
		seqs = append(seqs, s.Sequence)
	}
	if want := []uint32{20, 15, 10}; !slices.Equal(seqs, want) {
		t.Fatalf("kept snapshots %v, want %v (the newest 3, newest first)", seqs, want)
	}
	var figures struct {
		Domains []struct {
			Domain  string             `json:"domain"`
			Every   int                `json:"every"`
			Keep    int                `json:"keep"`
			Taken   float64            `json:"taken"`
			TakenBy map[string]float64 `json:"taken_by"`
			Folded  float64            `json:"events_folded"`
		} `json:"domains"`
	}
	get("/api/snapshots", &figures)
	if len(figures.Domains) != 1 {
		t.Fatalf("domains %+v, want counter alone", figures.Domains)
	}
	d := figures.Domains[0]
	if d.Domain != "counter" || d.Every != 5 || d.Keep != 3 || d.Taken != 4 || d.TakenBy["every"] != 4 || d.Folded < 20 {
		t.Fatalf("counter's figures %+v; want every 5, keep 3, 4 taken (every), 20 events folded", d)
	}
}
