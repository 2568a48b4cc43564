package acceptance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/config"
)

// eventually bounds every wait for something evented does in the
// background; pollEvery is how often the wait looks.
const (
	eventually = 10 * time.Second
	pollEvery  = 10 * time.Millisecond
)

// failuresTrailer is the trailer in which evented names the synchronous
// consumers that failed.
const failuresTrailer = "evented-delivery-failures"

func (w *world) registerDistribution(sc *godog.ScenarioContext) {
	// Setup.
	sc.Given(`^evented retries a failed delivery after (\d+)ms, doubling up to (\d+)ms, at most (\d+) times$`, w.deliveryRetries)
	sc.Given(`^an? (synchronous|asynchronous) (projector|saga) "([^"]*)" for domain "([^"]*)"(?: that (needs the whole aggregate|serves only the legacy service name|is not running yet))?$`, w.consumerFor)
	sc.Given(`^saga "([^"]*)" answers an? "([^"]*)" event with an? "([^"]*)" command for aggregate "([^"]*)" in domain "([^"]*)"$`, w.sagaReacts)
	sc.Step(`^(?:projector|saga) "([^"]*)" answers every delivery with UNAVAILABLE$`, w.consumerDown)
	sc.Step(`^(?:projector|saga) "([^"]*)" recovers$`, w.consumerRecovers)
	sc.Step(`^(?:projector|saga) "([^"]*)" starts$`, w.consumerStarts)
	sc.Step(`^(?:projector|saga) "([^"]*)" cannot handle "([^"]*)" events$`, w.consumerPoisoned)
	sc.Step(`^(?:projector|saga) "([^"]*)" can handle "([^"]*)" events again$`, w.consumerCured)

	sc.Step(`^evented restarts$`, w.restart)

	// Commands.
	sc.Given(`^an? "([^"]*)" command with "([^"]*)" was handled for aggregate "([^"]*)"$`, w.commandWithPayloadWasHandled)
	sc.When(`^aggregates (.+) in domain "([^"]*)" each get (\d+) "([^"]*)" commands at the same time$`, w.aggregatesEachGet)
	sc.When(`^these commands are sent, one after the other:$`, w.commandsInTurn)

	// The reply.
	sc.Then(`^the reply carries the projection of "([^"]*)" for aggregate "([^"]*)" at sequence (\d+), reading:$`, w.replyCarriesProjection)
	sc.Then(`^the reply carries no projections$`, w.replyCarriesNoProjections)
	sc.Then(`^the reply lists the dispatched "([^"]*)" command for aggregate "([^"]*)"$`, w.replyListsCommand)
	sc.Then(`^the reply lists no dispatched commands$`, w.replyListsNoCommands)
	sc.Then(`^the reply carries the book of aggregate "([^"]*)" with an? "([^"]*)" event at sequence (\d+)$`, w.replyCarriesBookOf)
	sc.Then(`^the reply reports that the delivery to "([^"]*)" failed$`, w.replyReportsFailure)
	sc.Then(`^every reply carries the projection of "([^"]*)" at the sequence of its event$`, w.everyReplyCarriesProjection)

	// What the projectors and sagas got.
	sc.Step(`^(eventually |once "([^"]*)" has caught up, )?(?:projector|saga) "([^"]*)" has received the events of aggregates? (.+) with sequences? (.+), each once and in order$`, w.consumerReceived)
	sc.Step(`^eventually (?:projector|saga) "([^"]*)" has refused (\d+) deliveries$`, w.consumerRefused)
	sc.Step(`^(?:projector|saga) "([^"]*)" has received no events$`, w.consumerReceivedNothing)
	sc.Step(`^eventually (?:projector|saga) "([^"]*)" was last given aggregate "([^"]*)" whole:$`, w.consumerLastGivenWhole)
	sc.Step(`^(?:projector|saga) "([^"]*)" was offered the event at sequence (\d+) of aggregate "([^"]*)" (\d+) times$`, w.consumerOffered)
	sc.Step(`^(?:projector|saga) "([^"]*)" was never offered the event at sequence (\d+) of aggregate "([^"]*)"$`, w.consumerNeverOffered)
	sc.Step(`^evented called "([^"]*)" under "([^"]*)" at most once$`, w.calledUnderAtMostOnce)

	// The store and the parked events.
	sc.Step(`^eventually the events of aggregate "([^"]*)" are:$`, w.eventuallyEventsAre)
	sc.Step(`^eventually the events of aggregate "([^"]*)" with sequences? (.+) are parked for "([^"]*)"$`, w.eventuallyParked)
	sc.Step(`^the parked event at sequence (\d+) of aggregate "([^"]*)" was tried (\d+) times and failed with "([^"]*)"$`, w.parkedEventTried)
	sc.Step(`^no events are parked for "([^"]*)"$`, w.nothingParked)
	sc.When(`^I replay the parked events of "([^"]*)"$`, w.replayParked)
	sc.Then(`^the replay delivered (\d+) events and none failed$`, w.replayDelivered)
}

