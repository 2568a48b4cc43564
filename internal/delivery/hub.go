package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/eventstore"
)

// Hub holds every subscription, in configuration order, and makes the
// inline deliveries of the synchronous ones.
type Hub struct {
	subs []*Subscription
}

// NewHub returns a hub over subs (configuration order).
func NewHub(subs ...*Subscription) *Hub { return &Hub{subs: subs} }

// Subscriptions returns the hub's subscriptions in configuration order.
func (h *Hub) Subscriptions() []*Subscription {
	if h == nil {
		return nil
	}
	return h.subs
}

// Subscription returns the subscription called name, or nil.
func (h *Hub) Subscription(name string) *Subscription {
	for _, s := range h.Subscriptions() {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// ErrUnknownSubscriber is matched by every *UnknownSubscriberError.
var ErrUnknownSubscriber = errors.New("unknown subscriber")

// UnknownSubscriberError reports a subscriber name that is not configured.
type UnknownSubscriberError struct {
	Name  string
	Known []string
}

func (e *UnknownSubscriberError) Error() string {
	return fmt.Sprintf("unknown subscriber %q; configured subscribers: %v", e.Name, e.Known)
}

// Is makes errors.Is(err, ErrUnknownSubscriber) true.
func (e *UnknownSubscriberError) Is(target error) bool { return target == ErrUnknownSubscriber }

// Inline is the inline delivery of one append, begun before the append so
// that the subscriptions of the synchronous consumers wait for it.
type Inline struct {
	cover     eventstore.Cover
	head      uint64 // the log's head before the append
	headRead  bool
	from, to  uint32    // the sequences appended
	committed time.Time // when they were
	entries   []inlineEntry
}

type inlineEntry struct {
	sub      *Subscription
	claim    *claim                 // in this process: the segment is this replica's
	commands []business.CommandBook // a saga's, until Finish
	settled  bool
	// remote: another replica owns the aggregate's segment; the entry
	// goes inline only with the aggregate's delivery mark claimed in the
	// store (see Expect).
	remote  bool
	mark    eventstore.Mark
	claimed bool
}

// Begin claims cover for every synchronous subscription that wants its
// domain and whose segment of cover this replica delivers (another
// replica's segment is delivered by its owner, after the reply). Call it
// before appending, while holding the aggregate's command lock, then
// exactly one of Abort or Deliver.
func (h *Hub) Begin(ctx context.Context, cover eventstore.Cover) (*Inline, error) {
	in := &Inline{cover: cover}
	for _, s := range h.Subscriptions() {
		if !s.opts.Synchronous || !s.opts.wants(cover.Domain) || !s.inlineActive() {
			continue
		}
		if s.local(cover) == nil {
			if s.remoteInline() {
				in.entries = append(in.entries, inlineEntry{sub: s, remote: true})
			}
			continue
		}
		if !in.headRead {
			head, err := s.store.Head(ctx)
			if err != nil {
				return nil, fmt.Errorf("log head: %w", err)
			}
			in.head, in.headRead = head, true
		}
		in.entries = append(in.entries, inlineEntry{sub: s, claim: s.claims.take(cover, in.head)})
	}
	return in, nil
}

// Expect is told, before each append, the sequence the append will start
// at. For a consumer whose aggregate's segment another replica owns, it
// claims the aggregate's delivery mark in the store: that succeeds once
// every earlier event has reached the consumer, and keeps the owner from
// delivering the events about to be appended. Without the claim (within
// catchUpWait) the owner delivers them, after the reply.
func (in *Inline) Expect(ctx context.Context, from uint32) {
	for i := range in.entries {
		e := &in.entries[i]
		if !e.remote || e.settled {
			continue
		}
		s := e.sub
		if e.claimed { // a previous try conflicted: claim afresh
			in.release(ctx, e)
		}
		deadline := time.Now().Add(catchUpWait)
		for {
			m, ok, err := s.store.ClaimMark(ctx, s.Name(), in.cover, from, s.opts.Owner, s.opts.ClaimTTL)
			if err != nil {
				s.noteError(fmt.Errorf("claim delivery mark of %s: %w", in.cover, err))
				break
			}
			if ok {
				e.mark, e.claimed = m, true
				s.markClaimed(in.cover, 1)
				break
			}
			if m.Next > from || time.Now().After(deadline) || !sleep(ctx, 2*time.Millisecond) {
				break
			}
		}
	}
}

// release ends a remote entry's claim without advancing its mark.
func (in *Inline) release(ctx context.Context, e *inlineEntry) {
	e.claimed = false
	defer e.sub.markClaimed(in.cover, -1)
	if err := e.sub.store.SettleMark(context.WithoutCancel(ctx), e.sub.Name(), in.cover, e.mark, 0); err != nil {
		e.sub.noteError(fmt.Errorf("release delivery mark of %s: %w", in.cover, err))
	}
}

// catchUpWait bounds how long an inline delivery waits for its subscription
// to finish the aggregate's earlier events; normally microseconds. Past it
// (the consumer is failing, or far behind), the subscription delivers.
const catchUpWait = 200 * time.Millisecond

// errNotFirst is the failure of an inline delivery that had to give way to
// earlier events of the aggregate still in its subscription.
var errNotFirst = errors.New("earlier events of this aggregate are still being delivered; the subscription delivers these after them")

// errMoved is the failure of an inline delivery whose segment another
// replica took over meanwhile.
var errMoved = errors.New("the aggregate's segment moved to another replica; it delivers these events")

// InlineResult is what the synchronous consumers answered.
type InlineResult struct {
	Projections []Projection
	// Commands are the sagas' commands, to be passed to Finish.
	Commands []business.CommandBook
	// Failures are consumers that failed; their subscriptions deliver the
	// events again asynchronously.
	Failures []Failure
}

// Consumers names the synchronous consumers this inline delivery calls
// (or leaves to the replica that owns the aggregate's segment).
func (in *Inline) Consumers() []string {
	names := make([]string, len(in.entries))
	for i, e := range in.entries {
		names[i] = e.sub.Name()
	}
	return names
}

// Failure is a consumer that failed an inline delivery.
type Failure struct {
	Consumer string
	Err      error
}

func (f Failure) Error() string { return fmt.Sprintf("%s: %v", f.Consumer, f.Err) }

// Deliver calls the synchronous consumers, in configuration order, with the
// events just stored. A consumer that fails is reported in the result and
// left to its subscription; it never fails the others. Sagas' commands are
// returned, not dispatched: the caller releases the aggregate's lock, then
// calls Finish, so that a saga's command to another aggregate never waits
// on a lock this command holds.
func (in *Inline) Deliver(ctx context.Context, stored eventstore.Book) InlineResult {
	var res InlineResult
	in.from, in.to = firstSeq(stored), stored.Next()
	if n := len(stored.Events); n > 0 {
		in.committed = stored.Events[n-1].CreatedAt
	}
	for i := range in.entries {
		e := &in.entries[i]
		out, err := Outcome{}, errNotFirst
		switch {
		case e.remote && (!e.claimed || e.mark.From != in.from):
			// Not claimed (earlier events still on their way, or the
			// store did not answer): the segment's owner delivers these,
			// after the reply, in order.
			if e.claimed {
				in.release(ctx, e)
			}
			e.settled = true
			continue
		case e.remote:
			out, err = e.sub.deliverInline(ctx, in.cover, stored)
		default:
			e.sub.claims.appended(e.claim, in.from)
			if seg := e.sub.local(in.cover); seg == nil {
				err = errMoved
			} else if seg.caughtUp(ctx, in.cover, in.from, catchUpWait) {
				out, err = e.sub.deliverInline(ctx, in.cover, stored)
			} else if last := e.sub.Status().LastError; last != "" {
				// Say why the earlier events are still on their way.
				err = fmt.Errorf("%w (the last delivery error of %s: %s)", errNotFirst, e.sub.Name(), last)
			}
		}
		e.commands = out.Commands
		called := err == nil || !errors.Is(err, errNotFirst) && !errors.Is(err, errMoved)
		switch {
		case called && err == nil:
			e.sub.opts.Outage.Up()
		case called && unavailable(err):
			// An attempt that its subscription tries again; the outage
			// tracker warns, once per outage, not once per command.
			e.sub.failed(err)
			e.sub.opts.Outage.Down(err)
			e.sub.log.Debug("inline delivery failed: consumer unavailable; the subscription will retry it", "cover", in.cover, "err", err)
		case called:
			e.sub.failed(err)
			e.sub.log.Warn("inline delivery failed; the subscription will retry it", "cover", in.cover, "err", err)
		case err != nil:
			e.sub.log.Debug("inline delivery left to the subscription", "cover", in.cover, "err", err)
		}
		if err != nil {
			res.Failures = append(res.Failures, Failure{Consumer: e.sub.Name(), Err: err})
			in.settle(e, false)
			continue
		}
		if out.Projection != nil {
			res.Projections = append(res.Projections, *out.Projection)
			if err := e.sub.publish(ctx, in.cover, in.to-1, out.Projection); err != nil {
				// Delivered, but not kept: the subscription delivers the
				// events again, and keeps the projection then.
				e.sub.log.Warn("inline projection not stored; the subscription will deliver again", "cover", in.cover, "err", err)
				res.Failures = append(res.Failures, Failure{Consumer: e.sub.Name(), Err: err})
				in.settle(e, false)
				continue
			}
		}
		if len(e.commands) == 0 {
			in.settle(e, true)
			continue
		}
		res.Commands = append(res.Commands, e.commands...)
	}
	return res
}

// Finish dispatches the sagas' commands, each saga's in order, and settles
// their claims: a saga whose commands all went through is done; one whose
// dispatch failed is reported and left to its subscription, which asks the
// saga again (unless permanent says the failure would only repeat).
func (in *Inline) Finish(ctx context.Context, dispatch func(context.Context, business.CommandBook) error, permanent func(error) bool) []Failure {
	var failures []Failure
	for i := range in.entries {
		e := &in.entries[i]
		if e.settled {
			continue
		}
		var err error
		for _, cmd := range e.commands {
			if err = dispatch(ctx, cmd); err != nil {
				err = fmt.Errorf("dispatch command for %s: %w", cmd.Cover, err)
				break
			}
		}
		if err != nil {
			failures = append(failures, Failure{Consumer: e.sub.Name(), Err: err})
			e.sub.log.Warn("saga command failed", "cover", in.cover, "err", err)
		}
		in.settle(e, err == nil || permanent(err))
	}
	return failures
}

// Abort releases the claims not yet settled (nothing was appended, or the
// caller gives up).
func (in *Inline) Abort() {
	for i := range in.entries {
		if e := &in.entries[i]; !e.settled {
			in.to = in.from
			in.settle(e, false)
		}
	}
}

func (in *Inline) settle(e *inlineEntry, ok bool) {
	e.settled = true
	ctx := context.Background()
	if e.remote {
		if !e.claimed {
			return
		}
		e.claimed = false
		defer e.sub.markClaimed(in.cover, -1)
		to := in.from // not delivered: the owner delivers from here
		if ok {
			to = in.to
		}
		if err := e.sub.store.SettleMark(ctx, e.sub.Name(), in.cover, e.mark, to); err != nil {
			// The claim lapsed and was taken: the owner may deliver these
			// events again (at least once).
			e.sub.noteError(fmt.Errorf("settle delivery mark of %s: %w", in.cover, err))
		}
	} else {
		e.sub.claims.settle(in.cover, e.claim, in.from, in.to, ok)
		if ok && in.to > in.from {
			e.sub.advanceMark(ctx, in.cover, in.to)
		}
	}
	if ok && in.to > in.from {
		e.sub.counted(int(in.to-in.from), in.committed)
	}
}

// deliverInline makes the inline call of one consumer: one call, or with
// EventPerBook one per event. The commands a saga returns come back with
// their cause and idempotency key set, as the subscription would set them.
func (s *Subscription) deliverInline(ctx context.Context, cover eventstore.Cover, stored eventstore.Book) (Outcome, error) {
	books := []eventstore.Book{stored}
	if s.opts.EventPerBook && len(stored.Events) > 1 {
		books = books[:0]
		for _, e := range stored.Events {
			books = append(books, eventstore.Book{Cover: cover, Events: []eventstore.Event{e}})
		}
	}
	var res Outcome
	for _, b := range books {
		book := b
		if s.opts.History {
			var err error
			if book, err = History(ctx, s.store, s.store, cover, b.Next()); err != nil {
				return Outcome{}, err
			}
		}
		out, err := s.consumer.Deliver(WithNewFrom(ctx, firstSeq(b)), book, true)
		if err != nil {
			return Outcome{}, err
		}
		if out.Projection != nil {
			res.Projection = out.Projection
		}
		if err := s.saveDeadlines(ctx, cover, b.Events, out); err != nil {
			return Outcome{}, err
		}
		res.Commands = append(res.Commands, s.keyed(cover, b.Events, out.Commands)...)
	}
	return res, nil
}

// keyed gives the commands a saga returned for the new events of cover
// their cause (the last event) and, where they have none, their
// idempotency key (the first event's sequence and the command's index).
func (s *Subscription) keyed(cover eventstore.Cover, events []eventstore.Event, cmds []business.CommandBook) []business.CommandBook {
	if len(cmds) == 0 || len(events) == 0 {
		return cmds
	}
	cmds = causedBy(cover, eventstore.Book{Cover: cover, Events: events}, cmds)
	for i := range cmds {
		if cmds[i].IdempotencyKey == "" {
			cmds[i].IdempotencyKey = SagaKey(s.Name(), cover, events[0].Sequence, i)
		}
	}
	return cmds
}

// causedBy sets the cause of the commands a saga returned for book: its
// last event, the newest one delivered, triggered them. It returns cmds.
func causedBy(cover eventstore.Cover, book eventstore.Book, cmds []business.CommandBook) []business.CommandBook {
	if n := len(book.Events); n > 0 {
		for i := range cmds {
			cmds[i].Cause = eventstore.Following(cover, book.Events[n-1])
		}
	}
	return cmds
}

func firstSeq(b eventstore.Book) uint32 {
	if len(b.Events) == 0 {
		return 0
	}
	return b.Events[0].Sequence
}

// saveDeadlines stores the deadlines a saga returned for events of cover,
// with the cause its commands get and a deterministic command id (the
// saga, the first event), so that a repeated delivery schedules the same
// deadlines under the same idempotency keys.
func (s *Subscription) saveDeadlines(ctx context.Context, cover eventstore.Cover, events []eventstore.Event, out Outcome) error {
	if len(out.Deadlines) == 0 || len(events) == 0 {
		return nil
	}
	if s.opts.SaveDeadlines == nil {
		return fmt.Errorf("saga %s returned deadlines, but this server keeps none", s.Name())
	}
	cause := eventstore.Following(cover, events[len(events)-1])
	cause.CommandID = SagaKey(s.Name(), cover, events[0].Sequence, -1)
	return s.opts.SaveDeadlines(ctx, out.Deadlines, cause)
}
