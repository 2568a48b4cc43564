package amqp_test

import (
	"net/url"
	"testing"

	"github.com/evented/evented/internal/bus/amqp"
	"github.com/evented/evented/internal/bus/bustest"
)

// open returns a client of the broker at AMQP_TEST_URL, closed at the end of
// the test.
func open(t testing.TB) *amqp.Bus { return openURL(t, bustest.URL(t, "AMQP_TEST_URL")) }

func openURL(t testing.TB, url string) *amqp.Bus {
	b, err := amqp.New(url, amqp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBus(t *testing.T) {
	u, err := url.Parse(bustest.URL(t, "AMQP_TEST_URL"))
	if err != nil {
		t.Fatal(err)
	}
	broker, skip := bustest.BrokerFromEnv("AMQP_TEST_RESTART")
	bustest.Run(t, bustest.Backend{
		Open:   func(t *testing.T) bustest.Bus { return open(t) },
		Shared: true,
		Addr:   u.Host,
		OpenAddr: func(t *testing.T, addr string) bustest.Bus {
			via := *u
			via.Host = addr
			return openURL(t, via.String())
		},
		Broker:     broker,
		BrokerSkip: skip,
	})
}

func BenchmarkPublish(b *testing.B) {
	bustest.BenchmarkPublish(b, func(b *testing.B) bustest.Bus { return open(b) })
}

func BenchmarkLatency(b *testing.B) {
	bustest.BenchmarkLatency(b, func(b *testing.B) bustest.Bus { return open(b) })
}