// waitFor calls check until it returns nil or eventually has passed, and
// then reports what it still found wrong. A check that returns a
// *finalError fails at once: waiting cannot make it right.
func waitFor(ctx context.Context, what string, check func() error) error {
	deadline := time.Now().Add(eventually)
	for {
		err := check()
		var final *finalError
		if err == nil || errors.As(err, &final) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s: %w", eventually, what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(pollEvery):
		}
	}
}

// finalError is a failure that waiting longer cannot repair.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

func (w *world) deliveryRetries(minMS, maxMS, attempts int) error {
	if err := w.configure("delivery retries"); err != nil {
		return err
	}
	w.cfg.Delivery.BackoffMin = time.Duration(minMS) * time.Millisecond
	w.cfg.Delivery.BackoffMax = time.Duration(maxMS) * time.Millisecond
	w.cfg.Delivery.MaxAttempts = attempts
	return nil
}

func (w *world) consumerFor(mode, kind, name, domain, trait string) error {
	if err := w.configure(fmt.Sprintf("%s %q", kind, name)); err != nil {
		return err
	}
	if c, _ := w.consumer(name); c != nil {
		return fmt.Errorf("there is already a %s called %q", c.kind, name)
	}
	c := newStubConsumer(name, consumerKind(kind), trait == "serves only the legacy service name")
	var err error
	if trait == "is not running yet" {
		err = c.reserve()
	} else {
		err = c.start()
	}
	if err != nil {
		return err
	}
	w.consumers = append(w.consumers, c)
	cfg := config.Consumer{
		Name: name, Address: c.addr, Synchronous: mode == "synchronous",
		Domains: []string{domain}, History: trait == "needs the whole aggregate",
	}
	if c.kind == sagaKind {
		w.cfg.Sagas = append(w.cfg.Sagas, cfg)
	} else {
		w.cfg.Projectors = append(w.cfg.Projectors, cfg)
	}
	return nil
}

// consumer is the stub projector or saga called name.
func (w *world) consumer(name string) (*stubConsumer, error) {
	for _, c := range w.consumers {
		if c.name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("there is no projector or saga called %q; add one with `a synchronous projector %q for domain …`", name, name)
}

func (w *world) sagaReacts(name, event, command, target, domain string) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	if c.kind != sagaKind {
		return fmt.Errorf("%q is a %s, not a saga", name, c.kind)
	}
	w.domains[target] = domain
	cover, err := w.cover(target)
	if err != nil {
		return err
	}
	c.react(event, reaction{command: command, target: cover})
	return nil
}

func (w *world) consumerDown(name string) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	c.setUnavailable(true)
	return nil
}

func (w *world) consumerRecovers(name string) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	c.setUnavailable(false)
	return nil
}

func (w *world) consumerStarts(name string) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	if c.running() {
		return fmt.Errorf("%s %q is running already", c.kind, name)
	}
	return c.start()
}

func (w *world) consumerPoisoned(name, event string) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	c.setPoison(event)
	return nil
}

