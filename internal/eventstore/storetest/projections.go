package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/evented/evented/internal/eventstore"
	"github.com/google/uuid"
)

// RunProjections runs the Projections conformance suite against stores
// returned by open, each over fresh, empty data.
//
// After each subtest the suite reads every change from version 0 and
// checks: versions are 1, 2, 3, … with no gap and no repeat; the last
// change of each (projector, key) is what GetProjection returns; and
// ProjectionVersion is the last version.
func RunProjections(t *testing.T, open func(t *testing.T) eventstore.Projections) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s eventstore.Projections)
	}{
		{"Missing", testProjectionMissing},
		{"Invalid", testProjectionInvalid},
		{"PutAndGet", testProjectionPutGet},
		{"NeverBack", testProjectionNeverBack},
		{"RebuildReplaces", testProjectionRebuild},
		{"OtherAggregateReplaces", testProjectionOtherCover},
		{"ChangesInOrder", testProjectionChanges},
		{"ChangesLimit", testProjectionChangesLimit},
		{"Independent", testProjectionIndependent},
		{"PayloadNotAliased", testProjectionNotAliased},
		{"Concurrent", testProjectionConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			s := open(t)
			tc.fn(t, ctx, s)
			checkProjections(t, ctx, s)
		})
	}
}

func checkProjections(t *testing.T, ctx context.Context, s eventstore.Projections) {
	t.Helper()
	var all []eventstore.Projection
	for after := uint64(0); ; {
		page, err := s.ProjectionChanges(ctx, after, 7)
		if err != nil {
			t.Fatalf("invariant: ProjectionChanges(%d): %v", after, err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Version
	}
	last := map[[2]string]eventstore.Projection{}
	for i, p := range all {
		if p.Version != uint64(i+1) {
			t.Fatalf("invariant: change %d has version %d; want %d (versions 1, 2, … without gaps)", i, p.Version, i+1)
		}
		last[[2]string{p.Projector, p.Key}] = p
	}
	for k, want := range last {
		got, ok, err := s.GetProjection(ctx, k[0], k[1])
		if err != nil || !ok {
			t.Fatalf("invariant: GetProjection%v = %v, %v", k, ok, err)
		}
		if !sameProjection(got, want) || got.Version != want.Version {
			t.Errorf("invariant: GetProjection%v = %+v; want the last change %+v", k, got, want)
		}
	}
	v, err := s.ProjectionVersion(ctx)
	if err != nil {
		t.Fatalf("invariant: ProjectionVersion: %v", err)
	}
	if v != uint64(len(all)) {
		t.Errorf("invariant: ProjectionVersion = %d; want %d", v, len(all))
	}
}

func sameProjection(a, b eventstore.Projection) bool {
	return a.Projector == b.Projector && a.Key == b.Key && a.Cover == b.Cover && a.Sequence == b.Sequence &&
		a.TypeURL == b.TypeURL && bytes.Equal(a.Payload, b.Payload)
}

func newProjection(projector string, cover eventstore.Cover, seq uint32, payload string) eventstore.Projection {
	return eventstore.Projection{Projector: projector, Key: cover.String(), Cover: cover, Sequence: seq,
		TypeURL: "type.googleapis.com/test.View", Payload: []byte(payload)}
}

func mustPutProjection(t *testing.T, ctx context.Context, s eventstore.Projections, p eventstore.Projection) (uint64, bool) {
	t.Helper()
	v, stored, err := s.PutProjection(ctx, p)
	if err != nil {
		t.Fatalf("PutProjection(%s %s @%d): %v", p.Projector, p.Key, p.Sequence, err)
	}
	return v, stored
}

func testProjectionMissing(t *testing.T, ctx context.Context, s eventstore.Projections) {
	if _, ok, err := s.GetProjection(ctx, "p", "nothing"); ok || err != nil {
		t.Fatalf("GetProjection of nothing = %v, %v; want false, nil", ok, err)
	}
	if ch, err := s.ProjectionChanges(ctx, 0, 10); len(ch) != 0 || err != nil {
		t.Fatalf("ProjectionChanges of an empty store = %v, %v", ch, err)
	}
	if v, err := s.ProjectionVersion(ctx); v != 0 || err != nil {
		t.Fatalf("ProjectionVersion of an empty store = %d, %v", v, err)
	}
}

func testProjectionInvalid(t *testing.T, ctx context.Context, s eventstore.Projections) {
	cover := eventstore.Cover{Domain: "d", Root: uuid.New()}
	for name, p := range map[string]eventstore.Projection{
		"no projector": {Key: "k", Cover: cover},
		"empty key":    {Projector: "p", Cover: cover},
		"long key":     {Projector: "p", Key: string(bytes.Repeat([]byte("k"), eventstore.MaxProjectionKey+1)), Cover: cover},
		"control key":  {Projector: "p", Key: "a\nb", Cover: cover},
		"no domain":    {Projector: "p", Key: "k"},
	} {
		if _, _, err := s.PutProjection(ctx, p); !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("%s: PutProjection = %v; want ErrInvalid", name, err)
		}
	}
}

func testProjectionPutGet(t *testing.T, ctx context.Context, s eventstore.Projections) {
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	p := newProjection("view", cover, 0, "one")
	v, stored := mustPutProjection(t, ctx, s, p)
	if !stored || v != 1 {
		t.Fatalf("first Put = %d, %v; want 1, true", v, stored)
	}
	got, ok, err := s.GetProjection(ctx, "view", cover.String())
	if err != nil || !ok || !sameProjection(got, p) || got.Version != 1 {
		t.Fatalf("GetProjection = %+v, %v, %v; want %+v at version 1", got, ok, err, p)
	}
	p2 := newProjection("view", cover, 3, "two")
	if v, stored := mustPutProjection(t, ctx, s, p2); !stored || v != 2 {
		t.Fatalf("second Put = %d, %v; want 2, true", v, stored)
	}
	if got, _, _ := s.GetProjection(ctx, "view", cover.String()); !sameProjection(got, p2) || got.Version != 2 {
		t.Fatalf("GetProjection = %+v; want %+v at version 2", got, p2)
	}
}

func testProjectionNeverBack(t *testing.T, ctx context.Context, s eventstore.Projections) {
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	mustPutProjection(t, ctx, s, newProjection("view", cover, 5, "five"))
	if v, stored := mustPutProjection(t, ctx, s, newProjection("view", cover, 4, "four")); stored || v != 1 {
		t.Errorf("older Put = %d, %v; want 1, false (a redelivery never moves it back)", v, stored)
	}
	if v, stored := mustPutProjection(t, ctx, s, newProjection("view", cover, 5, "five")); stored || v != 1 {
		t.Errorf("same Put again = %d, %v; want 1, false (nothing changed)", v, stored)
	}
	if got, _, _ := s.GetProjection(ctx, "view", cover.String()); string(got.Payload) != "five" {
		t.Errorf("payload = %q; want five", got.Payload)
	}
}

func testProjectionRebuild(t *testing.T, ctx context.Context, s eventstore.Projections) {
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	mustPutProjection(t, ctx, s, newProjection("view", cover, 2, "old code"))
	// The rebuild replays 0, 1 (ignored), then reaches 2 with new code.
	mustPutProjection(t, ctx, s, newProjection("view", cover, 0, "new code 0"))
	mustPutProjection(t, ctx, s, newProjection("view", cover, 1, "new code 1"))
	if v, stored := mustPutProjection(t, ctx, s, newProjection("view", cover, 2, "new code 2")); !stored || v != 2 {
		t.Fatalf("rebuilt Put at the newest sequence = %d, %v; want 2, true", v, stored)
	}
	if got, _, _ := s.GetProjection(ctx, "view", cover.String()); string(got.Payload) != "new code 2" {
		t.Errorf("payload = %q; want the rebuilt one", got.Payload)
	}
}

func testProjectionOtherCover(t *testing.T, ctx context.Context, s eventstore.Projections) {
	a := eventstore.Cover{Domain: "order", Root: uuid.New()}
	b := eventstore.Cover{Domain: "order", Root: uuid.New()}
	pa := newProjection("totals", a, 9, "a")
	pa.Key = "region-eu"
	pb := newProjection("totals", b, 1, "b")
	pb.Key = "region-eu"
	mustPutProjection(t, ctx, s, pa)
	if _, stored := mustPutProjection(t, ctx, s, pb); !stored {
		t.Fatal("a projection of another aggregate under the same key was not stored")
	}
	if got, _, _ := s.GetProjection(ctx, "totals", "region-eu"); got.Cover != b || string(got.Payload) != "b" {
		t.Errorf("GetProjection = %+v; want b's", got)
	}
}

func testProjectionChanges(t *testing.T, ctx context.Context, s eventstore.Projections) {
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	other := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	var want []eventstore.Projection
	for i := range 5 {
		p := newProjection("view", cover, uint32(i), fmt.Sprint("c", i))
		mustPutProjection(t, ctx, s, p)
		want = append(want, p)
		q := newProjection("view", other, uint32(i), fmt.Sprint("o", i))
		mustPutProjection(t, ctx, s, q)
		want = append(want, q)
	}
	got, err := s.ProjectionChanges(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ProjectionChanges = %d changes; want %d (every change, not only the latest per key)", len(got), len(want))
	}
	for i := range want {
		if !sameProjection(got[i], want[i]) || got[i].Version != uint64(i+1) {
			t.Errorf("change %d = %+v; want %+v at version %d", i, got[i], want[i], i+1)
		}
	}
	tail, err := s.ProjectionChanges(ctx, 7, 100)
	if err != nil || len(tail) != 3 || tail[0].Version != 8 {
		t.Fatalf("ProjectionChanges(7) = %+v, %v; want versions 8..10", tail, err)
	}
	if none, err := s.ProjectionChanges(ctx, 10, 100); len(none) != 0 || err != nil {
		t.Fatalf("ProjectionChanges(head) = %v, %v; want none", none, err)
	}
	if none, err := s.ProjectionChanges(ctx, 99, 100); len(none) != 0 || err != nil {
		t.Fatalf("ProjectionChanges(past head) = %v, %v; want none", none, err)
	}
}

func testProjectionChangesLimit(t *testing.T, ctx context.Context, s eventstore.Projections) {
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	for i := range 6 {
		mustPutProjection(t, ctx, s, newProjection("view", cover, uint32(i), fmt.Sprint(i)))
	}
	got, err := s.ProjectionChanges(ctx, 1, 2)
	if err != nil || len(got) != 2 || got[0].Version != 2 || got[1].Version != 3 {
		t.Fatalf("ProjectionChanges(1, limit 2) = %+v, %v; want versions 2, 3", got, err)
	}
}

func testProjectionIndependent(t *testing.T, ctx context.Context, s eventstore.Projections) {
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	mustPutProjection(t, ctx, s, newProjection("a", cover, 3, "a"))
	mustPutProjection(t, ctx, s, newProjection("b", cover, 1, "b"))
	ga, _, _ := s.GetProjection(ctx, "a", cover.String())
	gb, _, _ := s.GetProjection(ctx, "b", cover.String())
	if string(ga.Payload) != "a" || string(gb.Payload) != "b" {
		t.Fatalf("projectors share a key: a=%q b=%q", ga.Payload, gb.Payload)
	}
}

func testProjectionNotAliased(t *testing.T, ctx context.Context, s eventstore.Projections) {
	cover := eventstore.Cover{Domain: "customer", Root: uuid.New()}
	p := newProjection("view", cover, 0, "abc")
	mustPutProjection(t, ctx, s, p)
	p.Payload[0] = 'X'
	got, _, _ := s.GetProjection(ctx, "view", cover.String())
	if string(got.Payload) != "abc" {
		t.Fatalf("stored payload changed with the caller's buffer: %q", got.Payload)
	}
	got.Payload[0] = 'Y'
	again, _, _ := s.GetProjection(ctx, "view", cover.String())
	if string(again.Payload) != "abc" {
		t.Fatalf("stored payload changed with a returned buffer: %q", again.Payload)
	}
}

// testProjectionConcurrent puts from several goroutines at once, each its
// own aggregate in order: every Put is stored once, with its own version,
// and each aggregate's changes come out in its order.
func testProjectionConcurrent(t *testing.T, ctx context.Context, s eventstore.Projections) {
	const writers, puts = 4, 10
	covers := make([]eventstore.Cover, writers)
	for i := range covers {
		covers[i] = eventstore.Cover{Domain: "customer", Root: uuid.New()}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range puts {
				if _, stored, err := s.PutProjection(ctx, newProjection("view", covers[w], uint32(i), fmt.Sprint(i))); err != nil || !stored {
					errs <- fmt.Errorf("writer %d put %d: stored %v, %v", w, i, stored, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all, err := s.ProjectionChanges(ctx, 0, writers*puts+10)
	if err != nil || len(all) != writers*puts {
		t.Fatalf("ProjectionChanges = %d, %v; want %d", len(all), err, writers*puts)
	}
	next := map[eventstore.Cover]uint32{}
	for _, p := range all {
		if p.Sequence != next[p.Cover] {
			t.Fatalf("%s: change at sequence %d; want %d (each aggregate's changes in order)", p.Cover, p.Sequence, next[p.Cover])
		}
		next[p.Cover]++
	}
}
