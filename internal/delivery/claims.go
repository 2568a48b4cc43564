package delivery

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/evented/evented/internal/eventstore"
)

// claims let an inline delivery and a subscription share one consumer
// without delivering the same events twice or out of order.
//
// The command coordinator claims the aggregate before it appends; the
// subscription, on reading an event of a claimed aggregate, waits until the
// claim settles, then skips the events the inline delivery handled.
type claims struct {
	mu sync.Mutex
	m  map[eventstore.Cover][]*claim
	// covers is len(m), kept for has: most subscriptions never have a
	// claim, and their readers and workers then ask without the lock.
	covers atomic.Int64
}

type claim struct {
	head     uint64 // the log's head when taken: it covers later positions only
	done     chan struct{}
	from, to uint32 // sequences [from, to) delivered inline, set on settle
	ok       bool
	// first is the first sequence appended, once known (before the inline
	// call): earlier events of the aggregate are not the claim's and need
	// not wait for it.
	first      uint32
	firstKnown bool
}

func (c *claims) take(cover eventstore.Cover, head uint64) *claim {
	cl := &claim{head: head, done: make(chan struct{})}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[eventstore.Cover][]*claim{}
	}
	c.m[cover] = append(c.m[cover], cl)
	c.covers.Store(int64(len(c.m)))
	c.mu.Unlock()
	return cl
}

// appended records the first sequence cl's append got.
func (c *claims) appended(cl *claim, first uint32) {
	c.mu.Lock()
	cl.first, cl.firstKnown = first, true
	c.mu.Unlock()
}

// has reports whether cover has claims.
func (c *claims) has(cover eventstore.Cover) bool {
	if c.covers.Load() == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m[cover]) > 0
}

// covers reports whether cl may hold the event at position with sequence
// seq. The caller holds c.mu.
func (cl *claim) covers(position uint64, seq uint32) bool {
	return cl.head < position && (!cl.firstKnown || seq >= cl.first)
}

// settle records the outcome of cl: ok when the consumer handled sequences
// [from, to) inline. A claim that delivered nothing is dropped at once.
func (c *claims) settle(cover eventstore.Cover, cl *claim, from, to uint32, ok bool) {
	cl.from, cl.to, cl.ok = from, to, ok && to > from
	close(cl.done)
	if !cl.ok {
		c.drop(cover, func(x *claim) bool { return x == cl })
	}
}

// handled waits for the claims on cover that may hold the event at
// position (those taken before it was committed), then reports whether its
// sequence seq was delivered inline. It forgets settled claims that end at
// or before seq, since the log only moves forward.
func (c *claims) handled(ctx context.Context, cover eventstore.Cover, position uint64, seq uint32) (bool, error) {
	c.mu.Lock()
	var pending []*claim
	for _, cl := range c.m[cover] {
		if cl.covers(position, seq) {
			pending = append(pending, cl)
		}
	}
	c.mu.Unlock()
	if len(pending) == 0 {
		return false, nil
	}
	hit := false
	for _, cl := range pending {
		select {
		case <-cl.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if cl.ok && seq >= cl.from && seq < cl.to {
			hit = true
		}
	}
	c.drop(cover, func(x *claim) bool {
		select {
		case <-x.done:
			return !x.ok || x.to <= seq+1
		default:
			return false
		}
	})
	return hit, nil
}

// pending reports, without waiting, whether a claim that may hold the event
// at position is not settled yet.
func (c *claims) pending(cover eventstore.Cover, position uint64, seq uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.m[cover] {
		select {
		case <-cl.done:
		default:
			if cl.covers(position, seq) {
				return true
			}
		}
	}
	return false
}

func (c *claims) drop(cover eventstore.Cover, match func(*claim) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.m[cover][:0]
	for _, x := range c.m[cover] {
		if !match(x) {
			list = append(list, x)
		}
	}
	if len(list) == 0 {
		delete(c.m, cover)
	} else {
		c.m[cover] = list
	}
	c.covers.Store(int64(len(c.m)))
}
