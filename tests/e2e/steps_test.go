package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/api/examplespb"
	"github.com/evented/evented/sdk"
)

// world is one scenario's state.
type world struct {
	*shop
	token string // makes this scenario's names its own

	lastReply *eventedpb.SynchronousProcessingResponse
	lastErr   error // the last command's error, until a step checks it
	replies   map[string][]*eventedpb.SynchronousProcessingResponse
	read      []*eventedpb.EventPage

	watch *watch // loyalty-watch, while the scenario watches a balance
}

func (w *world) register(sc *godog.ScenarioContext) {
	w.registerSnapshots(sc)
	w.registerLoyaltyBalance(sc)
	w.registerConsole(sc)
	sc.Before(func(ctx context.Context, _ *godog.Scenario) (context.Context, error) {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		w.token = hex.EncodeToString(b)
		w.replies = map[string][]*eventedpb.SynchronousProcessingResponse{}
		return ctx, nil
	})

	// Commands. Each remembers its outcome; a failure must be checked by
	// the next step, or the scenario fails.
	sc.Step(`^I register customer "([^"]*)" named "([^"]*)" with email "([^"]*)"$`, func(ctx context.Context, c, name, email string) error {
		return w.send(ctx, "customer", c, &examplespb.CreateCustomer{Name: name, Email: email})
	})
	sc.Step(`^I register customer "([^"]*)" named "([^"]*)" with email "([^"]*)", waiting for the "([^"]*)" projector$`, func(ctx context.Context, c, name, email, projector string) error {
		return w.send(waitingFor(ctx, projector), "customer", c, &examplespb.CreateCustomer{Name: name, Email: email})
	})
	sc.Step(`^customer "([^"]*)" is registered$`, func(ctx context.Context, c string) error {
		return w.send(ctx, "customer", c, &examplespb.CreateCustomer{Name: strings.ToUpper(c[:1]) + c[1:], Email: c + "@example.com"})
	})
	sc.Step(`^customer "([^"]*)" signed up with the first version of the shop as "([^"]*)"$`, w.signedUpV1)
	sc.Step(`^customer "([^"]*)" is given (\d+) loyalty points$`, func(ctx context.Context, c string, points int32) error {
		return w.send(ctx, "customer", c, &examplespb.AddLoyaltyPoints{Points: points, Reason: "welcome"})
	})
	sc.Step(`^customer "([^"]*)" is given (\d+) loyalty points, waiting for the "([^"]*)" projector$`, func(ctx context.Context, c string, points int32, projector string) error {
		return w.send(waitingFor(ctx, projector), "customer", c, &examplespb.AddLoyaltyPoints{Points: points, Reason: "welcome"})
	})
	sc.Step(`^customer "([^"]*)" redeems (\d+) points$`, func(ctx context.Context, c string, points int32) error {
		return w.send(ctx, "customer", c, &examplespb.RedeemLoyaltyPoints{Points: points, RedemptionType: "voucher"})
	})
	sc.Step(`^customer "([^"]*)" buys in transaction "([^"]*)":$`, func(ctx context.Context, c, t string, table *godog.Table) error {
		items, err := lineItems(table)
		if err != nil {
			return err
		}
		return w.send(ctx, "transaction", t, &examplespb.CreateTransaction{CustomerId: w.root(c).String(), Items: items})
	})
	sc.Step(`^a (\d+) percent discount is applied to transaction "([^"]*)"$`, func(ctx context.Context, pct int32, t string) error {
		return w.send(ctx, "transaction", t, &examplespb.ApplyDiscount{DiscountType: "percentage", Value: pct})
	})
	sc.Step(`^transaction "([^"]*)" is completed, paid by "([^"]*)"$`, func(ctx context.Context, t, method string) error {
		return w.send(ctx, "transaction", t, &examplespb.CompleteTransaction{PaymentMethod: method})
	})
	sc.Step(`^transaction "([^"]*)" is cancelled because "([^"]*)"$`, func(ctx context.Context, t, reason string) error {
		return w.send(ctx, "transaction", t, &examplespb.CancelTransaction{Reason: reason})
	})

	// Rejections.
	sc.Step(`^the command is rejected as invalid$`, func() error { return w.rejected(codes.InvalidArgument, nil) })
	sc.Step(`^the command is rejected as a failed precondition$`, func() error { return w.rejected(codes.FailedPrecondition, nil) })
	sc.Step(`^the command is rejected as a failed precondition with "([^"]*)"$`, func(msg string) error {
		return w.rejected(codes.FailedPrecondition, &msg)
	})

	// Customers.
	sc.Step(`^customer "([^"]*)" is named "([^"]*)" with email "([^"]*)"$`, w.customerIs)
	sc.Step(`^customer "([^"]*)" has (\d+) loyalty points$`, w.customerHasPoints)
	sc.Step(`^customer "([^"]*)" has no events$`, func(ctx context.Context, c string) error {
		return w.noEvents(ctx, "customer", w.root(c))
	})
	sc.Step(`^no customer was credited under the id of transaction "([^"]*)"$`, func(ctx context.Context, t string) error {
		return w.noEvents(ctx, "customer", w.root(t))
	})
	sc.Step(`^the loyalty saga sent (\d+) points to customer "([^"]*)"$`, w.sagaSent)

	// Receipts.
	sc.Step(`^the receipt is for transaction "([^"]*)" and customer "([^"]*)"$`, w.receiptFor)
	sc.Step(`^the receipt lists the items:$`, w.receiptItems)
	sc.Step(`^the receipt shows a subtotal of (\d+) cents, a discount of (\d+) cents and a total of (\d+) cents$`, w.receiptAmounts)
	sc.Step(`^the receipt shows payment "([^"]*)" and (\d+) loyalty points earned$`, w.receiptPayment)
	sc.Step(`^the receipt's text mentions "([^"]*)", "([^"]*)" and "([^"]*)"$`, w.receiptText)
	sc.Step(`^no receipt was printed for transaction "([^"]*)"$`, w.noReceipt)

	// Events.
	sc.Step(`^transaction "([^"]*)" has the events "([^"]*)"$`, w.transactionEvents)
	sc.Step(`^within (\d+) seconds transaction "([^"]*)" has the events "([^"]*)"$`, func(ctx context.Context, secs int, t, list string) error {
		end := time.Now().Add(time.Duration(secs) * time.Second)
		for {
			err := w.transactionEvents(ctx, t, list)
			if err == nil || time.Now().After(end) {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	sc.Step(`^I read the events of customer "([^"]*)"$`, func(ctx context.Context, c string) error {
		pages, err := w.events(ctx, "customer", w.root(c))
		w.read = pages
		return err
	})
	sc.Step(`^I get the events, in order:$`, w.eventsInOrder)
	sc.Step(`^every event has its creation time$`, w.eventsHaveTimes)
	sc.Step(`^customer "([^"]*)" is among the aggregates$`, w.amongAggregates)
	sc.Step(`^the (customer|transaction) log shows a "([^"]*)" event for (?:customer|transaction) "([^"]*)"$`, w.logShows)
	sc.Step(`^the command waited for "([^"]*)", in time$`, func(projector string) error {
		if w.lastErr != nil {
			return fmt.Errorf("the command failed: %v", w.lastErr)
		}
		waits := w.lastReply.GetWaits()
		if len(waits) != 1 || waits[0].GetSubscriber() != projector || !waits[0].GetDone() || waits[0].GetReached() < w.lastReply.GetPosition() {
			return fmt.Errorf("the reply's waits are %v (position %d); want %s done", waits, w.lastReply.GetPosition(), projector)
		}
		return nil
	})
	sc.Step(`^the (customer|transaction) log already shows a "([^"]*)" event for (?:customer|transaction) "([^"]*)"$`, func(domain, typ, name string) error {
		// No waiting here: the command's answer came after the projector's.
		p := w.services["projector-log-"+domain]
		found, err := logHas(p.Stdout, domain, w.root(name).String(), typ)
		if err == nil && !found {
			err = fmt.Errorf("projector-log-%s has not written the %s line of %s yet\n%s", domain, typ, name, p.Tail())
		}
		return err
	})
}

// waitingFor asks evented to answer the command once projector has handled
// its events (read-your-writes).
func waitingFor(ctx context.Context, projector string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "evented-wait-for", projector, "evented-wait-timeout", "20s")
}

// root is the aggregate id of this scenario's name.
func (w *world) root(name string) uuid.UUID { return sdk.Root(name + "-" + w.token) }

func coverOf(domain string, root uuid.UUID) *eventedpb.Cover {
	return &eventedpb.Cover{Domain: domain, Root: &eventedpb.UUID{Value: root[:]}}
}

func rpc(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 15*time.Second)
}

// send sends one command to evented and remembers the outcome.
func (w *world) send(ctx context.Context, domain, name string, cmd proto.Message) error {
	if w.lastErr != nil {
		return fmt.Errorf("the previous command failed and no step checked it: %v", w.lastErr)
	}
	a, err := anypb.New(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := rpc(ctx)
	defer cancel()
	reply, err := w.command.Handle(ctx, &eventedpb.CommandBook{
		Cover: coverOf(domain, w.root(name)),
		Pages: []*eventedpb.CommandPage{{Command: a}},
	})
	w.lastReply, w.lastErr = reply, err
	if err == nil {
		w.replies[name] = append(w.replies[name], reply)
	}
	return nil
}

func (w *world) rejected(code codes.Code, msg *string) error {
	err := w.lastErr
	w.lastErr = nil
	if err == nil {
		return fmt.Errorf("the command succeeded, want it rejected with %s", code)
	}
	st := status.Convert(err)
	if st.Code() != code || (msg != nil && st.Message() != *msg) {
		want := code.String()
		if msg != nil {
			want += fmt.Sprintf(" %q", *msg)
		}
		return fmt.Errorf("rejected with %s %q, want %s", st.Code(), st.Message(), want)
	}
	return nil
}

// reply is the last command's reply; the command must have succeeded.
func (w *world) reply() (*eventedpb.SynchronousProcessingResponse, error) {
	if w.lastErr != nil {
		err := w.lastErr
		w.lastErr = nil
		return nil, fmt.Errorf("the command failed: %v", err)
	}
	if w.lastReply == nil {
		return nil, errors.New("no command was sent")
	}
	return w.lastReply, nil
}

// events reads every event of an aggregate, from sequence 0.
func (w *world) events(ctx context.Context, domain string, root uuid.UUID) ([]*eventedpb.EventPage, error) {
	return w.readBooks(ctx, &eventedpb.Query{Domain: domain, Root: &eventedpb.UUID{Value: root[:]}, UpperBound: math.MaxUint32}, nil)
}

func (w *world) readBooks(ctx context.Context, q *eventedpb.Query, snap **eventedpb.Snapshot) ([]*eventedpb.EventPage, error) {
	ctx, cancel := rpc(ctx)
	defer cancel()
	stream, err := w.query.GetEvents(ctx, q)
	if err != nil {
		return nil, err
	}
	var pages []*eventedpb.EventPage
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return pages, nil
		}
		if err != nil {
			return nil, err
		}
		if snap != nil && b.GetSnapshot() != nil {
			*snap = b.GetSnapshot()
		}
		pages = append(pages, b.GetPages()...)
	}
}

func (w *world) noEvents(ctx context.Context, domain string, root uuid.UUID) error {
	pages, err := w.events(ctx, domain, root)
	if err != nil {
		return err
	}
	if len(pages) > 0 {
		return fmt.Errorf("%s has %d events: %s", domain, len(pages), typeNames(pages))
	}
	return nil
}

func typeNames(pages []*eventedpb.EventPage) string {
	var names []string
	for _, p := range pages {
		names = append(names, string(p.GetEvent().MessageName()))
	}
	return strings.Join(names, ", ")
}

func (w *world) customerIs(ctx context.Context, c, name, email string) error {
	pages, err := w.events(ctx, "customer", w.root(c))
	if err != nil {
		return err
	}
	for _, p := range pages {
		var e examplespb.CustomerCreated
		if p.GetEvent().MessageIs(&e) {
			if err := p.GetEvent().UnmarshalTo(&e); err != nil {
				return err
			}
			if e.GetName() != name || e.GetEmail() != email {
				return fmt.Errorf("customer created as %q <%s>, want %q <%s>", e.GetName(), e.GetEmail(), name, email)
			}
			return nil
		}
	}
	return fmt.Errorf("no CustomerCreated among %s", typeNames(pages))
}

// customerHasPoints checks the balance twice: folded from every event, and
// from the latest snapshot plus the events after it (what business logic
// is given), so a wrong snapshot shows too.
func (w *world) customerHasPoints(ctx context.Context, c string, want int32) error {
	pages, err := w.events(ctx, "customer", w.root(c))
	if err != nil {
		return err
	}
	if len(pages) == 0 {
		return fmt.Errorf("customer %q has no events", c)
	}
	fromEvents, err := balance(0, pages)
	if err != nil {
		return err
	}
	if fromEvents != want {
		return fmt.Errorf("customer %q has %d points (events: %s), want %d", c, fromEvents, typeNames(pages), want)
	}
	root := w.root(c)
	var snap *eventedpb.Snapshot
	after, err := w.readBooks(ctx, &eventedpb.Query{Domain: "customer", Root: &eventedpb.UUID{Value: root[:]}}, &snap)
	if err != nil {
		return err
	}
	var start int32
	if snap != nil {
		var s examplespb.CustomerState
		if err := snap.GetState().UnmarshalTo(&s); err != nil {
			return fmt.Errorf("the customer's snapshot: %v", err)
		}
		start = s.GetLoyaltyPoints()
	}
	fromSnapshot, err := balance(start, after)
	if err != nil {
		return err
	}
	if fromSnapshot != want {
		return fmt.Errorf("customer %q has %d points from the snapshot (%v) and the events after it, %d from all events", c, fromSnapshot, snap, fromEvents)
	}
	return nil
}

func balance(start int32, pages []*eventedpb.EventPage) (int32, error) {
	b := start
	for _, p := range pages {
		var add examplespb.LoyaltyPointsAdded
		var redeem examplespb.LoyaltyPointsRedeemed
		switch {
		case p.GetEvent().MessageIs(&add):
			if err := p.GetEvent().UnmarshalTo(&add); err != nil {
				return 0, err
			}
			b += add.GetPoints()
		case p.GetEvent().MessageIs(&redeem):
			if err := p.GetEvent().UnmarshalTo(&redeem); err != nil {
				return 0, err
			}
			b -= redeem.GetPoints()
		}
	}
	return b, nil
}

// sagaSent checks the last reply: the saga's command to the customer, and
// the customer's book it stored.
func (w *world) sagaSent(points int32, c string) error {
	reply, err := w.reply()
	if err != nil {
		return err
	}
	want := coverOf("customer", w.root(c))
	found := false
	for _, cmd := range reply.GetCommands() {
		for _, p := range cmd.GetPages() {
			var add examplespb.AddLoyaltyPoints
			if p.GetCommand().MessageIs(&add) && p.GetCommand().UnmarshalTo(&add) == nil {
				if !proto.Equal(cmd.GetCover(), want) {
					return fmt.Errorf("the saga sent AddLoyaltyPoints to %v, want customer %q %v", cmd.GetCover(), c, want)
				}
				if add.GetPoints() != points {
					return fmt.Errorf("the saga sent %d points, want %d", add.GetPoints(), points)
				}
				found = true
			}
		}
	}
	if !found {
		return fmt.Errorf("the reply lists no AddLoyaltyPoints among %d commands", len(reply.GetCommands()))
	}
	for _, b := range reply.GetBooks() {
		if proto.Equal(b.GetCover(), want) && strings.Contains(typeNames(b.GetPages()), "examples.LoyaltyPointsAdded") {
			return nil
		}
	}
	return fmt.Errorf("the reply has no book of customer %q with LoyaltyPointsAdded", c)
}

// receipt is the Receipt in the last reply.
func (w *world) receipt() (*examplespb.Receipt, error) {
	reply, err := w.reply()
	if err != nil {
		return nil, err
	}
	r, ok, err := receiptIn(reply)
	if err != nil || ok {
		return r, err
	}
	var got []string
	for _, p := range reply.GetProjections() {
		got = append(got, fmt.Sprintf("%s: %s", p.GetProjector(), p.GetProjection().GetTypeUrl()))
	}
	return nil, fmt.Errorf("no receipt in the reply; projections: %v", got)
}

func receiptIn(reply *eventedpb.SynchronousProcessingResponse) (*examplespb.Receipt, bool, error) {
	for _, p := range reply.GetProjections() {
		var r examplespb.Receipt
		if p.GetProjection().MessageIs(&r) {
			if p.GetProjector() != "receipt" {
				return nil, false, fmt.Errorf("a Receipt from projector %q, want receipt", p.GetProjector())
			}
			if err := p.GetProjection().UnmarshalTo(&r); err != nil {
				return nil, false, err
			}
			return &r, true, nil
		}
	}
	return nil, false, nil
}

func (w *world) receiptFor(t, c string) error {
	r, err := w.receipt()
	if err != nil {
		return err
	}
	if txn, cust := w.root(t).String(), w.root(c).String(); r.GetTransactionId() != txn || r.GetCustomerId() != cust {
		return fmt.Errorf("receipt of transaction %s for customer %s, want %s and %s", r.GetTransactionId(), r.GetCustomerId(), txn, cust)
	}
	return nil
}

func (w *world) receiptItems(table *godog.Table) error {
	r, err := w.receipt()
	if err != nil {
		return err
	}
	want, err := lineItems(table)
	if err != nil {
		return err
	}
	if len(r.GetItems()) != len(want) {
		return fmt.Errorf("the receipt lists %d items, want %d: %v", len(r.GetItems()), len(want), r.GetItems())
	}
	for i := range want {
		if !proto.Equal(r.GetItems()[i], want[i]) {
			return fmt.Errorf("item %d is %v, want %v", i, r.GetItems()[i], want[i])
		}
	}
	return nil
}

func (w *world) receiptAmounts(subtotal, discount, total int32) error {
	r, err := w.receipt()
	if err != nil {
		return err
	}
	if r.GetSubtotalCents() != subtotal || r.GetDiscountCents() != discount || r.GetFinalTotalCents() != total {
		return fmt.Errorf("receipt: subtotal %d, discount %d, total %d; want %d, %d, %d",
			r.GetSubtotalCents(), r.GetDiscountCents(), r.GetFinalTotalCents(), subtotal, discount, total)
	}
	return nil
}

func (w *world) receiptPayment(method string, points int32) error {
	r, err := w.receipt()
	if err != nil {
		return err
	}
	if r.GetPaymentMethod() != method || r.GetLoyaltyPointsEarned() != points {
		return fmt.Errorf("receipt: payment %q, %d points; want %q, %d", r.GetPaymentMethod(), r.GetLoyaltyPointsEarned(), method, points)
	}
	if r.GetCompletedAt() == nil {
		return errors.New("the receipt has no completion time")
	}
	return nil
}

func (w *world) receiptText(a, b, c string) error {
	r, err := w.receipt()
	if err != nil {
		return err
	}
	for _, s := range []string{a, b, c, r.GetTransactionId()} {
		if !strings.Contains(r.GetFormattedText(), s) {
			return fmt.Errorf("the receipt's text does not mention %q:\n%s", s, r.GetFormattedText())
		}
	}
	return nil
}

func (w *world) noReceipt(t string) error {
	if w.lastErr != nil {
		return fmt.Errorf("unchecked failure: %v", w.lastErr)
	}
	for _, reply := range w.replies[t] {
		if r, ok, _ := receiptIn(reply); ok {
			return fmt.Errorf("a receipt was printed: %v", r)
		}
	}
	return nil
}

func (w *world) transactionEvents(ctx context.Context, t, list string) error {
	pages, err := w.events(ctx, "transaction", w.root(t))
	if err != nil {
		return err
	}
	if got := typeNames(pages); got != list {
		return fmt.Errorf("events %q, want %q", got, list)
	}
	return nil
}

func (w *world) eventsInOrder(table *godog.Table) error {
	var want []string
	for _, row := range table.Rows[1:] {
		want = append(want, row.Cells[0].Value+" "+row.Cells[1].Value)
	}
	var got []string
	for i, p := range w.read {
		if _, ok := p.GetSequence().(*eventedpb.EventPage_Num); !ok {
			return fmt.Errorf("event %d has no sequence number", i)
		}
		got = append(got, fmt.Sprintf("%d %s", p.GetNum(), p.GetEvent().MessageName()))
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("events:\n got  %q\n want %q", got, want)
	}
	return nil
}

func (w *world) eventsHaveTimes() error {
	for i, p := range w.read {
		if p.GetCreatedAt() == nil || p.GetCreatedAt().AsTime().Before(time.Now().Add(-time.Hour)) {
			return fmt.Errorf("event %d has creation time %v", i, p.GetCreatedAt())
		}
	}
	return nil
}

func (w *world) amongAggregates(ctx context.Context, c string) error {
	ctx, cancel := rpc(ctx)
	defer cancel()
	stream, err := w.query.GetAggregateRoots(ctx, &emptypb.Empty{})
	if err != nil {
		return err
	}
	root := w.root(c)
	for {
		a, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("customer %q (%s) is not among the aggregates", c, root)
		}
		if err != nil {
			return err
		}
		if a.GetDomain() == "customer" && string(a.GetRoot().GetValue()) == string(root[:]) {
			return nil
		}
	}
}

