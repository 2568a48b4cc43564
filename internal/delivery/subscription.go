package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/outage"
)

// Subscription delivers the store's events to one consumer. Its work is
// split into Options.Segments segments by aggregate; each replica sharing
// the store runs the segments whose leases it holds, and takes its fair
// share of them: segments of replicas that leave or die are taken over,
// and a replica that joins is given some. Create it with New and run it
// with Run; it is safe for concurrent use.
type Subscription struct {
	consumer Consumer
	// async is the consumer when it is an AsyncConsumer that segments
	// hand books to asynchronously (not Synchronous, no History); flight
	// then bounds its books in flight to Workers.
	async    AsyncConsumer
	flight   *flight
	store    Storage
	dispatch Dispatcher
	opts     Options
	log      *slog.Logger
	claims   claims
	wake     chan struct{} // kick: look at the leases now
	replica  *Replica
	// ownReplica: the replica is this subscription's alone, so it leaves
	// when the subscription stops.
	ownReplica bool
	started    chan struct{} // closed after Run's first turn at the leases
	once       sync.Once

	prepared bool
	start    uint64 // where a segment never seen before starts

	mu          sync.Mutex
	running     map[int]*runner // segments this replica delivers
	changed     chan struct{}   // closed and replaced by forceWake
	readerWaits atomic.Bool     // the reader waits for a segment's room
	progress    chan struct{}   // closed and replaced when a segment moves on, while waits wait
	waiters     atomic.Int64    // the waits under way (WaitFor)
	multiUntil  time.Time       // other replicas were seen: marks are kept until then
	// marked counts this process's live claims of delivery marks (inline
	// deliveries begun while another replica owned the segment): the
	// owner's ID is this replica's, yet its segment must wait for them.
	marked      map[eventstore.Cover]int
	leases      []eventstore.Lease
	replay      Replay // the last reset, as last read from the store
	version     versionState
	oldest      time.Time // commit time of the first event after the checkpoint, as of the last look
	rate        float64   // events/s delivered by this replica (moving average)
	rateAt      time.Time // when rate was last updated
	rateCount   uint64    // delivered at rateAt
	delivered   uint64
	retries     uint64
	parkedCount int
	lastErr     string
}

// runner is a segment being delivered and how to stop it.
type runner struct {
	seg      *segment
	stopRead chan struct{}
	stopOnce sync.Once
	leaving  bool        // being given to another replica (guarded by Subscription.mu)
	lost     atomic.Bool // its lease is gone; stopping in the background
	cancel   context.CancelFunc
	done     chan struct{}
	expires  time.Time // by the local clock, conservatively
}

// New returns a subscription of consumer to store. dispatch executes the
// commands a saga returns (nil when the consumer is not a saga).
func New(consumer Consumer, store Storage, dispatch Dispatcher, opts Options, log *slog.Logger) *Subscription {
	opts = opts.withDefaults()
	replica, own := opts.Replica, false
	if replica == nil {
		replica, own = NewReplica(store, opts.Owner, opts.LeaseTTL), true
	}
	opts.Owner = replica.ID()
	if opts.Outage == nil {
		opts.Outage = outage.New(log.With("component", "delivery")).Service("consumer", consumer.Name(), "")
	}
	var books *flight
	async, ok := consumer.(AsyncConsumer)
	if ok && !opts.Synchronous && !opts.History {
		books = newFlight(opts.Workers)
	} else {
		async = nil
	}
	return &Subscription{
		async:      async,
		flight:     books,
		replica:    replica,
		ownReplica: own,
		consumer:   consumer,
		store:      store,
		dispatch:   dispatch,
		opts:       opts,
		log:        log.With("component", "delivery", "subscriber", consumer.Name()),
		wake:       make(chan struct{}, 1),
		started:    make(chan struct{}),
		running:    map[int]*runner{},
		changed:    make(chan struct{}),
		progress:   make(chan struct{}),
	}
}

// Name is the consumer's name.
func (s *Subscription) Name() string { return s.consumer.Name() }

// Status is a subscription's progress.
type Status struct {
	Name string
	// Checkpoint is the lowest checkpoint of its segments: every event at
	// or below it is handled.
	Checkpoint  uint64
	Read        uint64 // last position read from the log by this replica
	Delivered   uint64 // events delivered by this replica since start
	Retries     uint64 // delivery attempts that failed on this replica since start (each retried, or ended parked)
	Parked      int    // events parked by this replica since start
	Pending     int    // events read by this replica and not yet handled
	LastError   string
	Synchronous bool
	Replica     string // this replica's name in the leases
	// Projector, Version and State place a projector's version (see
	// versions.go): State is active, candidate (newer, catching up) or
	// retired. Version is 1 and State active for unversioned subscribers.
	Projector string
	Version   int
	State     string
	Versioned bool // configured with a version
	// OldestUnhandled is when the first event after the checkpoint was
	// committed (zero when there is none): its age is the lag in time.
	OldestUnhandled time.Time
	// Rate is the events per second this replica delivered lately.
	Rate float64
	// ReplayUntil is the log head at the last reset: events up to it are
	// replays, and the subscription rebuilds while Checkpoint is below it.
	ReplayUntil uint64
	// Segments are the subscription's segments with their owners; Local
	// marks those this replica delivers.
	Segments []SegmentStatus
}

