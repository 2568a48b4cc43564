package deadline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
)

// Subscriber is the name the deadline segments' leases are kept under.
const Subscriber = "evented:deadlines"

// Options tune a Firer.
type Options struct {
	// Segments splits the deadlines (by a hash of their ID) among the
	// replicas: each segment is fired by the replica holding its lease
	// (1 to eventstore.DeadlineSlots; 0 means 4).
	Segments int
	// LeaseTTL is how long a segment's lease lasts unless renewed: a
	// replica that dies leaves its segments to the others after it (0
	// means 10s).
	LeaseTTL time.Duration
	// Poll is how often the firer looks for due deadlines (the store's
	// earliest due time, then the held segments when something is due)
	// (0 means 100ms): the firing delay is at most about this plus the
	// command's own time. A segment found with nothing due is also asked
	// for its next deadline due within Poll, and read again at that
	// deadline's due time: a deadline scheduled a Poll or more before it is
	// due starts firing at its due time, not up to a Poll later.
	Poll time.Duration
	// Batch is how many due deadlines not yet under way one read returns
	// at most (0 means 1000); a full batch is followed by the next read at
	// once.
	Batch int
	// Concurrency bounds the commands dispatched at once one by one (0
	// means 64); in groups, Concurrency/Group groups (at least minGroups) are
	// under way at once.
	Concurrency int
	// FireGroup, when set, fires the due deadlines in groups (the
	// deadlines of one aggregate in one group, in due order) instead of
	// one Dispatch each: their aggregates loaded together, their appends
	// written together (one transaction), each deadline removed with its
	// command's events.
	FireGroup GroupDispatch
	// Group is how many deadlines a group holds at most (0 means 64: on
	// PostgreSQL 64 cost 30% less CPU per firing than 16, one commit for
	// more appends).
	Group int
	// Observer, when set, is told of every firing.
	Observer Observer
}

// minGroups is the fewest groups of deadlines under way at once. While
// the store commits some groups' appends, the others are loaded and
// decided: with too few, loading and committing take turns instead of
// overlapping, and the store's group commits are small (on SQLite, 16
// groups of 64 let one transaction and one fsync take up to 1,024
// firings; 4 groups made 80 commits of 10,000 firings due at once, 16
// made 20, and the firing took about a fifth less CPU).
const minGroups = 16

// Observer is told what the Firer does (metrics). Its methods must be
// cheap and safe for concurrent use.
type Observer interface {
	// Fired reports a deadline dispatched: delay is from its due time to
	// the end of its command; err is nil when the command was applied
	// (or had been), else the refusal it got.
	Fired(domain string, delay time.Duration, err error)
}

type noObserver struct{}

func (noObserver) Fired(string, time.Duration, error) {}

// Dispatch handles a deadline's command, as the coordinator does a
// client's (its IdempotencyKey set).
type Dispatch func(ctx context.Context, cmd business.CommandBook) error

// Store is what a Firer needs of the event store.
type Store interface {
	eventstore.Deadlines
	eventstore.Segments
}

// Firer fires the due deadlines of the segments this replica holds. It is
// safe for concurrent use.
type Firer struct {
	store    Store
	replica  *delivery.Replica
	dispatch Dispatch
	opts     Options
	log      *slog.Logger

	mu       sync.Mutex
	held     map[int]*held
	inflight map[string]int        // the deadlines under way, with their segments
	underWay map[int]int           // how many are under way, by segment
	toRemove []eventstore.Deadline // fired, to remove from the store
	removing map[string]string     // their IDs → keys, until removed
	// gone holds the fired deadlines removed from the store, with when
	// their removal was known committed: a read of the due ones begun
	// before then may still return them, and must not fire them again.
	gone    map[string]goneDeadline
	reading time.Time // when the read under way began (zero: none)
	retryAt map[string]retryState

	fired atomic.Uint64
}

type held struct {
	lease   eventstore.Lease
	expires time.Time // by our clock, a margin before the store's
}

type retryState struct {
	at   time.Time
	wait time.Duration
}

