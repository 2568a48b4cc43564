package redis

import (
	"context"
	"errors"
	"fmt"

	"github.com/evented/evented/internal/eventstore"
)

// Appends made at once are grouped: an append (Append, AppendKeyed,
// AppendScheduling) is written by its caller, with its own script, when no
// other append is queued or being written and the writer's last group held
// one append at most (appends come one at a time); else it is queued for
// the writer goroutine, which takes whatever is queued (up to groupMax
// appends) and makes them with one groupScript call, as AppendGroup does:
// one round trip, one script and, with appendfsync always, one fsync of
// the append-only file for the group, each append still checked and
// written on its own (a conflict, a key found stored, fails or answers
// only its own append). One writer at a time: the writer and a caller
// writing its own append both hold writing.
//
// A caller whose ctx ends while its append is queued gets ctx.Err(), and
// the append is never sent; once the writer took it, the caller that gives
// up gets an *eventstore.InDoubtError, as for a lone append whose script
// was sent (eventstore.Handoff settles which).
type pending struct {
	eventstore.Handoff[eventstore.GroupResult]
	ctx context.Context
	a   eventstore.GroupAppend
}

// queueLen bounds the appends waiting for the writer; past it, callers
// wait to queue.
const queueLen = 1024

// write makes a: by its own script (one), or queued for the writer, as
// pending's comment says.
func (s *Store) write(ctx context.Context, a eventstore.GroupAppend) eventstore.GroupResult {
	if s.lastGroup.Load() > 1 || len(s.appends) > 0 || !s.writing.TryLock() {
		return s.grouped(ctx, a)
	}
	defer s.writing.Unlock()
	s.alone.Add(1)
	return s.one(ctx, a)
}

// one makes a alone, with the script of its kind: schedulingScript's when
// it plans deadlines, keyedScript when it has a key, else appendScript.
func (s *Store) one(ctx context.Context, a eventstore.GroupAppend) (r eventstore.GroupResult) {
	switch {
	case !a.Plan.Empty():
		r.Events, r.Prior, r.Err = s.appendSchedulingOne(ctx, a.Cover, a.Pages, a.Key, a.Plan)
	case a.Key != nil:
		r.Events, r.Prior, r.Err = s.appendKeyedOne(ctx, a.Cover, a.Pages, *a.Key)
	default:
		r.Events, r.Err = s.appendOne(ctx, a.Cover, a.Pages)
	}
	return r
}

// grouped queues a for the writer and waits for its answer.
func (s *Store) grouped(ctx context.Context, a eventstore.GroupAppend) eventstore.GroupResult {
	p := &pending{Handoff: eventstore.Handoff[eventstore.GroupResult]{Done: make(chan eventstore.GroupResult, 1)}, ctx: ctx, a: a}
	if err := eventstore.Queue(ctx, s.appends, p, s.stopped); err != nil {
		return eventstore.GroupResult{Err: err}
	}
	r, err, abandoned := p.Await(ctx, s.stopped)
	switch {
	case err == nil:
		return r
	case abandoned:
		return eventstore.GroupResult{Err: err}
	case errors.Is(err, eventstore.ErrClosed):
		// The writer answers every append it took before it stops.
		return <-p.Done
	}
	return eventstore.GroupResult{Err: &eventstore.InDoubtError{Op: fmt.Sprintf("redis: append to %s", a.Cover), Err: err}}
}

// writer makes the queued appends, a group at a time, until ctx ends. A
// group in flight is finished first (its call does not take ctx), so every
// append taken is answered.
func (s *Store) writer(ctx context.Context) {
	defer close(s.stopped)
	run := context.WithoutCancel(ctx)
	held := make([]*pending, 0, groupMax)
	batch := make([]*pending, 0, groupMax)
	as := make([]eventstore.GroupAppend, 0, groupMax)
	for {
		held = held[:0]
		select {
		case p := <-s.appends:
			held = append(held, p)
		case <-ctx.Done():
			return // callers still queued see s.stopped
		}
		s.begun.Add(1)
		s.writing.Lock()
		eventstore.AwaitRequeue(int(s.lastGroup.Load()), func() int { return len(s.appends) })
		held = eventstore.Drain(held, s.appends, groupMax)
		batch, as = batch[:0], as[:0]
		for _, p := range held {
			if !p.take() {
				continue
			}
			batch = append(batch, p)
			as = append(as, p.a)
		}
		s.lastGroup.Store(int32(len(batch)))
		if len(batch) > 0 {
			s.groups.Add(1)
			for i, r := range s.AppendGroup(run, as) {
				batch[i].Answer(r)
			}
		}
		// Released after the answers: the callers answered queue their
		// next appends for the next group rather than write them alone.
		s.writing.Unlock()
	}
}

// take takes p and reports whether it did: not when its caller gave up on
// it, nor when its ctx has ended (then p is answered with ctx.Err(),
// unless its caller got there first).
func (p *pending) take() bool {
	return !p.Expire(p.ctx, func(err error) eventstore.GroupResult { return eventstore.GroupResult{Err: err} }) && p.Take()
}
