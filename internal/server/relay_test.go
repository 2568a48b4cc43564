package server_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/evented/evented/api/eventedpb"
	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/bus/amqp"
	"github.com/evented/evented/internal/bus/bustest"
	"github.com/evented/evented/internal/bus/nats"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
	"github.com/evented/evented/internal/testenv"
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

// subscribe opens the durable subscription name on tc's bus and deletes
// it when t ends: a subscription left on a shared broker keeps every book
// it matches (the NATS stream retains by interest), slowing every later
// test and benchmark on that broker.
func (tc relayCase) subscribe(t *testing.T, srv *server.Server, url, name, domain string) bus.Subscription {
	t.Helper()
	b := tc.subscriber(t, srv, url)
	sub, err := b.Subscribe(t.Context(), name, domain)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Unsubscribe(ctx, name); err != nil && !errors.Is(err, bus.ErrClosed) {
			t.Errorf("Unsubscribe(%s): %v", name, err)
		}
	})
	return sub
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
			testenv.Skip(t, testenv.BrokerRestart, skip)
		}
	}
	cfg := config.Default()
	cfg.Bus = config.Bus{Type: tc.typ, URL: url}
	cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax, cfg.Delivery.Timeout = 10*time.Millisecond, 200*time.Millisecond, 2*time.Second
	srv, _ := start(t, cfg)

	// Only this test's domain: other packages' tests share the broker.
	domain := "relay-" + uuid.NewString()[:8]
	sub := tc.subscribe(t, srv, url, domain, domain)

	client := eventedpb.NewBusinessCoordinatorClient(dial(t, srv.CommandAddr()))
	covers := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	send := func(n int) {
		for i := range n {
			root := covers[i%len(covers)]
			if _, err := client.Handle(t.Context(), &eventedpb.CommandBook{
				Cover: &eventedpb.Cover{Domain: domain, Root: &eventedpb.UUID{Value: root[:]}},
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
		if msg.Book.Cover.Domain != domain {
			t.Fatalf("a book of domain %q reached a subscription to %s", msg.Book.Cover.Domain, domain)
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

// BenchmarkDelivery measures end-to-end delivery through each bus: 8
// clients send b.N commands (one event each) to distinct aggregates of a
// server on SQLite (durable); a consumer reads the bus. Reported: events/s
// from the first command to the last event received, and the lag from each
// event's commit (its created_at) to its receipt, p50 and p99. Brokers
// come from AMQP_TEST_URL / NATS_TEST_URL; in-process always runs. Run:
//
//	go test -run '^$' -bench Delivery -benchtime 2000x ./internal/server/
func BenchmarkDelivery(b *testing.B) {
	for _, tc := range relayCases {
		b.Run(tc.typ, func(b *testing.B) {
			var url string
			if tc.urlEnv != "" {
				if url = os.Getenv(tc.urlEnv); url == "" {
					b.Skipf("%s is not set", tc.urlEnv)
				}
			}
			cfg := config.Default()
			cfg.Bus = config.Bus{Type: tc.typ, URL: url}
			cfg.Server.Host = "127.0.0.1"
			cfg.Server.CommandHandlerPort, cfg.Server.EventQueryPort, cfg.Server.AdminPort = 0, 0, -1
			cfg.Storage.Path = filepath.Join(b.TempDir(), "events.db")
			cfg.Delivery.BackoffMin, cfg.Delivery.BackoffMax = 5*time.Millisecond, 100*time.Millisecond
			srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Run(ctx) }()
			defer func() { cancel(); <-done }()
			var subscriber bus.Subscriber
			switch tc.typ {
			case "inprocess":
				subscriber = srv.Bus().(bus.Subscriber)
			case "amqp":
				c, err := amqp.New(url, amqp.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				subscriber = c
			case "nats":
				c, err := nats.New(url, nats.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				subscriber = c
			}
			name := "bench-" + uuid.NewString()[:8]
			sub, err := subscriber.Subscribe(ctx, name, "")
			if err != nil {
				b.Fatal(err)
			}
			defer subscriber.Unsubscribe(context.WithoutCancel(ctx), name) // after Close: it would keep every book
			defer sub.Close()
			conn, err := grpc.NewClient(srv.CommandAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := eventedpb.NewBusinessCoordinatorClient(conn)

			lags := make([]time.Duration, 0, b.N)
			received := make(chan struct{})
			go func() {
				defer close(received)
				rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
				defer rcancel()
				for len(lags) < b.N {
					msg, err := sub.Receive(rctx)
					if err != nil {
						if rctx.Err() != nil {
							return
						}
						continue
					}
					now := time.Now()
					for _, e := range msg.Book.Events {
						lags = append(lags, now.Sub(e.CreatedAt))
					}
					msg.Ack(rctx)
				}
			}()
			b.ResetTimer()
			var wg sync.WaitGroup
			var next atomic.Int64
			for range 8 {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						root := uuid.New()
						if _, err := client.Handle(ctx, &eventedpb.CommandBook{
							Cover: &eventedpb.Cover{Domain: "orders", Root: &eventedpb.UUID{Value: root[:]}},
							Pages: []*eventedpb.CommandPage{{Command: &anypb.Any{TypeUrl: "CreateOrder"}}},
						}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			<-received
			b.StopTimer()
			if len(lags) < b.N {
				b.Fatalf("received %d of %d events", len(lags), b.N)
			}
			slices.Sort(lags)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-lag-ms")
			b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99-lag-ms")
		})
	}
}
