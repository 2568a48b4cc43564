package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/business"
	"github.com/evented/evented/internal/deadline"
	"github.com/evented/evented/internal/eventstore"
)

// FireGroup fires the commands of deadlines due together (a
// deadline.GroupDispatch): as Fire does each, but with their aggregates
// loaded together (eventstore.LoadBooks: two queries, not two per
// command), business logic asked once per command, and the appends
// written together (eventstore.GroupAppender: one transaction for many,
// each still checked on its own: its sequences, its idempotency key, its
// deadlines, and the fired deadline removed with its events).
//
// What the group cannot settle alone goes through Fire afterwards, one
// at a time in the group's order, once the group's aggregates are
// unlocked: a second firing for an aggregate already in the group (so
// that it sees the first one's events), an append that conflicted with
// another writer (reloaded and decided again, as Fire retries), a refusal
// or no-op decided on an aggregate kept in memory (checked against the
// store), and a domain with synchronous consumers (delivered inline). One
// failing command never fails the others.
func (c *Coordinator) FireGroup(ctx context.Context, fs []deadline.Firing) []deadline.Outcome {
	out := make([]deadline.Outcome, len(fs))
	if c.dls == nil || c.keys == nil || len(fs) < 2 {
		for i, f := range fs {
			out[i].Err = c.Fire(ctx, f.Command)
		}
		return out
	}
	var (
		items []*groupItem
		later []int // fired one by one after the group
		seen  = make(map[eventstore.Cover]bool, len(fs))
	)
	for i, f := range fs {
		cmd := f.Command
		if err := validate(cmd); err != nil {
			out[i].Err = err
			continue
		}
		if seen[cmd.Cover] || cmd.IdempotencyKey == "" || cmd.Cause.Depth >= MaxCascade {
			later = append(later, i)
			continue
		}
		logic, err := c.router.Route(cmd.Cover.Domain)
		if err != nil {
			out[i].Err = err
			continue
		}
		key, err := c.storeKey(cmd.IdempotencyKey, commandFingerprint(cmd))
		if err != nil {
			out[i].Err = err
			continue
		}
		if cmd.Cause.CorrelationID == "" {
			cmd.Cause.CorrelationID = uuid.NewString()
		}
		if cmd.Cause.CommandID == "" {
			cmd.Cause.CommandID = uuid.NewString()
		}
		seen[cmd.Cover] = true
		items = append(items, &groupItem{i: i, cmd: cmd, logic: logic, key: key})
	}
	later = append(later, c.fireLocked(ctx, fs, items, out)...)
	slices.Sort(later)
	for _, i := range later {
		out[i] = deadline.Outcome{Err: c.Fire(ctx, fs[i].Command)}
	}
	return out
}

// decideAtOnce bounds the business logic calls of a group under way at
// once.
const decideAtOnce = 16

// groupItem is one command of a group on its way.
type groupItem struct {
	i        int // its index in the group
	cmd      business.CommandBook
	logic    business.Logic
	key      *eventstore.Key
	prior    eventstore.Book
	kept     bool // prior came from memory
	decision business.Decision
	plan     eventstore.DeadlinePlan
}

