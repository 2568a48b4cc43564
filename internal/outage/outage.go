// Package outage tells the operator when a service evented calls (business
// logic, a projector, a saga, the broker) is down, and when it is back:
// one WARN naming the service when the outage is first noticed, whoever
// notices it (the console's background checks, a command, a delivery), a
// reminder every RemindEvery while it lasts, and one INFO when it is over.
// A service that flaps is warned about at most once per QuietFor: after it
// comes back, gRPC's clients keep failing for a while (their reconnection
// backoff) while a plain connect succeeds, which must not read as a string
// of new outages.
// Without it each part would warn on its own, and an operator would read
// two or three warnings about one outage.
package outage

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// RemindEvery spaces the WARNs about a service that stays down.
const RemindEvery = 5 * time.Minute

// QuietFor is how long after a WARN a new outage of the same service is
// not warned about (it is when it lasts longer).
const QuietFor = time.Minute

// Tracker hands out one Service per service evented calls. It is safe for
// concurrent use.
type Tracker struct {
	log      *slog.Logger
	now      func() time.Time
	mu       sync.Mutex
	services map[string]*Service
}

// New returns a Tracker that logs to log.
func New(log *slog.Logger) *Tracker {
	return &Tracker{log: log, services: map[string]*Service{}, now: time.Now}
}

// Service is the service of kind (business_logic, projector, saga, broker)
// and name (the domain, the consumer's name, the bus type): the same one
// for every caller, so that they share one outage. address is shown in
// the log; the first caller's is kept.
func (t *Tracker) Service(kind, name, address string) *Service {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := kind + "\x00" + name
	s, ok := t.services[key]
	if !ok {
		s = &Service{log: t.log, now: t.now, kind: kind, name: name, address: address}
		t.services[key] = s
	}
	return s
}

// Service reports on one service. Its methods are safe for concurrent use
// and do nothing on a nil *Service.
type Service struct {
	log                 *slog.Logger
	now                 func() time.Time
	kind, name, address string
	troubled            atomic.Bool // an outage is under way or in doubt: Up has work (written under mu)
	mu                  sync.Mutex
	warned              bool      // the outage under way was warned about
	warnedAt            time.Time // the last WARN, of this outage or an earlier one
	doubted             bool      // the INFO of a first failed check was logged
}

// Down reports that the service could not be reached (err says how): the
// first report of an outage logs a WARN (unless one was logged less than
// QuietFor ago), later ones a reminder once per RemindEvery.
func (s *Service) Down(err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.troubled.Store(true)
	now := s.now()
	since := now.Sub(s.warnedAt)
	warn := s.warnedAt.IsZero() || (s.warned && since >= RemindEvery) || (!s.warned && since >= QuietFor)
	if warn {
		s.warned, s.warnedAt = true, now
	}
	s.mu.Unlock()
	if warn {
		s.log.Warn(s.kind+" unreachable: evented cannot connect to it", "kind", s.kind, "name", s.name, "address", s.address, "err", errText(err))
	}
}

// Doubt reports one failed check that may just be early (evented started
// before the service): an INFO, once, unless the outage is known already.
func (s *Service) Doubt(err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.troubled.Store(true)
	log := !s.doubted && !s.warned
	s.doubted = true
	s.mu.Unlock()
	if log {
		s.log.Info(s.kind+" not reachable (yet); checking again", "kind", s.kind, "name", s.name, "address", s.address, "err", errText(err))
	}
}

// Up reports that the service answered (a refusal is an answer too): after
// a WARN, an INFO that it is back. Cheap when there was no outage.
func (s *Service) Up() {
	if s == nil || !s.troubled.Load() {
		return
	}
	s.mu.Lock()
	warned := s.warned
	s.warned, s.doubted = false, false
	s.troubled.Store(false)
	s.mu.Unlock()
	if warned {
		s.log.Info(s.kind+" reachable again", "kind", s.kind, "name", s.name, "address", s.address)
	}
}

// Kind and Name say which service s is.
func (s *Service) Kind() string { return s.kind }
func (s *Service) Name() string { return s.name }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