// SegmentStatus is one segment's lease and checkpoint.
type SegmentStatus struct {
	Index, Of int
	Owner     string
	Token     uint64
	Position  uint64
	Expires   time.Time
	Local     bool
}

// Status reports the subscription's progress: this replica's live
// segments, and the others as last read from the store.
func (s *Subscription) Status() Status {
	s.mu.Lock()
	start := s.start
	st := Status{Name: s.consumer.Name(), Replica: s.opts.Owner, Delivered: s.delivered, Retries: s.retries, Parked: s.parkedCount, LastError: s.lastErr,
		Synchronous: s.opts.Synchronous, ReplayUntil: s.replay.Until, State: s.version.String(),
		OldestUnhandled: s.oldest, Rate: s.rate}
	st.Projector, st.Version = s.projector()
	st.Versioned = s.opts.Projector != ""
	rows := map[int]SegmentStatus{}
	for _, l := range s.leases {
		if l.Of == s.opts.Segments {
			rows[l.Segment] = SegmentStatus{Index: l.Segment, Of: l.Of, Owner: l.Owner, Token: l.Token, Position: l.Position, Expires: l.Expires}
		}
	}
	running := make([]*runner, 0, len(s.running))
	for _, r := range s.running {
		running = append(running, r)
	}
	s.mu.Unlock()
	for _, r := range running {
		l, read, pending := r.seg.status()
		rows[l.Segment] = SegmentStatus{Index: l.Segment, Of: l.Of, Owner: l.Owner, Token: l.Token, Position: l.Position, Expires: l.Expires, Local: true}
		st.Read = max(st.Read, read)
		st.Pending += pending
	}
	first := true
	for i := range s.opts.Segments {
		row, ok := rows[i]
		if !ok {
			row = SegmentStatus{Index: i, Of: s.opts.Segments, Position: start}
		}
		if first || row.Position < st.Checkpoint {
			st.Checkpoint, first = row.Position, false
		}
		st.Segments = append(st.Segments, row)
	}
	return st
}

// Prepare fixes where the subscription starts when the store has no
// checkpoint of it yet (Options.Start), before any command is served, so
// that no event committed after evented started is missed. Run calls it
// when it was not called.
func (s *Subscription) Prepare(ctx context.Context) error {
	s.mu.Lock()
	prepared := s.prepared
	s.mu.Unlock()
	if prepared {
		return nil
	}
	legacy, err := s.store.Checkpoint(ctx, s.Name())
	if err != nil {
		return fmt.Errorf("subscription %s: load checkpoint: %w", s.Name(), err)
	}
	leases, err := s.store.Leases(ctx, s.Name())
	if err != nil {
		return fmt.Errorf("subscription %s: load segments: %w", s.Name(), err)
	}
	var same, other []eventstore.Lease
	for _, l := range leases {
		if l.Of == s.opts.Segments {
			same = append(same, l)
		} else {
			other = append(other, l)
		}
	}
	var start uint64
	switch {
	case len(other) > 0:
		// Split differently before: start where the slowest segment was
		// (some events are delivered again, none are skipped).
		start = other[0].Position
		for _, l := range other {
			start = min(start, l.Position)
		}
	case legacy > 0:
		start = legacy // the checkpoint of a version before segments
	case len(same) > 0:
		// Some segments of this split exist, not all: a replica stopped
		// while it created them. Their first start is not known; the
		// beginning skips nothing, and a start at the head resumes where
		// the slowest of them is.
		if s.opts.Start == StartHead {
			start = same[0].Position
			for _, l := range same {
				start = min(start, l.Position)
			}
		}
	case s.opts.Start == StartHead:
		if start, err = s.store.Head(ctx); err != nil {
			return fmt.Errorf("subscription %s: log head: %w", s.Name(), err)
		}
	}
	// Create every segment of the split now, from the same start, so
	// that none of them is created later from another: a segment's row,
	// once it exists, is its checkpoint.
	if len(same) < s.opts.Segments {
		exists := map[int]bool{}
		for _, l := range same {
			exists[l.Segment] = true
		}
		for i := range s.opts.Segments {
			if exists[i] {
				continue
			}
			l, ok, err := s.store.Acquire(ctx, s.Name(), i, s.opts.Segments, s.opts.Owner, s.opts.LeaseTTL, start)
			if err != nil {
				return fmt.Errorf("subscription %s: create segment %d: %w", s.Name(), i, err)
			}
			if ok {
				if err := s.store.Release(ctx, l); err != nil {
					return fmt.Errorf("subscription %s: create segment %d: %w", s.Name(), i, err)
				}
			}
		}
	}
	if len(leases) == 0 && legacy == 0 && s.opts.Projector != "" && s.opts.Version > max(s.opts.FirstVersion, 1) {
		// A new version's first start: what it catches up on, up to
		// today's head, is a replay.
		head, err := s.store.Head(ctx)
		if err != nil {
			return fmt.Errorf("subscription %s: log head: %w", s.Name(), err)
		}
		if err := s.markReplay(ctx, Replay{Until: head}); err != nil {
			return fmt.Errorf("subscription %s: %w", s.Name(), err)
		}
	}
	s.mu.Lock()
	s.start, s.prepared = start, true
	s.mu.Unlock()
	return nil
}