func (w *world) consumerCured(name, event string) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	if was := c.setPoison(""); was != event {
		return fmt.Errorf("%s %q could not handle %q events, not %q", c.kind, name, was, event)
	}
	return nil
}

func (w *world) commandWithPayloadWasHandled(ctx context.Context, command, payload, name string) error {
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	cmd := commandBook(cover, command)
	cmd.Pages[0].Command.Value = []byte(payload)
	if err := w.handle(ctx, cmd); err != nil {
		return err
	}
	if err := w.succeeded(); err != nil {
		return err
	}
	w.action = "" // an arrangement, not the action the scenario is about
	return nil
}

// quotedList reads `"a", "b", "c"`.
func quotedList(s string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if len(f) < 2 || f[0] != '"' || f[len(f)-1] != '"' {
			return nil, fmt.Errorf("%q is not a list of quoted names like \"a\", \"b\"", s)
		}
		out = append(out, f[1:len(f)-1])
	}
	return out, nil
}

var sequenceRange = regexp.MustCompile(`^(\d+) to (\d+)$`)

// sequences reads "0, 1, 2", "0 to 5" or "none".
func sequences(s string) ([]uint32, error) {
	if m := sequenceRange.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
		from, _ := strconv.ParseUint(m[1], 10, 32)
		to, _ := strconv.ParseUint(m[2], 10, 32)
		var out []uint32
		for n := from; n <= to; n++ {
			out = append(out, uint32(n))
		}
		return out, nil
	}
	return sequenceList(s)
}

// aggregatesEachGet sends n commands to each aggregate, one after the other
// per aggregate, every aggregate at once, so that the store's log
// interleaves them.
func (w *world) aggregatesEachGet(ctx context.Context, list, domain string, n int, command string) error {
	names, err := quotedList(list)
	if err != nil {
		return err
	}
	covers := make([]*eventedpb.Cover, len(names))
	for i, name := range names {
		w.domains[name] = domain
		if covers[i], err = w.cover(name); err != nil {
			return err
		}
	}
	if err := w.begin(ctx, fmt.Sprintf("sending %d %q commands to each of %d aggregates", n, command, len(names))); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*callTimeout)
	defer cancel()
	results := make([]concurrentResult, len(names)*n)
	var wg sync.WaitGroup
	for i, cover := range covers {
		wg.Go(func() {
			for j := range n {
				r := &results[i*n+j]
				r.reply, r.err = w.commands.Handle(ctx, commandBook(cover, command))
			}
		})
	}
	wg.Wait()
	w.concurrent = results
	w.err = firstFailure(results)
	return nil
}

func firstFailure(results []concurrentResult) error {
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d commands failed; first: %w", len(errs), len(results), errs[0])
	}
	return nil
}

// commandsInTurn sends the table's commands (columns aggregate and command)
// one after the other, each after the previous one's reply.
func (w *world) commandsInTurn(ctx context.Context, table *godog.Table) error {
	if table == nil || len(table.Rows) < 2 {
		return errors.New("the step needs a table with the columns aggregate and command, and at least one row")
	}
	var header []string
	for _, c := range table.Rows[0].Cells {
		header = append(header, strings.TrimSpace(c.Value))
	}
	aggCol, cmdCol := slices.Index(header, "aggregate"), slices.Index(header, "command")
	if aggCol < 0 || cmdCol < 0 {
		return fmt.Errorf("the table needs the columns aggregate and command, has %v", header)
	}
	cmds := make([]*eventedpb.CommandBook, 0, len(table.Rows)-1)
	for _, r := range table.Rows[1:] {
		cover, err := w.cover(strings.TrimSpace(r.Cells[aggCol].Value))
		if err != nil {
			return err
		}
		cmds = append(cmds, commandBook(cover, strings.TrimSpace(r.Cells[cmdCol].Value)))
	}
	if err := w.begin(ctx, "sending the commands one after the other"); err != nil {
		return err
	}
	results := make([]concurrentResult, len(cmds))
	for i, cmd := range cmds {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		results[i].reply, results[i].err = w.commands.Handle(callCtx, cmd)
		cancel()
	}
	w.concurrent = results
	w.err = firstFailure(results)
	return nil
}