// NewFirer returns a Firer over store for replica, dispatching with dispatch.
func NewFirer(store Store, replica *delivery.Replica, dispatch Dispatch, opts Options, log *slog.Logger) (*Firer, error) {
	if opts.Segments == 0 {
		opts.Segments = 4
	}
	if opts.Segments < 1 || opts.Segments > eventstore.DeadlineSlots {
		return nil, eventstore.Invalid("deadlines.segments", "must be in [1, %d], got %d", eventstore.DeadlineSlots, opts.Segments)
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 10 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = 100 * time.Millisecond
	}
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 64
	}
	if opts.Group <= 0 {
		opts.Group = 64
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	return &Firer{store: store, replica: replica, dispatch: dispatch, opts: opts, log: log.With("component", "deadlines"),
		held: map[int]*held{}, inflight: map[string]int{}, underWay: map[int]int{}, removing: map[string]string{}, gone: map[string]goneDeadline{}, retryAt: map[string]retryState{}}, nil
}

// FiredCount is how many deadlines this Firer dispatched (applied or
// refused) since it started.
func (f *Firer) FiredCount() uint64 { return f.fired.Load() }

// Held lists the segments whose leases this replica holds.
func (f *Firer) Held() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]int, 0, len(f.held))
	for s := range f.held {
		out = append(out, s)
	}
	return out
}

// Run balances the segments and fires due deadlines until ctx ends, then
// releases its leases so that the other replicas take over at once.
func (f *Firer) Run(ctx context.Context) error {
	slots := f.opts.Concurrency
	if f.opts.FireGroup != nil {
		slots = max(minGroups, f.opts.Concurrency/f.opts.Group)
	}
	sem := make(chan struct{}, slots)
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		f.removeFired(context.WithoutCancel(ctx))
		f.releaseAll()
	}()
	flushed := make(chan struct{})
	go func() {
		// Fired deadlines are removed in batches, beside the firing.
		defer close(flushed)
		t := time.NewTicker(f.opts.Poll / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f.removeFired(ctx)
			}
		}
	}()
	defer func() { <-flushed }()
	balanceEvery := f.opts.LeaseTTL / 3
	nextBalance := time.Time{}
	tick := time.NewTicker(f.opts.Poll)
	defer tick.Stop()
	for {
		if time.Now().After(nextBalance) {
			f.balance(ctx)
			nextBalance = time.Now().Add(balanceEvery)
		}
		var wake time.Time
		for {
			more, next := f.fireOnce(ctx, sem, &wg)
			if !next.IsZero() && (wake.IsZero() || next.Before(wake)) {
				wake = next
			}
			if !more || ctx.Err() != nil {
				break // else a full batch: read the next one at once
			}
		}
		var early <-chan time.Time // the next deadline's due time, if before the tick
		var timer *time.Timer
		if !wake.IsZero() {
			timer = time.NewTimer(time.Until(wake))
			early = timer.C
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		case <-early:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// nothingDue reports that no pending deadline is due at now, by the
// store's earliest due time (eventstore.DeadlineHorizon: one read of an
// index instead of two reads per held segment, at every poll of an idle
// firer), and when the earliest is due if that is within a Poll (zero
// otherwise). A store without it, or a failed read, says false: the
// segments are read.
func (f *Firer) nothingDue(ctx context.Context, now time.Time) (next time.Time, idle bool) {
	h, ok := f.store.(eventstore.DeadlineHorizon)
	if !ok {
		return time.Time{}, false
	}
	first, pending, err := h.EarliestDue(ctx)
	switch {
	case err != nil:
		return time.Time{}, false
	case !pending, first.After(now.Add(f.opts.Poll)):
		return time.Time{}, true
	case first.After(now):
		return first, true
	}
	return time.Time{}, false // something is due, maybe in another replica's segment
}

// fireOnce reads the due deadlines of every held segment and starts their
// commands; it reports whether a read returned a full batch, and the
// earliest due time, within a Poll, of a segment with nothing due yet (zero
// when none).
func (f *Firer) fireOnce(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup) (more bool, next time.Time) {
	now := time.Now()
	if next, idle := f.nothingDue(ctx, now); idle {
		return false, next
	}
	f.mu.Lock()
	f.reading = now
	defer func() { f.mu.Lock(); f.reading = time.Time{}; f.mu.Unlock() }()
	segs := make(map[int]eventstore.Lease, len(f.held))
	for s, h := range f.held {
		if now.Before(h.expires) {
			segs[s] = h.lease
		}
	}
	// A read returns the deadlines under way too (they are removed when
	// fired): it asks for that many more than a batch, so that a full read
	// still holds a batch of others, when there are. Else, with more under
	// way than a batch, a read could return only those, and the others
	// would wait for the next poll.
	limits := make(map[int]int, len(segs))
	for s := range segs {
		limits[s] = f.opts.Batch + f.underWay[s] + len(f.removing)
	}
	f.mu.Unlock()
	for seg, l := range segs {
		limit := limits[seg]
		due, err := f.store.DueDeadlines(ctx, seg, l.Of, now, limit)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Warn("reading due deadlines failed", "segment", seg, "err", err)
			}
			continue
		}
		if len(due) == 0 {
			// Nothing due: when the next one is due before the next
			// read, it is read at its due time.
			if ahead, err := f.store.DueDeadlines(ctx, seg, l.Of, now.Add(f.opts.Poll), 1); err == nil && len(ahead) == 1 &&
				ahead[0].Due.After(now) && (next.IsZero() || ahead[0].Due.Before(next)) {
				next = ahead[0].Due
			}
			continue
		}
		started := 0
		if f.opts.FireGroup != nil {
			var ready []eventstore.Deadline
			for _, d := range due {
				if f.start(d, seg, now) {
					ready = append(ready, d)
				}
			}
			started = len(ready)
			for _, g := range groups(ready, f.opts.Group) {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					for _, d := range ready {
						f.done(d.ID) // those started are done when they end
					}
					return false, time.Time{}
				}
				ready = ready[len(g):]
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					f.fireGroup(ctx, g)
				}()
			}
			if len(due) == limit && started > 0 {
				more = true
			}
			continue
		}
		for _, d := range due {
			if !f.start(d, seg, now) {
				continue
			}
			started++
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				f.done(d.ID)
				return false, time.Time{}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				f.fire(ctx, d)
			}()
		}
		if len(due) == limit && started > 0 {
			more = true
		}
	}
	return more, next
}

