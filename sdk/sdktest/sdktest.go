// Package sdktest is a Given/When/Then kit for unit tests of business logic,
// projectors and sagas written with package sdk. It calls them exactly as
// evented does — a ContextualCommand for an aggregate, an EventBook for a
// projector or saga — without a server or a network.
//
//	func TestRedeemNeedsEnoughPoints(t *testing.T) {
//		sdktest.Aggregate(t, customer.New).
//			Given(&examplespb.CustomerCreated{Name: "Alice", Email: "a@example.com"},
//				&examplespb.LoyaltyPointsAdded{Points: 10, NewBalance: 10}).
//			When(&examplespb.RedeemLoyaltyPoints{Points: 20}).
//			ThenRejected(codes.FailedPrecondition, "Insufficient points: have 10, need 20")
//	}
//
// The constructor passed in (customer.New above) takes sdk options: the kit
// passes a clock fixed at Now, and for projectors and sagas an event
// reader serving the Given events (sdk.WithEventQuery), so a consumer
// without history sees the same prior state as under evented.
//
// Beyond the events, the kit checks what evented relies on: the returned
// events are numbered from the aggregate's next sequence, the cover is the
// command's, a snapshot's sequence follows the new events.
package sdktest

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
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/sdk"
)

// Now is the time the kit's clock reads (sdk.WithClock): times a handler
// stamps with its Now come out as this, so expected events can be exact.
var Now = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// DefaultRoot names the aggregate a case is about unless For says
// otherwise (its root is sdk.Root(DefaultRoot)).
const DefaultRoot = "sdktest"

func clock() sdk.Option { return sdk.WithClock(func() time.Time { return Now }) }

// history is what a case is given: an optional snapshot and events.
type history struct {
	cover    sdk.Cover
	snapshot *eventedpb.Snapshot
	given    []proto.Message
}

func (h *history) setSnapshot(tb testing.TB, state proto.Message, sequence uint32) {
	tb.Helper()
	a, err := anypb.New(state)
	if err != nil {
		tb.Fatalf("sdktest: GivenSnapshot: %v", err)
	}
	h.snapshot = &eventedpb.Snapshot{Sequence: sequence, State: a}
}

// next is the sequence after the Given events.
func (h *history) next() uint32 { return h.snapshot.GetSequence() + uint32(len(h.given)) }

// pages numbers events from first, stamped at Now.
func pages(tb testing.TB, first uint32, events []proto.Message) []*eventedpb.EventPage {
	tb.Helper()
	out := make([]*eventedpb.EventPage, len(events))
	for i, e := range events {
		a, err := anypb.New(e)
		if err != nil {
			tb.Fatalf("sdktest: event #%d (%T): %v", i, e, err)
		}
		out[i] = &eventedpb.EventPage{
			Sequence:  &eventedpb.EventPage_Num{Num: first + uint32(i)},
			CreatedAt: timestamppb.New(Now),
			Event:     a,
		}
	}
	return out
}

func coverPB(c sdk.Cover) *eventedpb.Cover {
	return &eventedpb.Cover{Domain: c.Domain, Root: &eventedpb.UUID{Value: c.Root[:]}}
}

// AggregateCase is one Given/When/Then of an aggregate.
type AggregateCase[S any] struct {
	tb  testing.TB
	agg *sdk.Aggregate[S]
	history
	when []proto.Message
}

// Aggregate starts a case for the aggregate newAggregate builds (with the
// kit's clock), about aggregate DefaultRoot with no history.
func Aggregate[S any](tb testing.TB, newAggregate func(...sdk.Option) *sdk.Aggregate[S]) *AggregateCase[S] {
	agg := newAggregate(clock())
	return &AggregateCase[S]{tb: tb, agg: agg, history: history{cover: sdk.Cover{Domain: agg.Domain(), Root: sdk.Root(DefaultRoot)}}}
}

// For sets the aggregate's root: sdk.Root(name).
func (c *AggregateCase[S]) For(name string) *AggregateCase[S] {
	c.cover.Root = sdk.Root(name)
	return c
}

