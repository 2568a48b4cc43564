package delivery_test

import (
	"testing"
	"time"

	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/eventstore/memory"
)

func versionOpts(v int, auto bool) delivery.Options {
	return fast(delivery.Options{Owner: "r", Projector: "p", Version: v, FirstVersion: 1, AutoCutover: auto})
}

// A new version of a projector runs beside the active one: it catches up
// from the beginning as a replay while the old one goes on; after the
// cut-over the old one retires and the new one's read model has every
// event once, in order. A version set to cut over by itself does so once
// it has caught up.
func TestBlueGreenVersions(t *testing.T) {
	store := memory.New()
	v1, v2, v3 := newReadModel("p"), newReadModel(delivery.VersionName("p", 2)), newReadModel(delivery.VersionName("p", 3))
	s1 := delivery.New(v1, store, nil, versionOpts(1, false), quiet)
	defer run(t, s1)()

	covers := make([]eventstore.Cover, 8)
	want := map[eventstore.Cover]int{}
	for i := range covers {
		covers[i] = cover("a")
	}
	add := func(n int) {
		for i := range n {
			appendN(t, store, covers[i%len(covers)], 1)
			want[covers[i%len(covers)]]++
		}
	}
	add(80)
	eventually(t, "version 1 complete", func() bool { m, _, _ := v1.snapshot(); return complete(m, want) })

	s2 := delivery.New(v2, store, nil, versionOpts(2, false), quiet)
	defer run(t, s2)()
	add(40) // both get these
	eventually(t, "version 2 caught up", func() bool { m, _, _ := v2.snapshot(); return complete(m, want) })
	if st := s2.Status(); st.State != "candidate" || st.Checkpoint < st.ReplayUntil || st.ReplayUntil < 80 {
		t.Fatalf("version 2 status %+v; want a candidate that has caught up on a replay up to at least 80", st)
	}
	if st := s1.Status(); st.State != "active" {
		t.Fatalf("version 1 state %q; want active", st.State)
	}
	_, replayed, _ := v2.snapshot()
	for _, c := range covers {
		if len(replayed[c]) < 10 {
			t.Fatalf("%s: version 2 replayed %v; want its first 10 events as a replay", c, replayed[c])
		}
	}

	if err := s2.CutOver(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "version 1 retired", func() bool { return s1.Status().State == "retired" && locals(s1) == 0 })
	_, _, liveV1 := v1.snapshot()
	add(16)
	eventually(t, "version 2 complete after the cut-over", func() bool { m, _, _ := v2.snapshot(); return complete(m, want) })
	if _, _, live := v1.snapshot(); live != liveV1 {
		t.Fatalf("retired version 1 got %d more events", live-liveV1)
	}
	if a, err := s1.ActiveVersion(t.Context()); err != nil || a != 2 {
		t.Fatalf("active version %d, %v; want 2", a, err)
	}

	// Version 3 cuts over by itself once caught up; version 2 retires.
	held := &gate{readModel: v3, open: make(chan struct{})}
	s3 := delivery.New(held, store, nil, versionOpts(3, true), quiet)
	defer run(t, s3)()
	time.Sleep(400 * time.Millisecond) // several balancing rounds, not caught up
	if st, active := s3.Status().State, s2.Status().State; st != "candidate" || active != "active" {
		t.Fatalf("version 3, held back, is %s and version 2 %s; want candidate and active", st, active)
	}
	close(held.open)
	eventually(t, "version 3 active", func() bool { return s3.Status().State == "active" })
	eventually(t, "version 2 retired", func() bool { return s2.Status().State == "retired" })
	if m, _, _ := v3.snapshot(); !complete(m, want) {
		t.Fatalf("version 3 cut over before it had caught up: %v", m)
	}
}
