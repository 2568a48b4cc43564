package sdk_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// tally is a projector's state: the points of a wallet and which events
// its handler saw.
type tally struct {
	points int32
	seen   []string
}

func newTally(opts ...sdk.Option) *sdk.Projector[tally] {
	p := sdk.NewProjector[tally]("tally", opts...)
	sdk.Apply(p, func(s *tally, e *examplespb.LoyaltyPointsAdded) { s.points += e.GetPoints() })
	sdk.Restore(p, func(s *tally, snap *examplespb.CustomerState) { s.points = snap.GetLoyaltyPoints() })
	sdk.On(p, func(s *tally, e *examplespb.LoyaltyPointsAdded, ev sdk.Event) error {
		s.seen = append(s.seen, fmt.Sprintf("%d:+%d=%d", ev.Sequence, e.GetPoints(), s.points))
		if e.GetReason() == "poison" {
			return fmt.Errorf("cannot project %d", ev.Sequence)
		}
		return nil
	})
	p.Project(func(s *tally, last sdk.Event) (proto.Message, error) {
		if s.points == 0 {
			return nil, nil
		}
		return &examplespb.CustomerState{LoyaltyPoints: s.points, Name: strings.Join(s.seen, " ")}, nil
	})
	return p
}

func added(points int32) *examplespb.LoyaltyPointsAdded {
	return &examplespb.LoyaltyPointsAdded{Points: points}
}

// book numbers events from first.
func book(t testing.TB, snap *eventedpb.Snapshot, first uint32, events ...proto.Message) *eventedpb.EventBook {
	t.Helper()
	b := &eventedpb.EventBook{Cover: cover("wallet"), Snapshot: snap}
	for i, e := range events {
		p := page(t, num(first+uint32(i)), e)
		p.CreatedAt = timestamppb.New(time.Date(2026, 1, 1, 0, 0, int(first)+i, 0, time.UTC))
		b.Pages = append(b.Pages, p)
	}
	return b
}

func projection(t *testing.T, p *sdk.Projector[tally], b *eventedpb.EventBook) (*examplespb.CustomerState, *eventedpb.Projection) {
	t.Helper()
	out, err := p.HandleSync(context.Background(), b)
	if err != nil {
		t.Fatalf("HandleSync: %v", err)
	}
	if out.GetProjection() == nil {
		return nil, out
	}
	var s examplespb.CustomerState
	if err := out.GetProjection().UnmarshalTo(&s); err != nil {
		t.Fatal(err)
	}
	return &s, out
}

// Without history every page is new: each is handled once.
func TestProjectorHandlesEveryPageOfABook(t *testing.T) {
	s, out := projection(t, newTally(), book(t, nil, 0, added(1), added(2), &examplespb.CustomerCreated{}, added(3)))
	if s.GetLoyaltyPoints() != 6 || s.GetName() != "0:+1=1 1:+2=3 3:+3=6" {
		t.Errorf("projection %v", s)
	}
	if out.GetProjector() != "tally" || out.GetSequence() != 4 || !proto.Equal(out.GetCover(), cover("wallet")) {
		t.Errorf("projection header %v", out)
	}
}

// With history the state is folded from the whole book and only the newest
// event is handled.
func TestProjectorWithHistoryHandlesTheNewestEvent(t *testing.T) {
	p := newTally(sdk.WithHistory())
	s, out := projection(t, p, book(t, nil, 0, added(1), added(2), added(3)))
	if s.GetLoyaltyPoints() != 6 || s.GetName() != "2:+3=6" {
		t.Errorf("projection %v", s)
	}
	if out.GetSequence() != 3 {
		t.Errorf("sequence %d, want 3", out.GetSequence())
	}
	snap := &eventedpb.Snapshot{Sequence: 10, State: anyOf(t, &examplespb.CustomerState{LoyaltyPoints: 100})}
	s, out = projection(t, p, book(t, snap, 10, added(1), added(2)))
	if s.GetLoyaltyPoints() != 103 || s.GetName() != "11:+2=103" || out.GetSequence() != 12 {
		t.Errorf("from a snapshot: %v at %d", s, out.GetSequence())
	}
}

