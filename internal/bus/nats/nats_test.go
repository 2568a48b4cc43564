package nats_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/evented/evented/internal/bus/bustest"
	"github.com/evented/evented/internal/bus/nats"
)

// open returns a client of the server at NATS_TEST_URL, closed at the end
// of the test. AckWait is short so that a book left unacked across a server
// restart comes back within the restart test's patience; AckTimeout so
// that a publish nobody acks gives up within the network-fault test's.
func open(t testing.TB) *nats.Bus { return openURL(t, bustest.URL(t, "NATS_TEST_URL")) }

func openURL(t testing.TB, url string) *nats.Bus {
	b, err := nats.New(url, nats.Options{AckWait: 5 * time.Second, AckTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBus(t *testing.T) {
	u, err := url.Parse(bustest.URL(t, "NATS_TEST_URL"))
	if err != nil {
		t.Fatal(err)
	}
	broker, skip := bustest.BrokerFromEnv("NATS_TEST_RESTART")
	bustest.Run(t, bustest.Backend{
		Open: func(t *testing.T) bustest.Bus { return open(t) },
		Addr: u.Host,
		OpenAddr: func(t *testing.T, addr string) bustest.Bus {
			via := *u
			via.Host = addr
			return openURL(t, via.String())
		},
		Shared:          true,
		FixedDomain:     true,
		RedeliveryDelay: 5 * time.Second, // AckWait in open
		Broker:          broker,
		BrokerSkip:      skip,
	})
}

func BenchmarkPublish(b *testing.B) {
	bustest.BenchmarkPublish(b, func(b *testing.B) bustest.Bus { return open(b) })
}

func BenchmarkLatency(b *testing.B) {
	bustest.BenchmarkLatency(b, func(b *testing.B) bustest.Bus { return open(b) })
}
