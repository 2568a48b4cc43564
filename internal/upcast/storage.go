package upcast

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
)

// DefaultCacheBytes bounds the cache of upcast events when Options leaves
// it 0.
const DefaultCacheBytes = 32 << 20

// Options tune Storage.
type Options struct {
	// CacheBytes bounds the upcast events kept (payload and type URL
	// bytes plus a fixed overhead each); 0 means DefaultCacheBytes, a
	// negative value disables the cache.
	CacheBytes int64
}

// Storage returns st with every event it gives out upcast by r: Read,
// ReadLog, ParkedEvents and the events Append and AppendKeyed return.
// Nothing stored is changed. When r has no step, st is returned as it is.
func Storage(st delivery.Storage, r *Registry, o Options) delivery.Storage {
	if r.Empty() {
		return st
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	return &Store{Storage: st, reg: r, cache: newCache(o.CacheBytes)}
}

// Store is the Storage that upcasts; Stats tells what it did.
type Store struct {
	delivery.Storage
	reg            *Registry
	cache          *cache
	calls          atomic.Uint64 // events sent through upcasters
	hits           atomic.Uint64
	appendFailures atomic.Uint64
}

// Stats counts events upcast by calling upcasters, events served from the
// cache, and appends whose events were returned as stored because an
// upcaster failed.
type Stats struct{ Upcast, CacheHits, AppendFailures uint64 }

// Stats returns the counters so far.
func (s *Store) Stats() Stats {
	return Stats{Upcast: s.calls.Load(), CacheHits: s.hits.Load(), AppendFailures: s.appendFailures.Load()}
}

func (s *Store) Read(ctx context.Context, cover eventstore.Cover, from, to uint32) ([]eventstore.Event, error) {
	events, err := s.Storage.Read(ctx, cover, from, to)
	if err != nil {
		return nil, err
	}
	return s.events(ctx, cover, events)
}

// Append returns the stored events upcast. The append is committed before
// upcasting: when an upcaster fails, the events are returned as stored
// rather than an error that would claim nothing was stored.
func (s *Store) Append(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page) ([]eventstore.Event, error) {
	events, err := s.Storage.Append(ctx, cover, pages)
	if err != nil {
		return events, err
	}
	return s.stored(ctx, cover, events), nil
}

// AppendKeyed is Append with an idempotency key.
func (s *Store) AppendKeyed(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key eventstore.Key) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	events, prior, err := s.Storage.AppendKeyed(ctx, cover, pages, key)
	if err != nil || len(events) == 0 {
		return events, prior, err
	}
	return s.stored(ctx, cover, events), prior, nil
}

// stored upcasts what an append stored, or leaves it as stored when an
// upcaster fails (counted in Stats.AppendFailures).
func (s *Store) stored(ctx context.Context, cover eventstore.Cover, events []eventstore.Event) []eventstore.Event {
	up, err := s.events(ctx, cover, events)
	if err != nil {
		s.appendFailures.Add(1)
		return events
	}
	return up
}