// GivenSnapshot starts the history at a snapshot of state holding the
// first sequence events; Given events follow it.
func (c *AggregateCase[S]) GivenSnapshot(state proto.Message, sequence uint32) *AggregateCase[S] {
	c.tb.Helper()
	c.setSnapshot(c.tb, state, sequence)
	return c
}

// Given adds events to the aggregate's history.
func (c *AggregateCase[S]) Given(events ...proto.Message) *AggregateCase[S] {
	c.given = append(c.given, events...)
	return c
}

// When sets the commands (pages of one command book).
func (c *AggregateCase[S]) When(commands ...proto.Message) *AggregateCase[S] {
	c.when = append(c.when, commands...)
	return c
}

// Run calls the aggregate as evented would and returns its answer.
func (c *AggregateCase[S]) Run() (*eventedpb.EventBook, error) {
	c.tb.Helper()
	if len(c.when) == 0 {
		c.tb.Fatalf("sdktest: no command: call When before Then")
	}
	cmd := &eventedpb.CommandBook{Cover: coverPB(c.cover)}
	for i, m := range c.when {
		a, err := anypb.New(m)
		if err != nil {
			c.tb.Fatalf("sdktest: command #%d (%T): %v", i, m, err)
		}
		cmd.Pages = append(cmd.Pages, &eventedpb.CommandPage{Command: a})
	}
	prior := &eventedpb.EventBook{Cover: coverPB(c.cover), Snapshot: c.snapshot, Pages: pages(c.tb, c.snapshot.GetSequence(), c.given)}
	return c.agg.Handle(context.Background(), &eventedpb.ContextualCommand{Events: prior, Command: cmd})
}

// Then asserts that the commands produced exactly events, in order (none:
// nothing happened), numbered from the aggregate's next sequence.
func (c *AggregateCase[S]) Then(events ...proto.Message) *AggregateCase[S] {
	c.tb.Helper()
	book := c.run()
	if !proto.Equal(book.GetCover(), coverPB(c.cover)) {
		c.tb.Errorf("the answer's cover is %v, want the command's %v", book.GetCover(), coverPB(c.cover))
	}
	checkEvents(c.tb, book.GetPages(), events)
	for i, p := range book.GetPages() {
		if want := c.next() + uint32(i); p.GetNum() != want || p.GetForce() {
			c.tb.Errorf("event #%d is numbered %v, want num %d (the aggregate's next sequence)", i, p.GetSequence(), want)
		}
	}
	if s := book.GetSnapshot(); s != nil {
		if want := c.next() + uint32(len(book.GetPages())); s.GetSequence() != want {
			c.tb.Errorf("the snapshot's sequence is %d, want %d (the sequence after the new events)", s.GetSequence(), want)
		}
	}
	return c
}

// ThenSnapshot asserts that the answer carries a snapshot equal to state.
func (c *AggregateCase[S]) ThenSnapshot(state proto.Message) *AggregateCase[S] {
	c.tb.Helper()
	book := c.run()
	if book.GetSnapshot() == nil {
		c.tb.Fatalf("no snapshot returned, want %s", format(state))
	}
	got, err := book.GetSnapshot().GetState().UnmarshalNew()
	if err != nil {
		c.tb.Fatalf("decode the snapshot: %v", err)
	}
	if !proto.Equal(got, state) {
		c.tb.Errorf("snapshot:\n got  %s\n want %s", format(got), format(state))
	}
	return c
}

// ThenRejected asserts that the commands were refused with code and
// exactly message.
func (c *AggregateCase[S]) ThenRejected(code codes.Code, message string) {
	c.tb.Helper()
	book, err := c.Run()
	checkStatus(c.tb, err, code, message, func() string { return "events " + formatPages(book.GetPages()) })
}

func (c *AggregateCase[S]) run() *eventedpb.EventBook {
	c.tb.Helper()
	book, err := c.Run()
	if err != nil {
		c.tb.Fatalf("the commands failed: %v", err)
	}
	return book
}

// consumerCase is what projector and saga cases share.
type consumerCase struct {
	tb testing.TB
	history
	when []proto.Message
}

