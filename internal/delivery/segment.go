package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// segment delivers one segment of a subscription while this replica holds
// its lease: it reads the log from the segment's checkpoint, keeps the
// events of its aggregates in per-aggregate queues and hands them to
// workers, one aggregate never to two workers at once.
//
// Memory is bounded without letting one aggregate hold back the others: an
// aggregate keeps at most BatchSize events with their payloads in memory;
// later ones are queued light (position and sequence only) and read again
// from the store when their turn comes. The checkpoint is the low watermark
// of handled positions, saved with the lease's fencing token.
type segment struct {
	sub   *Subscription
	index int
	log   *slog.Logger
	// answers counts the books handed to an AsyncConsumer whose answer
	// (and, after a failure, its retries) has not finished them yet.
	answers sync.WaitGroup

	mu       sync.Mutex
	cond     *sync.Cond // signals: work queued, work done, state changed
	lease    eventstore.Lease
	window   []uint64        // positions of own events read and not yet checkpointed, ascending
	done     map[uint64]bool // positions of window that are handled
	queues   map[eventstore.Cover][]eventstore.Logged
	light    map[uint64]int           // queued events without their payload (position → its size): read again before delivery
	heavy    map[eventstore.Cover]int // queued events holding their payload, per aggregate
	heavyAll int
	ready    []eventstore.Cover // covers with queued events and no worker
	busy     map[eventstore.Cover]bool
	inflight map[eventstore.Cover]uint32 // first sequence a worker is handling
	parked   map[eventstore.Cover]uint64 // parked aggregates → first parked position
	seen     map[eventstore.Cover]uint32 // highest sequence read, for claimed aggregates
	read     uint64                      // last position read from the log
	stopping bool
	closed   bool // reads nothing more (stopping, gracefully or not)
	lost     bool // the lease is gone: write nothing more
	// replay is the subscriber's last reset, read when the segment starts
	// (a reset takes every lease away, so segments start again after it).
	replay Replay
}

// maxWindow bounds the positions a segment keeps between its checkpoint and
// what it has read (8 bytes each); past it, reading waits.
const maxWindow = 1 << 20

func newSegment(sub *Subscription, lease eventstore.Lease) *segment {
	g := &segment{
		sub:      sub,
		index:    lease.Segment,
		log:      sub.log.With("segment", fmt.Sprintf("%d/%d", lease.Segment, lease.Of)),
		lease:    lease,
		done:     map[uint64]bool{},
		queues:   map[eventstore.Cover][]eventstore.Logged{},
		light:    map[uint64]int{},
		heavy:    map[eventstore.Cover]int{},
		busy:     map[eventstore.Cover]bool{},
		inflight: map[eventstore.Cover]uint32{},
		parked:   map[eventstore.Cover]uint64{},
		seen:     map[eventstore.Cover]uint32{},
		read:     lease.Position,
	}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *segment) currentLease() eventstore.Lease {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lease
}

func (g *segment) setLease(l eventstore.Lease) {
	g.mu.Lock()
	l.Position = g.lease.Position
	g.lease = l
	g.mu.Unlock()
}

// mine reports whether cover belongs to this segment.
func (g *segment) mine(cover eventstore.Cover) bool {
	return eventstore.SegmentOf(cover, g.sub.opts.Segments) == g.index
}

// run delivers until ctx ends (a hard stop: the lease is lost) or stopRead
// is closed (a graceful stop: nothing more is read, what was read is
// delivered for up to drain, then the checkpoint is saved).
func (g *segment) run(ctx context.Context, stopRead <-chan struct{}, drain time.Duration) {
	if err := g.loadParked(ctx); err != nil {
		g.sub.noteError(err)
	}
	if r, err := g.sub.replayOf(ctx); err != nil {
		g.sub.noteError(err)
	} else {
		g.replay = r
	}
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	var wg sync.WaitGroup
	for range g.sub.workersPerSegment() {
		wg.Go(func() { g.work(workCtx) })
	}
	saveCtx, stopSave := context.WithCancel(ctx)
	var saver sync.WaitGroup
	saver.Go(func() { g.saveLoop(saveCtx) })

	// The subscription's reader feeds the segment (enqueue) until it
	// stops reading.
	select {
	case <-stopRead:
	case <-ctx.Done():
	}
	g.mu.Lock()
	g.closed = true // the reader passes nothing more
	g.mu.Unlock()

	if ctx.Err() == nil { // graceful: let the workers finish what was read
		deadline := time.Now().Add(drain)
		g.mu.Lock()
		for len(g.window) > 0 && ctx.Err() == nil && time.Now().Before(deadline) {
			g.mu.Unlock()
			sleep(ctx, 2*time.Millisecond)
			g.mu.Lock()
		}
		g.mu.Unlock()
	}
	g.mu.Lock()
	g.stopping = true
	g.cond.Broadcast()
	g.mu.Unlock()
	stopWork() // retries end; a call under way finishes
	wg.Wait()
	g.answers.Wait() // books handed over asynchronously: their answers come within the consumer's bound
	stopSave()
	saver.Wait()
	g.saveCheckpoint(context.WithoutCancel(ctx))
}

