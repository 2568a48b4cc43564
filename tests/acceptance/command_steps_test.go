package acceptance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
)

// commandBook is a command of the named type for cover. Its payload is the
// command's name, so what business logic receives can be told apart.
func commandBook(cover *eventedpb.Cover, command string) *eventedpb.CommandBook {
	return &eventedpb.CommandBook{Cover: cover, Pages: []*eventedpb.CommandPage{{
		Command: &anypb.Any{TypeUrl: typeURL(command), Value: []byte(command)},
	}}}
}

func (w *world) sendCommand(ctx context.Context, command, name string) error {
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	return w.handle(ctx, commandBook(cover, command))
}

func (w *world) sendCommandInDomain(ctx context.Context, command, name, domain string) error {
	w.domains[name] = domain
	return w.sendCommand(ctx, command, name)
}

func (w *world) sendCommandWithRootLength(ctx context.Context, command, domain string, n int) error {
	cover := &eventedpb.Cover{Domain: domain, Root: &eventedpb.UUID{Value: bytes.Repeat([]byte{7}, n)}}
	return w.handle(ctx, commandBook(cover, command))
}

func (w *world) handle(ctx context.Context, cmd *eventedpb.CommandBook) error {
	if err := w.begin(ctx, fmt.Sprintf("the %q command", typeName(cmd.GetPages()[0].GetCommand().GetTypeUrl()))); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	w.addressed = cmd.GetCover()
	w.reply, w.err = w.commands.Handle(ctx, cmd, grpc.Trailer(&w.trailer))
	return nil
}

func (w *world) recordEvents(ctx context.Context, name string, table *godog.Table) error {
	rows, err := eventTable(table)
	if err != nil {
		return err
	}
	return w.record(ctx, name, rows)
}

func (w *world) recordEventAt(ctx context.Context, event string, seq uint32, name string) error {
	return w.record(ctx, name, eventRows{{sequence: seq, eventType: event}})
}