// Run delivers this replica's share of the segments until ctx ends, then
// stops them gracefully (what was read is delivered, bounded), saves their
// checkpoints, releases their leases and returns nil. Events read but not
// delivered are delivered again by the next owner (at least once).
func (s *Subscription) Run(ctx context.Context) error {
	if err := s.Prepare(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.log.Info("subscription started", "segments", s.opts.Segments, "owner", s.opts.Owner)
	readCtx, stopReading := context.WithCancel(context.WithoutCancel(ctx))
	reading := make(chan struct{})
	go func() { defer close(reading); s.readLoop(readCtx) }()
	defer func() { stopReading(); <-reading }()
	tick := max(s.opts.LeaseTTL/3, time.Millisecond)
	defer s.once.Do(func() { close(s.started) })
	for {
		s.balance(ctx)
		s.once.Do(func() { close(s.started) })
		t := time.NewTimer(tick)
		select {
		case <-ctx.Done():
			t.Stop()
			s.stopAll(context.WithoutCancel(ctx))
			return nil
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Started is closed once Run has taken its first share of the segments
// (or has stopped): a server serves commands after it, so that its first
// commands find their synchronous consumers' segments in place.
func (s *Subscription) Started() <-chan struct{} { return s.started }

// readBatch bounds the events the reader takes from the log at once, for
// all the segments; books are bounded by BatchSize apart from it.
const readBatch = 1024

// readLoop reads the log once for all the segments this replica delivers:
// from the lowest position any of them has read, handing each batch to
// every segment (each takes what it has not read yet). A segment taken
// over with an older checkpoint makes the reader go back for it.
func (s *Subscription) readLoop(ctx context.Context) {
	o := s.opts
	var ahead readAhead // batches read while the last is handed out
	var reads sync.WaitGroup
	defer reads.Wait()
	for {
		var segs []*segment
		var after uint64
		full := false
		for _, r := range s.runningSegments() {
			read, open, room := r.seg.position()
			if !open {
				continue
			}
			if len(segs) == 0 || read < after {
				after = read
			}
			full = full || !room
			segs = append(segs, r.seg)
		}
		if len(segs) == 0 || full {
			// Nothing to read for, or a segment has no room: wait until
			// one starts or has room again.
			woken := s.readerWoken()
			s.readerWaits.Store(true)
			if len(segs) > 0 && s.roomNow(segs) { // made room before it could be told
				s.readerWaits.Store(false)
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-woken:
			case <-time.After(o.PollInterval):
			}
			s.readerWaits.Store(false)
			continue
		}
		r := ahead.take(after)
		if r != nil {
			<-r.done
		} else {
			// No read ahead, or one from a place the reader left (a
			// segment taken over went back): read now.
			r = s.newLogRead(after)
			r.run(ctx, s.store)
		}
		batch, err := r.batch, r.err
		if err == nil && len(batch) == readBatch {
			// Behind the head (a catch-up, a rebuild): read the next
			// batches while this one is handed out, on other cores.
			for _, at := range nextReads(after, batch) {
				if ahead.has(at) {
					continue
				}
				next := s.newLogRead(at)
				reads.Go(func() { next.run(ctx, s.store) })
				ahead = append(ahead, next)
			}
		} else {
			ahead = nil // at the head: whatever was read ahead is stale
		}
		wake, changed := r.wake, r.changed
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.noteError(fmt.Errorf("read log: %w", err))
			if !sleep(ctx, o.BackoffMin) {
				return
			}
			continue
		}
		if len(batch) > 0 {
			parts := split(batch, o)
			for _, g := range segs {
				g.enqueue(batch, parts[g.index])
			}
			s.noteProgress() // events of other segments move the window too
			continue
		}
		select {
		case <-wake:
		case <-changed:
		case <-time.After(o.PollInterval):
		case <-ctx.Done():
			return
		}
	}
}

// readDepth is how many batches the reader has under way ahead of the one
// it hands out, when the log's positions are dense.
const readDepth = 2

// nextReads returns where the batches after a full batch read from after
// begin. The next one begins at the batch's last position. When the
// batch's positions are dense (no gap: SQLite's and memory's logs), the
// ones after it most likely are too, and the reads from where they would
// begin go on at once, in parallel; a guess that proves wrong is a read
// the reader does not take (see readAhead.take), never a wrong batch: a
// batch read from a position is the log after that position, whenever it
// is read.
func nextReads(after uint64, batch []eventstore.Logged) []uint64 {
	last := batch[len(batch)-1].Position
	if last-after != uint64(len(batch)) {
		return []uint64{last}
	}
	at := make([]uint64, readDepth)
	for i := range at {
		at[i] = last + uint64(i*len(batch))
	}
	return at
}

// readAhead is the reader's reads under way, oldest first.
type readAhead []*logRead

// take returns the read from after, if one is under way, and drops the
// reads before it (the reader has gone past them; a segment taken over
// further back drops them all).
func (a *readAhead) take(after uint64) *logRead {
	for i, r := range *a {
		if r.after == after {
			*a = (*a)[i+1:]
			return r
		}
	}
	*a = nil
	return nil
}

func (a readAhead) has(after uint64) bool {
	for _, r := range a {
		if r.after == after {
			return true
		}
	}
	return false
}

// logRead is one ReadLog of the reader, possibly under way in a goroutine
// of its own: batch and err are set when done is closed. wake and changed
// are the reader's channels as they were before the read began, so a
// commit or a change during the read is not missed.
type logRead struct {
	after         uint64
	wake, changed <-chan struct{}
	done          chan struct{}
	batch         []eventstore.Logged
	err           error
}

// newLogRead prepares the read of the batch after the position after.
func (s *Subscription) newLogRead(after uint64) *logRead {
	return &logRead{after: after, wake: s.store.Appended(), changed: s.readerWoken(), done: make(chan struct{})}
}

func (r *logRead) run(ctx context.Context, store Storage) {
	defer close(r.done)
	r.batch, r.err = store.ReadLog(ctx, r.after, readBatch)
}

// roomNow reports whether every open segment of segs has room.
func (s *Subscription) roomNow(segs []*segment) bool {
	for _, g := range segs {
		if _, open, room := g.position(); open && !room {
			return false
		}
	}
	return true
}

// readerWoken returns a channel closed at the next wakeReader.
func (s *Subscription) readerWoken() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// wakeReader tells the reader to look again: a segment started, or one
// has room again.
func (s *Subscription) wakeReader() {
	if !s.readerWaits.Load() {
		return
	}
	s.forceWake()
}

// forceWake wakes the reader whether it waits for room or not.
func (s *Subscription) forceWake() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// kick makes Run look at the leases at once.
func (s *Subscription) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// balance renews this replica's leases, stops segments whose lease is
// lost, gives back segments beyond its share and takes free ones up to it.
func (s *Subscription) balance(ctx context.Context) {
	o := s.opts
	members, membersErr := s.replica.Members(ctx)
	for idx, r := range s.runningSegments() {
		if r.lost.Load() {
			continue // stopping: a delivery under way finishes first
		}
		if r.seg.isLost() {
			s.log.Warn("segment lease lost to another replica; stopping it", "segment", idx)
			s.stopLost(idx, r)
			continue
		}
		asked := time.Now()
		l, err := s.store.Renew(ctx, r.seg.currentLease(), o.LeaseTTL)
		switch {
		case errors.Is(err, eventstore.ErrLeaseLost):
			s.log.Warn("segment lease lost to another replica; stopping it", "segment", idx)
			s.stopLost(idx, r)
		case err != nil:
			s.noteError(fmt.Errorf("renew lease of segment %d: %w", idx, err))
			if time.Now().After(r.expires) {
				// Past the lease by our own clock: another replica may
				// hold it now. Stop before its owner delivers too.
				s.log.Warn("segment lease could not be renewed before it expired; stopping it", "segment", idx, "err", err)
				s.stopLost(idx, r)
			}
		default:
			r.seg.setLease(l)
			s.mu.Lock()
			r.expires = asked.Add(o.LeaseTTL * 9 / 10)
			s.mu.Unlock()
		}
	}
	if ctx.Err() != nil {
		return
	}
	if membersErr != nil {
		s.noteError(membersErr)
		return
	}
	leases, err := s.store.Leases(ctx, s.Name())
	if err != nil {
		s.noteError(fmt.Errorf("list segment leases: %w", err))
		return
	}
	replay, err := s.replayOf(ctx)
	if err != nil {
		s.noteError(err)
		return
	}
	if s.opts.Projector != "" {
		caughtUp := true
		for _, l := range leases {
			if l.Of == o.Segments && l.Position < replay.Until {
				caughtUp = false
			}
		}
		st, err := s.lookVersion(ctx, caughtUp)
		if err != nil {
			s.noteError(err)
			return
		}
		if st == versionRetired {
			s.retire(leases)
			return
		}
	}
	oldest := s.oldestUnhandled(ctx, leases)
	s.mu.Lock()
	s.leases = leases
	s.replay = replay
	s.oldest = oldest
	s.sampleRate()
	start := s.start
	if len(members) > 1 {
		s.multiUntil = time.Now().Add(o.ClaimTTL + o.LeaseTTL)
	}
	s.mu.Unlock()
	target := share(members, o.Owner, o.Segments)
	running := s.runningSegments()
	s.mu.Lock()
	var active []int
	for idx, r := range running {
		if !r.leaving && !r.lost.Load() {
			active = append(active, idx)
		}
	}
	s.mu.Unlock()
	if extra := len(active) - target; extra > 0 {
		slices.Sort(active)
		for _, idx := range active[len(active)-extra:] {
			s.log.Info("giving a segment to another replica", "segment", idx, "replicas", len(members), "share", target)
			r := running[idx]
			s.mu.Lock()
			r.leaving = true
			s.mu.Unlock()
			// Drained in the background: the other leases go on being
			// renewed meanwhile, this one too until it is released.
			go s.stop(idx, r, true)
		}
		return
	}
	held := map[int]eventstore.Lease{}
	now := time.Now()
	for _, l := range leases {
		if l.Of == o.Segments {
			held[l.Segment] = l
		}
	}
	// Free segments first, so that a joining replica does not wait for
	// the one it would otherwise fight over.
	for idx := 0; idx < o.Segments && len(active) < target; idx++ {
		if _, mine := running[idx]; mine {
			continue
		}
		if l, ok := held[idx]; ok && l.Owner != o.Owner && l.Expires.After(now) {
			continue // another replica's, by the last listing
		}
		asked := time.Now()
		l, ok, err := s.store.Acquire(ctx, s.Name(), idx, o.Segments, o.Owner, o.LeaseTTL, start)
		if err != nil {
			s.noteError(fmt.Errorf("acquire segment %d: %w", idx, err))
			return
		}
		if !ok {
			continue
		}
		s.log.Info("segment acquired", "segment", idx, "of", o.Segments, "token", l.Token, "position", l.Position)
		running[idx] = s.startSegment(ctx, l, asked.Add(o.LeaseTTL*9/10))
		active = append(active, idx)
	}
}

// share is how many of n segments owner should deliver among members: an
// equal share, the first n%len(members) members (by ID) taking one more.
func share(members []eventstore.Member, owner string, n int) int {
	ids := make([]string, 0, len(members)+1)
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	if !slices.Contains(ids, owner) {
		ids = append(ids, owner)
	}
	slices.Sort(ids)
	rank := slices.Index(ids, owner)
	k := n / len(ids)
	if rank < n%len(ids) {
		k++
	}
	return k
}

func (s *Subscription) runningSegments() map[int]*runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]*runner, len(s.running))
	for k, v := range s.running {
		out[k] = v
	}
	return out
}

