package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// Projections keeps the projections projectors return and pushes them to
// watchers (subscription queries), whichever replica sharing the store
// stored them.
//
// Every projection a delivery yields is put in the store, which numbers
// the change with a store-wide version. One poller per process reads the
// changes after the last version it saw and hands each to the watchers of
// its (projector, key), in version order; it runs only while there are
// watchers, every PollInterval, and at once after a put made here. So a
// watcher sees every change of its key, in order, each once, whichever
// replica made it: about PollInterval later when another replica did.
//
// A watcher that does not take its updates (a slow client) is dropped
// once Buffer updates wait for it, rather than held in memory without
// bound; it resumes from the last version it took.
type Projections struct {
	store eventstore.Projections
	log   *slog.Logger
	opts  ProjectionOptions

	mu       sync.Mutex
	watchers map[[2]string]map[*Watcher]struct{}
	count    int
	cursor   uint64        // the last version handed to the watchers
	active   chan struct{} // closed and replaced when the first watcher comes
	kick     chan struct{}
	stopped  chan struct{} // closed when Run returns
	stopOnce sync.Once
}

// ProjectionOptions tune Projections.
type ProjectionOptions struct {
	// PollInterval is how often the store's changes are read while there
	// are watchers (default 50ms): the delay of a change made by another
	// replica.
	PollInterval time.Duration
	// Buffer is how many updates may wait for one watcher before it is
	// dropped (default 256).
	Buffer int
}

// pollPage bounds the changes read at once.
const pollPage = 256

// NewProjections returns the projections of store.
func NewProjections(store eventstore.Projections, opts ProjectionOptions, log *slog.Logger) *Projections {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	return &Projections{store: store, opts: opts, log: log.With("component", "projections"),
		watchers: map[[2]string]map[*Watcher]struct{}{}, active: make(chan struct{}), kick: make(chan struct{}, 1),
		stopped: make(chan struct{})}
}

