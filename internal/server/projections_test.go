package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
	"github.com/evented/evented/sdk"
)

// viewProjector's projection of an aggregate is the sequence of the newest
// event it was handed (padded to pad bytes); it records every projection
// it returned, per root, without repeats: the projector's own record that
// subscribers are checked against.
type viewProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	pad int

	mu  sync.Mutex
	got map[string][]uint32
}

func (p *viewProjector) HandleSync(_ context.Context, b *eventedpb.EventBook) (*eventedpb.Projection, error) {
	pages := b.GetPages()
	last := pages[len(pages)-1].GetNum()
	root := uuid.UUID(b.GetCover().GetRoot().GetValue()).String()
	p.mu.Lock()
	if rec := p.got[root]; len(rec) == 0 || rec[len(rec)-1] < last {
		p.got[root] = append(rec, last)
	}
	p.mu.Unlock()
	value := []byte(strconv.Itoa(int(last)))
	if len(value) < p.pad {
		value = append(value, make([]byte, p.pad-len(value))...)
	}
	return &eventedpb.Projection{Cover: b.GetCover(), Sequence: last,
		Projection: &anypb.Any{TypeUrl: "type.googleapis.com/test.View", Value: value}}, nil
}

func (p *viewProjector) Handle(context.Context, *eventedpb.EventBook) (*emptypb.Empty, error) {
	return nil, status.Error(codes.Internal, "Handle called: publish_projections should ask HandleSync")
}

func (p *viewProjector) record(root uuid.UUID) []uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got[root.String()])
}

func newViewProjector(t *testing.T, pad int) (*viewProjector, string) {
	p := &viewProjector{pad: pad, got: map[string][]uint32{}}
	return p, serve(t, func(g *grpc.Server) { eventedpb.RegisterProjectorCoordinatorServer(g, p) })
}

func viewSeq(u *eventedpb.ProjectionUpdate) uint32 {
	n, _ := strconv.Atoi(strings.TrimRight(string(u.GetProjection().GetProjection().GetValue()), "\x00"))
	return uint32(n)
}

func ledgerCover(root uuid.UUID) *eventedpb.Cover {
	return &eventedpb.Cover{Domain: "ledger", Root: &eventedpb.UUID{Value: root[:]}}
}

func sendEntries(t *testing.T, client eventedpb.BusinessCoordinatorClient, root uuid.UUID, n int) {
	t.Helper()
	for range n {
		if _, err := client.Handle(t.Context(), &eventedpb.CommandBook{Cover: ledgerCover(root),
			Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "AddEntry"}}}}); err != nil {
			t.Fatal(err)
		}
	}
}

// collector gathers what a watch received.
type collector struct {
	mu       sync.Mutex
	seqs     []uint32
	versions []uint64
}

func (c *collector) add(u *eventedpb.ProjectionUpdate) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seqs = append(c.seqs, viewSeq(u))
	c.versions = append(c.versions, u.GetVersion())
	return nil
}

func (c *collector) snapshot() ([]uint32, []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seqs), slices.Clone(c.versions)
}

// check waits until the watch received the projector's newest projection
// of root, then checks it received exactly the projector's record from
// its first update on: in order, none missed, none twice, versions
// increasing.
func (c *collector) check(t *testing.T, p *viewProjector, root uuid.UUID, newest uint32) {
	t.Helper()
	waitFor(t, "the watcher to receive the newest projection", func() bool {
		seqs, _ := c.snapshot()
		return len(seqs) > 0 && seqs[len(seqs)-1] == newest
	})
	seqs, versions := c.snapshot()
	rec := p.record(root)
	i := slices.Index(rec, seqs[0])
	if i < 0 || !slices.Equal(seqs, rec[i:]) {
		t.Errorf("watcher received %v; the projector returned %v (want every one from the first received on, in order, once)", seqs, rec)
	}
	for j := 1; j < len(versions); j++ {
		if versions[j] <= versions[j-1] {
			t.Errorf("versions %v do not increase", versions)
			break
		}
	}
}

func watch(t *testing.T, addr string, w sdk.Watch) (*collector, context.CancelFunc, chan error) {
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sdk.WatchProjection(ctx, dial(t, addr), w, c.add) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, cancel, done
}