func (s *Subscription) startSegment(ctx context.Context, l eventstore.Lease, expires time.Time) *runner {
	segCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &runner{seg: newSegment(s, l), stopRead: make(chan struct{}), cancel: cancel, done: make(chan struct{}), expires: expires}
	s.mu.Lock()
	s.running[l.Segment] = r
	s.mu.Unlock()
	s.forceWake()
	go func() {
		defer close(r.done)
		r.seg.run(segCtx, r.stopRead, s.drainTime())
	}()
	return r
}

// drainTime bounds how long a segment given up gracefully delivers what it
// has read: well within the lease, so the next owner never overlaps.
func (s *Subscription) drainTime() time.Duration { return s.opts.LeaseTTL / 2 }

// stop ends a segment: gracefully (deliver what was read, save, release
// the lease) or at once (the lease is lost: write nothing more).
func (s *Subscription) stop(idx int, r *runner, graceful bool) {
	if graceful {
		r.stopOnce.Do(func() { close(r.stopRead) })
	} else {
		r.seg.markLostQuiet()
		r.cancel()
	}
	<-r.done
	r.cancel()
	s.mu.Lock()
	if s.running[idx] == r {
		delete(s.running, idx)
	}
	s.mu.Unlock()
	if graceful {
		if err := s.store.Release(context.Background(), r.seg.currentLease()); err != nil {
			s.noteError(fmt.Errorf("release segment %d: %w", idx, err))
		}
	}
	// The segment may be taken again (after a reset, at once) or by
	// another replica: look at the leases now, not a third of a lease on.
	s.kick()
}

