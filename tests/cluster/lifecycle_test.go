package cluster

import (
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/metadata"

	"github.com/evented/evented/api/eventedpb"
)

// TestLifecycleAcrossProcesses: two evented processes on one SQLite file.
// A command sent to either, asking to wait for the asynchronous projector,
// is answered only once the projector (served by this test) has recorded
// its event, whichever process delivers it; a reset asked of one process
// makes both deliver their segments' events again; after one process is
// killed with SIGKILL, waits through the other still come true once it has
// taken the segments over.
func TestLifecycleAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	cons := startConsumers(t)
	cfg := config(t, dir, storage{"type": "sqlite", "path": path, "sync": "normal"}, cons)
	_ = openDB(t, "sqlite", (&url.URL{Scheme: "file", Path: path, RawQuery: "_pragma=busy_timeout(5000)"}).String())
	c := startCluster(t, dir, cfg, 2)
	time.Sleep(leaseTTL()) // both replicas hold segments

	ctx := metadata.AppendToOutgoingContext(t.Context(), "evented-wait-for", projectorName, "evented-wait-timeout", "30s")
	send := func(r *replica, root uuid.UUID) {
		t.Helper()
		a, err := command(addEntryType, "entry")
		if err != nil {
			t.Fatal(err)
		}
		reply, err := r.commandClient.Handle(ctx, &eventedpb.CommandBook{
			Cover: &eventedpb.Cover{Domain: "ledger", Root: &eventedpb.UUID{Value: root[:]}},
			Pages: []*eventedpb.CommandPage{{Command: a}},
		})
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if w := reply.GetWaits(); len(w) != 1 || !w[0].GetDone() {
			t.Fatalf("%s: waits %v; want %s done", r.name, w, projectorName)
		}
		// The projector's own record, when the answer arrives.
		got, _, _, _ := cons.projector.snapshot()
		if !slices.Contains(got[agg{domain: "ledger", root: root}], 0) {
			t.Fatalf("%s answered before the projector recorded the event of %s", r.name, root)
		}
	}
	roots := make([]uuid.UUID, 40)
	for i := range roots {
		roots[i] = uuid.New()
		send(c.replicas[i%2], roots[i])
	}

	// A rebuild asked of the second process: every aggregate's event is
	// delivered again, by whichever process holds its segment.
	admin := eventedpb.NewDeliveryAdminClient(dial(t, c.replicas[1].commandAddr))
	res, err := admin.ResetSubscription(t.Context(), &eventedpb.ResetRequest{Subscriber: projectorName, To: &eventedpb.ResetRequest_Beginning{Beginning: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reset: %v", res)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, overlaps, _, _ := cons.projector.snapshot()
		missing := 0
		for _, root := range roots {
			if seqs := got[agg{domain: "ledger", root: root}]; len(seqs) < 2 {
				missing++
			} else if len(seqs) > 2 || seqs[0] != 0 || seqs[1] != 0 {
				t.Fatalf("%s: the projector got %v; want event 0, then event 0 again (the rebuild)", root, seqs)
			}
		}
		if len(overlaps) > 0 {
			t.Fatalf("deliveries of one aggregate overlapped: %v", overlaps)
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d aggregates not delivered again within 30s of the reset", missing, len(roots))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// SIGKILL the first process: the second takes its segments over after
	// the lease, and its waits come true for every aggregate.
	c.kill(c.replicas[0])
	for range 12 {
		send(c.replicas[1], uuid.New())
	}
}
