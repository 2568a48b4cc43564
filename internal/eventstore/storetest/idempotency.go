package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// IdempotentStore is what the idempotency suite needs: a store that keeps
// idempotency keys.
type IdempotentStore interface {
	eventstore.Store
	eventstore.Idempotent
}

// RunIdempotency runs the conformance suite of eventstore.Idempotent
// against the stores open returns (fresh, empty data each). After every
// subtest it checks the Store invariant over the covers the subtest wrote
// to: a key repeated or raced never stores events twice.
func RunIdempotency(t *testing.T, open func(t *testing.T) IdempotentStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s *keyedStore)
	}{
		{"AppendAndLookup", testKeyAppendAndLookup},
		{"Repeat", testKeyRepeat},
		{"Mismatch", testKeyMismatch},
		{"ConflictStoresNoKey", testKeyConflictStoresNoKey},
		{"EmptyStoresNoKey", testKeyEmpty},
		{"Expiry", testKeyExpiry},
		{"ConcurrentSameCover", func(t *testing.T, ctx context.Context, s *keyedStore) { testKeyConcurrent(t, ctx, s, true) }},
		{"ConcurrentAcrossCovers", func(t *testing.T, ctx context.Context, s *keyedStore) { testKeyConcurrent(t, ctx, s, false) }},
		{"ManyKeys", testKeyMany},
		{"Closed", testKeyClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			st := open(t)
			s := &keyedStore{IdempotentStore: st, tr: &tracked{Store: st, t: t, covers: map[eventstore.Cover]bool{}}}
			tc.fn(t, ctx, s)
			if !s.closed {
				s.tr.check()
			}
		})
	}
}

// keyedStore remembers the covers appended to, for the invariant.
type keyedStore struct {
	IdempotentStore
	tr     *tracked
	closed bool
}

func (s *keyedStore) AppendKeyed(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key eventstore.Key) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	s.tr.mu.Lock()
	s.tr.covers[cover] = true
	s.tr.mu.Unlock()
	return s.IdempotentStore.AppendKeyed(ctx, cover, pages, key)
}

func key(id, command string, ttl time.Duration) eventstore.Key {
	return eventstore.Key{ID: id, Fingerprint: sha256.Sum256([]byte(command)), TTL: ttl}
}

func mustLookup(t *testing.T, ctx context.Context, s eventstore.Idempotent, id string) (eventstore.KeyRecord, bool) {
	t.Helper()
	rec, ok, err := s.Lookup(ctx, id)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", id, err)
	}
	return rec, ok
}

func wantRecord(t *testing.T, what string, rec eventstore.KeyRecord, k eventstore.Key, cover eventstore.Cover, from, to uint32, before, after time.Time) {
	t.Helper()
	if rec.ID != k.ID || rec.Fingerprint != k.Fingerprint || rec.Cover != cover || rec.From != from || rec.To != to {
		t.Errorf("%s: record {%q %x %s [%d,%d)}; want {%q %x %s [%d,%d)}", what,
			rec.ID, rec.Fingerprint[:4], rec.Cover, rec.From, rec.To, k.ID, k.Fingerprint[:4], cover, from, to)
	}
	checkTime(t, what+": CreatedAt", rec.CreatedAt, time.Time{}, before, after)
	if d := rec.ExpiresAt.Sub(rec.CreatedAt); d < k.TTL-time.Second || d > k.TTL+time.Second {
		t.Errorf("%s: ExpiresAt - CreatedAt = %v; want the TTL %v", what, d, k.TTL)
	}
}

func testKeyAppendAndLookup(t *testing.T, ctx context.Context, s *keyedStore) {
	cover := newCover("orders")
	mustAppend(t, ctx, s, cover, pages("p", 0, 2))
	k := key("order-42", "add two lines", time.Hour)
	before := time.Now()
	events, prior, err := s.AppendKeyed(ctx, cover, pages("p", 2, 3), k)
	after := time.Now()
	if err != nil || prior != nil {
		t.Fatalf("AppendKeyed of a new key: prior %v, err %v; want stored", prior, err)
	}
	wantEvents(t, "AppendKeyed", events, "p", 2, 3)
	rec, ok := mustLookup(t, ctx, s, k.ID)
	if !ok {
		t.Fatal("Lookup of the stored key: not found")
	}
	wantRecord(t, "Lookup", rec, k, cover, 2, 5, before, after)
	wantEvents(t, "Read of the key's range", mustRead(t, ctx, s, rec.Cover, rec.From, rec.To), "p", 2, 3)
	if _, ok := mustLookup(t, ctx, s, "order-43"); ok {
		t.Error("Lookup of a key never stored: found")
	}
}

