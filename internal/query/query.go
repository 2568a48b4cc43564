// Package query answers questions about stored events: an aggregate's events
// in a range, or its latest snapshot with the events after it, and the list
// of aggregates. It is part of the core and imports no gRPC.
package query

import (
	"context"
	"fmt"

	"github.com/evented/evented/internal/eventstore"
)

// Query selects events of one aggregate: sequences in [Lower, Upper), Upper
// 0 meaning unbounded. Both 0: the latest snapshot and the events from its
// sequence on.
type Query struct {
	Cover        eventstore.Cover
	Lower, Upper uint32
}

// Service answers queries from a store. It is safe for concurrent use.
type Service struct {
	store eventstore.Store
	snaps eventstore.Snapshots
}

// New returns a Service over store and snaps (snaps may be nil).
func New(store eventstore.Store, snaps eventstore.Snapshots) *Service {
	return &Service{store: store, snaps: snaps}
}

// Events answers q. An unknown aggregate gives an empty book with its cover.
func (s *Service) Events(ctx context.Context, q Query) (eventstore.Book, error) {
	if q.Upper != 0 && q.Upper < q.Lower {
		return eventstore.Book{}, eventstore.Invalid("upper_bound",
			"must be 0 (unbounded) or at least lower_bound (%d), got %d", q.Lower, q.Upper)
	}
	if q.Lower == 0 && q.Upper == 0 {
		return eventstore.Load(ctx, s.store, s.snaps, q.Cover)
	}
	events, err := s.store.Read(ctx, q.Cover, q.Lower, q.Upper)
	if err != nil {
		return eventstore.Book{}, fmt.Errorf("read events of %s: %w", q.Cover, err)
	}
	return eventstore.Book{Cover: q.Cover, Events: events}, nil
}

// Roots calls fn for every aggregate, ordered by domain then root.
func (s *Service) Roots(ctx context.Context, fn func(eventstore.Cover) error) error {
	return s.store.Roots(ctx, fn)
}
