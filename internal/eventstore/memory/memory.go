// Package memory is the in-memory event and snapshot store: the fake every
// other package tests against, and the backend of a throwaway server.
//
// It passes the same conformance suites as the durable backends
// (eventstore/storetest), so code tested against it behaves the same on
// SQLite or PostgreSQL. Nothing survives the process. One mutex guards all
// streams, which keeps "exactly one concurrent append wins" obvious; payloads
// are copied on the way in and out, so callers can neither change stored
// events nor see each other's buffers.
package memory

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// Store keeps event streams and snapshots in maps. It implements
// eventstore.Store, eventstore.Snapshots, eventstore.Log,
// eventstore.Checkpoints, eventstore.Parking, eventstore.Segments and
// eventstore.Marks, and is safe for concurrent use.
type Store struct {
	mu        sync.RWMutex
	closed    bool
	streams   map[eventstore.Cover][]eventstore.Event
	snapshots map[eventstore.Cover]eventstore.Snapshot
	older     map[eventstore.Cover][]eventstore.Snapshot // kept beside the latest, newest first
	log       []eventstore.Logged                        // position i+1 at index i
	appended  chan struct{}                              // closed and replaced at each append
	cps       map[string]uint64
	parked    map[string]map[uint64]eventstore.Parked
	leases    map[segmentKey]eventstore.Lease
	members   map[string]time.Time // owner → expiry
	marks     map[markKey]markRow
	deadlines map[string]eventstore.Deadline

	// now is the clock of leases, members and mark claims; tests in this package may
	// replace it before first use.
	now    func() time.Time
	keys   map[string]eventstore.KeyRecord // idempotency keys, expired ones until purged
	expiry []keyed                         // keys in the order stored, for purging
	proj   projections
}

var (
	_ eventstore.Store             = (*Store)(nil)
	_ eventstore.Snapshots         = (*Store)(nil)
	_ eventstore.SnapshotRetention = (*Store)(nil)
	_ eventstore.Log               = (*Store)(nil)
	_ eventstore.Checkpoints       = (*Store)(nil)
	_ eventstore.Parking           = (*Store)(nil)
	_ eventstore.Segments          = (*Store)(nil)
	_ eventstore.Marks             = (*Store)(nil)
)

// rlock takes the read lock of an open store; call unlock when done.
func (s *Store) rlock(ctx context.Context) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, eventstore.ErrClosed
	}
	return s.mu.RUnlock, nil
}

// lock takes the write lock of an open store; call unlock when done.
func (s *Store) lock(ctx context.Context) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, eventstore.ErrClosed
	}
	return s.mu.Unlock, nil
}

// New returns an empty store.
func New() *Store {
	return &Store{
		streams:   map[eventstore.Cover][]eventstore.Event{},
		snapshots: map[eventstore.Cover]eventstore.Snapshot{},
		older:     map[eventstore.Cover][]eventstore.Snapshot{},
		appended:  make(chan struct{}),
		cps:       map[string]uint64{},
		parked:    map[string]map[uint64]eventstore.Parked{},
		leases:    map[segmentKey]eventstore.Lease{},
		members:   map[string]time.Time{},
		marks:     map[markKey]markRow{},
		now:       time.Now,
		keys:      map[string]eventstore.KeyRecord{},
		deadlines: map[string]eventstore.Deadline{},
	}
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page) ([]eventstore.Event, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if len(pages) == 0 {
		return nil, nil
	}
	return s.appendLocked(cover, pages, time.Now())
}

// appendLocked appends pages to cover's stream; s.mu is held.
func (s *Store) appendLocked(cover eventstore.Cover, pages []eventstore.Page, now time.Time) ([]eventstore.Event, error) {
	stream := s.streams[cover]
	events, err := eventstore.Assign(cover, uint32(len(stream)), pages, now)
	if err != nil {
		return nil, err
	}
	for i := range events {
		events[i].Payload = bytes.Clone(events[i].Payload)
	}
	s.streams[cover] = append(stream, events...)
	for _, e := range events {
		s.log = append(s.log, eventstore.Logged{Position: uint64(len(s.log) + 1), Cover: cover, Event: e})
	}
	close(s.appended)
	s.appended = make(chan struct{})
	return cloneEvents(events), nil
}

// Read implements eventstore.Store.
func (s *Store) Read(ctx context.Context, cover eventstore.Cover, from, to uint32) ([]eventstore.Event, error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	stream := s.streams[cover]
	end := uint32(len(stream))
	if to != 0 && to < end {
		end = to
	}
	if from >= end {
		return nil, nil
	}
	return cloneEvents(stream[from:end]), nil
}

// Roots implements eventstore.Store. fn runs without the lock held, so it
// may call the store.
func (s *Store) Roots(ctx context.Context, fn func(eventstore.Cover) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return eventstore.ErrClosed
	}
	covers := make([]eventstore.Cover, 0, len(s.streams))
	for c := range s.streams {
		covers = append(covers, c)
	}
	s.mu.RUnlock()

	slices.SortFunc(covers, func(a, b eventstore.Cover) int {
		if c := strings.Compare(a.Domain, b.Domain); c != 0 {
			return c
		}
		return bytes.Compare(a.Root[:], b.Root[:])
	})
	for _, c := range covers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// Close implements eventstore.Store. The data stays in memory until the
// Store is garbage collected.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Snapshot implements eventstore.Snapshots.
func (s *Store) Snapshot(ctx context.Context, cover eventstore.Cover) (eventstore.Snapshot, bool, error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return eventstore.Snapshot{}, false, err
	}
	defer unlock()
	snap, ok := s.snapshots[cover]
	snap.State = bytes.Clone(snap.State)
	return snap, ok, nil
}

// PutSnapshot implements eventstore.Snapshots.
func (s *Store) PutSnapshot(ctx context.Context, cover eventstore.Cover, snap eventstore.Snapshot) error {
	return s.PutSnapshotKeeping(ctx, cover, snap, 1)
}

// PutSnapshotKeeping implements eventstore.SnapshotRetention.
func (s *Store) PutSnapshotKeeping(ctx context.Context, cover eventstore.Cover, snap eventstore.Snapshot, keep int) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	old, had := s.snapshots[cover]
	if had && old.Sequence > snap.Sequence {
		return nil
	}
	if snap.CreatedAt.IsZero() {
		snap.CreatedAt = time.Now()
	}
	snap.CreatedAt = snap.CreatedAt.UTC()
	snap.State = bytes.Clone(snap.State)
	s.snapshots[cover] = snap
	older := s.older[cover]
	if had && old.Sequence < snap.Sequence {
		older = append([]eventstore.Snapshot{old}, older...)
	}
	if keep-1 < len(older) {
		older = older[:max(keep-1, 0)]
	}
	if len(older) == 0 {
		delete(s.older, cover)
	} else {
		s.older[cover] = older
	}
	return nil
}

// SnapshotHistory implements eventstore.SnapshotRetention.
func (s *Store) SnapshotHistory(ctx context.Context, cover eventstore.Cover) ([]eventstore.Snapshot, error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	latest, ok := s.snapshots[cover]
	if !ok {
		return nil, nil
	}
	out := append([]eventstore.Snapshot{latest}, s.older[cover]...)
	for i := range out {
		out[i].State = bytes.Clone(out[i].State)
	}
	return out, nil
}

func cloneEvents(events []eventstore.Event) []eventstore.Event {
	out := slices.Clone(events)
	for i := range out {
		out[i].Payload = bytes.Clone(out[i].Payload)
	}
	return out
}