func testKeyRepeat(t *testing.T, ctx context.Context, s *keyedStore) {
	cover := newCover("orders")
	k := key("pay-1", "pay 10", time.Hour)
	before := time.Now()
	if _, _, err := s.AppendKeyed(ctx, cover, pages("p", 0, 1), k); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	for i := range 3 {
		events, prior, err := s.AppendKeyed(ctx, cover, pages("p", 1, 1), k)
		if err != nil || prior == nil || len(events) != 0 {
			t.Fatalf("repeat %d: events %v, prior %v, err %v; want no events and the prior record", i, sequences(events), prior, err)
		}
		wantRecord(t, "repeat's prior", *prior, k, cover, 0, 1, before, after)
	}
	wantEvents(t, "stream after repeats", mustRead(t, ctx, s, cover, 0, 0), "p", 0, 1)
}

func testKeyMismatch(t *testing.T, ctx context.Context, s *keyedStore) {
	cover, other := newCover("orders"), newCover("orders")
	k := key("pay-1", "pay 10", time.Hour)
	if _, _, err := s.AppendKeyed(ctx, cover, pages("p", 0, 1), k); err != nil {
		t.Fatal(err)
	}
	for _, c := range []eventstore.Cover{cover, other} {
		events, prior, err := s.AppendKeyed(ctx, c, pages("p", 0, 1), key("pay-1", "pay 20", time.Hour))
		var mismatch *eventstore.KeyMismatchError
		if !errors.Is(err, eventstore.ErrKeyReused) || !errors.As(err, &mismatch) || mismatch.Key != "pay-1" {
			t.Fatalf("same key, another command, on %s: err = %v (%T); want a *KeyMismatchError naming pay-1", c, err, err)
		}
		if len(events) != 0 || prior == nil || prior.Fingerprint != k.Fingerprint {
			t.Errorf("mismatch: events %v, prior %v; want none and the stored record", sequences(events), prior)
		}
	}
	wantEvents(t, "stream", mustRead(t, ctx, s, cover, 0, 0), "p", 0, 1)
	if got := mustRead(t, ctx, s, other, 0, 0); len(got) != 0 {
		t.Errorf("mismatch stored %d events on the other cover", len(got))
	}
	if rec, _ := mustLookup(t, ctx, s, "pay-1"); rec.Fingerprint != k.Fingerprint {
		t.Error("mismatch changed the stored key")
	}
}

func testKeyConflictStoresNoKey(t *testing.T, ctx context.Context, s *keyedStore) {
	cover := newCover("orders")
	mustAppend(t, ctx, s, cover, pages("p", 0, 2))
	k := key("k", "c", time.Hour)
	_, prior, err := s.AppendKeyed(ctx, cover, numbered(pages("p", 2, 2), 1), k)
	wantConflict(t, "AppendKeyed at a taken sequence", err, cover, 1, 2)
	if prior != nil {
		t.Errorf("conflict returned prior %v", prior)
	}
	if _, ok := mustLookup(t, ctx, s, k.ID); ok {
		t.Fatal("a conflicting keyed append stored its key")
	}
	events, prior, err := s.AppendKeyed(ctx, cover, numbered(pages("p", 2, 2), 2), k)
	if err != nil || prior != nil {
		t.Fatalf("AppendKeyed after the conflict: prior %v, err %v; want stored", prior, err)
	}
	wantEvents(t, "after the conflict", events, "p", 2, 2)
}

func testKeyEmpty(t *testing.T, ctx context.Context, s *keyedStore) {
	events, prior, err := s.AppendKeyed(ctx, newCover("orders"), nil, key("k", "c", time.Hour))
	if err != nil || prior != nil || len(events) != 0 {
		t.Fatalf("AppendKeyed of no pages: %v, %v, %v; want nothing", events, prior, err)
	}
	if _, ok := mustLookup(t, ctx, s, "k"); ok {
		t.Error("an empty keyed append stored its key")
	}
}

