package amqp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	rmq "github.com/rabbitmq/amqp091-go"
	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/bus/amqp"
	"github.com/evented/evented/internal/bus/bustest"
	"github.com/evented/evented/internal/eventstore"
)

// raw is a plain AMQP channel, as an external consumer in another language
// would have.
func raw(t *testing.T) *rmq.Channel {
	t.Helper()
	conn, err := rmq.Dial(bustest.URL(t, "AMQP_TEST_URL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func testBook(domain string) eventstore.Book {
	return eventstore.Book{
		Cover: eventstore.Cover{Domain: domain, Root: uuid.MustParse("0190f4b2-7c3e-7d4a-9b1c-2e3f4a5b6c7d")},
		Events: []eventstore.Event{
			{Sequence: 7, CreatedAt: time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC), TypeURL: "type.googleapis.com/examples.CustomerCreated", Payload: []byte{1, 2, 3}},
			{Sequence: 8, CreatedAt: time.Date(2026, 5, 6, 7, 8, 9, 11, time.UTC), TypeURL: "type.googleapis.com/examples.LoyaltyPointsAdded", Payload: []byte{4}},
		},
	}
}

// The layout SPEC §3 promises external consumers: durable topic exchange
// evented.events, routing key <domain>.<32 hex>, protobuf EventBook body,
// content type application/protobuf, persistent; subscriptions are durable
// queues.
func TestLayoutForExternalConsumers(t *testing.T) {
	ch := raw(t)
	b := open(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	domain := "layout-" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")

	// A bus subscription is a durable queue: declaring it durable again is
	// accepted, non-durable is refused (PRECONDITION_FAILED).
	name := "layout_" + domain[7:]
	sub, err := b.Subscribe(ctx, name, domain)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Unsubscribe(context.Background(), name)
	defer sub.Close()
	if _, err := ch.QueueDeclare(name, true, false, false, false, nil); err != nil {
		t.Fatalf("bus subscription is not a durable queue: %v", err)
	}
	if err := ch.ExchangeDeclare(amqp.Exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatalf("%s is not a durable topic exchange: %v", amqp.Exchange, err)
	}

	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, domain+".*", amqp.Exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	book := testBook(domain)
	if err := b.Publish(ctx, book); err != nil {
		t.Fatal(err)
	}
	var d rmq.Delivery
	select {
	case d = <-deliveries:
	case <-ctx.Done():
		t.Fatal("no message on the exchange")
	}
	if want := domain + ".0190f4b27c3e7d4a9b1c2e3f4a5b6c7d"; d.RoutingKey != want {
		t.Errorf("routing key %q, want %q", d.RoutingKey, want)
	}
	if d.ContentType != "application/protobuf" || d.DeliveryMode != rmq.Persistent || d.Type != "evented.EventBook" {
		t.Errorf("content type %q, delivery mode %d, type %q", d.ContentType, d.DeliveryMode, d.Type)
	}
	if want := domain + ".0190f4b27c3e7d4a9b1c2e3f4a5b6c7d.7-8."; !strings.HasPrefix(d.MessageId, want) {
		t.Errorf("message id %q, want %q", d.MessageId, want)
	}
	var pb eventedpb.EventBook
	if err := proto.Unmarshal(d.Body, &pb); err != nil {
		t.Fatalf("body is not an EventBook: %v", err)
	}
	if pb.GetCover().GetDomain() != domain || len(pb.GetCover().GetRoot().GetValue()) != 16 || len(pb.GetPages()) != 2 ||
		pb.GetPages()[1].GetNum() != 8 || pb.GetPages()[1].GetCreatedAt().GetNanos() != 11 ||
		pb.GetPages()[0].GetEvent().GetTypeUrl() != book.Events[0].TypeURL {
		t.Errorf("body = %v", &pb)
	}

	// Something else on the exchange: the subscription reports it once and
	// goes on with the next book.
	if err := ch.PublishWithContext(ctx, amqp.Exchange, domain+".ffffffffffffffffffffffffffffffff", false, false,
		rmq.Publishing{ContentType: "text/plain", Body: []byte("not a book")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, testBook(domain)); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for range 3 {
		m, err := sub.Receive(ctx)
		if errors.Is(err, bus.ErrMalformed) {
			seen++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		m.Ack(ctx)
	}
	if seen != 1 {
		t.Fatalf("%d ErrMalformed among 3 receives, want 1", seen)
	}
	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if m, err := sub.Receive(short); err == nil {
		t.Fatalf("received %s again after acking", bus.ID(m.Book))
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the malformed message came again: %v", err)
	}
}
