package acceptance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/eventedpb"
)

// getEvents asks the query port and collects every book of the answer.
func (w *world) getEvents(ctx context.Context, q *eventedpb.Query) ([]*eventedpb.EventBook, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	stream, err := w.queries.GetEvents(ctx, q)
	if err != nil {
		return nil, err
	}
	books := []*eventedpb.EventBook{}
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return books, nil
		}
		if err != nil {
			return books, err
		}
		books = append(books, b)
	}
}

func query(cover *eventedpb.Cover, lower, upper uint32) *eventedpb.Query {
	return &eventedpb.Query{Domain: cover.GetDomain(), Root: cover.GetRoot(), LowerBound: lower, UpperBound: upper}
}

// history is every stored event of the named aggregate, whatever snapshot it
// has: bounds [0, MaxUint32) skip the snapshot shortcut of "both 0".
func (w *world) history(ctx context.Context, name string) ([]*eventedpb.EventPage, error) {
	if err := w.up(ctx); err != nil {
		return nil, err
	}
	cover, err := w.cover(name)
	if err != nil {
		return nil, err
	}
	books, err := w.getEvents(ctx, query(cover, 0, math.MaxUint32))
	if err != nil {
		return nil, fmt.Errorf("read the events of %q: %w", name, err)
	}
	var pages []*eventedpb.EventPage
	for _, b := range books {
		if !proto.Equal(b.GetCover(), cover) {
			return nil, fmt.Errorf("reading %q gave a book for %v", name, b.GetCover())
		}
		if b.GetSnapshot() != nil {
			return nil, fmt.Errorf("reading %q from sequence 0 gave a snapshot at %d", name, b.GetSnapshot().GetSequence())
		}
		pages = append(pages, b.GetPages()...)
	}
	return pages, nil
}

func (w *world) queryBounds(ctx context.Context, name string, lower, upper uint32) error {
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	if err := w.begin(ctx, "the query"); err != nil {
		return err
	}
	w.addressed = cover
	w.books, w.err = w.getEvents(ctx, query(cover, lower, upper))
	return nil
}

func (w *world) queryAll(ctx context.Context, name string) error {
	return w.queryBounds(ctx, name, 0, 0)
}

func (w *world) queryAllInDomain(ctx context.Context, name, domain string) error {
	w.domains[name] = domain
	return w.queryAll(ctx, name)
}

// answer is the books the last query got: at least one, all for the
// aggregate asked about, the snapshot only in the first.
func (w *world) answer() ([]*eventedpb.EventBook, error) {
	if err := w.succeeded(); err != nil {
		return nil, err
	}
	if w.books == nil {
		return nil, errors.New("no query was made")
	}
	if len(w.books) == 0 {
		return nil, errors.New("the answer has no book; even an unknown aggregate gets one, with its cover")
	}
	for i, b := range w.books {
		if !proto.Equal(b.GetCover(), w.addressed) {
			return nil, fmt.Errorf("book %d of the answer is for %v, want %v", i, b.GetCover(), w.addressed)
		}
		if i > 0 && b.GetSnapshot() != nil {
			return nil, fmt.Errorf("book %d of the answer carries a snapshot; only the first may", i)
		}
	}
	return w.books, nil
}

func (w *world) gotSequences(list string) error {
	want, err := sequenceList(list)
	if err != nil {
		return err
	}
	books, err := w.answer()
	if err != nil {
		return err
	}
	var pages []*eventedpb.EventPage
	for _, b := range books {
		pages = append(pages, b.GetPages()...)
	}
	if err := sameSequences("the events of the answer", pages, want); err != nil {
		return err
	}
	return w.createdAtSet("the answer", pages)
}

func (w *world) gotNoEvents() error { return w.gotSequences("none") }

func (w *world) gotSnapshot(seq uint32) error {
	books, err := w.answer()
	if err != nil {
		return err
	}
	s := books[0].GetSnapshot()
	if s == nil {
		return fmt.Errorf("the answer carries no snapshot; want one at sequence %d", seq)
	}
	if s.GetSequence() != seq {
		return fmt.Errorf("the answer carries a snapshot at sequence %d, want %d", s.GetSequence(), seq)
	}
	if got := typeName(s.GetState().GetTypeUrl()); got != snapshotType {
		return fmt.Errorf("the snapshot's state is a %q, want %q", got, snapshotType)
	}
	return nil
}

func (w *world) gotNoSnapshot() error {
	books, err := w.answer()
	if err != nil {
		return err
	}
	if s := books[0].GetSnapshot(); s != nil {
		return fmt.Errorf("the answer carries a snapshot at sequence %d; want none", s.GetSequence())
	}
	return nil
}

func (w *world) gotOneEmptyBook(name, domain string) error {
	books, err := w.answer()
	if err != nil {
		return err
	}
	if len(books) != 1 {
		return fmt.Errorf("the answer has %d books, want 1", len(books))
	}
	root := aggregateRoot(domain, name)
	want := &eventedpb.EventBook{Cover: &eventedpb.Cover{Domain: domain, Root: &eventedpb.UUID{Value: root[:]}}}
	if !proto.Equal(books[0], want) {
		return fmt.Errorf("the answer is %v, want %v", books[0], want)
	}
	return nil
}

// snapshotAt checks the aggregate's latest snapshot, as a query of all its
// events shows it.
func (w *world) snapshotAt(ctx context.Context, name string, seq uint32) error {
	if err := w.up(ctx); err != nil {
		return err
	}
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	books, err := w.getEvents(ctx, query(cover, 0, 0))
	if err != nil {
		return fmt.Errorf("read the events of %q: %w", name, err)
	}
	if len(books) == 0 {
		return fmt.Errorf("reading %q gave no book", name)
	}
	s := books[0].GetSnapshot()
	if s == nil {
		return fmt.Errorf("aggregate %q has no snapshot; want one at sequence %d", name, seq)
	}
	if s.GetSequence() != seq {
		return fmt.Errorf("aggregate %q has a snapshot at sequence %d, want %d", name, s.GetSequence(), seq)
	}
	return nil
}
