package nats_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/bus/bustest"
	"github.com/evented/evented/internal/eventstore"
)

// The layout external consumers rely on: stream EVENTED over
// evented.events.>, file storage; a book per message on
// evented.events.<domain>.<32 hex>, protobuf EventBook, Content-Type and
// Nats-Msg-Id headers; subscriptions are durable explicit-ack consumers.
func TestLayoutForExternalConsumers(t *testing.T) {
	nc, err := natsgo.Connect(bustest.URL(t, "NATS_TEST_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	b := open(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	domain := "layout-" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	name := "layout_" + domain[7:]
	sub, err := b.Subscribe(ctx, name, domain)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Unsubscribe(context.Background(), name)
	defer sub.Close()

	stream, err := js.Stream(ctx, "EVENTED")
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	if len(cfg.Subjects) != 1 || cfg.Subjects[0] != "evented.events.>" || cfg.Storage != jetstream.FileStorage {
		t.Errorf("stream subjects %v, storage %v", cfg.Subjects, cfg.Storage)
	}
	cons, err := stream.Consumer(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if cc := cons.CachedInfo().Config; cc.Durable != name || cc.AckPolicy != jetstream.AckExplicitPolicy || cc.FilterSubject != "evented.events."+domain+".*" {
		t.Errorf("consumer durable %q, ack %v, filter %q", cc.Durable, cc.AckPolicy, cc.FilterSubject)
	}

	// A plain NATS subscriber sees the message as published.
	plain, err := nc.SubscribeSync("evented.events." + domain + ".*")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	book := eventstore.Book{
		Cover:  eventstore.Cover{Domain: domain, Root: uuid.MustParse("0190f4b2-7c3e-7d4a-9b1c-2e3f4a5b6c7d")},
		Events: []eventstore.Event{{Sequence: 3, CreatedAt: time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC), TypeURL: "type.googleapis.com/examples.CustomerCreated", Payload: []byte{1, 2}}},
	}
	if err := b.Publish(ctx, book); err != nil {
		t.Fatal(err)
	}
	msg, err := plain.NextMsgWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := "evented.events." + domain + ".0190f4b27c3e7d4a9b1c2e3f4a5b6c7d"; msg.Subject != want {
		t.Errorf("subject %q, want %q", msg.Subject, want)
	}
	if ct, id := msg.Header.Get("Content-Type"), msg.Header.Get("Nats-Msg-Id"); ct != "application/protobuf" || id != bus.ID(book) || !strings.HasPrefix(id, domain+".0190f4b27c3e7d4a9b1c2e3f4a5b6c7d.3-3.") {
		t.Errorf("Content-Type %q, Nats-Msg-Id %q", ct, id)
	}
	var pb eventedpb.EventBook
	if err := proto.Unmarshal(msg.Data, &pb); err != nil {
		t.Fatalf("data is not an EventBook: %v", err)
	}
	if pb.GetCover().GetDomain() != domain || len(pb.GetPages()) != 1 || pb.GetPages()[0].GetNum() != 3 {
		t.Errorf("data = %v", &pb)
	}

	// The same book again is a duplicate within the window: stored once.
	if err := b.Publish(ctx, book); err != nil {
		t.Fatal(err)
	}
	// Something else on the subject: reported once, then the next book.
	if _, err := js.Publish(ctx, "evented.events."+domain+".ffffffffffffffffffffffffffffffff", []byte("not a book")); err != nil {
		t.Fatal(err)
	}
	next := book
	next.Events = []eventstore.Event{book.Events[0]}
	next.Events[0].Sequence = 4
	if err := b.Publish(ctx, next); err != nil {
		t.Fatal(err)
	}
	var got []string
	malformed := 0
	for range 3 {
		m, err := sub.Receive(ctx)
		if errors.Is(err, bus.ErrMalformed) {
			malformed++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, bus.ID(m.Book))
		m.Ack(ctx)
	}
	if malformed != 1 || len(got) != 2 || got[0] != bus.ID(book) || got[1] != bus.ID(next) {
		t.Fatalf("received %v and %d malformed, want [%s %s] and 1", got, malformed, bus.ID(book), bus.ID(next))
	}
	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if m, err := sub.Receive(short); err == nil {
		t.Fatalf("received %s: a duplicate publish or an acked book came again", bus.ID(m.Book))
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the malformed message came again: %v", err)
	}
}