func testKeyExpiry(t *testing.T, ctx context.Context, s *keyedStore) {
	cover := newCover("orders")
	const ttl = 300 * time.Millisecond
	if _, _, err := s.AppendKeyed(ctx, cover, pages("p", 0, 1), key("k", "first", ttl)); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustLookup(t, ctx, s, "k"); !ok {
		t.Fatal("key not found before it expires")
	}
	time.Sleep(ttl + 200*time.Millisecond)
	if rec, ok := mustLookup(t, ctx, s, "k"); ok {
		t.Fatalf("key found %v after its TTL; want it expired", rec)
	}
	// An expired key is replaced, even by another command.
	k := key("k", "second", time.Hour)
	events, prior, err := s.AppendKeyed(ctx, cover, pages("p", 1, 1), k)
	if err != nil || prior != nil {
		t.Fatalf("AppendKeyed over an expired key: prior %v, err %v; want stored", prior, err)
	}
	wantEvents(t, "over an expired key", events, "p", 1, 1)
	if rec, ok := mustLookup(t, ctx, s, "k"); !ok || rec.Fingerprint != k.Fingerprint || rec.From != 1 {
		t.Errorf("Lookup after replacing: %v, %v; want the new record", rec, ok)
	}
}

// testKeyConcurrent races 16 keyed appends of one key: exactly one stores,
// every other gets its record. sameCover puts them on one cover (they also
// race for its sequences), else each on its own (only the key is shared).
func testKeyConcurrent(t *testing.T, ctx context.Context, s *keyedStore, sameCover bool) {
	const writers = 16
	k := key("race", "c", time.Hour)
	shared := newCover("orders")
	covers := make([]eventstore.Cover, writers)
	type outcome struct {
		events []eventstore.Event
		prior  *eventstore.KeyRecord
		err    error
	}
	out := make([]outcome, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		covers[i] = shared
		if !sameCover {
			covers[i] = newCover("orders")
		}
		wg.Go(func() {
			<-start
			events, prior, err := s.AppendKeyed(ctx, covers[i], pages("p", 0, 2), k)
			out[i] = outcome{events, prior, err}
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, o := range out {
		switch {
		case o.err != nil:
			t.Errorf("writer %d: %v", i, o.err)
		case o.prior == nil && len(o.events) == 2:
			if winner >= 0 {
				t.Errorf("writers %d and %d both stored under one key", winner, i)
			}
			winner = i
		case o.prior == nil:
			t.Errorf("writer %d: %d events and no prior record", i, len(o.events))
		}
	}
	if winner < 0 {
		t.Fatal("no writer stored")
	}
	for i, o := range out {
		if i != winner && o.prior != nil && (o.prior.Cover != covers[winner] || o.prior.From != 0 || o.prior.To != 2) {
			t.Errorf("writer %d: prior %s [%d,%d); want the winner's %s [0,2)", i, o.prior.Cover, o.prior.From, o.prior.To, covers[winner])
		}
	}
	stored := 0
	for _, c := range covers {
		if !sameCover || c == covers[0] {
			stored += len(mustRead(t, ctx, s, c, 0, 0))
		}
		if sameCover {
			break
		}
	}
	if stored != 2 {
		t.Errorf("%d events stored by %d racing writers of one key; want 2 (one append)", stored, writers)
	}
}

// testKeyMany stores keys that expire at once, then more: the purge on
// write keeps up, and live keys are untouched by it.
func testKeyMany(t *testing.T, ctx context.Context, s *keyedStore) {
	cover := newCover("orders")
	const n = 3*eventstore.MaxPurge + 5
	for i := range n {
		if _, _, err := s.AppendKeyed(ctx, cover, pages("p", i, 1), key(fmt.Sprintf("old%d", i), "c", 200*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	live := key("live", "c", time.Hour)
	if _, _, err := s.AppendKeyed(ctx, cover, pages("p", n, 1), live); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for i := range 4 {
		if _, _, err := s.AppendKeyed(ctx, cover, pages("p", n+1+i, 1), key(fmt.Sprintf("later%d", i), "c", time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := mustLookup(t, ctx, s, "old0"); ok {
		t.Error("an expired key is still found")
	}
	if rec, ok := mustLookup(t, ctx, s, "live"); !ok || rec.From != n {
		t.Errorf("the live key: %v, %v; want it kept", rec, ok)
	}
	wantEvents(t, "stream", mustRead(t, ctx, s, cover, 0, 0), "p", 0, n+5)
}

func testKeyClosed(t *testing.T, ctx context.Context, s *keyedStore) {
	s.tr.check()
	s.closed = true
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.AppendKeyed(ctx, newCover("orders"), pages("p", 0, 1), key("k", "c", time.Hour))
	wantClosed(t, "AppendKeyed after Close", err)
	_, _, err = s.Lookup(ctx, "k")
	wantClosed(t, "Lookup after Close", err)
}