// goneDeadline is a fired deadline's key and when its removal was known
// committed.
type goneDeadline struct {
	key string
	at  time.Time
}

// start marks d in flight unless it is already, was fired and removed
// since the read that returned it began (at now), or waits for a retry.
func (f *Firer) start(d eventstore.Deadline, seg int, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.inflight[d.ID]; ok || f.removing[d.ID] == d.Key {
		return false // under way, or fired and being removed
	}
	if g, ok := f.gone[d.ID]; ok && g.key == d.Key && !g.at.Before(now) {
		return false // fired and removed since the read that returned it began
	}
	if r, ok := f.retryAt[d.ID]; ok && now.Before(r.at) {
		return false
	}
	f.inflight[d.ID] = seg
	f.underWay[seg]++
	return true
}

func (f *Firer) done(id string) {
	f.mu.Lock()
	if seg, ok := f.inflight[id]; ok {
		delete(f.inflight, id)
		if f.underWay[seg]--; f.underWay[seg] == 0 {
			delete(f.underWay, seg)
		}
	}
	f.mu.Unlock()
}

// groups splits ds (earliest first) into groups of about size, the
// deadlines of one aggregate together in their order (a group may exceed
// size by the deadlines of its last aggregate). The groups hold ds's
// deadlines in ds's order of aggregates' first deadlines, so that
// consuming them front to back consumes ds.
func groups(ds []eventstore.Deadline, size int) [][]eventstore.Deadline {
	byCover := make(map[eventstore.Cover][]eventstore.Deadline, len(ds))
	var order []eventstore.Cover
	for _, d := range ds {
		if _, ok := byCover[d.Cover]; !ok {
			order = append(order, d.Cover)
		}
		byCover[d.Cover] = append(byCover[d.Cover], d)
	}
	ordered := ds[:0:0]
	var out [][]eventstore.Deadline
	start := 0
	for _, c := range order {
		ordered = append(ordered, byCover[c]...)
		if len(ordered)-start >= size {
			out = append(out, ordered[start:])
			start = len(ordered)
		}
	}
	if start < len(ordered) {
		out = append(out, ordered[start:])
	}
	copy(ds, ordered)
	return out
}

