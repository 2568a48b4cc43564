package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
)

// consumer is what a Projector and a Saga share: a name, options, and the
// state folded from the books evented delivers.
type consumer[S any] struct {
	kind string // "projector" or "saga", for messages
	name string
	opts options
	fold fold[S]
}

func newConsumer[S any](kind, name string, opts []Option) consumer[S] {
	return consumer[S]{kind: kind, name: name, opts: newOptions(opts), fold: newFold[S]()}
}

// Name is the consumer's name (a Projection's projector field).
func (c *consumer[S]) Name() string { return c.name }

// Now is the consumer's clock (WithClock).
func (c *consumer[S]) Now() time.Time { return c.opts.now() }

// History reports whether the consumer expects books with history
// (WithHistory).
func (c *consumer[S]) History() bool { return c.opts.history }

func (c *consumer[S]) folds() *fold[S] { return &c.fold }

func (c *consumer[S]) where() string { return fmt.Sprintf("%s %q", c.kind, c.name) }

// replay folds book into a new state and calls handle for each new page,
// right after applying it. It returns the state and the last page's Event
// (only its Cover set when the book has no pages).
func (c *consumer[S]) replay(ctx context.Context, book *eventedpb.EventBook, handle func(s *S, p *eventedpb.EventPage, ev Event) error) (*S, Event, error) {
	cover, err := coverOf("cover", book.GetCover())
	if err != nil {
		return nil, Event{}, err
	}
	last := Event{Cover: cover}
	pages, seqs, snap := book.GetPages(), sequences(book), book.GetSnapshot()
	switch {
	case c.opts.history && snap == nil && len(pages) > 0 && seqs[0] > 0:
		return nil, last, status.Errorf(codes.FailedPrecondition,
			"%s expects books with history, but the book of %s starts at sequence %d with no snapshot: set history: true for it in evented's configuration",
			c.where(), cover, seqs[0])
	case !c.opts.history && snap != nil:
		return nil, last, status.Errorf(codes.FailedPrecondition,
			"%s got a book with history (a snapshot) for %s but was not built WithHistory, so it would handle old events again: build it WithHistory or set history: false in evented's configuration",
			c.where(), cover)
	}
	state := new(S)
	if err := c.fold.restoreFrom(state, snap); err != nil {
		return nil, last, c.wrap(err)
	}
	if !c.opts.history && c.opts.events != nil && c.fold.stateful() && len(pages) > 0 && seqs[0] > 0 {
		if err := c.before(ctx, state, cover, seqs[0]); err != nil {
			return nil, last, err
		}
	}
	for i, p := range pages {
		if err := c.fold.applyPage(state, seqs[i], p); err != nil {
			return nil, last, c.wrap(err)
		}
		last = Event{Cover: cover, Sequence: seqs[i]}
		if p.GetCreatedAt() != nil {
			last.CreatedAt = p.GetCreatedAt().AsTime()
		}
		if c.opts.history && i < len(pages)-1 {
			continue // history: only the newest event is handled
		}
		if err := handle(state, p, last); err != nil {
			return nil, last, toStatus(fmt.Sprintf("%s: %s at %s/%d", c.where(), p.GetEvent().MessageName(), cover, seqs[i]), err)
		}
	}
	return state, last, nil
}

// before folds cover's events [0, upTo) read from evented into state.
func (c *consumer[S]) before(ctx context.Context, state *S, cover Cover, upTo uint32) error {
	fail := func(err error) error {
		return status.Errorf(codes.Unavailable, "%s: read the events of %s before sequence %d: %v", c.where(), cover, upTo, err)
	}
	stream, err := c.opts.events.GetEvents(ctx, &eventedpb.Query{Domain: cover.Domain, Root: cover.pb().GetRoot(), UpperBound: upTo})
	if err != nil {
		return fail(err)
	}
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fail(err)
		}
		if err := c.fold.restoreFrom(state, b.GetSnapshot()); err != nil {
			return c.wrap(err)
		}
		seqs := sequences(b)
		for i, p := range b.GetPages() {
			if seqs[i] >= upTo {
				return nil
			}
			if err := c.fold.applyPage(state, seqs[i], p); err != nil {
				return c.wrap(err)
			}
		}
	}
}

func (c *consumer[S]) wrap(err error) error {
	st := status.Convert(err)
	return status.Errorf(st.Code(), "%s: %s", c.where(), st.Message())
}

// decodeAny decodes a to its registered Go type, or returns a itself when
// the type is not linked into the program.
func decodeAny(a *anypb.Any) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(a.MessageName())
	if err != nil {
		return a, nil
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(a.GetValue(), m); err != nil {
		return nil, status.Errorf(codes.Internal, "decode event %s: %v", a.MessageName(), err)
	}
	return m, nil
}