// A subscription query gets the current projection first, then every
// update in order, from an asynchronous projector with
// publish_projections and from a synchronous one.
func TestSubscriptionQueryCurrentThenEveryUpdate(t *testing.T) {
	for _, mode := range []string{"publish_projections", "synchronous"} {
		t.Run(mode, func(t *testing.T) {
			proj, addr := newViewProjector(t, 0)
			cfg := config.Default()
			cfg.Projectors = []config.Consumer{{Name: "view", Address: addr,
				PublishProjections: mode == "publish_projections", Synchronous: mode == "synchronous"}}
			cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = time.Millisecond, 10*time.Millisecond
			srv, _ := start(t, cfg)
			client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
			root := uuid.New()
			sendEntries(t, client, root, 2)
			// The third waits until "view" handled it, its projection stored.
			ctx := metadata.AppendToOutgoingContext(t.Context(), "evented-wait-for", "view", "evented-wait-timeout", "10s")
			if _, err := client.Handle(ctx, &eventedpb.CommandBook{Cover: ledgerCover(root),
				Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "AddEntry"}}}}); err != nil {
				t.Fatal(err)
			}

			c, stop, done := watch(t, srv.QueryAddr(), sdk.Watch{Projector: "view", Cover: ledgerCover(root)})
			waitFor(t, "the current projection", func() bool { s, _ := c.snapshot(); return len(s) > 0 })
			if seqs, _ := c.snapshot(); seqs[0] != 2 {
				t.Fatalf("first update is the projection at %d; want the current one, at 2", seqs[0])
			}
			sendEntries(t, client, root, 20)
			c.check(t, proj, root, 22)

			// The operator sees the live query, and no longer once it ends.
			admin := eventedpb.NewDeliveryAdminClient(dial(t, srv.CommandAddr()))
			live := liveQueries(t, admin)
			_, versions := c.snapshot()
			if len(live) != 1 {
				t.Fatalf("ListLiveQueries = %v; want the one watch", live)
			}
			if q := live[0]; q.GetProjector() != "view" || q.GetKey() != (eventstore.Cover{Domain: "ledger", Root: root}).String() ||
				q.GetClient() == "" || q.GetReplica() == "" || q.GetUpdates() != uint64(len(versions)) || q.GetVersion() != versions[len(versions)-1] {
				t.Errorf("ListLiveQueries()[0] = %v; want view of %s, %d updates up to version %d, with client and replica", q, root, len(versions), versions[len(versions)-1])
			}
			stop()
			<-done
			done <- nil // for the cleanup
			waitFor(t, "the live query to end", func() bool { return len(liveQueries(t, admin)) == 0 })
		})
	}
}

// Two servers on one SQLite file: the deliveries (and their puts) happen
// on A, the watcher is on B, which learns of them by polling the store.
func TestSubscriptionQueryAcrossReplicas(t *testing.T) {
	proj, addr := newViewProjector(t, 0)
	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	cfg.Projectors = []config.Consumer{{Name: "view", Address: addr, PublishProjections: true}}
	cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = time.Millisecond, 10*time.Millisecond
	// A takes every segment and keeps them through the test: B finds
	// them all leased and gets its share only after a third of a lease.
	cfg.Delivery.LeaseTTL = 60 * time.Second
	a, _ := start(t, cfg)
	waitOwnsAll(t, a)
	b, _ := start(t, cfg)
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, a.CommandAddr()))
	root := uuid.New()
	c, _, _ := watch(t, b.QueryAddr(), sdk.Watch{Projector: "view", Cover: ledgerCover(root)})
	sendEntries(t, client, root, 1)
	waitFor(t, "the first update", func() bool { s, _ := c.snapshot(); return len(s) > 0 })
	sendEntries(t, client, root, 29)
	c.check(t, proj, root, 29)
	if seqs, _ := c.snapshot(); seqs[0] != 0 {
		t.Errorf("first update at %d; want 0 (subscribed before the first event)", seqs[0])
	}
	assertDeliveredBy(t, b, a)
}

// assertDeliveredBy checks that every segment of "view" is owned by the
// replica owner, not by other.
func assertDeliveredBy(t *testing.T, other, owner *server.Server) {
	t.Helper()
	status := func(srv *server.Server) *eventedpb.SubscriptionStatus {
		stream, err := eventedpb.NewDeliveryAdminClient(dial(t, srv.CommandAddr())).ListSubscriptions(t.Context(), &emptypb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	id := status(owner).GetReplica()
	for _, seg := range status(other).GetSegments() {
		if seg.GetOwner() != id {
			t.Errorf("segment %d is owned by %q; want every delivery on %q", seg.GetIndex(), seg.GetOwner(), id)
		}
	}
}

// waitOwnsAll waits until srv holds every segment of its first
// subscription.
func waitOwnsAll(t *testing.T, srv *server.Server) {
	t.Helper()
	admin := eventedpb.NewDeliveryAdminClient(dial(t, srv.CommandAddr()))
	waitFor(t, "the first replica to hold every segment", func() bool {
		stream, err := admin.ListSubscriptions(t.Context(), &emptypb.Empty{})
		if err != nil {
			return false
		}
		st, err := stream.Recv()
		if err != nil {
			return false
		}
		for _, seg := range st.GetSegments() {
			if seg.GetOwner() != st.GetReplica() {
				return false
			}
		}
		return len(st.GetSegments()) > 0
	})
}

// startAt runs a server on cfg's SQLite file with its query port fixed (a
// restart comes back on the same address); stop stops it.
func startAt(t *testing.T, cfg config.Config, queryPort int) (srv *server.Server, stop func()) {
	t.Helper()
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, queryPort, 0
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv, err = server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port of the server before may linger
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("server did not stop within 15s")
		}
	})
	t.Cleanup(stop)
	return srv, stop
}

