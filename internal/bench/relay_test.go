package bench

import (
	"log/slog"
	"os"
	"testing"

	"github.com/evented/evented/internal/server"
)

// The relay scenario in go test terms, for CPU and allocation profiles of
// the relay's part (go test -run X -bench Relay -benchmem -memprofile …):
// b.N one-event books relayed to each broker named by AMQP_TEST_URL and
// NATS_TEST_URL, and the same books published by the client library alone
// beside them. The profile of the evented side holds the filling of the
// log too (BenchmarkRelay/…/evented fills, then relays); cpu-µs/event is
// the relay's alone, as in evented bench.
func BenchmarkRelay(b *testing.B) {
	r := &runner{cfg: Config{AMQP: os.Getenv("AMQP_TEST_URL"), NATS: os.Getenv("NATS_TEST_URL")}, log: slog.New(slog.DiscardHandler)}
	brokers := r.relayBrokers()
	if len(brokers) == 0 {
		b.Skip("neither AMQP_TEST_URL nor NATS_TEST_URL is set")
	}
	be := &backend{name: "sqlite", dir: b.TempDir()}
	store, _, closeStore, err := be.open(b.Context(), "relay")
	if err != nil {
		b.Fatal(err)
	}
	defer closeStore()
	for _, br := range brokers {
		sides := []struct {
			name string
			run  func(n int) measure
		}{
			{"evented", func(n int) measure { return r.relayEvented(store, br, n) }},
			{"floor", func(n int) measure { return r.relayRaw(br, n, server.DefaultInFlight) }},
		}
		for _, side := range sides {
			b.Run(br.name+"/"+side.name, func(b *testing.B) {
				s, err := side.run(b.N)(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(s["events/s"], "events/s")
				b.ReportMetric(s[cpuPerEvent], "cpu-µs/event")
			})
		}
	}
}
