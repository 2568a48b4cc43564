package console

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/evented/evented/internal/outage"
)

// Target is a service evented calls: business logic, a projector, a saga
// or the broker.
type Target struct {
	Kind    string `json:"kind"` // business_logic, projector, saga, broker
	Name    string `json:"name"` // the domain, the consumer's name, the bus type
	Address string `json:"address"`
}

// TargetState is what the last checks of a target found.
type TargetState struct {
	Target
	Reachable bool      `json:"reachable"`
	Checked   time.Time `json:"checked"`
	// Since is when it last became reachable or unreachable.
	Since       time.Time `json:"since"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at"`
	fails       int       // checks failed in a row
	outage      *outage.Service
}

// warnAfter is how many checks in a row must fail before a WARN.
const warnAfter = 2

// Reach checks, in the background, that the services evented calls can be
// connected to, and reports to the server's outage tracker when one has
// failed warnAfter checks in a row, and when it is back: the tracker logs
// one WARN per outage, whether these checks, a command or a delivery
// noticed it first. One failed check, as when evented starts before its
// services, is only a doubt (an INFO). It is safe for concurrent use.
type Reach struct {
	every   time.Duration
	timeout time.Duration
	mu      sync.Mutex
	states  []TargetState
}

// NewReach checks targets every period (5 s when 0), reporting outages to
// outages.
func NewReach(targets []Target, every time.Duration, outages *outage.Tracker) *Reach {
	if every <= 0 {
		every = 5 * time.Second
	}
	r := &Reach{every: every, timeout: min(every, 2*time.Second)}
	for _, t := range targets {
		r.states = append(r.states, TargetState{Target: t, Reachable: true, outage: outages.Service(t.Kind, t.Name, t.Address)})
	}
	return r
}

// States is a copy of every target's state, in configuration order.
func (r *Reach) States() []TargetState {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]TargetState(nil), r.states...)
}

// Run checks every target now and then every period, until ctx ends.
func (r *Reach) Run(ctx context.Context) error {
	if len(r.states) == 0 {
		return nil
	}
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		r.checkAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (r *Reach) checkAll(ctx context.Context) {
	r.mu.Lock()
	targets := make([]Target, len(r.states))
	for i, s := range r.states {
		targets[i] = s.Target
	}
	first := r.states[0].Checked.IsZero()
	r.mu.Unlock()
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { errs[i] = dial(ctx, t.Address, r.timeout) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.states {
		s := &r.states[i]
		ok := errs[i] == nil
		if !ok {
			s.LastError, s.LastErrorAt = errs[i].Error(), now
		}
		changed := ok != s.Reachable || (first && !ok)
		if changed {
			s.Since = now
		} else if s.Since.IsZero() {
			s.Since = now
		}
		s.Reachable, s.Checked = ok, now
		if !ok {
			s.fails++
		}
		switch {
		case !ok && s.fails < warnAfter:
			s.outage.Doubt(errs[i])
		case !ok:
			s.outage.Down(errs[i])
		default:
			s.fails = 0
			s.outage.Up()
		}
	}
}

// dial connects to a gRPC target or a broker URL and hangs up.
func dial(ctx context.Context, address string, timeout time.Duration) error {
	network, addr := "tcp", address
	switch {
	case strings.HasPrefix(address, "unix:"):
		network, addr = "unix", strings.TrimPrefix(strings.TrimPrefix(address, "unix:"), "//")
	case strings.Contains(address, "://"):
		u, err := url.Parse(address)
		if err != nil {
			return err
		}
		addr = u.Host
		if u.Host == "" { // dns:///host:port
			addr = strings.TrimPrefix(u.Path, "/")
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, defaultPort(u.Scheme))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return err
	}
	return c.Close()
}

func defaultPort(scheme string) string {
	switch scheme {
	case "amqp":
		return "5672"
	case "amqps":
		return "5671"
	case "nats":
		return "4222"
	}
	return "443"
}