func newConsumerCase(tb testing.TB) consumerCase {
	return consumerCase{tb: tb, history: history{cover: sdk.Cover{Domain: DefaultRoot, Root: sdk.Root(DefaultRoot)}}}
}

// book is what evented would deliver: with history the snapshot, the
// Given and the When events; without, the When events only (the Given ones
// are served by reader).
func (c *consumerCase) book(withHistory bool) *eventedpb.EventBook {
	c.tb.Helper()
	if len(c.when) == 0 {
		c.tb.Fatalf("sdktest: no event delivered: call When before Then")
	}
	b := &eventedpb.EventBook{Cover: coverPB(c.cover), Pages: pages(c.tb, c.next(), c.when)}
	if withHistory {
		b.Snapshot = c.snapshot
		b.Pages = append(pages(c.tb, c.snapshot.GetSequence(), c.given), b.Pages...)
	}
	return b
}

// reader serves a case's Given events as evented's query port would.
type reader struct{ c *consumerCase }

func (r reader) GetEvents(_ context.Context, q *eventedpb.Query, _ ...grpc.CallOption) (grpc.ServerStreamingClient[eventedpb.EventBook], error) {
	c := r.c
	if q.GetDomain() != c.cover.Domain || !proto.Equal(q.GetRoot(), coverPB(c.cover).GetRoot()) {
		return &stream{}, nil // another aggregate: unknown, no events
	}
	b := &eventedpb.EventBook{Cover: coverPB(c.cover), Snapshot: c.snapshot}
	for _, p := range pages(c.tb, c.snapshot.GetSequence(), c.given) {
		if p.GetNum() >= q.GetLowerBound() && (q.GetUpperBound() == 0 || p.GetNum() < q.GetUpperBound()) {
			b.Pages = append(b.Pages, p)
		}
	}
	return &stream{books: []*eventedpb.EventBook{b}}, nil
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

// ProjectorCase is one Given/When/Then of a projector.
type ProjectorCase[S any] struct {
	consumerCase
	p *sdk.Projector[S]
}

// Projector starts a case for the projector newProjector builds (with the
// kit's clock and an event reader serving the Given events).
func Projector[S any](tb testing.TB, newProjector func(...sdk.Option) *sdk.Projector[S]) *ProjectorCase[S] {
	c := &ProjectorCase[S]{consumerCase: newConsumerCase(tb)}
	c.p = newProjector(clock(), sdk.WithEventQuery(reader{&c.consumerCase}))
	return c
}

// For sets the aggregate the events are of: domain, root sdk.Root(name).
func (c *ProjectorCase[S]) For(domain, name string) *ProjectorCase[S] {
	c.cover = sdk.Cover{Domain: domain, Root: sdk.Root(name)}
	return c
}

// GivenSnapshot starts the aggregate's history at a snapshot of state
// holding the first sequence events.
func (c *ProjectorCase[S]) GivenSnapshot(state proto.Message, sequence uint32) *ProjectorCase[S] {
	c.tb.Helper()
	c.setSnapshot(c.tb, state, sequence)
	return c
}

// Given adds events the aggregate had before the delivered ones.
func (c *ProjectorCase[S]) Given(events ...proto.Message) *ProjectorCase[S] {
	c.given = append(c.given, events...)
	return c
}

// When sets the new events evented delivers.
func (c *ProjectorCase[S]) When(events ...proto.Message) *ProjectorCase[S] {
	c.when = append(c.when, events...)
	return c
}

// HandleSync delivers the book as to a synchronous projector.
func (c *ProjectorCase[S]) HandleSync() (*eventedpb.Projection, error) {
	c.tb.Helper()
	return c.p.HandleSync(context.Background(), c.book(c.p.History()))
}

// ThenProjection asserts that HandleSync answers projection, named after
// the projector, for the aggregate, at the sequence after the new events.
func (c *ProjectorCase[S]) ThenProjection(projection proto.Message) {
	c.tb.Helper()
	p, err := c.HandleSync()
	if err != nil {
		c.tb.Fatalf("HandleSync failed: %v", err)
	}
	c.checkProjection(p)
	if p.GetProjection() == nil {
		c.tb.Fatalf("no projection, want %s", format(projection))
	}
	got, err := p.GetProjection().UnmarshalNew()
	if err != nil {
		c.tb.Fatalf("decode the projection: %v", err)
	}
	if !proto.Equal(got, projection) {
		c.tb.Errorf("projection:\n got  %s\n want %s", format(got), format(projection))
	}
}

// ThenNoProjection asserts that HandleSync succeeds with no projection.
func (c *ProjectorCase[S]) ThenNoProjection() {
	c.tb.Helper()
	p, err := c.HandleSync()
	if err != nil {
		c.tb.Fatalf("HandleSync failed: %v", err)
	}
	c.checkProjection(p)
	if p.GetProjection() != nil {
		got, _ := p.GetProjection().UnmarshalNew()
		c.tb.Errorf("projection %s, want none", format(got))
	}
}

func (c *ProjectorCase[S]) checkProjection(p *eventedpb.Projection) {
	c.tb.Helper()
	if p.GetProjector() != c.p.Name() {
		c.tb.Errorf("projector %q, want %q", p.GetProjector(), c.p.Name())
	}
	if !proto.Equal(p.GetCover(), coverPB(c.cover)) {
		c.tb.Errorf("cover %v, want %v", p.GetCover(), coverPB(c.cover))
	}
	if want := c.next() + uint32(len(c.when)); p.GetSequence() != want {
		c.tb.Errorf("sequence %d, want %d (the one after the new events)", p.GetSequence(), want)
	}
}

// ThenHandled delivers the book as to an asynchronous projector (Handle)
// and asserts it succeeds; check the projector's effects after it.
func (c *ProjectorCase[S]) ThenHandled() {
	c.tb.Helper()
	if _, err := c.p.Handle(context.Background(), c.book(c.p.History())); err != nil {
		c.tb.Fatalf("Handle failed: %v", err)
	}
}

// ThenFails asserts that delivery (HandleSync) fails with code and a
// message containing message.
func (c *ProjectorCase[S]) ThenFails(code codes.Code, message string) {
	c.tb.Helper()
	p, err := c.HandleSync()
	checkStatusContains(c.tb, err, code, message, func() string { return "projection " + p.String() })
}

// SagaCase is one Given/When/Then of a saga.
type SagaCase[S any] struct {
	consumerCase
	s *sdk.Saga[S]
}

// Saga starts a case for the saga newSaga builds (with the kit's clock and
// an event reader serving the Given events).
func Saga[S any](tb testing.TB, newSaga func(...sdk.Option) *sdk.Saga[S]) *SagaCase[S] {
	c := &SagaCase[S]{consumerCase: newConsumerCase(tb)}
	c.s = newSaga(clock(), sdk.WithEventQuery(reader{&c.consumerCase}))
	return c
}

// For sets the aggregate the events are of: domain, root sdk.Root(name).
func (c *SagaCase[S]) For(domain, name string) *SagaCase[S] {
	c.cover = sdk.Cover{Domain: domain, Root: sdk.Root(name)}
	return c
}

// GivenSnapshot starts the aggregate's history at a snapshot of state
// holding the first sequence events.
func (c *SagaCase[S]) GivenSnapshot(state proto.Message, sequence uint32) *SagaCase[S] {
	c.tb.Helper()
	c.setSnapshot(c.tb, state, sequence)
	return c
}

// Given adds events the aggregate had before the delivered ones.
func (c *SagaCase[S]) Given(events ...proto.Message) *SagaCase[S] {
	c.given = append(c.given, events...)
	return c
}

// When sets the new events evented delivers.
func (c *SagaCase[S]) When(events ...proto.Message) *SagaCase[S] {
	c.when = append(c.when, events...)
	return c
}

// HandleSync delivers the book as evented does.
func (c *SagaCase[S]) HandleSync() (*eventedpb.SynchronousProcessingResponse, error) {
	c.tb.Helper()
	return c.s.HandleSync(context.Background(), c.book(c.s.History()))
}

// ThenCommands asserts that the saga answers exactly commands, in order
// (none: no command).
func (c *SagaCase[S]) ThenCommands(commands ...sdk.Command) {
	c.tb.Helper()
	resp, err := c.HandleSync()
	if err != nil {
		c.tb.Fatalf("HandleSync failed: %v", err)
	}
	got := resp.GetCommands()
	if len(got) != len(commands) {
		c.tb.Fatalf("%d commands, want %d:\n got  %s\n want %s", len(got), len(commands), formatCommandBooks(got), formatCommands(commands))
	}
	for i, want := range commands {
		b := got[i]
		if !proto.Equal(b.GetCover(), coverPB(want.To)) {
			c.tb.Errorf("command #%d is for %v, want %v", i, b.GetCover(), coverPB(want.To))
		}
		if len(b.GetPages()) != 1 {
			c.tb.Errorf("command #%d has %d pages, want 1", i, len(b.GetPages()))
			continue
		}
		m, err := b.GetPages()[0].GetCommand().UnmarshalNew()
		if err != nil {
			c.tb.Errorf("command #%d: decode: %v", i, err)
			continue
		}
		if !proto.Equal(m, want.Message) {
			c.tb.Errorf("command #%d:\n got  %s\n want %s", i, format(m), format(want.Message))
		}
	}
}

// ThenFails asserts that delivery fails with code and a message
// containing message.
func (c *SagaCase[S]) ThenFails(code codes.Code, message string) {
	c.tb.Helper()
	resp, err := c.HandleSync()
	checkStatusContains(c.tb, err, code, message, func() string { return "commands " + formatCommandBooks(resp.GetCommands()) })
}

func checkEvents(tb testing.TB, got []*eventedpb.EventPage, want []proto.Message) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%d events, want %d:\n got  %s\n want %s", len(got), len(want), formatPages(got), formatMessages(want))
	}
	for i, w := range want {
		g, err := got[i].GetEvent().UnmarshalNew()
		if err != nil {
			tb.Errorf("event #%d: decode %s: %v", i, got[i].GetEvent().GetTypeUrl(), err)
			continue
		}
		if !proto.Equal(g, w) {
			tb.Errorf("event #%d:\n got  %s\n want %s", i, format(g), format(w))
		}
	}
}