func (w *world) record(ctx context.Context, name string, rows eventRows) error {
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	if err := w.begin(ctx, "recording"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	w.addressed = cover
	w.reply, w.err = w.commands.Record(ctx, &eventedpb.EventBook{Cover: cover, Pages: rows.wire()})
	return nil
}

// concurrentClients has n clients, each with its own connection, send m
// commands one after the other, all clients at once.
func (w *world) concurrentClients(ctx context.Context, n, m int, command, name string) error {
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	if err := w.begin(ctx, "sending commands from many clients"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*callTimeout)
	defer cancel()
	clients := make([]eventedpb.BusinessCoordinatorClient, n)
	for i := range clients {
		conn, err := dial(w.evented.commandAddr)
		if err != nil {
			return err
		}
		w.conns = append(w.conns, conn)
		clients[i] = eventedpb.NewBusinessCoordinatorClient(conn)
	}
	results := make([]concurrentResult, n*m)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range clients {
		wg.Go(func() {
			<-start
			for j := range m {
				r := &results[i*m+j]
				r.reply, r.err = c.Handle(ctx, commandBook(cover, command))
			}
		})
	}
	close(start)
	wg.Wait()
	w.concurrent, w.addressed = results, cover
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if len(errs) > 0 {
		w.err = fmt.Errorf("%d of %d commands failed; first: %w", len(errs), len(results), errs[0])
	}
	return nil
}

// lastRequest is the last request the business logic received.
func (w *world) lastRequest() (*eventedpb.ContextualCommand, error) {
	l, err := w.stub()
	if err != nil {
		return nil, err
	}
	calls := l.received()
	if len(calls) == 0 {
		return nil, errors.New("the business logic received no command")
	}
	last := calls[len(calls)-1]
	// It is the command that was sent, for the aggregate it was sent to.
	if w.addressed != nil && !proto.Equal(last.GetCommand().GetCover(), w.addressed) {
		return nil, fmt.Errorf("the business logic received a command for %v, want %v", last.GetCommand().GetCover(), w.addressed)
	}
	if !proto.Equal(last.GetEvents().GetCover(), last.GetCommand().GetCover()) {
		return nil, fmt.Errorf("the prior events are of %v, the command is for %v", last.GetEvents().GetCover(), last.GetCommand().GetCover())
	}
	return last, nil
}

func (w *world) receivedEmptyHistory() error {
	return w.receivedPriorEvents(0)
}

func (w *world) receivedPriorEvents(n int) error {
	req, err := w.lastRequest()
	if err != nil {
		return err
	}
	if s := req.GetEvents().GetSnapshot(); s != nil {
		return fmt.Errorf("the business logic received a snapshot at sequence %d; want none", s.GetSequence())
	}
	want := make([]uint32, n)
	for i := range want {
		want[i] = uint32(i)
	}
	return sameSequences("the prior events the business logic received", req.GetEvents().GetPages(), want)
}

func (w *world) receivedSnapshotAndEvents(seq uint32, list string) error {
	want, err := sequenceList(list)
	if err != nil {
		return err
	}
	req, err := w.lastRequest()
	if err != nil {
		return err
	}
	s := req.GetEvents().GetSnapshot()
	if s == nil {
		return errors.New("the business logic received no snapshot")
	}
	if s.GetSequence() != seq {
		return fmt.Errorf("the business logic received a snapshot at sequence %d, want %d", s.GetSequence(), seq)
	}
	if got := typeName(s.GetState().GetTypeUrl()); got != snapshotType {
		return fmt.Errorf("the snapshot's state is a %q, want the %q the business logic returned", got, snapshotType)
	}
	return sameSequences("the prior events the business logic received", req.GetEvents().GetPages(), want)
}

func (w *world) askedTimes(n int) error {
	l, err := w.stub()
	if err != nil {
		return err
	}
	if got := len(l.received()); got != n {
		return fmt.Errorf("the business logic was asked %d times, want %d", got, n)
	}
	return nil
}

func (w *world) neverAsked() error { return w.askedTimes(0) }

// replyBook is the one book the reply carries, for the aggregate addressed.
func (w *world) replyBook() (*eventedpb.EventBook, error) {
	if err := w.succeeded(); err != nil {
		return nil, err
	}
	books := w.reply.GetBooks()
	if len(books) != 1 {
		return nil, fmt.Errorf("the reply carries %d books, want 1: %v", len(books), books)
	}
	if !proto.Equal(books[0].GetCover(), w.addressed) {
		return nil, fmt.Errorf("the reply's book is for %v, want %v", books[0].GetCover(), w.addressed)
	}
	return books[0], nil
}

func (w *world) replyCarriesEvent(event string, seq uint32) error {
	book, err := w.replyBook()
	if err != nil {
		return err
	}
	if err := w.sameEvents("the reply", book.GetPages(), eventRows{{sequence: seq, eventType: event}}); err != nil {
		return err
	}
	return nil
}

func (w *world) replyCarriesNothing() error {
	if err := w.succeeded(); err != nil {
		return err
	}
	for _, b := range w.reply.GetBooks() {
		if len(b.GetPages()) > 0 {
			return fmt.Errorf("the reply carries events: %v", b.GetPages())
		}
	}
	return nil
}

func (w *world) replyCarriesSequences(list string) error {
	want, err := sequenceList(list)
	if err != nil {
		return err
	}
	book, err := w.replyBook()
	if err != nil {
		return err
	}
	if err := sameSequences("the reply", book.GetPages(), want); err != nil {
		return err
	}
	return w.createdAtSet("the reply", book.GetPages())
}

func (w *world) eventsPersisted(ctx context.Context, n int, name string) error {
	events, err := w.history(ctx, name)
	if err != nil {
		return err
	}
	want := make([]uint32, n)
	for i := range want {
		want[i] = uint32(i)
	}
	if err := sameSequences(fmt.Sprintf("the stored events of %q", name), events, want); err != nil {
		return err
	}
	return w.createdAtSet(fmt.Sprintf("the stored events of %q", name), events)
}

func (w *world) nothingStored(ctx context.Context, name string) error {
	return w.eventsPersisted(ctx, 0, name)
}

func (w *world) eventsAre(ctx context.Context, name string, table *godog.Table) error {
	want, err := eventTable(table)
	if err != nil {
		return err
	}
	events, err := w.history(ctx, name)
	if err != nil {
		return err
	}
	return w.sameEvents(fmt.Sprintf("the stored events of %q", name), events, want)
}

// failure is the status of the last action, which must have failed.
func (w *world) failure() (*status.Status, error) {
	if w.action == "" {
		return nil, errors.New("nothing was done yet")
	}
	if w.err == nil {
		return nil, fmt.Errorf("%s succeeded; want a failure", w.action)
	}
	w.errExpected = true
	st, ok := status.FromError(w.err)
	if !ok {
		return nil, fmt.Errorf("%s failed without a gRPC status: %w", w.action, w.err)
	}
	return st, nil
}

func (w *world) failsWith(code string) error {
	st, err := w.failure()
	if err != nil {
		return err
	}
	var want codes.Code
	if err := want.UnmarshalJSON([]byte(strconv.Quote(code))); err != nil {
		return fmt.Errorf("%q is not a gRPC status code: %w", code, err)
	}
	if st.Code() != want {
		return fmt.Errorf("%s failed with %s (%q), want %s", w.action, st.Code(), st.Message(), want)
	}
	return nil
}

func (w *world) messageIs(msg string) error {
	st, err := w.failure()
	if err != nil {
		return err
	}
	if st.Message() != msg {
		return fmt.Errorf("the message is %q, want %q", st.Message(), msg)
	}
	return nil
}

func (w *world) messageContains(part string) error {
	st, err := w.failure()
	if err != nil {
		return err
	}
	if !strings.Contains(st.Message(), part) {
		return fmt.Errorf("the message %q does not contain %q", st.Message(), part)
	}
	return nil
}

func (w *world) everyCommandSucceeded() error {
	if w.concurrent == nil {
		return errors.New("no commands were sent by many clients")
	}
	return w.succeeded()
}

func (w *world) repliesCarrySequences(last uint32) error {
	if err := w.everyCommandSucceeded(); err != nil {
		return err
	}
	var got []uint32
	for _, r := range w.concurrent {
		if len(r.reply.GetBooks()) != 1 {
			return fmt.Errorf("a reply carries %d books, want 1", len(r.reply.GetBooks()))
		}
		if b := r.reply.GetBooks()[0]; !proto.Equal(b.GetCover(), w.addressed) {
			return fmt.Errorf("a reply's book is for %v, want %v", b.GetCover(), w.addressed)
		}
		for _, p := range r.reply.GetBooks()[0].GetPages() {
			got = append(got, p.GetNum())
		}
	}
	slices.Sort(got)
	want := make([]uint32, last+1)
	for i := range want {
		want[i] = uint32(i)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("the replies carry the sequences %v, want 0 to %d each once", got, last)
	}
	return nil
}

// sameSequences checks that pages carry exactly the sequences want, in order.
func sameSequences(what string, pages []*eventedpb.EventPage, want []uint32) error {
	got := make([]uint32, len(pages))
	for i, p := range pages {
		if _, ok := p.GetSequence().(*eventedpb.EventPage_Num); !ok {
			return fmt.Errorf("%s: page %d carries no sequence number (%v)", what, i, p.GetSequence())
		}
		got[i] = p.GetNum()
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s have the sequences %v, want %v", what, got, want)
	}
	return nil
}

// sameEvents checks that pages are exactly the rows: sequences, event types,
// and created_at (as given, or a commit time during the scenario).
func (w *world) sameEvents(what string, pages []*eventedpb.EventPage, want eventRows) error {
	seqs := make([]uint32, len(want))
	for i, r := range want {
		seqs[i] = r.sequence
	}
	if err := sameSequences(what, pages, seqs); err != nil {
		return err
	}
	if err := w.createdAtSet(what, pages); err != nil {
		return err
	}
	for i, p := range pages {
		if got := typeName(p.GetEvent().GetTypeUrl()); got != want[i].eventType {
			return fmt.Errorf("%s: the event at sequence %d is a %q, want %q", what, p.GetNum(), got, want[i].eventType)
		}
		if v := max(p.GetMetadata().GetSchemaVersion(), 1); want[i].version > 0 && v != want[i].version {
			return fmt.Errorf("%s: the event at sequence %d has schema version %d, want %d", what, p.GetNum(), v, want[i].version)
		}
		got, at := p.GetCreatedAt().AsTime(), want[i].createdAt
		if !at.IsZero() && !got.Equal(at) {
			return fmt.Errorf("%s: the event at sequence %d was created at %s, want %s as given", what, p.GetNum(), got, at)
		}
		if at.IsZero() && got.Before(w.started.Add(-time.Second)) {
			return fmt.Errorf("%s: the event at sequence %d was created at %s, before this scenario began (%s); want the commit time", what, p.GetNum(), got, w.started)
		}
	}
	return nil
}

// createdAtSet checks that every page has a valid created_at that is not in
// the future.
func (w *world) createdAtSet(what string, pages []*eventedpb.EventPage) error {
	for _, p := range pages {
		if err := p.GetCreatedAt().CheckValid(); err != nil {
			return fmt.Errorf("%s: the event at sequence %d has no valid created_at: %w", what, p.GetNum(), err)
		}
		at := p.GetCreatedAt().AsTime()
		if at.After(time.Now().Add(time.Second)) || at.Unix() <= 0 {
			return fmt.Errorf("%s: the event at sequence %d was created at %s, which cannot be a creation time", what, p.GetNum(), at)
		}
	}
	return nil
}