// fireGroup fires ds through FireGroup and settles each as fire does.
func (f *Firer) fireGroup(ctx context.Context, ds []eventstore.Deadline) {
	fs := make([]Firing, 0, len(ds))
	for _, d := range ds {
		cmd, err := Decode(d)
		if err != nil {
			f.settle(ctx, d, Outcome{Err: err})
			continue
		}
		fs = append(fs, Firing{Deadline: d, Command: cmd})
	}
	if len(fs) == 0 {
		return
	}
	outs := f.opts.FireGroup(ctx, fs)
	for i, fr := range fs {
		f.settle(ctx, fr.Deadline, outs[i])
	}
}

// fire dispatches d's command and removes d when it was applied (or
// refused for good); a failure that may pass is retried with backoff.
func (f *Firer) fire(ctx context.Context, d eventstore.Deadline) {
	cmd, err := Decode(d)
	if err == nil {
		err = f.dispatch(ctx, cmd)
	}
	f.settle(ctx, d, Outcome{Err: err})
}

// settle ends d's firing with its outcome: d is done, removed unless the
// command's transaction removed it (o.Removed), or retried with backoff
// after a failure that may pass.
func (f *Firer) settle(ctx context.Context, d eventstore.Deadline, o Outcome) {
	defer f.done(d.ID)
	err := o.Err
	if ctx.Err() != nil {
		return // stopping: fired again by whoever holds the segment next
	}
	if err != nil && transient(err) {
		f.mu.Lock()
		r := f.retryAt[d.ID]
		r.wait = min(max(2*r.wait, 100*time.Millisecond), time.Minute)
		r.at = time.Now().Add(r.wait)
		f.retryAt[d.ID] = r
		f.mu.Unlock()
		f.log.Warn("deadline's command failed; retrying", "id", d.ID, "cover", d.Cover, "retry_in", r.wait.String(), "err", err)
		return
	}
	if err != nil {
		f.log.Warn("deadline's command refused; the deadline is done", "id", d.ID, "cover", d.Cover, "err", err)
	}
	f.opts.Observer.Fired(d.Cover.Domain, time.Since(d.Due), err)
	f.fired.Add(1)
	f.mu.Lock()
	delete(f.retryAt, d.ID)
	if o.Removed {
		f.gone[d.ID] = goneDeadline{key: d.Key, at: time.Now()} // removed with its events, committed by now
	} else {
		f.toRemove = append(f.toRemove, d)
		f.removing[d.ID] = d.Key
	}
	f.mu.Unlock()
}

// removeFired removes the deadlines fired since the last call, in one
// write. Those it fails to remove stay pending and are fired again, which
// their idempotency keys answer without applying them twice.
func (f *Firer) removeFired(ctx context.Context) {
	f.mu.Lock()
	ds := f.toRemove
	f.toRemove = nil
	// Only a read begun before a removal can return its deadline.
	since := f.reading
	if since.IsZero() {
		since = time.Now()
	}
	for id, g := range f.gone {
		if g.at.Before(since) {
			delete(f.gone, id)
		}
	}
	f.mu.Unlock()
	for len(ds) > 0 {
		n := min(len(ds), 1000)
		if err := f.store.Fired(ctx, ds[:n]); err != nil {
			f.log.Warn("deadlines fired, not removed; they are fired again (applied once)", "count", n, "err", err)
		}
		f.mu.Lock()
		at := time.Now()
		for _, d := range ds[:n] {
			if f.removing[d.ID] == d.Key {
				delete(f.removing, d.ID)
				f.gone[d.ID] = goneDeadline{key: d.Key, at: at}
			}
		}
		f.mu.Unlock()
		ds = ds[n:]
	}
}

