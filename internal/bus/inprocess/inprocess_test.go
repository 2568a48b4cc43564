package inprocess_test

import (
	"testing"

	"github.com/evented/evented/internal/bus/bustest"
	"github.com/evented/evented/internal/bus/inprocess"
)

func TestBus(t *testing.T) {
	bustest.Run(t, bustest.Backend{
		Open: func(t *testing.T) bustest.Bus {
			b := inprocess.New()
			t.Cleanup(func() { b.Close() })
			return b
		},
		FixedDomain: true,
		BrokerSkip:  "no broker process: the in-process bus lives and dies with the process",
	})
}

func open(b *testing.B) bustest.Bus {
	bus := inprocess.New()
	b.Cleanup(func() { bus.Close() })
	return bus
}

func BenchmarkPublish(b *testing.B) { bustest.BenchmarkPublish(b, open) }
func BenchmarkLatency(b *testing.B) { bustest.BenchmarkLatency(b, open) }
