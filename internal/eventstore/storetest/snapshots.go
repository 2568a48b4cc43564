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