// projectionOf is the one projection by projector in the reply.
func (w *world) projectionOf(projector string) (*eventedpb.Projection, error) {
	if err := w.succeeded(); err != nil {
		return nil, err
	}
	var found []*eventedpb.Projection
	for _, p := range w.reply.GetProjections() {
		if p.GetProjector() == projector {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("the reply carries %d projections by %q, want 1; all projections: %v", len(found), projector, w.reply.GetProjections())
	}
	return found[0], nil
}

func (w *world) replyCarriesProjection(projector, name string, seq uint32, text *godog.DocString) error {
	p, err := w.projectionOf(projector)
	if err != nil {
		return err
	}
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	if !proto.Equal(p.GetCover(), cover) {
		return fmt.Errorf("the projection of %q is of %v, want aggregate %q (%v)", projector, p.GetCover(), name, cover)
	}
	if p.GetSequence() != seq {
		return fmt.Errorf("the projection of %q is at sequence %d, want %d", projector, p.GetSequence(), seq)
	}
	if got := typeName(p.GetProjection().GetTypeUrl()); got != readModelType {
		return fmt.Errorf("the projection of %q is a %q, want the %q the projector answered", projector, got, readModelType)
	}
	if got, want := string(p.GetProjection().GetValue()), strings.TrimSpace(text.Content); got != want {
		return fmt.Errorf("the projection of %q reads\n%s\nwant\n%s", projector, got, want)
	}
	return nil
}

// everyReplyCarriesProjection checks the replies of commands sent at once:
// each carries the projector's projection of its own aggregate, at the
// sequence of the event it stored.
func (w *world) everyReplyCarriesProjection(projector string) error {
	if err := w.everyCommandSucceeded(); err != nil {
		return err
	}
	var missing []string
	for i, r := range w.concurrent {
		books := r.reply.GetBooks()
		if len(books) != 1 || len(books[0].GetPages()) != 1 {
			return fmt.Errorf("reply %d carries the books %v, want one book with one event", i, books)
		}
		book, ps := books[0], r.reply.GetProjections()
		seq := book.GetPages()[0].GetNum()
		if len(ps) != 1 || ps[0].GetProjector() != projector || !proto.Equal(ps[0].GetCover(), book.GetCover()) || ps[0].GetSequence() != seq {
			missing = append(missing, fmt.Sprintf("the reply for %v at sequence %d carries the projections %v", book.GetCover(), seq, ps))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%d of %d replies lack the projection of %q at their event's sequence; first: %s", len(missing), len(w.concurrent), projector, missing[0])
	}
	return nil
}

func (w *world) replyCarriesNoProjections() error {
	if err := w.succeeded(); err != nil {
		return err
	}
	if n := len(w.reply.GetProjections()); n > 0 {
		return fmt.Errorf("the reply carries %d projections: %v", n, w.reply.GetProjections())
	}
	return nil
}

func (w *world) replyListsCommand(command, name string) error {
	if err := w.succeeded(); err != nil {
		return err
	}
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	want := commandBook(cover, command)
	cmds := w.reply.GetCommands()
	if len(cmds) != 1 || !proto.Equal(cmds[0].GetCover(), want.GetCover()) || len(cmds[0].GetPages()) != 1 ||
		!proto.Equal(cmds[0].GetPages()[0].GetCommand(), want.GetPages()[0].GetCommand()) {
		return fmt.Errorf("the reply lists the commands %v, want only the %q command for %q (%v)", cmds, command, name, cover)
	}
	return nil
}

func (w *world) replyListsNoCommands() error {
	if err := w.succeeded(); err != nil {
		return err
	}
	if n := len(w.reply.GetCommands()); n > 0 {
		return fmt.Errorf("the reply lists %d dispatched commands: %v", n, w.reply.GetCommands())
	}
	return nil
}

func (w *world) replyCarriesBookOf(name, event string, seq uint32) error {
	if err := w.succeeded(); err != nil {
		return err
	}
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	var found []*eventedpb.EventBook
	for _, b := range w.reply.GetBooks() {
		if proto.Equal(b.GetCover(), cover) {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		return fmt.Errorf("the reply carries %d books of %q, want 1; all books: %v", len(found), name, w.reply.GetBooks())
	}
	return w.sameEvents(fmt.Sprintf("the reply's book of %q", name), found[0].GetPages(), eventRows{{sequence: seq, eventType: event}})
}

func (w *world) replyReportsFailure(consumer string) error {
	if err := w.succeeded(); err != nil {
		return err
	}
	reported := w.trailer.Get(failuresTrailer)
	for _, f := range reported {
		if strings.HasPrefix(f, consumer+": ") {
			return nil
		}
	}
	return fmt.Errorf("the trailer %q is %q; want an entry \"%s: <error>\"", failuresTrailer, reported, consumer)
}

// caughtUp waits until the subscriber has handled every event the store's
// log held when it looked (its checkpoint reached the head).
func (w *world) caughtUp(ctx context.Context, name string) error {
	if err := w.up(ctx); err != nil {
		return err
	}
	return waitFor(ctx, fmt.Sprintf("%q to catch up with the event store", name), func() error {
		all, err := w.subscriptions(ctx)
		if err != nil {
			return &finalError{err}
		}
		for _, s := range all {
			if s.GetName() != name {
				continue
			}
			if s.GetCheckpoint() < s.GetHead() || s.GetPending() > 0 {
				return fmt.Errorf("%q is at checkpoint %d of %d with %d events pending (last error: %q)",
					name, s.GetCheckpoint(), s.GetHead(), s.GetPending(), s.GetLastError())
			}
			return nil
		}
		return &finalError{fmt.Errorf("evented lists no subscriber %q among %v", name, all)}
	})
}

func (w *world) subscriptions(ctx context.Context) ([]*eventedpb.SubscriptionStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	stream, err := w.admin.ListSubscriptions(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	var out []*eventedpb.SubscriptionStatus
	for {
		s, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		out = append(out, s)
	}
}

// consumerReceived checks that the consumer accepted exactly the listed
// events of each aggregate, each once, in sequence order: now, eventually,
// or once its subscription has caught up (so that a duplicate would have
// arrived).
func (w *world) consumerReceived(ctx context.Context, when, subscriber, name, list, seqs string) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	names, err := quotedList(list)
	if err != nil {
		return err
	}
	want, err := sequences(seqs)
	if err != nil {
		return err
	}
	covers := make([]*eventedpb.Cover, len(names))
	for i, n := range names {
		if covers[i], err = w.cover(n); err != nil {
			return err
		}
	}
	check := func() error {
		var behind, wrong []error
		for i, cover := range covers {
			got := c.accepted(cover)
			if slices.Equal(got, want) {
				continue
			}
			err := fmt.Errorf("%s %q has received the events of %q with the sequences %v, want %v each once and in order", c.kind, name, names[i], got, want)
			if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
				wrong = append(wrong, err) // duplicated, out of order or unexpected: more waiting will not fix it
			} else {
				behind = append(behind, err)
			}
		}
		if len(wrong) > 0 {
			return &finalError{errors.Join(wrong...)}
		}
		return errors.Join(behind...)
	}
	switch {
	case when == "eventually ":
		return waitFor(ctx, fmt.Sprintf("%s %q to receive the events", c.kind, name), check)
	case when != "":
		if err := w.caughtUp(ctx, subscriber); err != nil {
			return err
		}
	}
	return check()
}

func (w *world) consumerRefused(ctx context.Context, name string, n int) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	return waitFor(ctx, fmt.Sprintf("%s %q to refuse %d deliveries", c.kind, name, n), func() error {
		if got := c.refusals(); got < n {
			return fmt.Errorf("%s %q has refused %d deliveries", c.kind, name, got)
		}
		return nil
	})
}

func (w *world) consumerReceivedNothing(name string) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	for _, d := range c.deliveries() {
		if d.accepted {
			return fmt.Errorf("%s %q has received the events %v of %v", c.kind, name, pageSequences(d.book.GetPages()), d.book.GetCover())
		}
	}
	return nil
}

