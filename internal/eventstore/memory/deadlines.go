package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

var _ eventstore.Deadlines = (*Store)(nil)

// Schedule implements eventstore.Deadlines.
func (s *Store) Schedule(ctx context.Context, ds []eventstore.Deadline) error {
	for _, d := range ds {
		if err := eventstore.CheckDeadline(d); err != nil {
			return err
		}
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	s.scheduleLocked(ds)
	return nil
}

// scheduleLocked stores ds; s.mu is held.
func (s *Store) scheduleLocked(ds []eventstore.Deadline) {
	now := s.now().UTC()
	for _, d := range ds {
		d.Command = slices.Clone(d.Command)
		d.Due = d.Due.UTC()
		d.CreatedAt = now
		s.deadlines[d.ID] = d
	}
}

// Cancel implements eventstore.Deadlines.
func (s *Store) Cancel(ctx context.Context, ids []string) (int, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	return s.cancelLocked(ids), nil
}

// cancelLocked removes the deadlines with ids; s.mu is held.
func (s *Store) cancelLocked(ids []string) int {
	n := 0
	for _, id := range ids {
		if _, ok := s.deadlines[id]; ok {
			delete(s.deadlines, id)
			n++
		}
	}
	return n
}

// AppendScheduling implements eventstore.Deadlines: under the store's one
// lock, the append (keyed or not) and the plan are one step.
func (s *Store) AppendScheduling(ctx context.Context, cover eventstore.Cover, pages []eventstore.Page, key *eventstore.Key, plan eventstore.DeadlinePlan) ([]eventstore.Event, *eventstore.KeyRecord, error) {
	if err := plan.Check(); err != nil {
		return nil, nil, err
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	if len(pages) == 0 {
		return nil, nil, nil
	}
	var events []eventstore.Event
	var prior *eventstore.KeyRecord
	if key != nil {
		events, prior, err = s.appendKeyedLocked(cover, pages, *key)
	} else {
		events, err = s.appendLocked(cover, pages, time.Now())
	}
	if err != nil || prior != nil {
		return events, prior, err
	}
	s.cancelLocked(plan.Cancel)
	s.scheduleLocked(plan.Schedule)
	return events, nil, nil
}

// DueDeadlines implements eventstore.Deadlines.
func (s *Store) DueDeadlines(ctx context.Context, segment, of int, before time.Time, limit int) ([]eventstore.Deadline, error) {
	if err := eventstore.CheckDue(segment, of, limit); err != nil {
		return nil, err
	}
	return s.listDeadlines(ctx, limit, func(d eventstore.Deadline) bool {
		return !d.Due.After(before) && eventstore.DeadlineSlot(d.ID)%of == segment
	})
}

// PendingDeadlines implements eventstore.Deadlines.
func (s *Store) PendingDeadlines(ctx context.Context, domain string, limit int) ([]eventstore.Deadline, error) {
	return s.listDeadlines(ctx, limit, func(d eventstore.Deadline) bool {
		return domain == "" || d.Cover.Domain == domain
	})
}

func (s *Store) listDeadlines(ctx context.Context, limit int, keep func(eventstore.Deadline) bool) ([]eventstore.Deadline, error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []eventstore.Deadline
	for _, d := range s.deadlines {
		if keep(d) {
			d.Command = slices.Clone(d.Command)
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b eventstore.Deadline) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Fired implements eventstore.Deadlines.
func (s *Store) Fired(ctx context.Context, ds []eventstore.Deadline) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	for _, f := range ds {
		if d, ok := s.deadlines[f.ID]; ok && d.Key == f.Key {
			delete(s.deadlines, f.ID)
		}
	}
	return nil
}

var _ eventstore.DeadlineCounter = (*Store)(nil)

// EarliestDue implements eventstore.DeadlineHorizon.
func (s *Store) EarliestDue(ctx context.Context) (first time.Time, ok bool, err error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	defer unlock()
	for _, d := range s.deadlines {
		if !ok || d.Due.Before(first) {
			first, ok = d.Due, true
		}
	}
	return first, ok, nil
}

// CountDeadlines implements eventstore.DeadlineCounter.
func (s *Store) CountDeadlines(ctx context.Context, before time.Time) (pending, due int, err error) {
	unlock, err := s.rlock(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	for _, d := range s.deadlines {
		if !d.Due.After(before) {
			due++
		}
	}
	return len(s.deadlines), due, nil
}