// logShows waits for the log projector of domain to write the event's
// line: the log projectors are asynchronous.
func (w *world) logShows(ctx context.Context, domain, typ, name string) error {
	p := w.services["projector-log-"+domain]
	root := w.root(name).String()
	deadline := time.Now().Add(20 * time.Second)
	for {
		found, err := logHas(p.Stdout, domain, root, typ)
		if err != nil || found {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("projector-log-%s wrote no %s line for %s within 20s\n%s", domain, typ, root, p.Tail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func logHas(path, domain, root, typ string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Projector, Domain, Root, Type string
			Sequence                      *uint32
			Event                         map[string]any
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if line.Domain == domain && line.Root == root && line.Type == typ && line.Projector == "log-"+domain && line.Sequence != nil {
			if len(line.Event) == 0 {
				return false, fmt.Errorf("the %s line of %s has no event fields: %s", typ, root, sc.Text())
			}
			return true, nil
		}
	}
	return false, sc.Err()
}

// lineItems reads a table with columns product, name, quantity, unit price.
func lineItems(table *godog.Table) ([]*examplespb.LineItem, error) {
	var items []*examplespb.LineItem
	for _, row := range table.Rows[1:] {
		if len(row.Cells) != 4 {
			return nil, fmt.Errorf("want columns product, name, quantity, unit price; got %d cells", len(row.Cells))
		}
		q, err := strconv.Atoi(row.Cells[2].Value)
		if err != nil {
			return nil, fmt.Errorf("quantity: %w", err)
		}
		p, err := strconv.Atoi(row.Cells[3].Value)
		if err != nil {
			return nil, fmt.Errorf("unit price: %w", err)
		}
		items = append(items, &examplespb.LineItem{ProductId: row.Cells[0].Value, Name: row.Cells[1].Value, Quantity: int32(q), UnitPriceCents: int32(p)})
	}
	return items, nil
}

// signedUpV1 stores what the shop's first version stored at sign-up, a
// CustomerSignedUp (schema version 1), as an import would: with Record,
// no business logic involved.
func (w *world) signedUpV1(ctx context.Context, c, contact string) error {
	a, err := anypb.New(&examplespb.CustomerSignedUp{Contact: contact})
	if err != nil {
		return err
	}
	ctx, cancel := rpc(ctx)
	defer cancel()
	_, err = w.command.Record(ctx, &eventedpb.EventBook{
		Cover: coverOf("customer", w.root(c)),
		Pages: []*eventedpb.EventPage{{Event: a, Metadata: &eventedpb.EventMetadata{SchemaVersion: 1}}},
	})
	return err
}