// Put stores p (see eventstore.Projections.PutProjection) and, when it
// changed the projection, has the watchers told at once.
func (h *Projections) Put(ctx context.Context, p eventstore.Projection) error {
	_, stored, err := h.store.PutProjection(ctx, p)
	if err != nil {
		return fmt.Errorf("store projection %s of %s: %w", p.Key, p.Projector, err)
	}
	if stored {
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Watcher receives the changes of one projector's projection of one key.
type Watcher struct {
	h         *Projections
	projector string
	key       string
	client    string    // who watches (WithWatcher), for status
	since     time.Time // when the watch began
	updates   chan eventstore.Projection
	dropped   chan struct{}
	last      uint64 // the highest version handed over (guarded by h.mu)
	sent      uint64 // updates handed over (guarded by h.mu)
	gone      bool   // guarded by h.mu
}

type watcherKey struct{}

// WithWatcher returns ctx naming the client of the watches it starts (its
// authenticated identity, or its address), which Live shows.
func WithWatcher(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, watcherKey{}, client)
}

// LiveWatch is one watcher of this process, as status shows it.
type LiveWatch struct {
	Projector, Key, Client string
	Since                  time.Time
	// Version is the last version the watcher was handed; Updates how
	// many it was handed since it began.
	Version, Updates uint64
}

// Live lists this process's watchers, oldest first.
func (h *Projections) Live() []LiveWatch {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []LiveWatch
	for _, ws := range h.watchers {
		for w := range ws {
			out = append(out, LiveWatch{Projector: w.projector, Key: w.key, Client: w.client, Since: w.since, Version: w.last, Updates: w.sent})
		}
	}
	slices.SortFunc(out, func(a, b LiveWatch) int { return a.Since.Compare(b.Since) })
	return out
}

// Updates delivers the projection's changes in version order.
func (w *Watcher) Updates() <-chan eventstore.Projection { return w.updates }

// Dropped is closed when the watcher fell Buffer updates behind and was
// dropped: the updates already in Updates are still delivered; nothing
// after them is.
func (w *Watcher) Dropped() <-chan struct{} { return w.dropped }

// Close stops the watcher; it is idempotent.
func (w *Watcher) Close() {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	w.h.remove(w)
}

// remove takes w out of the watchers; h.mu is held.
func (h *Projections) remove(w *Watcher) {
	if w.gone {
		return
	}
	w.gone = true
	k := [2]string{w.projector, w.key}
	delete(h.watchers[k], w)
	if len(h.watchers[k]) == 0 {
		delete(h.watchers, k)
	}
	h.count--
}

// offer hands p to w, or drops w when it has no room; h.mu is held.
func (h *Projections) offer(w *Watcher, p eventstore.Projection) {
	if p.Version <= w.last || w.gone {
		return
	}
	select {
	case w.updates <- p:
		w.last = p.Version
		w.sent++
	default:
		h.remove(w)
		close(w.dropped)
	}
}

// Watch starts watching projector's projection of key. It first catches
// up through send, at the caller's pace: with after 0 it sends the current
// projection, if there is one; with after > 0 (a watcher resuming) every
// change of key after that version, or the current projection when those
// changes are no longer kept. Every later change then comes through the
// watcher's Updates. Close it when done.
func (h *Projections) Watch(ctx context.Context, projector, key string, after uint64, send func(eventstore.Projection) error) (*Watcher, error) {
	since := time.Now()
	sent := uint64(0)
	last, err := h.catchUp(ctx, projector, key, after, func(p eventstore.Projection) error {
		sent++
		return send(p)
	})
	if err != nil {
		return nil, err
	}
	client, _ := ctx.Value(watcherKey{}).(string)
	w := &Watcher{h: h, projector: projector, key: key, client: client, since: since, sent: sent,
		updates: make(chan eventstore.Projection, h.opts.Buffer), dropped: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	w.last = last
	k := [2]string{projector, key}
	if h.watchers[k] == nil {
		h.watchers[k] = map[*Watcher]struct{}{}
	}
	h.watchers[k][w] = struct{}{}
	h.count++
	if h.count == 1 || last < h.cursor {
		// The poller (re)reads from where this watcher is; the others
		// skip what they have had.
		h.cursor = last
	}
	if h.count == 1 {
		close(h.active)
		h.active = make(chan struct{})
	}
	select {
	case h.kick <- struct{}{}:
	default:
	}
	return w, nil
}

// catchUp sends what a new watcher is owed and returns the version it is
// up to: nothing of key lies between it and the store's head when it was
// read.
func (h *Projections) catchUp(ctx context.Context, projector, key string, after uint64, send func(eventstore.Projection) error) (uint64, error) {
	last := after
	for after > 0 {
		page, err := h.store.ProjectionChanges(ctx, last, pollPage)
		if errors.Is(err, eventstore.ErrChangesTrimmed) {
			break // send the current one
		}
		if err != nil {
			return 0, fmt.Errorf("projection changes after %d: %w", last, err)
		}
		for _, p := range page {
			if p.Projector == projector && p.Key == key {
				if err := send(p); err != nil {
					return 0, err
				}
			}
			last = p.Version
		}
		if len(page) < pollPage {
			return last, nil
		}
	}
	head, err := h.store.ProjectionVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("projection version: %w", err)
	}
	cur, ok, err := h.store.GetProjection(ctx, projector, key)
	if err != nil {
		return 0, fmt.Errorf("projection %s of %s: %w", key, projector, err)
	}
	if ok && cur.Version > last {
		if err := send(cur); err != nil {
			return 0, err
		}
	}
	// No change of key lies between cur and head: Get came after head
	// was read, so it would have returned it.
	if ok {
		return max(last, head, cur.Version), nil
	}
	return max(last, head), nil
}

// Stopped is closed when Run has returned: watchers get nothing more, and
// their streams end (the server is shutting down).
func (h *Projections) Stopped() <-chan struct{} { return h.stopped }

// Run polls the store's changes while there are watchers, until ctx ends;
// then it closes Stopped.
func (h *Projections) Run(ctx context.Context) error {
	defer h.stopOnce.Do(func() { close(h.stopped) })
	for {
		h.mu.Lock()
		n, active := h.count, h.active
		h.mu.Unlock()
		if n == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-active:
			}
			continue
		}
		h.poll(ctx)
		t := time.NewTimer(h.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-h.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// poll hands the watchers every change after the cursor.
func (h *Projections) poll(ctx context.Context) {
	for ctx.Err() == nil {
		h.mu.Lock()
		after := h.cursor
		h.mu.Unlock()
		page, err := h.store.ProjectionChanges(ctx, after, pollPage)
		if errors.Is(err, eventstore.ErrChangesTrimmed) {
			err = h.resync(ctx, after)
		}
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("reading projection changes failed; trying again", "after", after, "err", err)
			}
			return
		}
		h.mu.Lock()
		if h.cursor != after { // a watcher rewound it meanwhile
			h.mu.Unlock()
			continue
		}
		for _, p := range page {
			for w := range h.watchers[[2]string{p.Projector, p.Key}] {
				h.offer(w, p)
			}
			h.cursor = p.Version
		}
		h.mu.Unlock()
		if len(page) < pollPage {
			return
		}
	}
}

// resync handles changes after `after` that are no longer kept: each
// watcher gets its key's current projection, and the cursor moves to the
// head.
func (h *Projections) resync(ctx context.Context, after uint64) error {
	head, err := h.store.ProjectionVersion(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	var keys [][2]string
	for k := range h.watchers {
		keys = append(keys, k)
	}
	h.mu.Unlock()
	current := map[[2]string]eventstore.Projection{}
	for _, k := range keys {
		p, ok, err := h.store.GetProjection(ctx, k[0], k[1])
		if err != nil {
			return err
		}
		if ok {
			current[k] = p
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cursor != after {
		return nil
	}
	h.log.Warn("projection changes were trimmed before they were read; watchers get the current projections", "after", after, "head", head)
	for k, p := range current {
		for w := range h.watchers[k] {
			h.offer(w, p)
		}
	}
	h.cursor = head
	return nil
}