func checkStatus(tb testing.TB, err error, code codes.Code, message string, instead func() string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("succeeded with %s, want %s %q", instead(), code, message)
	}
	st := status.Convert(err)
	if st.Code() != code || st.Message() != message {
		tb.Errorf("failed with %s %q, want %s %q", st.Code(), st.Message(), code, message)
	}
}

func checkStatusContains(tb testing.TB, err error, code codes.Code, message string, instead func() string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("succeeded with %s, want %s containing %q", instead(), code, message)
	}
	st := status.Convert(err)
	if st.Code() != code || !strings.Contains(st.Message(), message) {
		tb.Errorf("failed with %s %q, want %s containing %q", st.Code(), st.Message(), code, message)
	}
}

func format(m proto.Message) string {
	if m == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s{%s}", m.ProtoReflect().Descriptor().FullName(), prototext.MarshalOptions{}.Format(m))
}

func formatMessages(ms []proto.Message) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = format(m)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func formatPages(ps []*eventedpb.EventPage) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		if m, err := p.GetEvent().UnmarshalNew(); err == nil {
			s[i] = format(m)
		} else {
			s[i] = p.GetEvent().GetTypeUrl()
		}
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func formatCommands(cs []sdk.Command) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.To.String() + " " + format(c.Message)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func formatCommandBooks(bs []*eventedpb.CommandBook) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		var ms []proto.Message
		for _, p := range b.GetPages() {
			if m, err := p.GetCommand().UnmarshalNew(); err == nil {
				ms = append(ms, m)
			}
		}
		s[i] = fmt.Sprintf("%s/%x %s", b.GetCover().GetDomain(), b.GetCover().GetRoot().GetValue(), formatMessages(ms))
	}
	return "[" + strings.Join(s, ", ") + "]"
}
