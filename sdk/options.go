package sdk

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/evented/evented/api/eventedpb"
)

// Option configures an Aggregate, a Projector or a Saga. Options that do
// not concern a kind are ignored by it.
type Option func(*options)

type options struct {
	now     func() time.Time
	history bool
	events  EventReader
}

func newOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithClock sets what Now returns (all kinds). Handlers that stamp times on
// events call Now, so a test with a fixed clock gets exact events.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithHistory declares that evented delivers this projector's or saga's
// books with history (history: true in evented's configuration): each book
// holds the aggregate's latest snapshot and every event after it, the new
// ones last. The state is folded from the whole book, and handlers (On,
// React) are called for the newest event only — the book's last page —
// because the book does not say where the new events begin. Suited to
// handlers that act on an event that is the only one of its command and
// that no event of the same book follows (a TransactionCompleted). A book
// that cannot be a history book (no snapshot, first page past 0) is an
// error naming the setting.
//
// Without WithHistory every page of a book is new and is handled; the
// state is folded from the book and, with WithEventQuery, from the events
// that came before it.
func WithHistory() Option {
	return func(o *options) { o.history = true }
}

// EventReader reads an aggregate's events from evented's query port;
// eventedpb.EventQueryClient is one.
type EventReader interface {
	GetEvents(ctx context.Context, in *eventedpb.Query, opts ...grpc.CallOption) (grpc.ServerStreamingClient[eventedpb.EventBook], error)
}

// WithEventQuery lets a projector or saga without history fold the events
// an aggregate had before the delivered book: when a book does not start
// at sequence 0 and the consumer keeps state (Apply or Restore), the
// earlier events are read with q and applied (not handled) first. The
// delivered pages are then exactly the new events, so handlers see each
// event once per delivery — exact where WithHistory is a heuristic, for the
// price of one query per book.
func WithEventQuery(q EventReader) Option {
	return func(o *options) { o.events = q }
}