// consumerLastGivenWhole waits until the last book the consumer accepted
// for the aggregate is exactly the table: every event from the first.
func (w *world) consumerLastGivenWhole(ctx context.Context, name, aggregate string, table *godog.Table) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	cover, err := w.cover(aggregate)
	if err != nil {
		return err
	}
	rows, err := eventTable(table)
	if err != nil {
		return err
	}
	payloadCol := -1
	for i, cell := range table.Rows[0].Cells {
		if strings.TrimSpace(cell.Value) == "payload" {
			payloadCol = i
		}
	}
	if payloadCol < 0 {
		return errors.New("the table needs a payload column")
	}
	want := make([]*eventedpb.EventPage, len(rows))
	for i, r := range rows {
		want[i] = &eventedpb.EventPage{
			Sequence: &eventedpb.EventPage_Num{Num: r.sequence},
			Event:    &anypb.Any{TypeUrl: typeURL(r.eventType), Value: []byte(strings.TrimSpace(table.Rows[i+1].Cells[payloadCol].Value))},
		}
	}
	return waitFor(ctx, fmt.Sprintf("%s %q to be given aggregate %q whole", c.kind, name, aggregate), func() error {
		var last *eventedpb.EventBook
		for _, d := range c.deliveries() {
			if d.accepted && proto.Equal(d.book.GetCover(), cover) {
				last = d.book
			}
		}
		if last == nil {
			return fmt.Errorf("%s %q has received nothing of %q", c.kind, name, aggregate)
		}
		if last.GetSnapshot() != nil {
			return &finalError{fmt.Errorf("%s %q was given a snapshot of %q; none was taken", c.kind, name, aggregate)}
		}
		var got []*eventedpb.EventPage
		for _, p := range last.GetPages() {
			got = append(got, &eventedpb.EventPage{Sequence: p.GetSequence(), Event: p.GetEvent()})
		}
		if !slices.EqualFunc(got, want, func(a, b *eventedpb.EventPage) bool { return proto.Equal(a, b) }) {
			return fmt.Errorf("%s %q was last given the events %s of %q, want %s", c.kind, name, describePages(last.GetPages()), aggregate, describePages(want))
		}
		return nil
	})
}