// fireLocked runs items (one per aggregate) under their aggregates' locks,
// taken in cover order so that two groups never wait for each other, and
// sets their outcomes; it returns the indexes of those to fire one by one
// once the locks are released.
func (c *Coordinator) fireLocked(ctx context.Context, fs []deadline.Firing, items []*groupItem, out []deadline.Outcome) (later []int) {
	slices.SortFunc(items, func(a, b *groupItem) int {
		if n := strings.Compare(a.cmd.Cover.Domain, b.cmd.Cover.Domain); n != 0 {
			return n
		}
		return bytes.Compare(a.cmd.Cover.Root[:], b.cmd.Cover.Root[:])
	})
	for n, it := range items {
		unlock, err := c.locks.lock(ctx, it.cmd.Cover)
		if err != nil {
			for _, it := range items[n:] {
				out[it.i].Err = err
			}
			items = items[:n]
			break
		}
		defer unlock()
	}
	// Synchronous consumers are delivered to inline, by Fire.
	ready := items[:0]
	for _, it := range items {
		in, err := c.hub.Begin(ctx, it.cmd.Cover)
		switch {
		case err != nil:
			out[it.i].Err = err
		case len(in.Consumers()) > 0:
			in.Abort()
			later = append(later, it.i)
		default:
			ready = append(ready, it)
		}
	}
	items = ready
	if len(items) == 0 {
		return later
	}
	var load []eventstore.Cover
	for _, it := range items {
		if it.prior, it.kept = c.books.get(it.cmd.Cover); !it.kept {
			load = append(load, it.cmd.Cover)
		}
	}
	if len(load) > 0 {
		start := time.Now()
		books, err := eventstore.LoadBooks(ctx, c.store, c.snaps, load)
		took := time.Since(start) / time.Duration(len(load))
		j := 0
		for _, it := range items {
			switch {
			case err != nil && it.kept:
				later = append(later, it.i) // not left without an outcome
				continue
			case it.kept:
				continue
			case err != nil:
				out[it.i].Err = err
				continue
			}
			it.prior = books[j]
			j++
			if c.opts.Loads != nil {
				c.opts.Loads.Loaded(it.cmd.Cover, took, len(it.prior.Events))
			}
		}
		if err != nil {
			return later
		}
	}
	// Business logic is asked for every command at once (up to
	// decideAtOnce): over gRPC each call is a round trip.
	decisions := make([]business.Decision, len(items))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	sem := make(chan struct{}, decideAtOnce)
	for n, it := range items {
		if out[it.i].Err != nil {
			continue // its load failed
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			decisions[n], errs[n] = c.decide(ctx, it.logic, business.Request{Prior: it.prior, Command: it.cmd})
		}()
	}
	wg.Wait()
	var as []eventstore.GroupAppend
	var appending []*groupItem
	for n, it := range items {
		if out[it.i].Err != nil {
			continue
		}
		d, err := decisions[n], errs[n]
		if (err != nil || len(d.Events) == 0) && it.kept {
			// Must stand on what is stored: Fire checks it.
			later = append(later, it.i)
			continue
		}
		if err != nil {
			out[it.i].Err = err
			continue
		}
		if len(d.Events) == 0 {
			c.books.put(it.prior)
			if len(d.Deadlines) > 0 {
				out[it.i].Err = c.saveAlone(ctx, it.cmd, d.Deadlines)
			}
			continue
		}
		if len(d.Deadlines) > 0 {
			if it.plan.Schedule, it.plan.Cancel, err = deadline.Plan(d.Deadlines, it.cmd.Cause); err != nil {
				out[it.i].Err = err
				continue
			}
		}
		it.decision = d
		as = append(as, eventstore.GroupAppend{Cover: it.cmd.Cover, Pages: c.number(it.logic, d.Events, it.prior.Next(), it.cmd.Cause),
			Key: it.key, Plan: it.plan, Fired: &fs[it.i].Deadline})
		appending = append(appending, it)
	}
	if len(as) == 0 {
		return later
	}
	var results []eventstore.GroupResult
	if g, ok := c.store.(eventstore.GroupAppender); ok {
		results = g.AppendGroup(ctx, as)
	} else {
		results = eventstore.AppendEach(ctx, c.dls, as)
	}
	for n, it := range appending {
		r, cover := results[n], it.cmd.Cover
		var conflict *eventstore.ConflictError
		switch {
		case errors.As(r.Err, &conflict):
			// Another writer appended since the load: Fire reloads and
			// decides again (a kept aggregate's try does not count).
			c.books.drop(cover)
			c.opts.Observer.Conflict(cover.Domain, true)
			later = append(later, it.i)
		case r.Prior != nil:
			// Fired before (a crash before its removal): applied once.
			c.books.drop(cover)
			out[it.i] = deadline.Outcome{Err: r.Err, Removed: r.Removed}
		case r.Err != nil:
			c.books.drop(cover)
			out[it.i].Err = fmt.Errorf("append to %s: %w", cover, r.Err)
		default:
			c.opts.Observer.Appended(cover.Domain, len(r.Events))
			c.planned(cover.Domain, it.plan)
			c.remember(ctx, it.prior, eventstore.Book{Cover: cover, Events: r.Events}, it.decision.Snapshot)
			out[it.i].Removed = r.Removed
		}
	}
	return later
}

// saveAlone stores the deadlines of a reply without events, as the
// command path does.
func (c *Coordinator) saveAlone(ctx context.Context, cmd business.CommandBook, ds []business.Deadline) error {
	var plan eventstore.DeadlinePlan
	var err error
	if plan.Schedule, plan.Cancel, err = deadline.Plan(ds, cmd.Cause); err != nil {
		return err
	}
	if err = deadline.Save(ctx, c.dls, ds, cmd.Cause, c.log); err == nil {
		c.planned(cmd.Cover.Domain, plan)
	}
	return err
}
