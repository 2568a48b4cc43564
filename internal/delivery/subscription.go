package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/eventstore"
)

// Subscription delivers the store's events to one consumer. Create it with
// New and run it with Run; it is safe for concurrent use.
type Subscription struct {
	consumer Consumer
	store    Storage
	dispatch Dispatcher
	opts     Options
	log      *slog.Logger
	claims   claims

	mu          sync.Mutex
	cond        *sync.Cond      // signals: work queued, work done, state changed
	window      []uint64        // positions read and not yet checkpointed, ascending
	done        map[uint64]bool // positions of window that are handled
	queues      map[eventstore.Cover][]eventstore.Logged
	ready       []eventstore.Cover // covers with queued events and no worker
	busy        map[eventstore.Cover]bool
	inflight    map[eventstore.Cover]uint32 // first sequence a worker is handling
	parked      map[eventstore.Cover]uint64 // parked aggregates → first parked position
	read        uint64                      // last position read from the log
	checkpoint  uint64                      // last position saved
	delivered   uint64                      // events handed to the consumer (counter)
	parkedCount int
	lastErr     string
	stopping    bool
}

// New returns a subscription of consumer to store. dispatch executes the
// commands a saga returns (nil when the consumer is not a saga).
func New(consumer Consumer, store Storage, dispatch Dispatcher, opts Options, log *slog.Logger) *Subscription {
	s := &Subscription{
		consumer: consumer,
		store:    store,
		dispatch: dispatch,
		opts:     opts.withDefaults(),
		log:      log.With("component", "delivery", "subscriber", consumer.Name()),
		done:     map[uint64]bool{},
		queues:   map[eventstore.Cover][]eventstore.Logged{},
		busy:     map[eventstore.Cover]bool{},
		inflight: map[eventstore.Cover]uint32{},
		parked:   map[eventstore.Cover]uint64{},
	}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// Name is the consumer's name.
func (s *Subscription) Name() string { return s.consumer.Name() }

// Status is a subscription's progress.
type Status struct {
	Name        string
	Checkpoint  uint64 // every event at or below it is handled
	Read        uint64 // last position read from the log
	Delivered   uint64 // events delivered since start
	Parked      int    // events parked since start
	Pending     int    // events read and not yet handled
	LastError   string
	Synchronous bool
}

// Status reports the subscription's progress.
func (s *Subscription) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{
		Name: s.consumer.Name(), Checkpoint: s.checkpoint, Read: s.read, Delivered: s.delivered,
		Parked: s.parkedCount, Pending: len(s.window), LastError: s.lastErr, Synchronous: s.opts.Synchronous,
	}
}

// Run delivers from the saved checkpoint until ctx ends, then saves the
// checkpoint of what was handled and returns nil. Events read but not yet
// delivered are delivered again after a restart (at least once).
func (s *Subscription) Run(ctx context.Context) error {
	cp, err := s.store.Checkpoint(ctx, s.Name())
	if err != nil {
		return fmt.Errorf("subscription %s: load checkpoint: %w", s.Name(), err)
	}
	parked, err := s.store.ParkedEvents(ctx, s.Name())
	if err != nil {
		return fmt.Errorf("subscription %s: load parked events: %w", s.Name(), err)
	}
	s.mu.Lock()
	s.read, s.checkpoint = cp, cp
	for _, p := range parked {
		if _, ok := s.parked[p.Cover]; !ok {
			s.parked[p.Cover] = p.Position
		}
	}
	s.mu.Unlock()
	s.log.Info("subscription started", "checkpoint", cp, "parked_aggregates", len(s.parked))

	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Go(func() { s.work(ctx) })
	}
	wg.Go(func() { s.saveLoop(ctx) })
	err = s.readLoop(ctx)

	s.mu.Lock()
	s.stopping = true
	s.cond.Broadcast()
	s.mu.Unlock()
	wg.Wait()
	s.saveCheckpoint(context.WithoutCancel(ctx))
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// readLoop feeds the queues from the log, keeping at most a bounded number
// of events in flight.
func (s *Subscription) readLoop(ctx context.Context) error {
	maxPending := s.opts.BatchSize * 8
	for {
		s.mu.Lock()
		for len(s.window) >= maxPending && ctx.Err() == nil {
			s.cond.Wait()
		}
		after := s.read
		s.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return err
		}
		wake := s.store.Appended()
		batch, err := s.store.ReadLog(ctx, after, s.opts.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.noteError(fmt.Errorf("read log: %w", err))
			if !sleep(ctx, s.opts.BackoffMin) {
				return ctx.Err()
			}
			continue
		}
		if len(batch) > 0 {
			s.enqueue(batch)
			continue
		}
		select {
		case <-wake:
		case <-time.After(s.opts.PollInterval):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Subscription) enqueue(batch []eventstore.Logged) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range batch {
		s.read = e.Position
		s.window = append(s.window, e.Position)
		if !s.opts.wants(e.Cover.Domain) {
			s.done[e.Position] = true
			continue
		}
		q := s.queues[e.Cover]
		if len(q) == 0 && !s.busy[e.Cover] {
			s.ready = append(s.ready, e.Cover)
		}
		s.queues[e.Cover] = append(q, e)
	}
	s.advance()
	s.cond.Broadcast()
}