func describePages(pages []*eventedpb.EventPage) string {
	parts := make([]string, len(pages))
	for i, p := range pages {
		parts[i] = fmt.Sprintf("%d %s(%q)", p.GetNum(), typeName(p.GetEvent().GetTypeUrl()), p.GetEvent().GetValue())
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (w *world) consumerOffered(name string, seq uint32, aggregate string, n int) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	cover, err := w.cover(aggregate)
	if err != nil {
		return err
	}
	if got := c.offered(cover, seq); got != n {
		return fmt.Errorf("%s %q was offered the event at sequence %d of %q %d times, want %d", c.kind, name, seq, aggregate, got, n)
	}
	return nil
}

func (w *world) consumerNeverOffered(name string, seq uint32, aggregate string) error {
	return w.consumerOffered(name, seq, aggregate, 0)
}

func (w *world) calledUnderAtMostOnce(name, service string) error {
	c, err := w.consumer(name)
	if err != nil {
		return err
	}
	var under []string
	for _, m := range c.unknownMethods() {
		if strings.HasPrefix(m, "/"+service+"/") {
			under = append(under, m)
		}
	}
	if len(under) > 1 {
		return fmt.Errorf("evented called %s %q under %s %d times (%v); it should remember that only %s is served", c.kind, name, service, len(under), under, c.kind.legacyService())
	}
	return nil
}

func (w *world) eventuallyEventsAre(ctx context.Context, name string, table *godog.Table) error {
	want, err := eventTable(table)
	if err != nil {
		return err
	}
	return waitFor(ctx, fmt.Sprintf("the events of %q", name), func() error {
		events, err := w.history(ctx, name)
		if err != nil {
			return &finalError{err}
		}
		if len(events) < len(want) {
			return fmt.Errorf("%q has %d events, want %d", name, len(events), len(want))
		}
		if err := w.sameEvents(fmt.Sprintf("the stored events of %q", name), events, want); err != nil {
			return &finalError{err}
		}
		return nil
	})
}

// parked lists the subscriber's parked events.
func (w *world) parked(ctx context.Context, subscriber string) ([]*eventedpb.ParkedEvent, error) {
	if err := w.up(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	stream, err := w.admin.ListParked(ctx, &eventedpb.ParkedQuery{Subscriber: subscriber})
	if err != nil {
		return nil, fmt.Errorf("list the parked events of %q: %w", subscriber, err)
	}
	var out []*eventedpb.ParkedEvent
	for {
		p, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list the parked events of %q: %w", subscriber, err)
		}
		out = append(out, p)
	}
}

func (w *world) eventuallyParked(ctx context.Context, name, seqs, subscriber string) error {
	want, err := sequences(seqs)
	if err != nil {
		return err
	}
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	return waitFor(ctx, fmt.Sprintf("events of %q to be parked for %q", name, subscriber), func() error {
		all, err := w.parked(ctx, subscriber)
		if err != nil {
			return &finalError{err}
		}
		var got []uint32
		for _, p := range all {
			if !proto.Equal(p.GetCover(), cover) {
				return &finalError{fmt.Errorf("an event of %v is parked for %q at sequence %d (%s); only %q should be", p.GetCover(), subscriber, p.GetPage().GetNum(), p.GetReason(), name)}
			}
			if p.GetSubscriber() != subscriber {
				return &finalError{fmt.Errorf("asked for the parked events of %q, got one of %q", subscriber, p.GetSubscriber())}
			}
			got = append(got, p.GetPage().GetNum())
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("the events of %q parked for %q have the sequences %v, want %v", name, subscriber, got, want)
		}
		w.lastParked = all
		return nil
	})
}

func (w *world) parkedEventTried(seq uint32, name string, attempts int, reason string) error {
	cover, err := w.cover(name)
	if err != nil {
		return err
	}
	for _, p := range w.lastParked {
		if !proto.Equal(p.GetCover(), cover) || p.GetPage().GetNum() != seq {
			continue
		}
		if int(p.GetAttempts()) != attempts || !strings.Contains(p.GetReason(), reason) {
			return fmt.Errorf("the parked event at sequence %d of %q was tried %d times and failed with %q; want %d times and %q",
				seq, name, p.GetAttempts(), p.GetReason(), attempts, reason)
		}
		if typeName(p.GetPage().GetEvent().GetTypeUrl()) == "" || p.GetParkedAt().CheckValid() != nil {
			return fmt.Errorf("the parked event at sequence %d of %q lacks its event or parking time: %v", seq, name, p)
		}
		return nil
	}
	return fmt.Errorf("no event at sequence %d of %q was among the parked events %v (look for them with `eventually the events … are parked` first)", seq, name, w.lastParked)
}

func (w *world) nothingParked(ctx context.Context, subscriber string) error {
	all, err := w.parked(ctx, subscriber)
	if err != nil {
		return err
	}
	if len(all) > 0 {
		return fmt.Errorf("%d events are parked for %q: %v", len(all), subscriber, all)
	}
	return nil
}

func (w *world) replayParked(ctx context.Context, subscriber string) error {
	if err := w.begin(ctx, fmt.Sprintf("replaying the parked events of %q", subscriber)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	w.replay, w.err = w.admin.ReplayParked(ctx, &eventedpb.ParkedQuery{Subscriber: subscriber})
	return nil
}

func (w *world) replayDelivered(n int) error {
	if err := w.succeeded(); err != nil {
		return err
	}
	if w.replay == nil {
		return errors.New("nothing was replayed")
	}
	if int(w.replay.GetReplayed()) != n || len(w.replay.GetFailed()) > 0 {
		return fmt.Errorf("the replay delivered %d events and failed for %v; want %d delivered and no failures", w.replay.GetReplayed(), w.replay.GetFailed(), n)
	}
	return nil
}
