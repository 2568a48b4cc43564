package eventstore

import (
	"context"
	"sync"
)

// GroupAppend is one append of a group (GroupAppender.AppendGroup):
// AppendScheduling's arguments, and the deadline the append fires.
type GroupAppend struct {
	Cover Cover
	Pages []Page
	Key   *Key
	Plan  DeadlinePlan
	// Fired, when not nil, is the deadline whose command the append
	// stores: it is removed with the append, as Deadlines.Fired removes
	// it (unless rescheduled since), when the events are stored or the
	// key is found stored for the same command; it stays pending when
	// the append stores nothing for another reason.
	Fired *Deadline
}

// GroupResult is what AppendScheduling would have returned for one append
// of a group.
type GroupResult struct {
	Events []Event
	Prior  *KeyRecord
	Err    error
	// Removed is true when the append's Fired deadline was removed.
	Removed bool
}

// Fires reports whether a's Fired deadline is to be removed given what
// its append did (r): its events were stored, or its key was found stored
// for the same command.
func (a GroupAppend) Fires(r GroupResult) bool {
	return a.Fired != nil && r.Err == nil && (len(r.Events) > 0 || r.Prior != nil)
}

// GroupAppender is the optional ability of a Deadlines store to apply many
// appends in few transactions (one, where it can), e.g. the commands of
// thousands of deadlines due at once: each append is still checked on its
// own (its sequences, its key, its plan, all stored together or not at
// all), and one that conflicts or finds its key stored fails or answers
// alone, never the others. Callers find it by type assertion; AppendEach
// does the same one append at a time.
type GroupAppender interface {
	// AppendGroup applies as, in order (appends to one cover see each
	// other), and returns one result per append. A failure of the whole
	// (the store unavailable) is the Err of every append it left unapplied.
	AppendGroup(ctx context.Context, as []GroupAppend) []GroupResult
}

// eachAtOnce bounds the appends (loads) AppendEach (LoadBooks) has under
// way at once on a store without the group ability, so that a group costs
// about its slowest round trips, not the sum of them all.
const eachAtOnce = 16

// AppendEach is AppendGroup for a store without the ability: each append
// by AppendScheduling (those of one cover one after the other, in order;
// up to 16 covers at once), then the fired deadlines of those that were
// stored, removed in one call (after their events, not with them: a
// removal that fails leaves them to fire again, which their keys answer).
func AppendEach(ctx context.Context, d Deadlines, as []GroupAppend) []GroupResult {
	out := make([]GroupResult, len(as))
	byCover := map[Cover][]int{}
	var covers []Cover
	for i, a := range as {
		if _, ok := byCover[a.Cover]; !ok {
			covers = append(covers, a.Cover)
		}
		byCover[a.Cover] = append(byCover[a.Cover], i)
	}
	each(len(covers), func(c int) {
		for _, i := range byCover[covers[c]] {
			a, r := as[i], &out[i]
			r.Events, r.Prior, r.Err = d.AppendScheduling(ctx, a.Cover, a.Pages, a.Key, a.Plan)
		}
	})
	var fired []Deadline
	var idx []int
	for i, a := range as {
		if a.Fires(out[i]) {
			fired = append(fired, *a.Fired)
			idx = append(idx, i)
		}
	}
	// A removal that fails leaves the deadlines pending (Removed false):
	// they fire again and their keys answer.
	if len(fired) > 0 && d.Fired(ctx, fired) == nil {
		for _, i := range idx {
			out[i].Removed = true
		}
	}
	return out
}

// each calls fn(0) … fn(n-1), up to eachAtOnce at once, and returns when
// all have.
func each(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, eachAtOnce)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}
