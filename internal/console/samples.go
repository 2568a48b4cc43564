package console

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evented/evented/internal/eventstore"
)

// Sample is the server's activity over one sampling period.
type Sample struct {
	At time.Time `json:"at"`
	// Rate is the events committed per second (the log head's growth).
	Rate float64 `json:"rate"`
	// Commands is how many commands were handled, and LatencyMs their
	// mean duration in milliseconds (0 when none).
	Commands  uint64  `json:"commands"`
	LatencyMs float64 `json:"latency_ms"`
	Head      uint64  `json:"head"`
}

// commandSeconds is the histogram the metrics keep of command durations.
const commandSeconds = "evented_command_duration_seconds"

// Sampler keeps the last samples in memory (by default one per 5 s for
// 10 minutes) for the console's charts: the log head's growth and the
// command durations measured by the metrics. It is safe for concurrent use.
type Sampler struct {
	log    eventstore.Log
	gather prometheus.Gatherer
	every  time.Duration
	keep   int

	mu       sync.Mutex
	samples  []Sample
	lastHead uint64
	lastN    uint64
	lastSum  float64
	lastAt   time.Time
}

// NewSampler samples every period (5 s when 0) and keeps 10 minutes' worth
// (at least 12 samples).
func NewSampler(log eventstore.Log, gather prometheus.Gatherer, every time.Duration) *Sampler {
	if every <= 0 {
		every = 5 * time.Second
	}
	return &Sampler{log: log, gather: gather, every: every, keep: max(12, int(10*time.Minute/every))}
}

// Samples is a copy of the kept samples, oldest first.
func (s *Sampler) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample{}, s.samples...)
}

// Run samples now and every period until ctx ends.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Sampler) sample(ctx context.Context) {
	head, err := s.log.Head(ctx)
	if err != nil {
		return // the store's watcher logs it
	}
	n, sum := s.commands()
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastAt.IsZero() {
		smp := Sample{At: now.UTC(), Head: head}
		if dt := now.Sub(s.lastAt).Seconds(); dt > 0 && head >= s.lastHead {
			smp.Rate = float64(head-s.lastHead) / dt
		}
		if n > s.lastN {
			smp.Commands = n - s.lastN
			smp.LatencyMs = (sum - s.lastSum) / float64(smp.Commands) * 1000
		}
		s.samples = append(s.samples, smp)
		if len(s.samples) > s.keep {
			s.samples = s.samples[len(s.samples)-s.keep:]
		}
	}
	s.lastHead, s.lastN, s.lastSum, s.lastAt = head, n, sum, now
}

// commands sums the command duration histogram over all its labels.
func (s *Sampler) commands() (n uint64, sum float64) {
	if s.gather == nil {
		return 0, 0
	}
	families, err := s.gather.Gather()
	if err != nil {
		return 0, 0
	}
	for _, f := range families {
		if f.GetName() != commandSeconds {
			continue
		}
		for _, m := range f.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				n += h.GetSampleCount()
				sum += h.GetSampleSum()
			}
		}
	}
	return n, sum
}