// oldestUnhandled is the commit time of the first event after the lowest
// checkpoint of leases, zero when there is none (or it cannot be read).
func (s *Subscription) oldestUnhandled(ctx context.Context, leases []eventstore.Lease) time.Time {
	first, low := true, uint64(0)
	for _, l := range leases {
		if l.Of == s.opts.Segments && (first || l.Position < low) {
			first, low = false, l.Position
		}
	}
	if first {
		return time.Time{}
	}
	next, err := s.store.ReadLog(ctx, low, 1)
	if err != nil || len(next) == 0 {
		return time.Time{}
	}
	return next[0].CreatedAt
}

// sampleRate updates the delivery rate, a moving average over the
// balancing rounds. The caller holds s.mu.
func (s *Subscription) sampleRate() {
	now := time.Now()
	if !s.rateAt.IsZero() {
		if dt := now.Sub(s.rateAt).Seconds(); dt > 0 {
			r := float64(s.delivered-s.rateCount) / dt
			s.rate = 0.7*s.rate + 0.3*r
		}
	}
	s.rateAt, s.rateCount = now, s.delivered
}

// retire gives back every segment of a version that is no longer active,
// gracefully, and takes none.
func (s *Subscription) retire(leases []eventstore.Lease) {
	s.mu.Lock()
	s.leases = leases
	leaving := map[int]*runner{}
	for idx, r := range s.running {
		if !r.leaving && !r.lost.Load() {
			r.leaving = true
			leaving[idx] = r
		}
	}
	s.mu.Unlock()
	for idx, r := range leaving {
		s.log.Info("retired version: giving its segment back", "segment", idx)
		go s.stop(idx, r, true)
	}
}

