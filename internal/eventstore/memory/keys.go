package memory

import (
	"context"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Idempotent = (*Store)(nil)

// keyed is one expiry of the purge queue: keys in the order they were
// stored. A key replaced since is skipped when its entry comes up.
type keyed struct {
	id      string
	expires time.Time
}

// AppendKeyed implements eventstore.Idempotent: under the store's one lock,
// the key check, the append and the key's storing are one step.
func (s *Store) AppendKeyed(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key eventstore.Key) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	if len(pages) == 0 {
		return nil, nil, nil
	}
	return s.appendKeyedLocked(cover, pages, key)
}

// appendKeyedLocked is AppendKeyed with s.mu held and pages not empty.
func (s *Store) appendKeyedLocked(cover eventstore.Cover, pages []eventstore.Page, key eventstore.Key) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	now := time.Now()
	s.purgeKeys(now)
	if rec, ok := s.liveKey(key.ID, now); ok {
		if rec.Fingerprint != key.Fingerprint {
			return nil, &rec, &eventstore.KeyMismatchError{Key: key.ID}
		}
		return nil, &rec, nil
	}
	events, err := s.appendLocked(cover, pages, now)
	if err != nil {
		return nil, nil, err
	}
	rec := eventstore.KeyRecord{
		ID: key.ID, Fingerprint: key.Fingerprint, Cover: cover,
		From: events[0].Sequence, To: events[len(events)-1].Sequence + 1,
		CreatedAt: now.UTC(), ExpiresAt: now.Add(key.TTL).UTC(),
	}
	s.keys[key.ID] = rec
	s.expiry = append(s.expiry, keyed{key.ID, rec.ExpiresAt})
	return events, nil, nil
}

// Lookup implements eventstore.Idempotent.
func (s *Store) Lookup(ctx context.Context, id string) (eventstore.KeyRecord, bool, error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return eventstore.KeyRecord{}, false, err
	}
	defer unlock()
	rec, ok := s.liveKey(id, time.Now())
	return rec, ok, nil
}

func (s *Store) liveKey(id string, now time.Time) (eventstore.KeyRecord, bool) {
	rec, ok := s.keys[id]
	if !ok || !now.Before(rec.ExpiresAt) {
		return eventstore.KeyRecord{}, false
	}
	return rec, true
}

// purgeKeys drops up to MaxPurge expired keys from the front of the queue.
func (s *Store) purgeKeys(now time.Time) {
	n := 0
	for n < len(s.expiry) && n < eventstore.MaxPurge && !now.Before(s.expiry[n].expires) {
		if rec, ok := s.keys[s.expiry[n].id]; ok && rec.ExpiresAt.Equal(s.expiry[n].expires) {
			delete(s.keys, s.expiry[n].id)
		}
		n++
	}
	s.expiry = s.expiry[n:]
}