// A book that cannot be what the projector expects is refused, naming
// evented's setting, instead of handling old events again or folding half
// a history.
func TestProjectorRefusesBooksOfTheOtherKind(t *testing.T) {
	_, err := newTally(sdk.WithHistory()).HandleSync(context.Background(), book(t, nil, 4, added(1)))
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "set history: true") {
		t.Errorf("history expected, got new events only: %v", err)
	}
	snap := &eventedpb.Snapshot{Sequence: 1, State: anyOf(t, &examplespb.CustomerState{})}
	_, err = newTally().Handle(context.Background(), book(t, snap, 1, added(1)))
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "WithHistory") {
		t.Errorf("new events expected, got history: %v", err)
	}
}

// reader serves the wallet's events as evented's query port would.
type reader struct {
	t       testing.TB
	events  []proto.Message
	queries []*eventedpb.Query
	fail    error
}

func (r *reader) GetEvents(_ context.Context, q *eventedpb.Query, _ ...grpc.CallOption) (grpc.ServerStreamingClient[eventedpb.EventBook], error) {
	r.queries = append(r.queries, q)
	if r.fail != nil {
		return nil, r.fail
	}
	// One book per event, as evented splits long histories into books.
	s := &stream{}
	for i, e := range r.events {
		if seq := uint32(i); seq >= q.GetLowerBound() && (q.GetUpperBound() == 0 || seq < q.GetUpperBound()) {
			s.books = append(s.books, book(r.t, nil, seq, e))
		}
	}
	return s, nil
}

type stream struct {
	grpc.ClientStream
	books []*eventedpb.EventBook
}

func (s *stream) Recv() (*eventedpb.EventBook, error) {
	if len(s.books) == 0 {
		return nil, io.EOF
	}
	b := s.books[0]
	s.books = s.books[1:]
	return b, nil
}

// Without history, WithEventQuery folds the events before the book (read
// from evented) and handles only the book's.
func TestProjectorReadsTheEventsBeforeTheBook(t *testing.T) {
	r := &reader{t: t, events: []proto.Message{added(10), &examplespb.CustomerCreated{}, added(20), added(1), added(2)}}
	s, _ := projection(t, newTally(sdk.WithEventQuery(r)), book(t, nil, 3, added(1), added(2)))
	if s.GetLoyaltyPoints() != 33 || s.GetName() != "3:+1=31 4:+2=33" {
		t.Errorf("projection %v", s)
	}
	if len(r.queries) != 1 || r.queries[0].GetDomain() != "wallet" || r.queries[0].GetLowerBound() != 0 || r.queries[0].GetUpperBound() != 3 ||
		!proto.Equal(r.queries[0].GetRoot(), cover("wallet").GetRoot()) {
		t.Errorf("queries %v, want one for wallet [0, 3)", r.queries)
	}
	// A book from the start needs no query.
	r.queries = nil
	projection(t, newTally(sdk.WithEventQuery(r)), book(t, nil, 0, added(1)))
	if len(r.queries) != 0 {
		t.Errorf("queried %v for a book that starts at 0", r.queries)
	}
	// A stateless consumer needs no query either.
	stateless := sdk.NewProjector[struct{}]("log", sdk.WithEventQuery(r))
	if _, err := stateless.Handle(context.Background(), book(t, nil, 3, added(1))); err != nil || len(r.queries) != 0 {
		t.Errorf("stateless: %v, queries %v", err, r.queries)
	}
	// evented down: UNAVAILABLE, so evented retries the delivery.
	r.fail = status.Error(codes.Unavailable, "connection refused")
	_, err := newTally(sdk.WithEventQuery(r)).HandleSync(context.Background(), book(t, nil, 3, added(1)))
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "before sequence 3") {
		t.Errorf("query failed: %v", err)
	}
}

func TestProjectorErrorsAndEmptyProjections(t *testing.T) {
	p := newTally()
	_, err := p.Handle(context.Background(), book(t, nil, 0, added(1), &examplespb.LoyaltyPointsAdded{Points: 1, Reason: "poison"}))
	if st := status.Convert(err); st.Code() != codes.Internal || !strings.Contains(st.Message(), "cannot project 1") ||
		!strings.Contains(st.Message(), `projector "tally": examples.LoyaltyPointsAdded at wallet/`) {
		t.Errorf("a failing handler: %v", err)
	}
	s, out := projection(t, p, book(t, nil, 0, &examplespb.CustomerCreated{}))
	if s != nil || out.GetProjector() != "tally" || out.GetSequence() != 1 {
		t.Errorf("no projection expected: %v %v", s, out)
	}
	_, err = p.HandleSync(context.Background(), &eventedpb.EventBook{})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("a book without cover: %v", err)
	}
	_, out = projection(t, p, &eventedpb.EventBook{Cover: cover("wallet")})
	if out.GetSequence() != 0 || out.GetProjection() != nil {
		t.Errorf("empty book: %v", out)
	}
}

