package cluster

import (
	"context"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evented/evented/internal/bus"
	"github.com/evented/evented/internal/bus/nats"
	"github.com/evented/evented/internal/eventstore"
	"github.com/evented/evented/internal/testenv"
)

// busWatch is the relay's side of a run: every replica relays the events
// it commits to a NATS server (through a TCP proxy of the test's, which
// the faulty runs cut), and the test reads them back through a durable
// subscription of its own to every domain. The relay of each replica
// publishes what the segments it leases hold, books handed over without
// waiting (delivery.AsyncConsumer); what the bus gets is checked as a
// consumer's deliveries are: every stored event at least once, each
// aggregate's in order, and once only in a run without faults.
type busWatch struct {
	rec   *recorder
	url   string // what the replicas connect to: the proxy
	proxy *proxy
}

// watchBus starts the watch, or returns nil when NATS_TEST_URL is not set
// (outside CI: the replicas then run without a bus, noted in the package's
// summary).
func watchBus(t *testing.T) *busWatch {
	t.Helper()
	raw := os.Getenv(testenv.NATS.Env)
	if raw == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set and CI=true: the cluster runs must check the relay (%s)", testenv.NATS.Env, testenv.NATS.Enable)
		}
		testenv.Note(testenv.NATS)
		t.Logf("%s is not set: the replicas run without a bus and the relay is not checked", testenv.NATS.Env)
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", testenv.NATS.Env, err)
	}
	p := startProxy(t, u.Host)
	b, err := nats.New(raw, nats.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A name of the run's own: the subscription takes only what is
	// published after it is made (other tests share the server).
	name := "cluster-" + uuid.NewString()[:8]
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := b.Subscribe(ctx, name, "")
	if err != nil {
		cancel()
		b.Close()
		t.Fatal(err)
	}
	w := &busWatch{rec: newRecorder("bus"), url: "nats://" + p.addr(), proxy: p}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := sub.Receive(ctx)
			switch {
			case ctx.Err() != nil || errors.Is(err, bus.ErrClosed):
				return
			case err != nil:
				time.Sleep(50 * time.Millisecond)
				continue
			}
			w.rec.record(m.Book)
			_ = m.Ack(ctx) // a failed ack only brings the book again: a repeat, reported as one
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = sub.Close()
		uctx, ucancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ucancel()
		// Deleted, or the stream would keep every later book for it.
		if err := b.Unsubscribe(uctx, name); err != nil {
			t.Errorf("Unsubscribe(%s): %v", name, err)
		}
		_ = b.Close()
	})
	return w
}

// record notes a book received from the bus, as enter does a call.
func (r *recorder) record(b eventstore.Book) {
	a := agg{domain: b.Cover.Domain, root: b.Cover.Root}
	c := call{peer: "bus", at: time.Now()}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range b.Events {
		r.got[a] = append(r.got[a], e.Sequence)
		r.calls[a] = append(r.calls[a], c)
	}
	r.events += len(b.Events)
	r.last = c.at
}

// delivered is what the bus got of s's events. Books of aggregates s does
// not hold are left out: the server is shared with other tests, which may
// publish to the same domains; those of this run's aggregates all count.
func (w *busWatch) delivered(s stored) delivered {
	r := w.rec
	r.mu.Lock()
	only := newRecorder(r.name)
	for a, seqs := range r.got {
		if _, ok := s.events[a]; ok {
			only.got[a] = append([]uint32(nil), seqs...)
			only.calls[a] = append([]call(nil), r.calls[a]...)
		}
	}
	r.mu.Unlock()
	return analyse(only, s, "")
}

// cut closes every connection between the replicas and the NATS server.
func (w *busWatch) cut(t *testing.T) {
	if w != nil {
		t.Logf("proxy: cut %d bus connections", w.proxy.cut())
	}
}