func freePort(t *testing.T) int {
	lis := listen(t)
	port := lis.Addr().(*net.TCPAddr).Port
	lis.Close()
	return port
}

// The watcher's replica restarts while updates keep coming: the SDK
// subscribes again with after_version and misses nothing.
func TestSubscriptionQueryResumesAfterRestart(t *testing.T) {
	proj, addr := newViewProjector(t, 0)
	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	cfg.Projectors = []config.Consumer{{Name: "view", Address: addr, PublishProjections: true}}
	cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = time.Millisecond, 10*time.Millisecond
	cfg.Delivery.LeaseTTL = 60 * time.Second
	a, _ := start(t, cfg)
	waitOwnsAll(t, a)
	port := freePort(t)
	_, stopB := startAt(t, cfg, port)
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, a.CommandAddr()))
	root := uuid.New()
	c, _, _ := watch(t, fmt.Sprintf("127.0.0.1:%d", port), sdk.Watch{Projector: "view", Cover: ledgerCover(root)})
	sendEntries(t, client, root, 1)
	waitFor(t, "the first update", func() bool { s, _ := c.snapshot(); return len(s) > 0 })
	sendEntries(t, client, root, 9)
	waitFor(t, "the first updates", func() bool { s, _ := c.snapshot(); return len(s) >= 5 })
	stopB()
	sendEntries(t, client, root, 10) // while B is down
	startAt(t, cfg, port)
	sendEntries(t, client, root, 10)
	c.check(t, proj, root, 29)
	if seqs, _ := c.snapshot(); seqs[0] != 0 {
		t.Errorf("first update at %d; want 0", seqs[0])
	}
}

// A watcher that does not read is dropped with RESOURCE_EXHAUSTED naming
// the version to resume after; resuming from it misses nothing.
func TestSlowSubscriptionQueryIsDropped(t *testing.T) {
	proj, addr := newViewProjector(t, 256<<10) // each update fills the stream's window
	cfg := config.Default()
	cfg.Projectors = []config.Consumer{{Name: "view", Address: addr, Synchronous: true}}
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, 0
	cfg.Storage.Path = filepath.Join(t.TempDir(), "events.db")
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler), server.WithProjectionOptions(delivery.ProjectionOptions{Buffer: 2}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	query := eventedpb.NewProjectionQueryClient(dial(t, srv.QueryAddr()))
	root := uuid.New()
	sctx, scancel := context.WithTimeout(t.Context(), 20*time.Second) // bounded: a watcher never dropped fails
	defer scancel()
	stream, err := query.Subscribe(sctx, &eventedpb.ProjectionSubscription{Projector: "view", Cover: ledgerCover(root)})
	if err != nil {
		t.Fatal(err)
	}
	sendEntries(t, client, root, 20) // not read meanwhile
	var got []uint32
	var last uint64
	for {
		u, err := stream.Recv()
		if err != nil {
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("slow watcher ended with %v; want RESOURCE_EXHAUSTED", err)
			}
			m := regexp.MustCompile(`^too slow, resume with after_version (\d+)$`).FindStringSubmatch(status.Convert(err).Message())
			if m == nil || m[1] != strconv.FormatUint(last, 10) {
				t.Fatalf("message %q; want \"too slow, resume with after_version %d\"", status.Convert(err).Message(), last)
			}
			break
		}
		got = append(got, viewSeq(u))
		last = u.GetVersion()
	}
	if len(got) >= 20 {
		t.Fatalf("received all %d updates; the watcher was not dropped", len(got))
	}
	// Resume after the last version received: the rest, in order.
	c := &collector{}
	rctx, rcancel := context.WithCancel(context.Background())
	rdone := make(chan error, 1)
	go func() {
		rdone <- sdk.WatchProjection(rctx, dial(t, srv.QueryAddr()), sdk.Watch{Projector: "view", Cover: ledgerCover(root), AfterVersion: last}, c.add)
	}()
	defer func() { rcancel(); <-rdone }()
	waitFor(t, "the resumed watcher to catch up", func() bool { s, _ := c.snapshot(); return len(s) > 0 && s[len(s)-1] == 19 })
	seqs, _ := c.snapshot()
	if all := append(slices.Clone(got), seqs...); !slices.Equal(all, proj.record(root)) {
		t.Errorf("before and after resuming: %v; the projector returned %v", all, proj.record(root))
	}
}