// loadParked marks the segment's parked aggregates, so that their later
// events are parked behind them.
func (g *segment) loadParked(ctx context.Context) error {
	parked, err := g.sub.store.ParkedEvents(ctx, g.sub.Name())
	if err != nil {
		return fmt.Errorf("load parked events: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range parked {
		if _, ok := g.parked[p.Cover]; !ok && g.mine(p.Cover) {
			g.parked[p.Cover] = p.Position
		}
	}
	return nil
}

// enqueue takes the segment's own events of batch (a run of the log, in
// position order), at the indexes own, that it has not read yet; the
// others only move its window along, up to the batch's last position.
// It reports whether the segment still reads.
func (g *segment) enqueue(batch []eventstore.Logged, own []int32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	for k, i := range own {
		e := batch[i]
		if e.Position <= g.read {
			continue // read before the reader went back for another segment
		}
		// The window holds only the segment's own events; the checkpoint
		// passes the others up to the first own event not handled yet.
		g.window = append(g.window, e.Position)
		if g.sub.claims.has(e.Cover) && e.Sequence >= g.seen[e.Cover] {
			g.seen[e.Cover] = e.Sequence
		}
		if g.heavy[e.Cover] >= g.sub.opts.BatchSize {
			// This aggregate has enough in memory (it is slow or stuck):
			// keep the place, not the payload.
			g.light[e.Position], e.Payload = len(e.Payload), nil
		} else {
			g.heavy[e.Cover]++
			g.heavyAll++
		}
		q := g.queues[e.Cover]
		if len(q) == 0 && !g.busy[e.Cover] {
			g.ready = append(g.ready, e.Cover)
		}
		if cap(q) == len(q) && len(q) < g.sub.opts.BatchSize {
			// Room for the run of this aggregate's events that follows
			// (a command's events are together in the log), at once.
			run := 1
			for run < g.sub.opts.BatchSize && k+run < len(own) && batch[own[k+run]].Cover == e.Cover {
				run++
			}
			q = append(make([]eventstore.Logged, 0, len(q)+max(run, len(q))), q...)
		}
		g.queues[e.Cover] = append(q, e)
	}
	if last := batch[len(batch)-1].Position; last > g.read {
		g.read = last
	}
	g.advance()
	g.cond.Broadcast()
	return true
}

// split sorts the events of batch the subscription wants by segment: the
// indexes in batch of each segment's events, in order.
func split(batch []eventstore.Logged, o Options) [][]int32 {
	parts := make([][]int32, max(o.Segments, 1))
	for i, e := range batch {
		if o.wants(e.Cover.Domain) {
			s := eventstore.SegmentOf(e.Cover, o.Segments)
			parts[s] = append(parts[s], int32(i))
		}
	}
	return parts
}

// position is where the segment has read up to, and whether it takes more
// (it is open, and has room: its window is not full, and at most
// 8×BatchSize of its queued events hold their payload).
func (g *segment) position() (read uint64, open, room bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.read, !g.closed, len(g.window) < maxWindow && g.heavyAll < g.sub.opts.BatchSize*8
}

// take removes the next book's worth of cover's queue: up to BatchSize
// events and MaxBookBytes of payload (at least one event), and says which
// of them are light (nil when none is). The caller holds g.mu.
func (g *segment) take(cover eventstore.Cover) (events []eventstore.Logged, light []bool) {
	q := g.queues[cover]
	n, bytes, most := 0, 0, g.sub.opts.BatchSize
	if g.sub.opts.EventPerBook {
		most = 1
	}
	for n < len(q) && n < most {
		size, isLight := g.light[q[n].Position]
		if !isLight {
			size = len(q[n].Payload)
		}
		if n > 0 && bytes+size > g.sub.opts.MaxBookBytes {
			break
		}
		bytes += size
		n++
	}
	events = q[:n:n]
	g.queues[cover] = q[n:]
	for i, e := range events {
		if _, isLight := g.light[e.Position]; isLight {
			if light == nil {
				light = make([]bool, n)
			}
			light[i] = true
			delete(g.light, e.Position)
			continue
		}
		g.heavy[cover]--
		g.heavyAll--
	}
	if g.heavy[cover] <= 0 {
		delete(g.heavy, cover)
	}
	return events, light
}

// work delivers ready aggregates one at a time until the segment stops.
// For an AsyncConsumer it does not wait for the answer of a book it could
// hand over asynchronously (see deliverAsync): it goes on to the next
// ready aggregate, up to the subscription's Workers books in flight.
func (g *segment) work(ctx context.Context) {
	async := g.sub.async
	if async != nil {
		stop := g.sub.flight.wakeOn(ctx)
		defer stop()
	}
	for {
		g.mu.Lock()
		for len(g.ready) == 0 && !g.stopping && ctx.Err() == nil {
			g.cond.Wait()
		}
		if g.stopping || ctx.Err() != nil {
			g.mu.Unlock()
			return
		}
		cover := g.ready[0]
		g.ready = g.ready[1:]
		if g.busy[cover] { // a replay holds it; it requeues the cover when done
			g.mu.Unlock()
			continue
		}
		items, light := g.take(cover)
		if g.heavyAll < g.sub.opts.BatchSize*8 {
			g.sub.wakeReader() // room again
		}
		g.busy[cover] = true
		g.inflight[cover] = items[0].Sequence
		// Events before an aggregate's first parked one are delivered (a
		// reset replays them); from it on they wait behind it.
		first, isParked := g.parked[cover]
		isParked = isParked && items[0].Position >= first
		g.mu.Unlock()

		// Room in the flight is taken for a book in hand, never while
		// waiting for work: an idle worker holding it would starve the
		// segments that have books to send.
		if async != nil && !g.sub.flight.take(ctx) {
			g.finish(cover, items, 0)
			return
		}
		events, err := g.sub.fill(ctx, cover, items, light)
		handled := 0
		if err == nil {
			if async != nil && !isParked && g.deliverAsync(ctx, async, cover, items, events) {
				continue // finished by its answer
			}
			handled = g.handle(ctx, cover, events, isParked)
		} else if ctx.Err() == nil {
			g.sub.noteError(err)
			sleep(ctx, g.sub.opts.BackoffMin)
		}
		g.finish(cover, items, handled)
		g.sub.endFlight(async != nil)
	}
}

// finish settles the first handled of items, the book of cover a worker
// took (the rest go back to its queue, light), and frees the aggregate.
func (g *segment) finish(cover eventstore.Cover, items []eventstore.Logged, handled int) {
	g.mu.Lock()
	delete(g.busy, cover)
	delete(g.inflight, cover)
	for _, it := range items[:handled] {
		g.done[it.Position] = true
	}
	if handled < len(items) { // cut short or stopping: put the rest back, light
		rest := make([]eventstore.Logged, 0, len(items)-handled+len(g.queues[cover]))
		for _, e := range items[handled:] {
			g.light[e.Position], e.Payload = len(e.Payload), nil
			rest = append(rest, e)
		}
		g.queues[cover] = append(rest, g.queues[cover]...)
	}
	if len(g.queues[cover]) > 0 {
		g.ready = append(g.ready, cover)
	} else {
		delete(g.queues, cover)
	}
	g.advance()
	g.cond.Broadcast()
	g.mu.Unlock()
	g.sub.noteProgress()
}

// deliverAsync hands the book of events (cover's, taken as items) to c
// without waiting for its answer, when nothing but delivering it is to be
// done: no inline delivery of the aggregate to tell apart, no event too
// large (that is parked), no other replica's marks. It reports false when
// the book must go the synchronous way (handle). The answer finishes the
// book: success settles it, a failure goes on as a failed first attempt
// would (attempt: retries with backoff, then parking), on a goroutine of
// its own. The segment does not end before every answer is in (g.answers).
func (g *segment) deliverAsync(ctx context.Context, c AsyncConsumer, cover eventstore.Cover, items, events []eventstore.Logged) bool {
	s := g.sub
	if s.claims.has(cover) {
		return false
	}
	n, replay := len(events), g.replay.covers(events[0].Position)
	if replay {
		n = 1
		for n < len(events) && g.replay.covers(events[n].Position) {
			n++
		}
	}
	events = events[:n]
	if s.tooLarge(events) != "" {
		return false
	}
	book := eventstore.Book{Cover: cover, Events: make([]eventstore.Event, n)}
	for i, e := range events {
		book.Events[i] = e.Event
	}
	bctx := context.Background() // every event of the book is new (no History): no NewFrom
	if replay {
		bctx = WithReplay(bctx)
	}
	g.answers.Add(1)
	c.DeliverAsync(bctx, book, func(err error) {
		if err == nil {
			s.opts.Outage.Up()
			s.counted(n, events[n-1].CreatedAt)
			g.finish(cover, items, n)
			s.endFlight(true)
			g.answers.Done()
			return
		}
		go func() {
			handled := 0
			if g.attempt(ctx, cover, events, replay, err) {
				handled = n
			}
			g.finish(cover, items, handled)
			s.endFlight(true)
			g.answers.Done()
		}()
	})
	return true
}

// handle delivers events (one cover, in sequence order) and returns how many
// of them are settled: delivered, skipped or parked. It returns fewer only
// when ctx ends or the lease is lost.
func (g *segment) handle(ctx context.Context, cover eventstore.Cover, events []eventstore.Logged, isParked bool) (n int) {
	s := g.sub
	if isParked {
		// Keep the aggregate's order: everything after a parked event waits
		// in the parking too, until replayed.
		n, ok := g.park(ctx, events, "an earlier event of this aggregate is parked", 0, true)
		if !ok {
			return 0
		}
		if n == len(events) {
			return n
		}
		// A replay released the aggregate meanwhile: deliver the rest.
		g.mu.Lock()
		delete(g.parked, cover)
		g.mu.Unlock()
		return n + g.handle(ctx, cover, events[n:], false)
	}
	if g.replay.covers(events[0].Position) {
		return g.handleReplay(ctx, cover, events)
	}
	// With other replicas about, one that does not own this segment may
	// have delivered some of these inline, or be doing so: the
	// aggregate's delivery mark says.
	if s.opts.Synchronous && s.multi() {
		m, err := s.store.ReadMark(ctx, s.Name(), cover)
		if err != nil {
			if ctx.Err() == nil {
				s.noteError(fmt.Errorf("read delivery mark of %s: %w", cover, err))
				sleep(ctx, s.opts.BackoffMin)
			}
			return 0
		}
		skip := 0
		for skip < len(events) && events[skip].Sequence < m.Next {
			skip++
		}
		if skip == len(events) {
			return skip
		}
		if m.Live() && (m.Claimer != s.opts.Owner || s.claimedHere(cover)) {
			// Another replica is appending and delivering the next
			// events itself, or this one is, having begun before the
			// segment came here: wait for it to settle (or its claim to
			// lapse). A live claim in this replica's name that no call
			// here holds is a previous run's, which ended.
			sleep(ctx, 5*time.Millisecond)
			return skip
		}
		events = events[skip:]
		defer func() { n += skip }()
	}
	// Skip what an inline delivery already handled (see unclaimed).
	todo := events
	if !s.claims.has(cover) {
		// No inline delivery of this aggregate is under way or recorded
		// (a claim is taken before its append, so one taken from now on
		// holds none of these events): every event is to be delivered.
		g.mu.Lock()
		g.inflight[cover] = events[0].Sequence
		g.mu.Unlock()
	} else if todo, events = g.unclaimed(ctx, cover, events); todo == nil && events == nil {
		return 0
	}
	if len(todo) == 0 {
		return len(events)
	}
	if reason := s.tooLarge(todo); reason != "" {
		g.log.Warn("event too large for the consumer; parking it", "cover", cover, "sequence", todo[0].Sequence, "reason", reason)
		if _, ok := g.park(ctx, todo, reason, 1, false); !ok {
			return 0
		}
		return len(events)
	}
	if !g.attempt(ctx, cover, todo, false, nil) {
		return 0
	}
	return len(events)
}

// unclaimed returns the events of cover an inline delivery has not
// handled (todo) and the events settled by this book: an event an inline
// delivery may still be handling ends the book when earlier events are to
// be delivered (those go first; the inline delivery, which waits for them,
// may then go). Both nil: ctx ended.
func (g *segment) unclaimed(ctx context.Context, cover eventstore.Cover, events []eventstore.Logged) (todo, settled []eventstore.Logged) {
	s := g.sub
	todo = events[:0:0]
	for i, e := range events {
		if len(todo) > 0 && s.claims.pending(cover, e.Position, e.Sequence) {
			events = events[:i]
			break
		}
		if len(todo) == 0 {
			g.mu.Lock()
			g.inflight[cover] = e.Sequence
			g.mu.Unlock()
		}
		hit, err := s.claims.handled(ctx, cover, e.Position, e.Sequence)
		if err != nil {
			return nil, nil
		}
		if !hit {
			todo = append(todo, e)
		}
	}
	return todo, events
}

// handleReplay delivers events that a reset asked to deliver again: all of
// them, whether or not an inline delivery or another replica had (that is
// the point), marked as a replay, up to the reset's boundary.
func (g *segment) handleReplay(ctx context.Context, cover eventstore.Cover, events []eventstore.Logged) int {
	n := 1
	for n < len(events) && g.replay.covers(events[n].Position) {
		n++
	}
	events = events[:n]
	g.mu.Lock()
	g.inflight[cover] = events[0].Sequence
	g.mu.Unlock()
	if reason := g.sub.tooLarge(events); reason != "" {
		g.log.Warn("event too large for the consumer; parking it", "cover", cover, "sequence", events[0].Sequence, "reason", reason)
		if _, ok := g.park(ctx, events, reason, 1, false); !ok {
			return 0
		}
		return n
	}
	if !g.attempt(ctx, cover, events, true, nil) {
		return 0
	}
	return n
}

// attempt delivers todo, retrying as configured, and parks it when the
// attempts run out. It reports false when nothing may be counted as
// settled: ctx ended or the park could not be written. A non-nil first is
// the outcome of a first try already made (deliverAsync's).
func (g *segment) attempt(ctx context.Context, cover eventstore.Cover, todo []eventstore.Logged, replay bool, first error) bool {
	s := g.sub
	// The call itself is not cut by ctx: on shutdown a delivery under way
	// finishes (bounded by the consumer's timeout) rather than being sent
	// again after the restart.
	var lastErr error
	sent := map[string]bool{} // saga commands that went through: not sent again
	for attempt, tries := 1, 1; attempt <= s.opts.MaxAttempts; tries++ {
		if first != nil {
			lastErr, first = first, nil
		} else {
			lastErr = s.deliver(context.WithoutCancel(ctx), cover, todo, sent, replay, g.replay.Commands)
		}
		if lastErr == nil {
			s.opts.Outage.Up()
			s.counted(len(todo), todo[len(todo)-1].CreatedAt)
			if !replay {
				s.advanceMark(context.WithoutCancel(ctx), cover, todo[len(todo)-1].Sequence+1)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.failed(lastErr)
		if permanent(lastErr) {
			break
		}
		// A consumer that is down has not refused the events: wait for it
		// as long as it takes. Only refusals use up attempts.
		if !unavailable(lastErr) {
			attempt++
		} else {
			// The outage tracker warns, once per outage.
			s.opts.Outage.Down(lastErr)
			g.log.Debug("consumer unavailable; its events wait for it (nothing is parked)", "cover", cover, "err", lastErr)
		}
		if attempt <= s.opts.MaxAttempts {
			g.log.Debug("delivery failed; retrying", "cover", cover, "attempt", attempt, "err", lastErr)
			if !sleep(ctx, s.backoff(tries)) {
				return false
			}
		}
	}
	g.log.Warn("delivery failed; parking the aggregate's events",
		"cover", cover, "permanent", permanent(lastErr), "from_sequence", todo[0].Sequence, "err", lastErr)
	attempts := s.opts.MaxAttempts
	if permanent(lastErr) {
		attempts = 1
	}
	_, ok := g.park(ctx, todo, lastErr.Error(), attempts, false)
	return ok
}

// park stores events as parked, fenced by the lease, and marks their
// aggregate parked. With behind, an event is parked only while an earlier
// one of its aggregate still is; park returns how many were parked (fewer
// than len(events) when a replay released the aggregate) and false when it
// could not write (ctx ended, lease lost, store error).
func (g *segment) park(ctx context.Context, events []eventstore.Logged, reason string, attempts int, behind bool) (int, bool) {
	s := g.sub
	lease := g.currentLease()
	n := 0
	for _, e := range events {
		stored, err := s.store.ParkFenced(ctx, lease, eventstore.Parked{Logged: e, Reason: reason, Attempts: attempts}, behind)
		if err != nil {
			if errors.Is(err, eventstore.ErrLeaseLost) {
				g.markLost()
			}
			if ctx.Err() == nil {
				s.noteError(fmt.Errorf("park %s/%d: %w", e.Cover, e.Sequence, err))
			}
			return n, false
		}
		if !stored {
			break
		}
		n++
	}
	if n == 0 {
		return 0, true
	}
	g.mu.Lock()
	if _, ok := g.parked[events[0].Cover]; !ok {
		g.parked[events[0].Cover] = events[0].Position
	}
	g.mu.Unlock()
	s.parkedCounted(n)
	return n, true
}

// advance moves past every handled position at the start of the window.
// The caller holds g.mu.
func (g *segment) advance() {
	i := 0
	for i < len(g.window) && g.done[g.window[i]] {
		delete(g.done, g.window[i])
		i++
	}
	g.window = g.window[i:]
	if len(g.seen) > 0 {
		for c := range g.seen {
			if !g.sub.claims.has(c) {
				delete(g.seen, c)
			}
		}
	}
}

// handledUpTo is the highest position at or below which everything is
// handled: the low watermark. The caller holds g.mu.
func (g *segment) handledUpTo() uint64 {
	if len(g.window) == 0 {
		return g.read
	}
	return g.window[0] - 1
}

func (g *segment) saveLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.saveCheckpoint(ctx)
		}
	}
}

