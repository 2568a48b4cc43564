package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/evented/evented/internal/eventstore"
)

// ReadLog implements eventstore.Log: XRANGE over the log stream, then the
// events themselves from their covers' lists, in one pipeline. Entries are
// written by the append script with their events, so every entry's event
// exists.
func (s *Store) ReadLog(ctx context.Context, after uint64, limit int) ([]eventstore.Logged, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	start := "-"
	if after > 0 {
		start = "(" + formatUint(after) + "-0"
	}
	entries, err := s.c.XRangeN(ctx, s.k.log(), start, "+", int64(limit)).Result()
	if err != nil {
		return nil, s.fail(err, "read log after %d", after)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	out := make([]eventstore.Logged, len(entries))
	cmds := make([]*goredis.StringCmd, len(entries))
	pipe := s.c.Pipeline()
	for i, x := range entries {
		e := &out[i]
		pos, _, ok := strings.Cut(x.ID, "-")
		seq, err1 := strconv.ParseUint(fmt.Sprint(x.Values["s"]), 10, 32)
		root, _ := x.Values["r"].(string)
		domain, _ := x.Values["d"].(string)
		p, err2 := strconv.ParseUint(pos, 10, 64)
		if !ok || len(root) != len(e.Cover.Root) || errors.Join(err1, err2) != nil {
			return nil, s.fail(fmt.Errorf("malformed log entry %s: %v", x.ID, x.Values), "read log after %d", after)
		}
		e.Position, e.Sequence, e.Cover.Domain = p, uint32(seq), domain
		copy(e.Cover.Root[:], root)
		cmds[i] = pipe.LIndex(ctx, s.k.events(e.Cover), int64(seq))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, s.fail(err, "read log after %d", after)
	}
	for i, cmd := range cmds {
		b, err := cmd.Result()
		if err == nil {
			out[i].Event, err = decodeEvent(out[i].Sequence, b)
		}
		if err != nil {
			return nil, s.fail(err, "read log: %s/%d at position %d", out[i].Cover, out[i].Sequence, out[i].Position)
		}
	}
	return out, nil
}

// Head implements eventstore.Log: the position counter, which the append
// script moves together with the log.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	head, err := s.c.Get(ctx, s.k.position()).Uint64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail(err, "log head")
	}
	return head, nil
}

// Appended implements eventstore.Log: the channel closes at the next append
// through this Store, or at the next message on the appended channel from
// any process sharing the prefix.
func (s *Store) Appended() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notify
}

func (s *Store) signal() {
	s.notifyMu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.notifyMu.Unlock()
}

// listen signals each message of the appended channel until Close. go-redis
// resubscribes by itself when the connection drops; what is published
// meanwhile is lost, and readers poll.
func (s *Store) listen() {
	for range s.subs.Channel() {
		s.signal()
	}
}

// committed tells the notifier that an append awaits its wake-up message.
func (s *Store) committed() {
	select {
	case s.dirty <- struct{}{}:
	default: // one is pending already, and will be sent after this append
	}
}

// notifier publishes on the appended channel after appends of this Store,
// one message at a time and at most one per notifyInterval, each covering
// the appends made before it. A failed PUBLISH is not retried: readers
// poll.
func (s *Store) notifier(ctx context.Context) {
	failing := false
	for {
		select {
		case <-s.dirty:
		case <-ctx.Done():
			return
		}
		err := s.c.Publish(ctx, s.k.appended(), "").Err()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			s.log.Warn("PUBLISH failed; readers in other processes poll until it works again", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("PUBLISH works again")
			failing = false
		}
		select {
		case <-time.After(notifyInterval):
		case <-ctx.Done():
			return
		}
	}
}

// Checkpoint implements eventstore.Checkpoints.
func (s *Store) Checkpoint(ctx context.Context, subscriber string) (uint64, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	pos, err := s.c.HGet(ctx, s.k.checkpoints(), subscriber).Uint64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail(err, "checkpoint of %s", subscriber)
	}
	return pos, nil
}

// SaveCheckpoint implements eventstore.Checkpoints.
func (s *Store) SaveCheckpoint(ctx context.Context, subscriber string, position uint64) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if err := s.c.HSet(ctx, s.k.checkpoints(), subscriber, formatUint(position)).Err(); err != nil {
		return s.fail(err, "save checkpoint of %s", subscriber)
	}
	return nil
}

// Park implements eventstore.Parking: one hash field per position.
func (s *Store) Park(ctx context.Context, subscriber string, p eventstore.Parked) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if p.ParkedAt.IsZero() {
		p.ParkedAt = time.Now()
	}
	if err := s.c.HSet(ctx, s.k.parked(subscriber), formatUint(p.Position), encodeParked(p)).Err(); err != nil {
		return s.fail(err, "park %s/%d for %s", p.Cover, p.Sequence, subscriber)
	}
	return nil
}

// ParkedEvents implements eventstore.Parking.
func (s *Store) ParkedEvents(ctx context.Context, subscriber string) ([]eventstore.Parked, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	h, err := s.c.HGetAll(ctx, s.k.parked(subscriber)).Result()
	if err != nil {
		return nil, s.fail(err, "parked events of %s", subscriber)
	}
	out := make([]eventstore.Parked, 0, len(h))
	for field, v := range h {
		p, err := decodeParked([]byte(v))
		if err != nil {
			return nil, s.fail(err, "parked events of %s: position %s", subscriber, field)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b eventstore.Parked) int {
		switch {
		case a.Position < b.Position:
			return -1
		case a.Position > b.Position:
			return 1
		}
		return 0
	})
	return out, nil
}

// Unpark implements eventstore.Parking.
func (s *Store) Unpark(ctx context.Context, subscriber string, positions ...uint64) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if len(positions) == 0 {
		return nil
	}
	fields := make([]string, len(positions))
	for i, p := range positions {
		fields[i] = formatUint(p)
	}
	if err := s.c.HDel(ctx, s.k.parked(subscriber), fields...).Err(); err != nil {
		return s.fail(err, "unpark %v for %s", positions, subscriber)
	}
	return nil
}
