package postgres_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// TestAppendGroupKeysAndFired: a group of keyed appends to distinct
// covers, each firing a deadline, stores its keys with its events and
// removes its deadlines; a group of which some appends cannot go (their
// keys stored) still settles each append.
func TestAppendGroupKeysAndFired(t *testing.T) {
	ctx := context.Background()
	s := open(t, freshSchema(t))
	var ds []eventstore.Deadline
	var as []eventstore.GroupAppend
	for i := range 3 {
		c := eventstore.Cover{Domain: "orders", Root: uuid.New()}
		id := "d" + string(rune('0'+i))
		ds = append(ds, eventstore.Deadline{ID: id, Due: time.Now(), Cover: c, Command: []byte("x"), Key: "k" + id})
		k := eventstore.Key{ID: "k" + id, Fingerprint: sha256.Sum256([]byte(id)), TTL: time.Hour}
		as = append(as, eventstore.GroupAppend{Cover: c, Key: &k,
			Pages: []eventstore.Page{{TypeURL: "t", HasNum: true, Num: 0}, {TypeURL: "t", HasNum: true, Num: 1}}})
	}
	if err := s.Schedule(ctx, ds); err != nil {
		t.Fatal(err)
	}
	for i := range as {
		as[i].Fired = &ds[i]
	}
	for i, r := range s.AppendGroup(ctx, as) {
		if r.Err != nil || r.Prior != nil || len(r.Events) != 2 || !r.Removed {
			t.Fatalf("append %d: %d events, prior %v, removed %v, err %v; want 2 stored, removed", i, len(r.Events), r.Prior, r.Removed, r.Err)
		}
	}
	if pending, err := s.PendingDeadlines(ctx, "orders", 10); err != nil || len(pending) != 0 {
		t.Errorf("pending deadlines: %d, err %v; want none", len(pending), err)
	}
	for i, a := range as {
		if rec, ok, err := s.Lookup(ctx, a.Key.ID); err != nil || !ok || rec.Cover != a.Cover || rec.From != 0 || rec.To != 2 {
			t.Errorf("key %d: %+v, found %v, err %v; want [0, 2) of its cover", i, rec, ok, err)
		}
	}
	// Again (decided on the aggregates as they are now), with one new
	// append: the repeats are answered by their keys, the new one stored.
	for i := range as {
		as[i].Pages = []eventstore.Page{{TypeURL: "t", HasNum: true, Num: 2}}
	}
	c := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	as = append(as, eventstore.GroupAppend{Cover: c, Pages: []eventstore.Page{{TypeURL: "t", HasNum: true, Num: 0}}})
	rs := s.AppendGroup(ctx, as)
	for i, r := range rs[:3] {
		if r.Err != nil || r.Prior == nil || len(r.Events) != 0 {
			t.Errorf("repeat %d: %d events, prior %v, err %v; want its key's record", i, len(r.Events), r.Prior, r.Err)
		}
	}
	if r := rs[3]; r.Err != nil || len(r.Events) != 1 {
		t.Errorf("new append: %d events, err %v; want stored", len(r.Events), r.Err)
	}
}