func (g *segment) saveCheckpoint(ctx context.Context) {
	g.mu.Lock()
	pos := g.handledUpTo()
	lease, lost := g.lease, g.lost
	changed := pos != g.lease.Position // the lease holds the saved checkpoint
	g.mu.Unlock()
	if !changed || lost {
		return
	}
	if err := g.sub.store.Advance(ctx, lease, pos); err != nil {
		if errors.Is(err, eventstore.ErrLeaseLost) {
			g.markLost()
		}
		g.sub.noteError(fmt.Errorf("save checkpoint of segment %d: %w", g.index, err))
		return
	}
	g.mu.Lock()
	g.lease.Position = pos
	g.mu.Unlock()
}

// markLost records that another replica holds the lease now; the
// subscription stops the segment at its next turn.
func (g *segment) markLost() {
	g.mu.Lock()
	g.lost = true
	g.mu.Unlock()
	g.sub.kick()
}

// markLostQuiet records that the lease is gone without waking the
// subscription (it is the one stopping the segment).
func (g *segment) markLostQuiet() {
	g.mu.Lock()
	g.lost = true
	g.mu.Unlock()
}

func (g *segment) isLost() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lost
}

// caughtUp waits (up to wait) until the segment has read cover's events up
// to sequence from (so every earlier event of it is read) and has nothing
// of it before from left to deliver: only then may an inline delivery of
// from.. go first without breaking the aggregate's order. A parked
// aggregate is never caught up.
func (g *segment) caughtUp(ctx context.Context, cover eventstore.Cover, from uint32, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		g.mu.Lock()
		_, parked := g.parked[cover]
		seen, read := g.seen[cover]
		first, busy := g.inflight[cover]
		q := g.queues[cover]
		ok := read && seen >= from && (!busy || first >= from) && (len(q) == 0 || q[0].Sequence >= from) && !g.stopping && !g.lost
		g.mu.Unlock()
		if ok || parked {
			return ok && !parked
		}
		if time.Now().After(deadline) || !sleep(ctx, 100*time.Microsecond) {
			return false
		}
	}
}

// status is the segment's live progress.
func (g *segment) status() (lease eventstore.Lease, read uint64, pending int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.lease
	l.Position = g.handledUpTo()
	return l, g.read, len(g.window)
}
