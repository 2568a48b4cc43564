package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/evented/evented/internal/eventstore"
	"github.com/google/uuid"
)

// RunSnapshots runs the Snapshots conformance suite. open returns snapshots
// over fresh, empty data and registers its own cleanup.
func RunSnapshots(t *testing.T, open func(t *testing.T) eventstore.Snapshots) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s eventstore.Snapshots)
	}{
		{"Missing", testSnapshotMissing},
		{"PutGet", testSnapshotPutGet},
		{"Overwrite", testSnapshotOverwrite},
		{"LowerIgnored", testSnapshotLowerIgnored},
		{"DomainIsolation", testSnapshotDomainIsolation},
		{"StateNotAliased", testSnapshotNotAliased},
		{"Concurrent", testSnapshotConcurrent},
		{"KeepNewest", testSnapshotKeep},
		{"KeepConcurrent", testSnapshotKeepConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			tc.fn(t, ctx, open(t))
		})
	}
}

func snapshot(seq uint32, state string) eventstore.Snapshot {
	return eventstore.Snapshot{Sequence: seq, TypeURL: "type.googleapis.com/test.State", State: []byte(state)}
}

func mustPut(t *testing.T, ctx context.Context, s eventstore.Snapshots, c eventstore.Cover, snap eventstore.Snapshot) {
	t.Helper()
	if err := s.PutSnapshot(ctx, c, snap); err != nil {
		t.Fatalf("PutSnapshot(%s, %d): %v", c, snap.Sequence, err)
	}
}

func mustGet(t *testing.T, ctx context.Context, s eventstore.Snapshots, c eventstore.Cover) eventstore.Snapshot {
	t.Helper()
	snap, ok, err := s.Snapshot(ctx, c)
	if err != nil || !ok {
		t.Fatalf("Snapshot(%s) = ok %v, err %v; want a snapshot", c, ok, err)
	}
	return snap
}

// wantSnapshot compares got with want; when want.CreatedAt is zero, got's
// must be a commit time within [before, after].
func wantSnapshot(t *testing.T, what string, got, want eventstore.Snapshot, before, after time.Time) {
	t.Helper()
	if got.Sequence != want.Sequence || got.TypeURL != want.TypeURL || !bytes.Equal(got.State, want.State) {
		t.Errorf("%s = (%d, %q, %q); want (%d, %q, %q)", what,
			got.Sequence, got.TypeURL, got.State, want.Sequence, want.TypeURL, want.State)
	}
	checkTime(t, what, got.CreatedAt, want.CreatedAt, before, after)
}

func testSnapshotMissing(t *testing.T, ctx context.Context, s eventstore.Snapshots) {
	snap, ok, err := s.Snapshot(ctx, newCover("orders"))
	if err != nil || ok {
		t.Errorf("Snapshot of unknown cover = ok %v, err %v; want ok false, no error", ok, err)
	}
	if snap.Sequence != 0 || snap.State != nil {
		t.Errorf("missing snapshot = %+v; want the zero Snapshot", snap)
	}
}

func testSnapshotPutGet(t *testing.T, ctx context.Context, s eventstore.Snapshots) {
	given, now := newCover("orders"), newCover("orders")
	want := snapshot(3, "three")
	want.CreatedAt = time.Date(2026, 11, 26, 10, 21, 42, 123456789, time.FixedZone("CET", 3600))
	mustPut(t, ctx, s, given, want)
	wantSnapshot(t, "Snapshot with given time", mustGet(t, ctx, s, given), want, time.Time{}, time.Time{})

	before := time.Now()
	mustPut(t, ctx, s, now, snapshot(5, ""))
	after := time.Now()
	wantSnapshot(t, "Snapshot with commit time", mustGet(t, ctx, s, now), snapshot(5, ""), before, after)
}

