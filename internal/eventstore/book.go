package eventstore

import (
	"context"
	"errors"
	"fmt"
)

// Book is an aggregate's state as stored: its cover, the latest snapshot (nil
// when none was asked for or none exists) and events in sequence order.
type Book struct {
	Cover    Cover
	Snapshot *Snapshot
	Events   []Event
}

// Next is the sequence the next event of the book's cover gets, as far as the
// book knows: one past its last event, or the snapshot's sequence when it
// has no events.
func (b Book) Next() uint32 {
	if n := len(b.Events); n > 0 {
		return b.Events[n-1].Sequence + 1
	}
	if b.Snapshot != nil {
		return b.Snapshot.Sequence
	}
	return 0
}

// Load returns cover's latest snapshot and the events from its sequence on
// (all events when it has none): the prior state business logic sees.
func Load(ctx context.Context, store Store, snaps Snapshots, cover Cover) (Book, error) {
	book := Book{Cover: cover}
	var from uint32
	if snaps != nil {
		s, ok, err := snaps.Snapshot(ctx, cover)
		if err != nil {
			return book, fmt.Errorf("load snapshot of %s: %w", cover, err)
		}
		if ok {
			book.Snapshot, from = &s, s.Sequence
		}
	}
	events, err := store.Read(ctx, cover, from, 0)
	if err != nil {
		return book, fmt.Errorf("load events of %s: %w", cover, err)
	}
	book.Events = events
	return book, nil
}

// BookLoader is the optional ability of a store that keeps its own
// snapshots to load many aggregates in a few queries rather than two each
// (the commands of deadlines due together). Callers find it by type
// assertion; LoadBooks falls back to Load.
type BookLoader interface {
	// LoadBooks returns what Load returns for each of covers, in order.
	LoadBooks(ctx context.Context, covers []Cover) ([]Book, error)
}

// LoadBooks returns what Load returns for each of covers, in order: in a
// few queries when store is a BookLoader and its own snaps, else one Load
// each (up to 16 at once).
func LoadBooks(ctx context.Context, store Store, snaps Snapshots, covers []Cover) ([]Book, error) {
	if l, ok := store.(BookLoader); ok && any(store) == any(snaps) {
		return l.LoadBooks(ctx, covers)
	}
	out := make([]Book, len(covers))
	errs := make([]error, len(covers))
	each(len(covers), func(i int) { out[i], errs[i] = Load(ctx, store, snaps, covers[i]) })
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