// stopLost stops a segment whose lease is gone, in the background: a
// delivery under way (a consumer that hangs) must not hold up the renewal
// of the other leases. The segment stays in running, not active, until
// it is done, so this replica does not take it again meanwhile.
func (s *Subscription) stopLost(idx int, r *runner) {
	if !r.lost.CompareAndSwap(false, true) {
		return
	}
	r.seg.markLostQuiet()
	go s.stop(idx, r, false)
}

// stopAll stops every segment gracefully, in parallel, and leaves when the
// replica is the subscription's own (a shared one is left by its owner).
func (s *Subscription) stopAll(ctx context.Context) {
	var wg sync.WaitGroup
	for idx, r := range s.runningSegments() {
		wg.Go(func() { s.stop(idx, r, true) })
	}
	wg.Wait()
	if s.ownReplica {
		if err := s.replica.Leave(ctx); err != nil {
			s.noteError(fmt.Errorf("leave: %w", err))
		}
	}
}

// multi reports whether other replicas share the store (or did recently):
// synchronous consumers' delivery marks are then kept, so that a replica
// that does not own an aggregate's segment can deliver inline.
func (s *Subscription) multi() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Before(s.multiUntil)
}

// remoteInline reports whether this replica may deliver inline an
// aggregate whose segment another replica owns: only once it has been a
// member for a lease's length, so that every owner has seen it and keeps
// the delivery marks.
func (s *Subscription) remoteInline() bool {
	return s.replica.memberFor(s.opts.LeaseTTL)
}

// advanceMark records, when other replicas share the store, that cover's
// events up to to are delivered; a failure only delays a remote inline
// delivery (a mark may lag, never lead).
func (s *Subscription) advanceMark(ctx context.Context, cover eventstore.Cover, to uint32) {
	if !s.opts.Synchronous || !s.multi() {
		return
	}
	if err := s.store.AdvanceMark(ctx, s.Name(), cover, to); err != nil {
		s.noteError(fmt.Errorf("advance delivery mark of %s: %w", cover, err))
	}
}

// markClaimed counts a claim of cover's delivery mark by this process
// (+1 when taken, -1 when it ends).
func (s *Subscription) markClaimed(cover eventstore.Cover, delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.marked == nil {
		s.marked = map[eventstore.Cover]int{}
	}
	if s.marked[cover] += delta; s.marked[cover] <= 0 {
		delete(s.marked, cover)
	}
}

// claimedHere reports whether this process holds a claim of cover's
// delivery mark.
func (s *Subscription) claimedHere(cover eventstore.Cover) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.marked[cover] > 0
}

// local returns the segment of cover this replica delivers, or nil.
func (s *Subscription) local(cover eventstore.Cover) *segment {
	idx := eventstore.SegmentOf(cover, s.opts.Segments)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.running[idx]; ok {
		return r.seg
	}
	return nil
}

func (s *Subscription) workersPerSegment() int {
	if s.flight != nil {
		// Its workers wait for no answer, only for the store (light
		// events, parking): two keep a segment's books going out.
		return asyncWorkers
	}
	return max(2, (s.opts.Workers+s.opts.Segments-1)/s.opts.Segments)
}

