package sqlite_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/eventstore"
)

// TestKeyRepeatStale: a keyed append repeated after other appends took its
// expected sequences (a command retried after its first try was stored)
// is answered with the stored record, not a conflict, alone or in a run of
// appends written together; the others of the run are stored.
func TestKeyRepeatStale(t *testing.T) {
	ctx := context.Background()
	s := open(t, tempPath(t))
	cover := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	page := func(num uint32) []eventstore.Page {
		return []eventstore.Page{{TypeURL: "t", Payload: []byte("p"), HasNum: true, Num: num}}
	}
	k := eventstore.Key{ID: "pay-1", Fingerprint: sha256.Sum256([]byte("pay 10")), TTL: time.Hour}
	if _, _, err := s.AppendKeyed(ctx, cover, page(0), k); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, cover, page(1)); err != nil {
		t.Fatal(err)
	}
	events, prior, err := s.AppendKeyed(ctx, cover, page(0), k)
	if err != nil || prior == nil || prior.From != 0 || prior.To != 1 || len(events) != 0 {
		t.Fatalf("stale repeat: events %d, prior %+v, err %v; want the record of [0, 1)", len(events), prior, err)
	}
	other := eventstore.Cover{Domain: "orders", Root: uuid.New()}
	k2 := eventstore.Key{ID: "pay-2", Fingerprint: sha256.Sum256([]byte("pay 20")), TTL: time.Hour}
	rs := s.AppendGroup(ctx, []eventstore.GroupAppend{{Cover: cover, Pages: page(0), Key: &k}, {Cover: other, Pages: page(0), Key: &k2}})
	if r := rs[0]; r.Err != nil || r.Prior == nil || len(r.Events) != 0 {
		t.Errorf("stale repeat in a group: events %d, prior %+v, err %v; want the record", len(r.Events), r.Prior, r.Err)
	}
	if r := rs[1]; r.Err != nil || r.Prior != nil || len(r.Events) != 1 {
		t.Errorf("fresh append in the group: events %d, prior %+v, err %v; want stored", len(r.Events), r.Prior, r.Err)
	}
	if got, err := s.Read(ctx, cover, 0, 0); err != nil || len(got) != 2 {
		t.Errorf("stream: %d events, err %v; want 2", len(got), err)
	}
}