// work delivers ready aggregates one at a time until the subscription stops.
func (s *Subscription) work(ctx context.Context) {
	for {
		s.mu.Lock()
		for len(s.ready) == 0 && !s.stopping && ctx.Err() == nil {
			s.cond.Wait()
		}
		if s.stopping || ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
		cover := s.ready[0]
		s.ready = s.ready[1:]
		if s.busy[cover] { // a replay holds it; it requeues the cover when done
			s.mu.Unlock()
			continue
		}
		q := s.queues[cover]
		n := min(len(q), s.opts.BatchSize)
		events := q[:n:n]
		s.queues[cover] = q[n:]
		s.busy[cover] = true
		s.inflight[cover] = events[0].Sequence
		_, isParked := s.parked[cover]
		s.mu.Unlock()

		handled := s.handle(ctx, cover, events, isParked)

		s.mu.Lock()
		delete(s.busy, cover)
		delete(s.inflight, cover)
		for _, e := range events[:handled] {
			s.done[e.Position] = true
		}
		if handled < len(events) { // cut short or stopping: put the rest back
			s.queues[cover] = append(events[handled:len(events):len(events)], s.queues[cover]...)
		}
		if len(s.queues[cover]) > 0 {
			s.ready = append(s.ready, cover)
		} else {
			delete(s.queues, cover)
		}
		s.advance()
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// handle delivers events (one cover, in sequence order) and returns how many
// of them are settled: delivered, skipped or parked. It returns fewer only
// when ctx ends.
func (s *Subscription) handle(ctx context.Context, cover eventstore.Cover, events []eventstore.Logged, isParked bool) int {
	if isParked {
		// Keep the aggregate's order: everything after a parked event waits
		// in the parking too, until replayed.
		if !s.park(ctx, events, "an earlier event of this aggregate is parked", 0) {
			return 0
		}
		return len(events)
	}
	// Skip what an inline delivery already handled. An event an inline
	// delivery may still be handling ends the batch when earlier events
	// are to be delivered: those go first, and the inline delivery, which
	// waits for them, may then go.
	todo := events[:0:0]
	for i, e := range events {
		if len(todo) > 0 && s.claims.pending(cover, e.Position) {
			events = events[:i]
			break
		}
		if len(todo) == 0 {
			s.mu.Lock()
			s.inflight[cover] = e.Sequence
			s.mu.Unlock()
		}
		hit, err := s.claims.handled(ctx, cover, e.Position, e.Sequence)
		if err != nil {
			return 0
		}
		if !hit {
			todo = append(todo, e)
		}
	}
	if len(todo) == 0 {
		return len(events)
	}
	// The call itself is not cut by ctx: on shutdown a delivery under way
	// finishes (bounded by the consumer's timeout) rather than being sent
	// again after the restart.
	var lastErr error
	for attempt, tries := 1, 1; attempt <= s.opts.MaxAttempts; tries++ {
		lastErr = s.deliver(context.WithoutCancel(ctx), cover, todo)
		if lastErr == nil {
			s.mu.Lock()
			s.delivered += uint64(len(todo))
			s.mu.Unlock()
			s.opts.Observer.Delivered(s.Name(), len(todo), time.Since(todo[len(todo)-1].CreatedAt))
			return len(events)
		}
		if ctx.Err() != nil {
			return 0
		}
		s.opts.Observer.Failed(s.Name())
		s.noteError(lastErr)
		// A consumer that is down has not refused the events: wait for it
		// as long as it takes. Only refusals use up attempts.
		if !unavailable(lastErr) {
			attempt++
		}
		if attempt <= s.opts.MaxAttempts {
			s.log.Debug("delivery failed; retrying", "cover", cover, "attempt", attempt, "err", lastErr)
			if !sleep(ctx, s.backoff(tries)) {
				return 0
			}
		}
	}
	s.log.Warn("delivery failed every attempt; parking the aggregate's events",
		"cover", cover, "attempts", s.opts.MaxAttempts, "from_sequence", todo[0].Sequence, "err", lastErr)
	if !s.park(ctx, todo, lastErr.Error(), s.opts.MaxAttempts) {
		return 0
	}
	return len(events)
}

// unavailable reports whether err says the other side is down or
// unreachable, rather than that it refused the events. Adapters mark such
// errors with an Unavailable method (a gRPC UNAVAILABLE status, a broker
// that is not connected).
func unavailable(err error) bool {
	var u interface{ Unavailable() bool }
	return errors.As(err, &u) && u.Unavailable()
}

// deliver makes one attempt at delivering events and dispatching what the
// consumer answered.
func (s *Subscription) deliver(ctx context.Context, cover eventstore.Cover, events []eventstore.Logged) error {
	book, err := s.book(ctx, cover, events)
	if err != nil {
		return err
	}
	out, err := s.consumer.Deliver(WithNewFrom(ctx, events[0].Sequence), book, false)
	if err != nil {
		return err
	}
	last := eventstore.Book{Cover: cover, Events: []eventstore.Event{events[len(events)-1].Event}}
	return s.dispatchAll(ctx, causedBy(cover, last, out.Commands))
}

func (s *Subscription) dispatchAll(ctx context.Context, cmds []business.CommandBook) error {
	for _, cmd := range cmds {
		if s.dispatch == nil {
			return fmt.Errorf("consumer returned commands, but no dispatcher is configured")
		}
		if err := s.dispatch.Dispatch(ctx, cmd); err != nil {
			return fmt.Errorf("dispatch command for %s: %w", cmd.Cover, err)
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

// park stores events as parked and marks their aggregate parked.
func (s *Subscription) park(ctx context.Context, events []eventstore.Logged, reason string, attempts int) bool {
	for _, e := range events {
		err := s.store.Park(ctx, s.Name(), eventstore.Parked{Logged: e, Reason: reason, Attempts: attempts})
		if err != nil {
			if ctx.Err() == nil {
				s.noteError(fmt.Errorf("park %s/%d: %w", e.Cover, e.Sequence, err))
			}
			return false
		}
	}
	s.mu.Lock()
	if _, ok := s.parked[events[0].Cover]; !ok {
		s.parked[events[0].Cover] = events[0].Position
	}
	s.parkedCount += len(events)
	s.mu.Unlock()
	s.opts.Observer.Parked(s.Name(), len(events))
	return true
}

// advance moves the checkpoint candidate past every handled position at
// the start of the window. The caller holds s.mu.
func (s *Subscription) advance() {
	i := 0
	for i < len(s.window) && s.done[s.window[i]] {
		delete(s.done, s.window[i])
		i++
	}
	s.window = s.window[i:]
}

// handledUpTo is the highest position at or below which everything is
// handled. The caller holds s.mu.
func (s *Subscription) handledUpTo() uint64 {
	if len(s.window) == 0 {
		return s.read
	}
	return s.window[0] - 1
}

func (s *Subscription) saveLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.saveCheckpoint(ctx)
		}
	}
}

func (s *Subscription) saveCheckpoint(ctx context.Context) {
	s.mu.Lock()
	pos := s.handledUpTo()
	changed := pos != s.checkpoint
	s.mu.Unlock()
	if !changed {
		return
	}
	if err := s.store.SaveCheckpoint(ctx, s.Name(), pos); err != nil {
		s.noteError(fmt.Errorf("save checkpoint: %w", err))
		return
	}
	s.mu.Lock()
	s.checkpoint = pos
	s.mu.Unlock()
}

func (s *Subscription) backoff(attempt int) time.Duration {
	d := s.opts.BackoffMin << min(attempt-1, 30)
	if d <= 0 || d > s.opts.BackoffMax {
		d = s.opts.BackoffMax
	}
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
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

// caughtUp waits (up to wait) until the subscription has read the log up to
// head and has nothing of cover before sequence from left to deliver: only
// then may an inline delivery of from.. go first without breaking the
// aggregate's order. A parked aggregate is never caught up.
func (s *Subscription) caughtUp(ctx context.Context, cover eventstore.Cover, head uint64, from uint32, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		s.mu.Lock()
		_, parked := s.parked[cover]
		first, busy := s.inflight[cover]
		q := s.queues[cover]
		ok := s.read >= head && (!busy || first >= from) && (len(q) == 0 || q[0].Sequence >= from)
		s.mu.Unlock()
		if ok || parked {
			return ok && !parked
		}
		if time.Now().After(deadline) || !sleep(ctx, 100*time.Microsecond) {
			return false
		}
	}
}

// Wants reports whether the subscription receives events of domain.
func (s *Subscription) Wants(domain string) bool { return s.opts.wants(domain) }

// Consumer is the subscription's consumer.
func (s *Subscription) Consumer() Consumer { return s.consumer }
