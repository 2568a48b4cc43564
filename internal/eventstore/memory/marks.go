package memory

import (
	"context"
	"time"

	"github.com/evented/evented/internal/eventstore"
)

// markKey addresses one delivery mark.
type markKey struct {
	subscriber string
	cover      eventstore.Cover
}

// markRow is a stored mark: claimer and claimID stay after the claim lapses
// or is settled (SettleMark compares them), and view hides a claim that is
// not live.
type markRow struct {
	next    uint32
	claimer string
	claimID uint64
	from    uint32
	until   time.Time
}

// view is the mark as callers see it at now.
func (r markRow) view(now time.Time) eventstore.Mark {
	m := eventstore.Mark{Next: r.next, ClaimID: r.claimID}
	if r.claimer != "" && now.Before(r.until) {
		m.Claimer, m.From, m.Until = r.claimer, r.from, r.until
	}
	return m
}

// ClaimMark implements eventstore.Marks. The store's one mutex makes the
// check of Next and of the holder, and the new claim, a single step.
func (s *Store) ClaimMark(ctx context.Context, subscriber string, cover eventstore.Cover, from uint32, claimer string, ttl time.Duration) (eventstore.Mark, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Mark{}, false, err
	}
	if err := eventstore.CheckClaim(subscriber, cover, claimer, ttl); err != nil {
		return eventstore.Mark{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.Mark{}, false, eventstore.ErrClosed
	}
	now := s.now()
	k := markKey{subscriber, cover}
	row := s.marks[k]
	if cur := row.view(now); cur.Next != from || (cur.Live() && cur.Claimer != claimer) {
		return cur, false, nil
	}
	row.claimer, row.claimID, row.from, row.until = claimer, row.claimID+1, from, now.Add(ttl)
	s.marks[k] = row
	return row.view(now), true, nil
}

// SettleMark implements eventstore.Marks.
func (s *Store) SettleMark(ctx context.Context, subscriber string, cover eventstore.Cover, m eventstore.Mark, to uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := eventstore.CheckSettle(subscriber, cover, m); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	k := markKey{subscriber, cover}
	row, ok := s.marks[k]
	if !ok || row.claimID != m.ClaimID || row.claimer != m.Claimer {
		return eventstore.ErrClaimLost
	}
	row.next = max(row.next, eventstore.SettledNext(m, to))
	row.from, row.until = 0, time.Time{} // ended; the claimer stays for a retried settle
	s.marks[k] = row
	return nil
}

// AdvanceMark implements eventstore.Marks.
func (s *Store) AdvanceMark(ctx context.Context, subscriber string, cover eventstore.Cover, to uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := eventstore.CheckMark(subscriber, cover); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	k := markKey{subscriber, cover}
	row := s.marks[k]
	row.next = max(row.next, to)
	s.marks[k] = row
	return nil
}

// ReadMark implements eventstore.Marks.
func (s *Store) ReadMark(ctx context.Context, subscriber string, cover eventstore.Cover) (eventstore.Mark, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Mark{}, err
	}
	if err := eventstore.CheckMark(subscriber, cover); err != nil {
		return eventstore.Mark{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return eventstore.Mark{}, eventstore.ErrClosed
	}
	return s.marks[markKey{subscriber, cover}].view(s.now()), nil
}
