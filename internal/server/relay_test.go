package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/bus/amqp"
	"github.com/evented/evented/internal/bus/bustest"
	"github.com/evented/evented/internal/bus/nats"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
)

// relayCase is one bus backend the relay is tested against.
type relayCase struct {
	typ, urlEnv, restartEnv string
	subscriber              func(t *testing.T, srv *server.Server, url string) bus.Subscriber
}

var relayCases = []relayCase{
	{typ: "inprocess", subscriber: func(t *testing.T, srv *server.Server, _ string) bus.Subscriber {
		return srv.Bus().(bus.Subscriber)
	}},
	{typ: "amqp", urlEnv: "AMQP_TEST_URL", restartEnv: "AMQP_TEST_RESTART", subscriber: func(t *testing.T, _ *server.Server, url string) bus.Subscriber {
		b, err := amqp.New(url, amqp.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
	{typ: "nats", urlEnv: "NATS_TEST_URL", restartEnv: "NATS_TEST_RESTART", subscriber: func(t *testing.T, _ *server.Server, url string) bus.Subscriber {
		b, err := nats.New(url, nats.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
}

// TestRelayPublishesEveryCommittedEvent: commands' events reach the bus,
// each aggregate's in order; with the broker stopped mid-run and started
// again, every event still arrives (the store is the outbox).
func TestRelayPublishesEveryCommittedEvent(t *testing.T) {
	for _, tc := range relayCases {
		t.Run(tc.typ, func(t *testing.T) { testRelay(t, tc, false) })
		if tc.restartEnv != "" {
			t.Run(tc.typ+"/BrokerRestart", func(t *testing.T) { testRelay(t, tc, true) })
		}
	}
}

func testRelay(t *testing.T, tc relayCase, restart bool) {
	var url string
	if tc.urlEnv != "" {
		url = bustest.URL(t, tc.urlEnv)
	}
	var broker *bustest.Broker
	if restart {
		var skip string
		if broker, skip = bustest.BrokerFromEnv(tc.restartEnv); broker == nil {
			t.Skip(skip)
		}
	}
	cfg := config.Default()
	cfg.Bus = config.Bus{Type: tc.typ, URL: url}
	cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax, cfg.Delivery.Timeout = 10*time.Millisecond, 200*time.Millisecond, 2*time.Second
	srv, _ := start(t, cfg)

	sub, err := tc.subscriber(t, srv, url).Subscribe(t.Context(), "relay-test-"+uuid.NewString()[:8], "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	covers := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	send := func(n int) {
		for i := range n {
			root := covers[i%len(covers)]
			if _, err := client.Handle(t.Context(), &eventedpb.CommandBook{
				Cover: &eventedpb.Cover{Domain: "orders", Root: &eventedpb.UUID{Value: root[:]}},
				Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "AddItem"}}},
			}); err != nil {
				t.Fatalf("command while the broker is %s: %v", map[bool]string{true: "down", false: "up"}[restart], err)
			}
		}
	}
	send(9)
	if restart {
		broker.Stop(t)
		send(9) // commands do not wait for the broker
		time.Sleep(300 * time.Millisecond)
		broker.Start(t)
	}
	send(9)
	total := 18
	if restart {
		total = 27
	}

	next := map[eventstore.Cover]uint32{}
	seen := 0
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for seen < total {
		msg, err := sub.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("received %d of %d events within 60s: %v", seen, total, next)
			}
			continue // the broker is coming back: Receive again
		}
		for _, e := range msg.Book.Events {
			switch want := next[msg.Book.Cover]; {
			case e.Sequence < want: // at least once: a redelivery
			case e.Sequence == want:
				next[msg.Book.Cover]++
				seen++
			default:
				t.Fatalf("%s: got sequence %d, want %d (skipped or out of order)", msg.Book.Cover, e.Sequence, want)
			}
		}
		if err := msg.Ack(ctx); err != nil {
			t.Logf("ack: %v", err)
		}
	}
	if seen != total {
		t.Fatalf("received %d events, want %d", seen, total)
	}
	for c, n := range next {
		if n != uint32(total/len(covers)) {
			t.Errorf("%s: %d events, want %d", c, n, total/len(covers))
		}
	}
}