// Unknown projectors and projectors that keep no projections are refused
// with a message that says what to do.
func TestSubscriptionQueryRefusals(t *testing.T) {
	_, addr := newViewProjector(t, 0)
	cfg := config.Default()
	cfg.Projectors = []config.Consumer{{Name: "view", Address: addr, PublishProjections: true}, {Name: "ledger", Address: addr}}
	srv, _ := start(t, cfg)
	query := eventedpb.NewProjectionQueryClient(dial(t, srv.QueryAddr()))
	for _, tc := range []struct {
		req  *eventedpb.ProjectionSubscription
		code codes.Code
		msg  string
	}{
		{&eventedpb.ProjectionSubscription{Projector: "nope", Key: "k"}, codes.InvalidArgument, `configured projectors: [view ledger]`},
		{&eventedpb.ProjectionSubscription{Projector: "ledger", Key: "k"}, codes.FailedPrecondition, `set publish_projections: true on projectors[1]`},
		{&eventedpb.ProjectionSubscription{Projector: "view"}, codes.InvalidArgument, `key`},
		{&eventedpb.ProjectionSubscription{Projector: "view", Key: "a\x01"}, codes.InvalidArgument, `printable ASCII`},
	} {
		stream, err := query.Subscribe(t.Context(), tc.req)
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.msg) {
			t.Errorf("Subscribe(%v) = %v; want %v containing %q", tc.req, err, tc.code, tc.msg)
		}
	}
	// The SDK returns such errors at once rather than retrying.
	err := sdk.WatchProjection(t.Context(), dial(t, srv.QueryAddr()), sdk.Watch{Projector: "nope", Key: "k"}, func(*eventedpb.ProjectionUpdate) error { return nil })
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("WatchProjection of an unknown projector = %v; want INVALID_ARGUMENT", err)
	}
}

// keyedProjector names the key of its projections with the
// evented-projection-key header: one projection of every aggregate.
type keyedProjector struct {
	eventedpb.UnimplementedProjectorCoordinatorServer
	key string
}

func (p *keyedProjector) HandleSync(ctx context.Context, b *eventedpb.EventBook) (*eventedpb.Projection, error) {
	if err := grpc.SetHeader(ctx, metadata.Pairs(sdk.ProjectionKeyMetadata, p.key)); err != nil {
		return nil, err
	}
	root := uuid.UUID(b.GetCover().GetRoot().GetValue())
	return &eventedpb.Projection{Projection: &anypb.Any{TypeUrl: "type.googleapis.com/test.Last", Value: []byte(root.String())}}, nil
}

// A projector that names a key with evented-projection-key: subscribers
// of that key get the projections of every aggregate.
func TestSubscriptionQueryByProjectorKey(t *testing.T) {
	proj := &keyedProjector{key: "region-eu"}
	addr := serve(t, func(g *grpc.Server) { eventedpb.RegisterProjectorCoordinatorServer(g, proj) })
	cfg := config.Default()
	cfg.Projectors = []config.Consumer{{Name: "last", Address: addr, Synchronous: true}}
	srv, _ := start(t, cfg)
	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	var mu sync.Mutex
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sdk.WatchProjection(ctx, dial(t, srv.QueryAddr()), sdk.Watch{Projector: "last", Key: "region-eu"},
			func(u *eventedpb.ProjectionUpdate) error {
				mu.Lock()
				defer mu.Unlock()
				if u.GetKey() != "region-eu" {
					t.Errorf("update under key %q; want region-eu", u.GetKey())
				}
				got = append(got, string(u.GetProjection().GetProjection().GetValue()))
				return nil
			})
	}()
	defer func() { cancel(); <-done }()
	a, b := uuid.New(), uuid.New()
	sendEntries(t, client, a, 1)
	waitFor(t, "the first update", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
	sendEntries(t, client, b, 1)
	sendEntries(t, client, a, 1)
	waitFor(t, "three updates", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	mu.Lock()
	defer mu.Unlock()
	if want := []string{a.String(), b.String(), a.String()}; !slices.Equal(got, want) {
		t.Errorf("updates %v; want %v", got, want)
	}
}

func liveQueries(t *testing.T, admin eventedpb.DeliveryAdminClient) []*eventedpb.LiveQuery {
	t.Helper()
	out, err := receiveAll(admin.ListLiveQueries(t.Context(), &emptypb.Empty{}))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