// transient reports whether err may pass on its own: the store or the
// service unavailable, an outcome unknown, a conflict, a timeout.
func transient(err error) bool {
	var u interface{ Unavailable() bool }
	if errors.As(err, &u) && u.Unavailable() {
		return true
	}
	return errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, eventstore.ErrOutcomeUnknown) ||
		errors.Is(err, eventstore.ErrConflict) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, eventstore.ErrClosed)
}

// balance renews the held leases, gives back those beyond this replica's
// share and takes free ones up to it.
func (f *Firer) balance(ctx context.Context) {
	members, merr := f.replica.Members(ctx)
	f.mu.Lock()
	segs := make(map[int]*held, len(f.held))
	for s, h := range f.held {
		segs[s] = h
	}
	f.mu.Unlock()
	for s, h := range segs {
		asked := time.Now()
		l, err := f.store.Renew(ctx, h.lease, f.opts.LeaseTTL)
		switch {
		case errors.Is(err, eventstore.ErrLeaseLost):
			f.log.Warn("deadline segment lost to another replica", "segment", s)
			f.drop(s)
		case err != nil:
			if time.Now().After(h.expires) {
				f.log.Warn("deadline segment lease could not be renewed before it expired; stopping it", "segment", s, "err", err)
				f.drop(s)
			}
		default:
			f.mu.Lock()
			f.held[s] = &held{lease: l, expires: asked.Add(f.opts.LeaseTTL * 9 / 10)}
			f.mu.Unlock()
		}
	}
	if merr != nil || ctx.Err() != nil {
		return
	}
	target := delivery.Share(members, f.replica.ID(), f.opts.Segments)
	f.mu.Lock()
	count := len(f.held)
	var extra []*held
	for s := f.opts.Segments - 1; s >= 0 && count-len(extra) > target; s-- {
		if h, ok := f.held[s]; ok {
			extra = append(extra, h)
			delete(f.held, s)
		}
	}
	f.mu.Unlock()
	for _, h := range extra {
		f.log.Info("giving a deadline segment to another replica", "segment", h.lease.Segment, "share", target)
		if err := f.store.Release(ctx, h.lease); err != nil {
			f.log.Warn("releasing a deadline segment failed; it lapses", "segment", h.lease.Segment, "err", err)
		}
	}
	for s := 0; s < f.opts.Segments && count < target; s++ {
		f.mu.Lock()
		_, mine := f.held[s]
		f.mu.Unlock()
		if mine {
			continue
		}
		asked := time.Now()
		l, ok, err := f.store.Acquire(ctx, Subscriber, s, f.opts.Segments, f.replica.ID(), f.opts.LeaseTTL, 0)
		if err != nil {
			f.log.Warn("acquiring a deadline segment failed", "segment", s, "err", err)
			return
		}
		if !ok {
			continue
		}
		f.log.Info("deadline segment acquired", "segment", s, "of", f.opts.Segments, "token", l.Token)
		f.mu.Lock()
		f.held[s] = &held{lease: l, expires: asked.Add(f.opts.LeaseTTL * 9 / 10)}
		f.mu.Unlock()
		count++
	}
}

func (f *Firer) drop(s int) {
	f.mu.Lock()
	delete(f.held, s)
	f.mu.Unlock()
}

func (f *Firer) releaseAll() {
	f.mu.Lock()
	leases := f.held
	f.held = map[int]*held{}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for s, h := range leases {
		if err := f.store.Release(ctx, h.lease); err != nil {
			f.log.Warn("releasing a deadline segment failed; it lapses", "segment", s, "err", err)
		}
	}
}

// String describes the firer for logs.
func (f *Firer) String() string {
	return fmt.Sprintf("deadlines of %s (%d segments)", f.replica.ID(), f.opts.Segments)
}