// asyncWorkers is how many workers a segment runs for an AsyncConsumer.
const asyncWorkers = 2

// endFlight gives back the room of a book in flight to the async
// consumer, when async says the worker took one.
func (s *Subscription) endFlight(async bool) {
	if async {
		s.flight.end()
	}
}

// fill reads again the payloads of the light events (light[i]: events[i]
// is; nil: none is), in place, and returns the events.
func (s *Subscription) fill(ctx context.Context, cover eventstore.Cover, events []eventstore.Logged, light []bool) ([]eventstore.Logged, error) {
	if light == nil {
		return events, nil
	}
	from, to, found := uint32(0), uint32(0), false
	for i, e := range events {
		if light[i] {
			if !found {
				from = e.Sequence
			}
			to, found = e.Sequence+1, true
		}
	}
	stored, err := s.store.Read(ctx, cover, from, to)
	if err != nil {
		return nil, fmt.Errorf("read %s [%d, %d): %w", cover, from, to, err)
	}
	bySeq := make(map[uint32]eventstore.Event, len(stored))
	for _, e := range stored {
		bySeq[e.Sequence] = e
	}
	for i := range events {
		if light[i] {
			e, ok := bySeq[events[i].Sequence]
			if !ok {
				return nil, fmt.Errorf("event %s/%d is in the log but not in its stream", cover, events[i].Sequence)
			}
			events[i].Event = e
		}
	}
	return events, nil
}

// tooLarge says why events cannot be delivered to this consumer at all
// (an event larger than MaxBookBytes), or "" when they can.
func (s *Subscription) tooLarge(events []eventstore.Logged) string {
	for _, e := range events {
		if len(e.Payload) > s.opts.MaxBookBytes {
			return fmt.Sprintf("event of %d bytes is larger than the %d bytes a book to %s may hold (delivery.max_book_bytes, or the broker's limit): it can never be delivered",
				len(e.Payload), s.opts.MaxBookBytes, s.Name())
		}
	}
	return ""
}

// unavailable reports whether err says the other side is down or
// unreachable, rather than that it refused the events. Adapters mark such
// errors with an Unavailable method (a gRPC UNAVAILABLE status, a broker
// that is not connected).
func unavailable(err error) bool {
	var u interface{ Unavailable() bool }
	return errors.As(err, &u) && u.Unavailable()
}

// permanent reports whether err says trying again cannot help (a message
// over a size limit, a saga cascade past its bound): such events are
// parked at once. Errors mark it with a Permanent method.
func permanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// deliver makes one attempt at delivering events and dispatching what the
// consumer answered. Saga commands get deterministic idempotency keys
// (consumer, source event, index), so a repeated delivery never applies a
// command twice; sent remembers those that went through, which are not
// sent again.
//
// A replay (events a reset delivers again) is marked as one in ctx, and a
// saga's commands in answer to it are dropped unless the reset asked for
// them (commands).
func (s *Subscription) deliver(ctx context.Context, cover eventstore.Cover, events []eventstore.Logged, sent map[string]bool, replay, commands bool) error {
	book, err := s.book(ctx, cover, events)
	if err != nil {
		return err
	}
	if n := bookSize(book); n > s.opts.MaxBookBytes && s.opts.History {
		return &TooLargeError{Consumer: s.Name(), Bytes: n, Limit: s.opts.MaxBookBytes}
	}
	ctx = WithNewFrom(ctx, events[0].Sequence)
	if replay {
		ctx = WithReplay(ctx)
	}
	out, err := s.consumer.Deliver(ctx, book, false)
	if err != nil {
		return err
	}
	if err := s.publish(ctx, cover, events[len(events)-1].Sequence, out.Projection); err != nil {
		return err
	}
	if replay && !commands && len(out.Commands) > 0 {
		s.log.Debug("replay: the saga's commands are not dispatched again", "cover", cover, "commands", len(out.Commands))
		return nil
	}
	if len(out.Commands) == 0 && len(out.Deadlines) == 0 {
		return nil // a projector's, or a saga with nothing to do
	}
	delivered := make([]eventstore.Event, len(events))
	for i, e := range events {
		delivered[i] = e.Event
	}
	if err := s.saveDeadlines(ctx, cover, delivered, out); err != nil {
		return err
	}
	return s.dispatchAll(ctx, s.keyed(cover, delivered, out.Commands), sent)
}

// bookSize is the payload bytes of book: what bounds it on the wire.
func bookSize(b eventstore.Book) int {
	n := 0
	if b.Snapshot != nil {
		n += len(b.Snapshot.State)
	}
	for _, e := range b.Events {
		n += len(e.Payload) + len(e.TypeURL)
	}
	return n
}