func testSnapshotOverwrite(t *testing.T, ctx context.Context, s eventstore.Snapshots) {
	start := time.Now()
	c := newCover("orders")
	mustPut(t, ctx, s, c, snapshot(3, "three"))
	mustPut(t, ctx, s, c, snapshot(7, "seven"))
	wantSnapshot(t, "after a higher sequence", mustGet(t, ctx, s, c), snapshot(7, "seven"), start, time.Now())
	// Same sequence: the later put wins (the doc says only a higher stored one is kept).
	mustPut(t, ctx, s, c, snapshot(7, "seven again"))
	wantSnapshot(t, "after the same sequence", mustGet(t, ctx, s, c), snapshot(7, "seven again"), start, time.Now())
}

func testSnapshotLowerIgnored(t *testing.T, ctx context.Context, s eventstore.Snapshots) {
	start := time.Now()
	c := newCover("orders")
	mustPut(t, ctx, s, c, snapshot(7, "seven"))
	mustPut(t, ctx, s, c, snapshot(3, "three"))
	mustPut(t, ctx, s, c, snapshot(0, "zero"))
	wantSnapshot(t, "after lower sequences", mustGet(t, ctx, s, c), snapshot(7, "seven"), start, time.Now())
}

func testSnapshotDomainIsolation(t *testing.T, ctx context.Context, s eventstore.Snapshots) {
	start := time.Now()
	root := uuid.New()
	a, b := eventstore.Cover{Domain: "alpha", Root: root}, eventstore.Cover{Domain: "beta", Root: root}
	mustPut(t, ctx, s, a, snapshot(9, "alpha"))
	if _, ok, err := s.Snapshot(ctx, b); err != nil || ok {
		t.Fatalf("beta sees alpha's snapshot: ok %v, err %v", ok, err)
	}
	mustPut(t, ctx, s, b, snapshot(2, "beta"))
	wantSnapshot(t, "alpha", mustGet(t, ctx, s, a), snapshot(9, "alpha"), start, time.Now())
	wantSnapshot(t, "beta", mustGet(t, ctx, s, b), snapshot(2, "beta"), start, time.Now())
}

func testSnapshotNotAliased(t *testing.T, ctx context.Context, s eventstore.Snapshots) {
	c := newCover("orders")
	in := snapshot(1, "original")
	mustPut(t, ctx, s, c, in)
	in.State[0] = 'X'
	got := mustGet(t, ctx, s, c)
	if string(got.State) != "original" {
		t.Fatalf("stored state changed with the caller's slice: %q", got.State)
	}
	got.State[0] = 'Z'
	if again := mustGet(t, ctx, s, c); string(again.State) != "original" {
		t.Errorf("stored state changed with a returned slice: %q", again.State)
	}
}

// testSnapshotConcurrent puts sequences in random order from many
// goroutines: whatever the interleaving, the highest one stays.
func testSnapshotConcurrent(t *testing.T, ctx context.Context, s eventstore.Snapshots) {
	start := time.Now()
	const workers, perWorker = 16, 4
	c := newCover("orders")
	seqs := rand.Perm(workers * perWorker)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for _, seq := range seqs[w*perWorker : (w+1)*perWorker] {
				if err := s.PutSnapshot(ctx, c, snapshot(uint32(seq), fmt.Sprint(seq))); err != nil {
					t.Errorf("PutSnapshot %d: %v", seq, err)
				}
			}
		})
	}
	wg.Wait()
	const top = workers*perWorker - 1
	wantSnapshot(t, "after concurrent puts", mustGet(t, ctx, s, c), snapshot(top, fmt.Sprint(top)), start, time.Now())
}

func retention(t *testing.T, s eventstore.Snapshots) eventstore.SnapshotRetention {
	t.Helper()
	r, ok := s.(eventstore.SnapshotRetention)
	if !ok {
		t.Fatalf("%T does not implement eventstore.SnapshotRetention: every backend keeps the newest few snapshots", s)
	}
	return r
}