// OnAny sees every new event, decoded when its type is known.
func TestProjectorOnAny(t *testing.T) {
	var seen []string
	p := sdk.NewProjector[struct{}]("all")
	p.OnAny(func(_ *struct{}, e proto.Message, ev sdk.Event) error {
		seen = append(seen, fmt.Sprintf("%d %T %s", ev.Sequence, e, ev.CreatedAt.Format(time.TimeOnly)))
		return nil
	})
	b := book(t, nil, 7, added(1))
	b.Pages = append(b.Pages, &eventedpb.EventPage{Sequence: &eventedpb.EventPage_Num{Num: 8}, Event: &anypb.Any{TypeUrl: "type.googleapis.com/future.Thing"}})
	if _, err := p.Handle(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, "; "); got != "7 *examplespb.LoyaltyPointsAdded 00:00:07; 8 *anypb.Any 00:00:00" {
		t.Errorf("seen %q", got)
	}
}

// loyalty credits the owner of a wallet with the points of the newest event.
func newLoyalty(opts ...sdk.Option) *sdk.Saga[string] {
	s := sdk.NewSaga[string]("loyalty", opts...)
	sdk.Apply(s, func(owner *string, e *examplespb.CustomerCreated) { *owner = e.GetName() })
	sdk.React(s, func(owner *string, e *examplespb.LoyaltyPointsAdded, ev sdk.Event) ([]sdk.Command, error) {
		if *owner == "" {
			return nil, sdk.Reject("no owner")
		}
		return []sdk.Command{{
			To:      sdk.Cover{Domain: "customer", Root: sdk.Root(*owner)},
			Message: &examplespb.AddLoyaltyPoints{Points: e.GetPoints(), Reason: fmt.Sprint(ev.Sequence)},
		}}, nil
	})
	return s
}

func commands(t *testing.T, resp *eventedpb.SynchronousProcessingResponse) string {
	t.Helper()
	var out []string
	for _, b := range resp.GetCommands() {
		for _, p := range b.GetPages() {
			var c examplespb.AddLoyaltyPoints
			if err := p.GetCommand().UnmarshalTo(&c); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s/%x +%d (%s)", b.GetCover().GetDomain(), b.GetCover().GetRoot().GetValue()[:2], c.GetPoints(), c.GetReason()))
		}
	}
	return strings.Join(out, "; ")
}

func TestSagaCommands(t *testing.T) {
	alice := sdk.Root("alice")
	prefix := fmt.Sprintf("customer/%x", alice[:2])

	// Without history: every page is new, the owner read from evented.
	r := &reader{t: t, events: []proto.Message{&examplespb.CustomerCreated{Name: "alice"}}}
	resp, err := newLoyalty(sdk.WithEventQuery(r)).HandleSync(context.Background(), book(t, nil, 1, added(5), added(7)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := commands(t, resp), prefix+" +5 (1); "+prefix+" +7 (2)"; got != want {
		t.Errorf("commands %q, want %q", got, want)
	}
	// With history: only the newest.
	resp, err = newLoyalty(sdk.WithHistory()).HandleSync(context.Background(), book(t, nil, 0, &examplespb.CustomerCreated{Name: "alice"}, added(5), added(7)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := commands(t, resp), prefix+" +7 (2)"; got != want {
		t.Errorf("commands %q, want %q", got, want)
	}
	// A rejection fails the delivery with its code.
	_, err = newLoyalty().HandleSync(context.Background(), book(t, nil, 0, added(5)))
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != "no owner" {
		t.Errorf("rejection: %v", err)
	}
	// Handle cannot answer commands.
	if _, err := newLoyalty().Handle(context.Background(), book(t, nil, 0, added(5))); status.Code(err) != codes.Unimplemented {
		t.Errorf("Handle: %v, want Unimplemented", err)
	}
}
