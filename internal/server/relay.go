package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/bus/amqp"
	"github.com/evented/evented/internal/bus/inprocess"
	"github.com/evented/evented/internal/bus/nats"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/delivery"
	"github.com/evented/evented/internal/eventstore"
)

// RelayName is the subscriber that publishes committed events to the bus.
const RelayName = "bus"

// buses lists the bus types this binary knows, by bus.type ("none" has no
// relay).
var buses = map[string]func(cfg config.Bus, log *slog.Logger) (bus.Publisher, error){
	"inprocess": func(config.Bus, *slog.Logger) (bus.Publisher, error) { return inprocess.New(), nil },
	"amqp": func(cfg config.Bus, log *slog.Logger) (bus.Publisher, error) {
		return amqp.New(cfg.URL, amqp.Options{Logger: log.With("component", "bus")})
	},
	"nats": func(cfg config.Bus, log *slog.Logger) (bus.Publisher, error) {
		return nats.New(cfg.URL, nats.Options{Logger: log.With("component", "bus")})
	},
}

// relay is the consumer of the bus subscription: it publishes each book and
// returns once the broker has it. The subscription's checkpoint makes the
// store the outbox: a broker that is down delays events and loses none.
type relay struct {
	pub     bus.Publisher
	timeout time.Duration
}

func (relay) Name() string { return RelayName }

func (r relay) Deliver(ctx context.Context, book eventstore.Book, _ bool) (delivery.Outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err := r.pub.Publish(ctx, book)
	if errors.Is(err, bus.ErrTooLarge) {
		return delivery.Outcome{}, tooLarge{err}
	}
	if err != nil && !errors.Is(err, bus.ErrInvalid) {
		// Anything but a book the bus cannot take means the broker did not
		// confirm: wait for it rather than park.
		return delivery.Outcome{}, brokerDown{err}
	}
	return delivery.Outcome{}, err
}

// brokerDown marks a failed publish as the broker being unavailable.
type brokerDown struct{ err error }

func (e brokerDown) Error() string     { return fmt.Sprintf("publish to the bus: %v", e.err) }
func (e brokerDown) Unwrap() error     { return e.err }
func (e brokerDown) Unavailable() bool { return true }

// tooLarge marks a book the broker can never take: it is parked at once.
type tooLarge struct{ err error }

func (e tooLarge) Error() string   { return fmt.Sprintf("publish to the bus: %v", e.err) }
func (e tooLarge) Unwrap() error   { return e.err }
func (e tooLarge) Permanent() bool { return true }

// Bus is the publisher committed events are relayed to, or nil when
// bus.type is none (tests subscribe to the in-process bus through it).
func (s *Server) Bus() bus.Publisher { return s.bus }