func historySeqs(t *testing.T, ctx context.Context, r eventstore.SnapshotRetention, c eventstore.Cover) []uint32 {
	t.Helper()
	h, err := r.SnapshotHistory(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uint32, len(h))
	for i, snap := range h {
		out[i] = snap.Sequence
		if want := fmt.Sprintf("state-%d", snap.Sequence); string(snap.State) != want {
			t.Fatalf("snapshot %d holds %q, want %q", snap.Sequence, snap.State, want)
		}
	}
	return out
}

// PutSnapshotKeeping keeps the newest keep snapshots, newest first; the
// latest is still Snapshot's; PutSnapshot keeps one; an older one is
// ignored, and keep shrinking prunes at the next put.
func testSnapshotKeep(t *testing.T, ctx context.Context, s eventstore.Snapshots) {
	r := retention(t, s)
	c := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	if h, err := r.SnapshotHistory(ctx, c); err != nil || len(h) != 0 {
		t.Fatalf("SnapshotHistory of none = %v, %v", h, err)
	}
	for _, seq := range []uint32{10, 20, 30, 40} {
		if err := r.PutSnapshotKeeping(ctx, c, snapshot(seq, fmt.Sprintf("state-%d", seq)), 3); err != nil {
			t.Fatal(err)
		}
	}
	if got := historySeqs(t, ctx, r, c); fmt.Sprint(got) != "[40 30 20]" {
		t.Fatalf("kept %v, want [40 30 20]", got)
	}
	if got := mustGet(t, ctx, s, c); got.Sequence != 40 {
		t.Fatalf("Snapshot = %d, want the newest, 40", got.Sequence)
	}
	// Older than the newest: ignored. At the newest: replaces it.
	must(t, r.PutSnapshotKeeping(ctx, c, snapshot(25, "state-25"), 3))
	must(t, r.PutSnapshotKeeping(ctx, c, eventstore.Snapshot{Sequence: 40, TypeURL: "type.googleapis.com/test.StateV2", State: []byte("state-40")}, 3))
	if got := historySeqs(t, ctx, r, c); fmt.Sprint(got) != "[40 30 20]" {
		t.Fatalf("after an older and an equal put: kept %v, want [40 30 20]", got)
	}
	if got := mustGet(t, ctx, s, c); got.TypeURL != "type.googleapis.com/test.StateV2" {
		t.Fatalf("Snapshot type %q, want the replacement's", got.TypeURL)
	}
	must(t, r.PutSnapshotKeeping(ctx, c, snapshot(50, "state-50"), 2))
	if got := historySeqs(t, ctx, r, c); fmt.Sprint(got) != "[50 40]" {
		t.Fatalf("keep 2: kept %v, want [50 40]", got)
	}
	must(t, s.PutSnapshot(ctx, c, snapshot(60, "state-60")))
	if got := historySeqs(t, ctx, r, c); fmt.Sprint(got) != "[60]" {
		t.Fatalf("PutSnapshot: kept %v, want [60]", got)
	}
	other := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	must(t, r.PutSnapshotKeeping(ctx, other, snapshot(1, "state-1"), 0))
	if got := historySeqs(t, ctx, r, other); fmt.Sprint(got) != "[1]" {
		t.Fatalf("keep 0 (as 1): kept %v, want [1]", got)
	}
}

// Concurrent puts keep exactly the newest keep, the highest one latest.
func testSnapshotKeepConcurrent(t *testing.T, ctx context.Context, s eventstore.Snapshots) {
	r := retention(t, s)
	c := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				seq := uint32(1 + w + 4*i) // 1 … 40, each once
				if err := r.PutSnapshotKeeping(ctx, c, snapshot(seq, fmt.Sprintf("state-%d", seq)), 3); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := historySeqs(t, ctx, r, c)
	if len(got) == 0 || got[0] != 40 || len(got) > 3 {
		t.Fatalf("kept %v after concurrent puts; want at most 3, the newest 40 first", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] >= got[i-1] {
			t.Fatalf("kept %v: not newest first", got)
		}
	}
}