// TooLargeError is a book larger than the consumer may receive.
type TooLargeError struct {
	Consumer     string
	Bytes, Limit int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("book of %d bytes is larger than the %d bytes a book to %s may hold (delivery.max_book_bytes): it can never be delivered", e.Bytes, e.Limit, e.Consumer)
}

// Permanent marks the error as one that retrying cannot fix.
func (e *TooLargeError) Permanent() bool { return true }

// SagaKey is the idempotency key of the index-th command a saga returned
// for the book of cover's events starting at sequence first. A book is
// retried from the same first event (an inline delivery's retry too), so a
// saga that answers in event order gives each command the same key again.
func SagaKey(saga string, cover eventstore.Cover, first uint32, index int) string {
	return fmt.Sprintf("saga:%s:%s:%d:%d", saga, cover, first, index)
}

func (s *Subscription) dispatchAll(ctx context.Context, cmds []business.CommandBook, sent map[string]bool) error {
	for _, cmd := range cmds {
		if s.dispatch == nil {
			return fmt.Errorf("consumer returned commands, but no dispatcher is configured")
		}
		if sent[cmd.IdempotencyKey] {
			continue
		}
		if err := s.dispatch.Dispatch(ctx, cmd); err != nil {
			return fmt.Errorf("dispatch command for %s: %w", cmd.Cover, err)
		}
		if sent != nil {
			sent[cmd.IdempotencyKey] = true
		}
	}
	return nil
}

// book builds what the consumer receives: the events, or with History the
// aggregate's latest snapshot and its events up to the last one delivered.
func (s *Subscription) book(ctx context.Context, cover eventstore.Cover, events []eventstore.Logged) (eventstore.Book, error) {
	if s.opts.History {
		return History(ctx, s.store, s.store, cover, events[len(events)-1].Sequence+1)
	}
	book := eventstore.Book{Cover: cover, Events: make([]eventstore.Event, len(events))}
	for i, e := range events {
		book.Events[i] = e.Event
	}
	return book, nil
}

// History returns cover's latest snapshot (if it is older than upTo, so
// that the book ends with at least the newest event) and its events from
// the snapshot's sequence up to, not including, upTo.
func History(ctx context.Context, store eventstore.Store, snaps eventstore.Snapshots, cover eventstore.Cover, upTo uint32) (eventstore.Book, error) {
	book := eventstore.Book{Cover: cover}
	var from uint32
	if snaps != nil {
		snap, ok, err := snaps.Snapshot(ctx, cover)
		if err != nil {
			return book, fmt.Errorf("history of %s: %w", cover, err)
		}
		if ok && snap.Sequence < upTo {
			book.Snapshot, from = &snap, snap.Sequence
		}
	}
	events, err := store.Read(ctx, cover, from, upTo)
	if err != nil {
		return book, fmt.Errorf("history of %s: %w", cover, err)
	}
	book.Events = events
	return book, nil
}

func (s *Subscription) counted(n int, newest time.Time) {
	s.mu.Lock()
	s.delivered += uint64(n)
	s.mu.Unlock()
	s.opts.Observer.Delivered(s.Name(), n, time.Since(newest))
}

func (s *Subscription) parkedCounted(n int) {
	s.mu.Lock()
	s.parkedCount += n
	s.mu.Unlock()
	s.opts.Observer.Parked(s.Name(), n)
}

func (s *Subscription) backoff(attempt int) time.Duration {
	d := s.opts.BackoffMin << min(attempt-1, 30)
	if d <= 0 || d > s.opts.BackoffMax {
		d = s.opts.BackoffMax
	}
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

// failed counts a failed delivery attempt and notes its error.
func (s *Subscription) failed(err error) {
	s.mu.Lock()
	s.retries++
	s.lastErr = err.Error()
	s.mu.Unlock()
	s.opts.Observer.Failed(s.Name())
}

func (s *Subscription) noteError(err error) {
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Wants reports whether the subscription receives events of domain.
func (s *Subscription) Wants(domain string) bool { return s.opts.wants(domain) }

// Consumer is the subscription's consumer.
func (s *Subscription) Consumer() Consumer { return s.consumer }

// publish keeps the projection the consumer returned for cover's events up
// to sequence last, if it returned one and projections are kept. An error
// fails the delivery, which is tried again (the put is idempotent).
func (s *Subscription) publish(ctx context.Context, cover eventstore.Cover, last uint32, p *Projection) error {
	if p == nil || s.opts.Projections == nil {
		return nil
	}
	key := p.Key
	if key == "" {
		key = cover.String()
	}
	return s.opts.Projections.Put(ctx, eventstore.Projection{
		Projector: s.Name(), Key: key, Cover: cover, Sequence: last, TypeURL: p.TypeURL, Payload: p.Payload,
	})
}
