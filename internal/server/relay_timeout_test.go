package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/config"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/server"
)

// deadlineSeer is a publisher that records the deadline each Publish got,
// and says it times out by itself after ackTimeout when that is set.
type deadlineSeer struct {
	deadline time.Time
	has      bool
}

func (p *deadlineSeer) Publish(ctx context.Context, _ eventstore.Book) error {
	p.deadline, p.has = ctx.Deadline()
	return nil
}

func (p *deadlineSeer) Close() error { return nil }

type selfTimed struct {
	deadlineSeer
	ackTimeout time.Duration
}

func (p *selfTimed) AckTimeout() time.Duration { return p.ackTimeout }

var _ bus.SelfTimed = (*selfTimed)(nil)

// TestRelayDeadline: the relay bounds each publish by delivery.timeout. It
// sets a deadline of its own, except for a publisher that gives up by
// itself within that bound (bus.SelfTimed), which saves a context and a
// timer per book.
func TestRelayDeadline(t *testing.T) {
	cfg := config.Default()
	cfg.Delivery.Timeout = 10 * time.Second
	book := eventstore.Book{Cover: eventstore.Cover{Domain: "d"}, Events: []eventstore.Event{{TypeURL: "t"}}}
	plain := &deadlineSeer{}
	timed := func(d time.Duration) *selfTimed { return &selfTimed{ackTimeout: d} }
	for _, tc := range []struct {
		name string
		pub  bus.Publisher
		seer *deadlineSeer
		want bool // a deadline set by the relay
	}{
		{"plain publisher", plain, plain, true},
		{"self-timed within the bound", timed(5 * time.Second), nil, false},
		{"self-timed at the bound", timed(10 * time.Second), nil, false},
		{"self-timed beyond the bound", timed(time.Minute), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seer := tc.seer
			if seer == nil {
				seer = &tc.pub.(*selfTimed).deadlineSeer
			}
			consumer, _ := server.NewRelay(tc.pub, cfg)
			start := time.Now()
			if _, err := consumer.Deliver(context.Background(), book, false); err != nil {
				t.Fatal(err)
			}
			if seer.has != tc.want {
				t.Fatalf("publish got a deadline: %v; want %v", seer.has, tc.want)
			}
			if seer.has && (seer.deadline.Before(start.Add(9*time.Second)) || seer.deadline.After(time.Now().Add(10*time.Second))) {
				t.Fatalf("publish deadline %v after the call; want delivery.timeout (10s)", seer.deadline.Sub(start))
			}
		})
	}
}