func (s *Store) ReadLog(ctx context.Context, after uint64, limit int) ([]eventstore.Logged, error) {
	logged, err := s.Storage.ReadLog(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	logged = slices.Clone(logged) // upcast in place, not in the backend's slice
	return s.logged(ctx, logged, func(i int) *eventstore.Logged {
		if i >= len(logged) {
			return nil
		}
		return &logged[i]
	})
}

func (s *Store) ParkedEvents(ctx context.Context, subscriber string) ([]eventstore.Parked, error) {
	parked, err := s.Storage.ParkedEvents(ctx, subscriber)
	if err != nil {
		return nil, err
	}
	parked = slices.Clone(parked)
	_, err = s.logged(ctx, nil, func(i int) *eventstore.Logged {
		if i >= len(parked) {
			return nil
		}
		return &parked[i].Logged
	})
	return parked, err
}

// logged upcasts, in place, the events at(0), at(1), … (until nil) of a
// log read, grouped by domain.
func (s *Store) logged(ctx context.Context, out []eventstore.Logged, at func(int) *eventstore.Logged) ([]eventstore.Logged, error) {
	var todo map[string][]*eventstore.Logged
	for i := 0; ; i++ {
		l := at(i)
		if l == nil {
			break
		}
		if !s.reg.Needs(l.Cover.Domain, l.TypeURL, l.SchemaVersion) {
			continue
		}
		if s.cached(l.Cover, &l.Event) {
			continue
		}
		if todo == nil {
			todo = map[string][]*eventstore.Logged{}
		}
		todo[l.Cover.Domain] = append(todo[l.Cover.Domain], l)
	}
	for domain, ls := range todo {
		in := make([]Event, len(ls))
		for i, l := range ls {
			in[i] = Event{TypeURL: l.TypeURL, Version: l.SchemaVersion, Payload: l.Payload}
		}
		up, err := s.reg.Apply(ctx, domain, in)
		if err != nil {
			return nil, err
		}
		s.calls.Add(uint64(len(in)))
		for i, l := range ls {
			s.cache.put(l.Cover, l.Event, up[i])
			l.TypeURL, l.SchemaVersion, l.Payload = up[i].TypeURL, up[i].Version, up[i].Payload
		}
	}
	return out, nil
}

// events upcasts the events of one cover; the slice is copied when any
// changes (a backend may share it).
func (s *Store) events(ctx context.Context, cover eventstore.Cover, events []eventstore.Event) ([]eventstore.Event, error) {
	var idx []int
	copied := false
	for i := range events {
		if !s.reg.Needs(cover.Domain, events[i].TypeURL, events[i].SchemaVersion) {
			continue
		}
		if !copied {
			events, copied = append([]eventstore.Event(nil), events...), true
		}
		if s.cached(cover, &events[i]) {
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return events, nil
	}
	in := make([]Event, len(idx))
	for j, i := range idx {
		in[j] = Event{TypeURL: events[i].TypeURL, Version: events[i].SchemaVersion, Payload: events[i].Payload}
	}
	up, err := s.reg.Apply(ctx, cover.Domain, in)
	if err != nil {
		return nil, err
	}
	s.calls.Add(uint64(len(in)))
	for j, i := range idx {
		s.cache.put(cover, events[i], up[j])
		events[i].TypeURL, events[i].SchemaVersion, events[i].Payload = up[j].TypeURL, up[j].Version, up[j].Payload
	}
	return events, nil
}

// cached replaces e by its cached upcast form, if any.
func (s *Store) cached(cover eventstore.Cover, e *eventstore.Event) bool {
	up, ok := s.cache.get(cover, *e)
	if !ok {
		return false
	}
	s.hits.Add(1)
	e.TypeURL, e.SchemaVersion, e.Payload = up.TypeURL, up.Version, up.Payload
	return true
}

// cache keeps upcast events by stored event (cover, sequence), least
// recently used first out past its byte bound. An entry also remembers the
// stored type, version and payload length, so that a different event
// stored later at the same place (a store reset under a running process)
// is not answered from it.
type cache struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	order *list.List // of *entry, most recent at the front
	byRef map[eventstore.EventRef]*list.Element
}

type entry struct {
	ref        eventstore.EventRef
	storedType string
	storedVer  uint32
	storedLen  int
	up         Event
	size       int64
}

const entryOverhead = 128

func newCache(max int64) *cache {
	return &cache{max: max, order: list.New(), byRef: map[eventstore.EventRef]*list.Element{}}
}

func (c *cache) get(cover eventstore.Cover, stored eventstore.Event) (Event, bool) {
	if c.max < 0 {
		return Event{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byRef[eventstore.EventRef{Cover: cover, Sequence: stored.Sequence}]
	if !ok {
		return Event{}, false
	}
	e := el.Value.(*entry)
	if e.storedType != stored.TypeURL || e.storedVer != stored.SchemaVersion || e.storedLen != len(stored.Payload) {
		return Event{}, false
	}
	c.order.MoveToFront(el)
	return e.up, true
}

func (c *cache) put(cover eventstore.Cover, stored eventstore.Event, up Event) {
	if c.max < 0 {
		return
	}
	size := int64(len(up.Payload)+len(up.TypeURL)+len(stored.TypeURL)) + entryOverhead
	if size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ref := eventstore.EventRef{Cover: cover, Sequence: stored.Sequence}
	if el, ok := c.byRef[ref]; ok {
		c.bytes -= el.Value.(*entry).size
		c.order.Remove(el)
	}
	c.byRef[ref] = c.order.PushFront(&entry{ref: ref, storedType: stored.TypeURL, storedVer: stored.SchemaVersion, storedLen: len(stored.Payload), up: up, size: size})
	c.bytes += size
	for c.bytes > c.max {
		last := c.order.Back()
		e := last.Value.(*entry)
		c.order.Remove(last)
		delete(c.byRef, e.ref)
		c.bytes -= e.size
	}
}

// CacheLen is the number of cached events and their bytes (tests, metrics).
func (s *Store) CacheLen() (events int, bytes int64) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.order.Len(), s.cache.bytes
}

var (
	_ eventstore.GroupAppender = (*Store)(nil)
	_ eventstore.BookLoader    = (*Store)(nil)
)

// AppendGroup appends through the store's own AppendGroup (one append at
// a time when it has none) and returns the stored events upcast, as Append
// does.
func (s *Store) AppendGroup(ctx context.Context, as []eventstore.GroupAppend) []eventstore.GroupResult {
	var res []eventstore.GroupResult
	if g, ok := s.Storage.(eventstore.GroupAppender); ok {
		res = g.AppendGroup(ctx, as)
	} else {
		res = eventstore.AppendEach(ctx, s.Storage, as)
	}
	for i := range res {
		if res[i].Err == nil && len(res[i].Events) > 0 {
			res[i].Events = s.stored(ctx, as[i].Cover, res[i].Events)
		}
	}
	return res
}

// LoadBooks loads through the store's own LoadBooks (one Load each when it
// has none) and upcasts each book's events, as Read does.
func (s *Store) LoadBooks(ctx context.Context, covers []eventstore.Cover) ([]eventstore.Book, error) {
	books, err := eventstore.LoadBooks(ctx, s.Storage, s.Storage, covers)
	if err != nil {
		return nil, err
	}
	for i := range books {
		if books[i].Events, err = s.events(ctx, books[i].Cover, books[i].Events); err != nil {
			return nil, err
		}
	}
	return books, nil
}
